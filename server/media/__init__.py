"""The media relay: encoded frames forwarded from publishers to viewers, per session, with aiortc.

Imports no web or Socket.IO code; ``server.media_http`` and ``signaling.media_events`` are its adapters.
"""
