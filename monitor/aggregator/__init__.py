"""The statsd daemon."""
