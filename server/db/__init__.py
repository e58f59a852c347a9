"""Persistence: SQLAlchemy models, the engine, migrations and the store that owns durable state."""
