"""Numbers with unit prefixes (``1.5k``, ``2.00Gi``), as graphite-web writes them in
legends (``legendValue``, ``cactiStyle``)."""

from __future__ import annotations

import math

__all__ = ["SYSTEMS", "format_units"]

#: Prefixes by system, largest first.
SYSTEMS: dict[str, tuple[tuple[str, float], ...]] = {
    "binary": (
        ("Pi", 1024.0**5),
        ("Ti", 1024.0**4),
        ("Gi", 1024.0**3),
        ("Mi", 1024.0**2),
        ("Ki", 1024.0),
    ),
    "si": (("P", 1000.0**5), ("T", 1000.0**4), ("G", 1000.0**3), ("M", 1000.0**2), ("k", 1000.0)),
    "sec": (("Y", 31536000), ("M", 2592000), ("D", 86400), ("H", 3600), ("m", 60)),
    "msec": (
        ("Y", 31536000000),
        ("M", 2592000000),
        ("D", 86400000),
        ("H", 3600000),
        ("m", 60000),
        ("s", 1000),
    ),
    "none": (),
}


def format_units(value: float, system: str = "si", units: str | None = None) -> tuple[float, str]:
    """``value`` scaled by the largest prefix it reaches, and the prefix (followed by
    ``units``): ``format_units(1500)`` is ``(1.5, "k")``. A whole result above 1 is
    made exactly whole, as graphite-web does. An infinite or NaN value (a sum that
    overflowed) is left as it is, without a prefix (graphite-web fails on it)."""
    if not math.isfinite(value):
        return value, units or ""
    for prefix, size in SYSTEMS[system]:
        if abs(value) >= size:
            scaled = value / size
            if scaled - math.floor(scaled) < 1e-11 and value > 1:
                scaled = float(math.floor(scaled))
            return scaled, prefix + (units or "")
    if value - math.floor(value) < 1e-11 and value > 1:
        value = float(math.floor(value))
    return value, units or ""
