"""Graphite's path globs: ``*`` and ``?`` within a node, ``[…]`` classes, ``{a,b}`` lists.

A pattern is matched node by node (``a.*.c`` never matches ``a.b.x.c``), so a finder can
walk a directory tree one level per node.
"""

from __future__ import annotations

import functools
import re

__all__ = ["has_glob", "node_matcher", "path_matches"]

_GLOB_CHARS = set("*?[{")


def has_glob(text: str) -> bool:
    """True when ``text`` holds any glob syntax."""
    return any(char in _GLOB_CHARS for char in text)


@functools.lru_cache(maxsize=4096)
def node_matcher(node: str) -> re.Pattern[str]:
    """A compiled regex matching one path node against the glob ``node``."""
    out = []
    i = 0
    while i < len(node):
        char = node[i]
        if char == "*":
            out.append("[^.]*")
        elif char == "?":
            out.append("[^.]")
        elif char == "[":
            close = node.find("]", i + 1)
            if close == -1:
                out.append(re.escape(char))
            else:
                body = node[i + 1 : close]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = close
        elif char == "{":
            close = node.find("}", i + 1)
            if close == -1:
                out.append(re.escape(char))
            else:
                options = node[i + 1 : close].split(",")
                out.append("(?:" + "|".join(_options(options)) + ")")
                i = close
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _options(options: list[str]) -> list[str]:
    return [node_matcher(option).pattern[:-2] for option in options]


def path_matches(pattern: str, path: str) -> bool:
    """True when every node of ``path`` matches the same node of ``pattern``."""
    nodes, parts = pattern.split("."), path.split(".")
    return len(nodes) == len(parts) and all(
        node_matcher(n).match(p) is not None for n, p in zip(nodes, parts, strict=True)
    )
