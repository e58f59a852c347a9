"""Domain rules in plain Python: no aiohttp, socketio, aiortc or SQLAlchemy imports here.

Tests keep it that way: tests/test_domain.py (no transport import) and tests/test_imports.py (the layers).
"""
