"""The embedded Graphite store: whisper files, carbon receiver, events."""
