"""Special: series that do not come from the store (``events``)."""

from __future__ import annotations

from monitor.render.evaluator import Context, InvalidArgument, SeriesList, function
from monitor.render.series import TimeSeries


@function("events", "Special")
def events(ctx: Context, *tags: str) -> SeriesList:
    """Events with all ``tags`` (``"*"``: any) counted per second, for ``drawAsInfinite``."""
    if ctx.events is None:
        raise InvalidArgument("events(): no event store is configured")
    name = 'events("' + '", "'.join(tags) + '")'
    wanted = None if tags == ("*",) else list(tags)
    start, end = ctx.start, ctx.end
    values: list[float | None] = [None] * (end - start)
    for when in ctx.events.event_times(start, end, wanted):
        index = int(when) - start
        if 0 <= index < len(values):
            values[index] = (values[index] or 0) + 1
    return [TimeSeries(name, start, end, 1, values, consolidation="sum", xff=ctx.xff)]
