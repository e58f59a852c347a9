"""The waiting room and removals govern media as they govern the Socket.IO session: WHIP, WHEP, ICE
credentials and `media:*` refuse whom the gate would hold, and viewing stops when someone's standing changes,
on whichever process runs the relay. Non-public sessions are hidden and always have a waiting room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.db.store import SessionDraft
from server.demo import seed_demo
from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.keys import CORE_KEY
from server.media.edge import EdgeRelay
from server.media_http import MEDIA_KEY

from .conftest import make_settings, run_app
from .helpers import Client, Running, eventually
from .media_peers import Viewer
from .test_media_http import post, start_instance
from .test_moderation import entry_of, get_json, staff, waiting_attendee


@pytest.fixture
async def moderated(tmp_path: Path) -> AsyncIterator[Running]:
    """Public sessions have a waiting room (the production default)."""
    async for running in run_app(make_settings(tmp_path, waiting_room="public", media_connect_seconds=5.0)):
        yield running


@pytest.fixture
async def hemicycle(tmp_path: Path) -> AsyncIterator[Running]:
    """No waiting room for public sessions: attendees go straight in."""
    async for running in run_app(make_settings(tmp_path, media_connect_seconds=5.0)):
        yield running


def viewers_of(running: Running, participant_id: int, session_id: int | None = None) -> int:
    relay = running.server.app[MEDIA_KEY].relay(session_id or running.live_session)
    return 0 if relay is None else len(relay.of_participant(participant_id))


async def whep(url: str, session_id: int, token: str, source: str = "room") -> tuple[int, Any, Viewer]:
    """A WHEP offer; on 201 the viewer is connected (the caller closes it)."""
    viewer = Viewer()
    status, _, answer = await post(
        f"{url}/api/sessions/{session_id}/whep?source={source}", await viewer.offer(), token
    )
    if status == 201:
        await viewer.accept(answer)
    else:
        await viewer.close()
    return status, answer, viewer


async def refused_everywhere(running: Running, token: str, code: str, session_id: int | None = None) -> None:
    """WHEP (room and speaker), WHIP and the ICE credentials all refuse with this code; no peer is made."""
    session_id = session_id or running.live_session
    relay = running.server.app[MEDIA_KEY].relay(session_id)
    before = 0 if relay is None else len(relay.peers)
    for source in ("room", "speaker"):
        status, answer, _ = await whep(running.url, session_id, token, source)
        assert (status, answer["error"]["code"]) == (403, code), (source, answer)
    viewer = Viewer()
    status, _, answer = await post(
        f"{running.url}/api/sessions/{session_id}/whip?source=speaker", await viewer.offer(), token
    )
    await viewer.close()
    assert (status, answer["error"]["code"]) == (403, code), answer
    status, answer = await get_json(running, f"/api/sessions/{session_id}/media/ice", token)
    assert (status, answer["error"]["code"]) == (403, code), answer
    relay = running.server.app[MEDIA_KEY].relay(session_id)
    assert (0 if relay is None else len(relay.peers)) == before


async def test_a_waiting_attendee_gets_no_media_until_admitted(moderated: Running) -> None:
    moderator = await staff(moderated)
    amina, registered = await waiting_attendee(moderated)
    token, amina_id = registered["token"], registered["participant"]["id"]
    await refused_everywhere(moderated, token, "waiting")
    for event, payload in (
        ("media:config", {}),
        ("media:subscribe", {"source": "room", "sdp": "v=0"}),
        ("media:publish", {"source": "speaker", "sdp": "v=0"}),
    ):
        refused = await amina.call(event, payload)
        assert refused["error"]["code"] == "waiting", (event, refused)
    # Someone who never connected has not been through the waiting room either.
    stranger = (await moderated.register(display_name="Li Wei"))["token"]
    await refused_everywhere(moderated, stranger, "waiting")

    state = await moderator.wait_for("moderation", lambda s: bool(s["waiting"]))
    version = entry_of(state, amina_id)["version"]
    admitted = await moderator.call("participant:admit", {"participant_id": amina_id, "version": version})
    assert admitted["ok"], admitted
    await amina.wait_for("welcome")
    status, answer, viewer = await whep(moderated.url, moderated.live_session, token)
    try:
        assert status == 201, answer
        assert (await get_json(moderated, f"/api/sessions/{moderated.live_session}/media/ice", token))[
            0
        ] == 200
        assert (await amina.call("media:config", {}))["ok"]
    finally:
        await viewer.close()


async def test_removal_ends_http_viewing_and_refuses_the_next(hemicycle: Running) -> None:
    moderator = await staff(hemicycle)
    registered = await hemicycle.register(display_name="Kofi Mensah")
    token, kofi_id = registered["token"], registered["participant"]["id"]
    await hemicycle.join(token)
    status, answer, viewer = await whep(hemicycle.url, hemicycle.live_session, token)
    try:
        assert status == 201, answer
        assert viewers_of(hemicycle, kofi_id) == 1
        removed = await moderator.call(
            "participant:remove", {"participant_id": kofi_id, "reason": "disruption"}
        )
        assert removed["ok"], removed
        await eventually(lambda: viewers_of(hemicycle, kofi_id) == 0, timeout=2)
        await refused_everywhere(hemicycle, token, "not_admitted")
    finally:
        await viewer.close()


async def test_a_ban_or_a_withdrawn_link_ends_viewing_within_a_second(hemicycle: Running) -> None:
    moderator = await staff(hemicycle)
    banned = await hemicycle.register(display_name="Banned Person")
    withdrawn = await hemicycle.register(display_name="Withdrawn Link")
    viewers: list[Viewer] = []
    try:
        for person in (banned, withdrawn):
            await hemicycle.join(person["token"])
            status, answer, viewer = await whep(hemicycle.url, hemicycle.live_session, person["token"])
            viewers.append(viewer)
            assert status == 201, answer
        banned_id = banned["participant"]["id"]
        reply = await moderator.call("participant:ban", {"participant_id": banned_id, "reason": "abuse"})
        assert reply["ok"], reply
        await eventually(lambda: viewers_of(hemicycle, banned_id) == 0, timeout=2)
        status, answer, _ = await whep(hemicycle.url, hemicycle.live_session, banned["token"])
        assert (status, answer["error"]["code"]) == (401, "token_revoked"), answer

        # A link withdrawn outside moderation: the relay's next look at everyone's standing ends it, and
        # the connection opened before starts nothing more.
        me = await hemicycle.core.authenticate(withdrawn["token"])
        await hemicycle.core.store.revoke_grant(None, me[0].grant_id)
        withdrawn_id = withdrawn["participant"]["id"]
        await eventually(lambda: viewers_of(hemicycle, withdrawn_id) == 0, timeout=2.5)
        still_open = next(c for c in hemicycle.clients if c.last("welcome")["me"]["id"] == withdrawn_id)
        for event, payload in (
            ("media:config", {}),
            ("media:subscribe", {"source": "room", "sdp": "v=0"}),
        ):
            refused = await still_open.call(event, payload)
            assert refused["error"]["code"] == "token_revoked", (event, refused)
    finally:
        for viewer in viewers:
            await viewer.close()


async def test_a_removal_on_another_process_ends_viewing_on_the_relays(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The origin relay runs on A; the viewer came in through B and is served by B's edge relay; the
    moderator removes on B: B's edge stops it at once (no periodic check here), and B refuses the next offer.
    On SQLite, then PostgreSQL."""
    monkeypatch.setattr("server.media.service.RECONCILE_SECONDS", 3600.0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    owner = await start_instance(tmp_path / "a", database_url)
    other = await start_instance(tmp_path / "b", database_url)
    clients: list[Client] = []
    viewer: Viewer | None = None
    try:
        core = owner.app[CORE_KEY]
        event = await seed_demo(core.store)
        session_id = next(
            s.id for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE
        )
        running = Running(owner, core, event.id, session_id, session_id)
        other_url = str(other.make_url("")).rstrip("/")
        await owner.app[MEDIA_KEY].locate(session_id)  # A claims the relay
        registered = await running.register(display_name="Kofi Mensah")
        token, kofi_id = registered["token"], registered["participant"]["id"]
        kofi = Client(other_url)
        moderator = Client(other_url)
        clients += [kofi, moderator]
        await kofi.connect(token, session_id)
        await kofi.wait_for("welcome")
        await moderator.connect(await running.staff_token(Role.MODERATOR), session_id)
        await moderator.wait_for("welcome")
        status, answer, viewer = await whep(other_url, session_id, token)
        assert status == 201, answer
        assert isinstance(other.app[MEDIA_KEY].relay(session_id), EdgeRelay)
        edge = Running(other, core, event.id, session_id, session_id)
        assert viewers_of(edge, kofi_id, session_id) == 1

        # The waiting room turned on: those present stay in; a newcomer waits, and neither process gives
        # them media.
        assert (await moderator.call("moderation:settings", {"waiting_room": True}))["ok"]
        newcomer = (await running.register(display_name="Li Wei"))["token"]
        li = Client(other_url)
        clients.append(li)
        await li.connect(newcomer, session_id)
        await li.wait_for("waiting")
        for url in (other_url, running.url):
            status, answer, _ = await whep(url, session_id, newcomer)
            assert (status, answer["error"]["code"]) == (403, "waiting"), (url, answer)
        refused = await li.call("media:subscribe", {"source": "room", "sdp": "v=0"})
        assert refused["error"]["code"] == "waiting", refused
        assert viewers_of(edge, kofi_id, session_id) == 1

        removed = await moderator.call(
            "participant:remove", {"participant_id": kofi_id, "reason": "disruption"}
        )
        assert removed["ok"], removed
        await eventually(lambda: viewers_of(edge, kofi_id, session_id) == 0, timeout=2)
        status, answer, _ = await whep(other_url, session_id, token)
        assert (status, answer["error"]["code"]) == (403, "not_admitted"), answer
    finally:
        if viewer is not None:
            await viewer.close()
        for client in clients:
            await client.close()
        await other.close()
        await owner.close()


# -- non-public sessions ---------------------------------------------------------------------------


async def private_session(running: Running) -> int:
    """A live session that is not public, added to the demo event."""
    now = datetime.now(UTC)
    draft = SessionDraft(
        ref="closed-1",
        title="Closed consultation",
        room="Room XII",
        starts_at=now,
        ends_at=now + timedelta(hours=2),
        languages=("en",),
        is_public=False,
        state=SessionState.LIVE,
    )
    await running.core.store.upsert_sessions(running.event_id, [draft])
    return next(s.id for s in await running.core.store.list_sessions(running.event_id) if s.ref == "closed-1")


async def test_a_non_public_session_is_hidden_and_always_has_a_waiting_room(hemicycle: Running) -> None:
    """Even with the waiting room off for public sessions: an attendee waits, media refuses them, and the
    session is readable only with a grant for it or once admitted."""
    closed = await private_session(hemicycle)
    path = f"/api/sessions/{closed}"
    status, listed = await get_json(hemicycle, f"/api/events/{hemicycle.event_id}", None)
    assert status == 200 and closed not in [s["id"] for s in listed["sessions"]]
    registered = await hemicycle.register(display_name="Amina Diallo")
    token, amina_id = registered["token"], registered["participant"]["id"]
    other_session = await hemicycle.staff_token(Role.MODERATOR)  # the live public session's moderator
    for who in (None, token, other_session):
        status, answer = await get_json(hemicycle, path, who)
        assert (status, answer["error"]["code"]) == (404, "unknown_session"), (who, answer)
    status, answer = await get_json(hemicycle, path, "not-a-token")
    assert status == 401, answer
    moderator_token = await hemicycle.staff_token(Role.MODERATOR, closed)
    for who in (moderator_token, await hemicycle.staff_token(Role.ADMIN)):
        status, answer = await get_json(hemicycle, path, who)
        assert status == 200 and answer["session"]["is_public"] is False, answer

    moderator = hemicycle.client()
    await moderator.connect(moderator_token, closed)
    await moderator.wait_for("moderation")
    off = await moderator.call("moderation:settings", {"waiting_room": False})
    assert off["error"]["code"] == "not_public", off
    amina = hemicycle.client()
    await amina.connect(token, closed)
    await amina.wait_for("waiting")
    assert not amina.received("welcome")
    await refused_everywhere(hemicycle, token, "waiting", closed)
    assert (await get_json(hemicycle, path, token))[0] == 404

    state = await moderator.wait_for("moderation", lambda s: bool(s["waiting"]))
    assert state["waiting_room"] is True
    version = entry_of(state, amina_id)["version"]
    assert (await moderator.call("participant:admit", {"participant_id": amina_id, "version": version}))["ok"]
    await amina.wait_for("welcome")
    status, answer = await get_json(hemicycle, path, token)
    assert status == 200 and answer["session"]["id"] == closed, answer
    status, answer, viewer = await whep(hemicycle.url, closed, token)
    await viewer.close()
    assert status == 201, answer
    assert hemicycle.server.app[MEDIA_KEY].relay(closed) is not None
