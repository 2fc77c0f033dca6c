"""Graphite's render functions, one module per family (graphite-web's groups).

Importing this package registers them all in ``monitor.render.evaluator.FUNCTIONS``.
Each function takes the request ``Context`` first, then graphite's arguments, and
returns a series list; names and tags follow graphite-web 1.1.10.
"""

from monitor.render.functions import (
    alias,
    combine,
    filters,
    forecast,
    graph,
    pointwise,
    special,
    transform,
)

__all__ = [
    "alias",
    "combine",
    "filters",
    "forecast",
    "graph",
    "pointwise",
    "special",
    "transform",
]
