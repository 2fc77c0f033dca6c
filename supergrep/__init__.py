"""supergrep: live, regex-filtered logs from many hosts in the browser."""
