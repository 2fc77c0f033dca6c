"""The HTTP side of the stack: one aiohttp application for every page and API."""
