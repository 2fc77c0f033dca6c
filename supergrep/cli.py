"""The ``supergrep`` command.

``supergrep serve`` (the hub) and ``supergrep agent`` (ships a host's logs to a hub)
are not in this build yet; until then the command says so instead of pretending.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from monitor import __version__

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``supergrep`` command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="supergrep", description="Live, regex-filtered logs from many hosts."
    )
    parser.add_argument("--version", action="version", version=f"supergrep {__version__}")
    parser.parse_args(argv)
    print("supergrep: 'serve' and 'agent' are not in this build yet.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
