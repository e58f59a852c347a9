"""Real-time signalling: the python-socketio server, its events and their validated payloads."""
