"""Hemicycle: hybrid participation for sessions held in a real meeting room."""

__version__ = "0.1.0"
