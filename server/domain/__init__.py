"""Domain rules in plain Python: no aiohttp, socketio, aiortc or SQLAlchemy imports here.

A test (tests/test_architecture.py) keeps it that way.
"""
