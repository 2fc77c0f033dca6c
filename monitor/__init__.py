"""monitor: statsd, Graphite and supergrep in one install.

Importing ``monitor`` does nothing else: no socket, no DNS lookup, no environment read.
"""

__version__ = "0.1.0"
