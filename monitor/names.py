"""Metric name rules shared by the instrumentation client and the statsd daemon.

Etsy statsd 0.9.0 (``keyNameSanitize``, on by default) rewrites every key before it
becomes a Graphite path: each run of whitespace becomes ``_``, ``/`` becomes ``-``, and
every character outside ``[a-zA-Z_-0-9.;=]`` is deleted. The client applies the same
rule before sending, so the name in the code is the name on the graph, and the daemon
applies it again to packets from other clients.

"Whitespace" means JavaScript's ``\\s``, not Python's: it includes U+FEFF but not
U+001C-U+001F or U+0085. Those differences are spelled out below so that a name
sanitizes here exactly as it does in node.
"""

from __future__ import annotations

import re

__all__ = ["JS_WHITESPACE", "is_clean", "sanitize"]

#: The characters JavaScript's regex ``\s`` matches (ECMAScript WhiteSpace and
#: LineTerminator: tab, LF, VT, FF, CR, space, NBSP, Ogham space, U+2000-U+200A,
#: LS, PS, NNBSP, MMSP, ideographic space, BOM).
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)

_WHITESPACE_RUN = re.compile("[" + re.escape(JS_WHITESPACE) + "]+")
_DISALLOWED = re.compile(r"[^a-zA-Z_\-0-9.;=]")
_CLEAN = re.compile(r"[a-zA-Z_\-0-9.;=]*")


def is_clean(name: str) -> bool:
    """True when ``sanitize(name) == name``: the common case, checked cheaply."""
    return _CLEAN.fullmatch(name) is not None


def sanitize(name: str) -> str:
    """Rewrite ``name`` exactly as statsd 0.9.0's ``keyNameSanitize`` does."""
    if is_clean(name):
        return name
    return _DISALLOWED.sub("", _WHITESPACE_RUN.sub("_", name).replace("/", "-"))
