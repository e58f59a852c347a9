"""Durable state on SQLite and PostgreSQL: migrations from empty, restarts, racing writers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from server.db.engine import alembic_config, create_engine, migrate
from server.domain.errors import Conflict
from server.domain.roles import Role
from server.domain.sessions import SessionState

from .conftest import make_settings, run_app

TABLES = {
    "events",
    "sessions",
    "participants",
    "role_grants",
    "audit_log",
    "instances",
    "presence",
    "interventions",
    "questions",
    "question_votes",
    "question_edits",
}


async def test_migrations_from_empty(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        await migrate(engine)  # a second start finds nothing to do
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        assert tables >= TABLES
        head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
        assert version == head
    finally:
        await engine.dispose()


async def test_state_survives_a_restart(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url)
    async for first in run_app(settings):
        registered = await first.register(display_name="Ана Петрова", country="RU")
        moderator_token = await first.staff_token(Role.MODERATOR, first.scheduled_session)
        client = await first.join(registered["token"])
        await first.core.set_state(
            (await first.core.authenticate(moderator_token))[0], first.scheduled_session, "live"
        )
        scheduled = first.scheduled_session
        assert (await first.core.presence(first.live_session)).people
        await client.close()

    async for second in run_app(settings):
        assert (await second.core.store.get_session(scheduled)).state is SessionState.LIVE
        principal, _ = await second.core.authenticate(registered["token"])
        assert principal.participant.display_name == "Ана Петрова"
        assert (await second.core.presence(second.live_session)).people == ()
        audit = await second.core.store.audit_log(scheduled)
        assert [e["action"] for e in audit if e["action"] == "session.set_state"] == ["session.set_state"]
        # Demo seeding is idempotent: still one event with four sessions.
        assert len(await second.core.store.list_events()) == 1
        assert len(await second.core.store.list_sessions(second.event_id)) == 4


async def test_racing_state_changes_have_one_winner(database_url: str, tmp_path: Path) -> None:
    async for running in run_app(make_settings(tmp_path, database_url)):
        core = running.core
        chair = (await core.authenticate(await running.staff_token(Role.CHAIR, running.scheduled_session)))[0]
        moderator = (
            await core.authenticate(await running.staff_token(Role.MODERATOR, running.scheduled_session))
        )[0]
        results = await asyncio.gather(
            *(core.set_state(who, running.scheduled_session, "live") for who in (chair, moderator) * 3),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException)), results
        audit = await core.store.audit_log(running.scheduled_session)
        assert len([e for e in audit if e["action"] == "session.set_state"]) == 1


async def test_migrations_match_the_models(database_url: str) -> None:
    """A model changed without a migration (or the reverse) fails here, on both databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from server.db.models import Base

    engine = create_engine(database_url)
    try:
        await migrate(engine)

        def diff(connection: Any) -> list[Any]:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as connection:
            differences = await connection.run_sync(diff)
        assert differences == []
    finally:
        await engine.dispose()
