"""The write path's standing check: the same refusals as one check per write, in one transaction for many."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from server.db.store import Standing
from server.domain.errors import HemicycleError
from server.domain.model import Principal
from server.domain.roles import Role
from server.keys import HUB_KEY
from server.standing import StandingChecks

from .helpers import Running


async def test_checks_waiting_together_are_answered_in_one_transaction(hemicycle: Running) -> None:
    core = hemicycle.core
    store = core.store
    principals: list[Principal] = []
    for _ in range(3):
        principal, _ = await core.authenticate((await hemicycle.register())["token"])
        principals.append(principal)
    _, revoked, removed = principals
    await store.revoke_grant(None, revoked.grant_id)
    moderator, _ = await core.authenticate(await hemicycle.staff_token(Role.MODERATOR))
    moderation = hemicycle.server.app[HUB_KEY].moderation.actions
    await moderation.remove(moderator, hemicycle.live_session, removed.participant.id, "off topic", None)

    calls: list[int] = []
    standings = store.standings

    async def counted(asks: Collection[Standing]) -> dict[Standing, HemicycleError | None]:
        calls.append(len(asks))
        return await standings(asks)

    store.standings = counted  # type: ignore[method-assign]
    checks = StandingChecks(store)

    async def outcome(principal: Principal, session_id: int) -> str:
        try:
            await checks.check(principal, session_id)
        except HemicycleError as exc:
            return exc.code
        return "ok"

    session = hemicycle.live_session
    asked: list[tuple[Principal, int]] = [(p, session) for p in principals * 10]
    # Staff have no admission to check; the removed attendee stands in the scheduled session.
    asked += [(moderator, session), (removed, hemicycle.scheduled_session)]
    answers = await asyncio.gather(*(outcome(p, s) for p, s in asked))
    assert answers == ["ok", "token_revoked", "not_admitted"] * 10 + ["ok", "ok"]
    # The first check ran alone; everything that arrived meanwhile went in one more transaction, each
    # distinct ask once.
    assert len(calls) <= 2 and sum(calls) <= 1 + 6
    await checks.stop()


async def test_a_database_failure_reaches_every_waiting_write(hemicycle: Running) -> None:
    store = hemicycle.core.store
    principal, _ = await hemicycle.core.authenticate((await hemicycle.register())["token"])

    async def broken(asks: Any) -> Any:
        raise ConnectionError("the database went away")

    store.standings = broken  # type: ignore[method-assign]
    checks = StandingChecks(store)
    results = await asyncio.gather(
        *(checks.check(principal, hemicycle.live_session) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    await checks.stop()
