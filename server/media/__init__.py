"""The media relay: publishers' RTP packets forwarded to viewers, per session, with aiortc.

Imports no web or Socket.IO code; ``server.media_http`` and ``signaling.media_events`` are its adapters.
"""
