"""A crowd joining at once: the reads and writes of many joins answered together, each still its own answer
(server/db/gathered.py GatheredCalls in Store.principal and SnapshotStore.join), on SQLite and PostgreSQL;
the welcome's session reads in one transaction per round (server/db/snapshot_store.py) and its common parts
built once per version (signaling/welcome.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from server.db.caption_store import CaptionStore
from server.db.engine import create_engine, migrate
from server.db.moderation_store import ParticipantModerationStore
from server.db.question_store import QuestionStore
from server.db.queue_store import QueueStore
from server.db.recording_store import RecordingStore
from server.db.snapshot_store import SessionSnapshot, SnapshotStore
from server.db.store import Arrival, Store
from server.demo import seed_demo
from server.domain.errors import Conflict, NotFound, TooManyConnections, Unauthenticated
from server.domain.model import PresenceSnapshot
from server.domain.moderation import WaitingRoom
from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.keys import HUB_KEY
from server.service import Hemicycle
from server.tokens import TokenService
from signaling.hub import Hub
from signaling.presence import (
    PRESENCE_COALESCE_SECONDS,
    PRESENCE_SPACING_CAP_SECONDS,
    PRESENCE_TIME_SHARE,
    Presence,
    spacing,
)
from signaling.queue_events import QUEUE_SPACING_MAX_SECONDS, QUEUE_SPACING_PER_LISTENER

from .conftest import SECRET, make_settings, run_app
from .helpers import Running, mint, snapshots_of

HAND = {"type": "statement", "language": "en"}


async def test_tokens_resolved_together_each_get_their_own_answer(database_url: str, tmp_path: Path) -> None:
    async for running in run_app(make_settings(tmp_path, database_url)):
        core = running.core
        tokens = [(await running.register(display_name=f"Delegate {i}"))["token"] for i in range(12)]
        claims = [core.tokens.verify(token) for token in tokens]
        await core.store.revoke_grant(None, claims[3].grant_id)
        asks = [(c.grant_id, c.participant_id) for c in claims]
        asks.append((claims[0].grant_id, claims[1].participant_id))  # a grant and someone else's id
        asks.append((10**9, claims[2].participant_id))  # no such grant
        answers = await asyncio.gather(*(core.store.principal(g, p) for g, p in asks), return_exceptions=True)
        for index, (answer, claim) in enumerate(zip(answers, claims, strict=False)):
            if index == 3:
                assert isinstance(answer, Unauthenticated) and answer.code == "token_revoked"
            else:
                assert not isinstance(answer, BaseException), answer
                assert answer.participant.id == claim.participant_id
                assert answer.participant.display_name == f"Delegate {index}"
                assert answer.grant_id == claim.grant_id
        assert [getattr(a, "code", None) for a in answers[-2:]] == ["token_unknown", "token_unknown"]


async def test_connections_recorded_together_refuse_a_duplicate(database_url: str, tmp_path: Path) -> None:
    async for running in run_app(make_settings(tmp_path, database_url)):
        core = running.core
        tokens = [(await running.register())["token"] for _ in range(5)]
        people = [(await core.authenticate(token))[0] for token in tokens]
        session = running.live_session
        joins = snapshots_of(core.store)
        await joins.join(core.instance_id, "sid-taken", people[0], session)
        crowd = [(f"sid-{i}", people[i % 5]) for i in range(20)] + [("sid-taken", people[1])]
        answers = await asyncio.gather(
            *(joins.join(core.instance_id, sid, person, session) for sid, person in crowd),
            return_exceptions=True,
        )
        assert all(isinstance(a, SessionSnapshot) and a.queue.session.id == session for a in answers[:20])
        assert isinstance(answers[20], Conflict) and answers[20].code == "already_joined"
        snapshot = await core.presence(session)
        assert sum(p.connections for p in snapshot.people) == 21
        assert {p.participant.id for p in snapshot.people} == {p.participant.id for p in people}


async def test_connections_leaving_together_are_each_forgotten(database_url: str, tmp_path: Path) -> None:
    async for running in run_app(make_settings(tmp_path, database_url)):
        core = running.core
        people = [(await core.authenticate((await running.register())["token"]))[0] for _ in range(4)]
        live, scheduled = running.live_session, running.scheduled_session
        joins = snapshots_of(core.store)
        for i in range(12):
            session = live if i < 8 else scheduled
            await joins.join(core.instance_id, f"sid-{i}", people[i % 4], session)
        leaving = [f"sid-{i}" for i in range(0, 12, 2)] + ["sid-never"]
        answers = await asyncio.gather(*(core.store.remove_presence(core.instance_id, s) for s in leaving))
        assert answers == [live, live, live, live, scheduled, scheduled, None]
        assert sum(p.connections for p in (await core.presence(live)).people) == 4
        assert sum(p.connections for p in (await core.presence(scheduled)).people) == 2
        assert await core.store.remove_presence(core.instance_id, "sid-0") is None, "already forgotten"


async def test_a_crowd_at_one_version_shares_one_welcome(hemicycle: Running) -> None:
    """The welcome's common parts are built once while the versions stand (signaling/welcome.py), each joiner
    still gets their own parts, and a version that moves, or time that passes, makes a new build."""
    hub = hemicycle.server.app[HUB_KEY]
    assert isinstance(hub, Hub)
    parts = hub.connections.welcomes
    now = [100.0]
    parts.clock = lambda: now[0]  # time stands still: only the versions decide
    names = [f"Delegate {i}" for i in range(16)]
    tokens = [(await hemicycle.register(display_name=name))["token"] for name in names]
    crowd = await hemicycle.join_many(tokens, at_once=16)
    assert parts.builds == 1
    welcomes = [client.received("welcome")[0] for client in crowd]
    assert [w["me"]["display_name"] for w in welcomes] == names
    for key in ("session", "event", "floor", "questions", "captions"):
        assert all(w[key] == welcomes[0][key] for w in welcomes), key
    assert welcomes[0]["floor"]["length"] == 0

    # The queue moves: the next joiner is welcomed with the new line, from a new build; one's own request
    # is still one's own.
    raised = await crowd[0].call("hand:raise", HAND)
    assert raised["ok"], raised
    late = await hemicycle.join((await hemicycle.register(display_name="Late Delegate"))["token"])
    welcome = late.received("welcome")[0]
    assert welcome["floor"]["length"] == 1 and welcome["floor"]["version"] > welcomes[0]["floor"]["version"]
    assert welcome["mine"]["entry"] is None
    assert parts.builds == 2
    again = await hemicycle.join(tokens[0])
    assert again.received("welcome")[0]["mine"]["place"] == 1, "the raiser sees their own request"
    assert parts.builds == 2

    # Past the shared countdown's age, the same versions are built again (a fresh server clock).
    now[0] += 1.0
    await hemicycle.join((await hemicycle.register(display_name="Later Delegate"))["token"])
    assert parts.builds == 3


class CountedSnapshots(SnapshotStore):
    """Counts its transactions."""

    reads = 0

    async def _read(self, session_id: int) -> SessionSnapshot:
        self.reads += 1
        return await super()._read(session_id)


async def test_a_crowd_reads_the_session_for_its_welcomes_together(database_url: str, tmp_path: Path) -> None:
    """What a welcome shows of the session (queue, questions, captions, recording) is read in one transaction
    shared by the joiners of the moment, and each read sees what was committed before it was asked for."""
    async for running in run_app(make_settings(tmp_path, database_url)):
        core, store, live = running.core, running.core.store, running.live_session
        snapshots = CountedSnapshots(
            store,
            QueueStore(store),
            QuestionStore(store),
            CaptionStore(store),
            RecordingStore(store),
            20,
            per_participant=10,
            live_within=core.presence_ttl,
        )
        crowd = await asyncio.gather(*(snapshots.snapshot(live) for _ in range(40)))
        assert snapshots.reads == 1, "forty callers of one moment, one transaction"
        assert all(s is crowd[0] for s in crowd)
        first = crowd[0]
        assert not (first.queue.queued or first.questions.questions or first.captions.lines)
        assert first.recording is None and first.queue.session.id == live

        # A hand, a question, a caption and a recording, each committed elsewhere: the next read has them.
        attendee = await running.join((await running.register(display_name="Delegate A"))["token"])
        assert (await attendee.call("hand:raise", HAND))["ok"]
        assert (await attendee.call("question:post", {"text": "What of the budget?"}))["ok"]
        moderator = (await core.authenticate(await running.staff_token(Role.MODERATOR)))[0]
        await CaptionStore(store).post(moderator, live, "en", "The chair opens the session.")
        await RecordingStore(store).start(moderator, live)
        after = await snapshots.snapshot(live)
        assert [e.display_name for e in after.queue.queued] == ["Delegate A"]
        assert after.queue.version > first.queue.version
        assert [q.text for q in after.questions.questions] == ["What of the budget?"]
        assert [line.text for line in after.captions.lines] == ["The chair opens the session."]
        assert after.recording is not None and after.recording.state.value == "recording"
        # Nothing moved since: the stores' last reads are reused, the same objects.
        again = await snapshots.snapshot(live)
        assert again.queue is after.queue and again.questions is after.questions
        assert again.captions is after.captions

        missing = await asyncio.gather(*(snapshots.snapshot(10**9) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(m, NotFound) and m.code == "unknown_session" for m in missing)
        await attendee.close()


async def test_arrivals_together_each_get_their_own_answer(database_url: str, tmp_path: Path) -> None:
    """A crowd connecting at once: who holds each token, the session, its event and whether the waiting room
    lets them straight in, answered together (Store.arrive), each with its own answer or refusal."""
    async for running in run_app(make_settings(tmp_path, database_url)):
        core, store = running.core, running.core.store
        live = running.live_session
        tokens = [(await running.register(display_name=f"Delegate {i}"))["token"] for i in range(8)]
        claims = [core.tokens.verify(token) for token in tokens]
        await store.revoke_grant(None, claims[1].grant_id)
        asks = [(c.grant_id, c.participant_id, live, WaitingRoom.OFF) for c in claims]
        asks[2] = (claims[2].grant_id, claims[2].participant_id, 10**9, WaitingRoom.OFF)  # no such session
        asks[3] = (claims[3].grant_id, claims[3].participant_id, live, WaitingRoom.ALL)  # a waiting room
        asks[4] = (
            claims[4].grant_id,
            claims[5].participant_id,
            live,
            WaitingRoom.OFF,
        )  # someone else's grant
        answers = await asyncio.gather(*(store.arrive(*ask) for ask in asks), return_exceptions=True)
        assert [getattr(a, "code", None) for a in answers[1:5]] == [
            "token_revoked",
            "unknown_session",
            None,
            "token_unknown",
        ]
        session = await store.get_session(live)
        event = await store.get_event(session.event_id)
        for index in (0, 3, 5, 6, 7):
            arrival = answers[index]
            assert isinstance(arrival, Arrival), arrival
            assert arrival.principal.participant.display_name == f"Delegate {index}"
            assert (arrival.session, arrival.event) == (session, event)
            assert arrival.straight_in is (index != 3), index

        # A ban anywhere in the event sends everyone not yet decided on through the waiting room's full check.
        moderator = (await core.authenticate(await running.staff_token(Role.MODERATOR)))[0]
        moderation = ParticipantModerationStore(store)
        await moderation.ban(moderator, live, claims[7].participant_id, "disrupted the session")
        after = await asyncio.gather(*(store.arrive(*asks[i]) for i in (0, 6)))
        assert [a.straight_in for a in after] == [False, False]
        refused = await asyncio.gather(store.arrive(*asks[7]), return_exceptions=True)
        assert getattr(refused[0], "code", None) == "token_revoked", "a ban withdraws the person's links"


def test_a_crowd_s_counts_are_spaced_by_what_a_broadcast_costs() -> None:
    assert spacing(12, 0.5) == PRESENCE_COALESCE_SECONDS, "a small session hears of every change at once"
    assert spacing(2000, 0.001) == 2.0, "a second per thousand people"
    assert spacing(5000, 0.4) == pytest.approx(0.4 / PRESENCE_TIME_SHARE)
    assert spacing(5000, 60.0) == PRESENCE_SPACING_CAP_SECONDS


class _SlowRoom:
    """A room whose broadcast takes a while, during which someone joins."""

    def __init__(self) -> None:
        self.presence: Presence | None = None
        self.broadcasts: list[tuple[float, float]] = []

    async def emit(self, event: str, data: Any, room: str | None = None, **_: Any) -> None:
        if event != "presence":
            return
        started = time.monotonic()
        if self.presence is not None and not self.broadcasts:
            self.presence.changed(data["session_id"])  # a join while the counts are being written
        await asyncio.sleep(0.05)
        self.broadcasts.append((started, time.monotonic()))


class _Counts:
    async def presence_summary(self, session_id: int) -> dict[str, Any]:
        return {"session_id": session_id, "total": 12, "by_role": {"attendee": 12}, "by_group": {}}

    async def presence(self, session_id: int) -> PresenceSnapshot:
        return PresenceSnapshot(session_id)


async def test_changes_made_during_a_broadcast_wait_for_the_next() -> None:
    """A crowd's broadcast is written to everyone while more people join: those joins go into the next
    broadcast, a whole spacing later, rather than starting another at once (which, at 5,000 people, kept the
    process writing counts back to back for the whole of a join storm)."""
    room = _SlowRoom()

    async def signal(kind: str, data: dict[str, Any]) -> None:  # one process: straight to its own handler
        await presence.signalled(data)

    presence = Presence(room, _Counts(), lambda session_id: 12, signal)  # type: ignore[arg-type]
    room.presence = presence
    try:
        presence.changed(7)
        for _ in range(200):
            if len(room.broadcasts) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(room.broadcasts) == 2, room.broadcasts
        (_, first_done), (second_started, _) = room.broadcasts
        assert second_started - first_done >= PRESENCE_COALESCE_SECONDS * 0.95
        await asyncio.sleep(PRESENCE_COALESCE_SECONDS * 2)
        assert len(room.broadcasts) == 2, "nothing changed since: no third broadcast"
    finally:
        await presence.stop()


async def test_queue_broadcasts_are_spaced_by_everyone_present_on_every_process(hemicycle: Running) -> None:
    """A queue broadcast reaches the session's connections on every process: its spacing counts them all (the
    last presence count), not only this process's, so that two processes do not send twice as many."""
    hub = hemicycle.server.app[HUB_KEY]
    assert isinstance(hub, Hub)
    live = hemicycle.live_session
    await hemicycle.join((await hemicycle.register())["token"])
    assert hub.connections.audience(live) == 1
    counted = await hemicycle.core.presence_summary(live)
    assert hub.queue._spacing(live) == QUEUE_SPACING_PER_LISTENER  # nothing counted here yet: its own one
    hub.presence._summaries[live] = (time.monotonic(), {**counted, "total": 4000})  # others, elsewhere
    assert hub.presence.audience(live) == 4000
    assert hub.queue._spacing(live) == pytest.approx(4000 * QUEUE_SPACING_PER_LISTENER)
    hub.presence._summaries[live] = (time.monotonic(), {**counted, "total": 50_000})
    assert hub.queue._spacing(live) == QUEUE_SPACING_MAX_SECONDS


async def test_a_participants_connections_are_bounded_on_the_live_processes_together(
    database_url: str, tmp_path: Path
) -> None:
    """The bound on a participant's connections, in the joining transaction: counted over the processes
    still alive, across one batch too, and a refused connection leaves no row."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        settings = make_settings(tmp_path, database_url).resolved()
        core = Hemicycle(settings, Store(engine), TokenService(SECRET))
        event = await seed_demo(core.store)
        session = next(s.id for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
        person, _ = await core.authenticate(await mint(core, Role.CHAIR, session))
        other, _ = await core.authenticate(await mint(core, Role.CAPTIONER, session))
        joins = snapshots_of(core.store, per_participant=3)
        for instance in ("here", "there"):
            await core.store.register_instance(instance, "host", 1)
        await joins.join("there", "far-1", person, session)

        # Four at once on this process for one person, with one held elsewhere: two get in.
        asks = [("here", f"near-{i}", person) for i in range(4)] + [("here", "theirs", other)]
        answers = await asyncio.gather(
            *(joins.join(instance, sid, who, session) for instance, sid, who in asks), return_exceptions=True
        )
        refused = [a for a in answers if isinstance(a, TooManyConnections)]
        assert len(refused) == 2 and all(a.details == {"limit": 3} for a in refused)
        assert isinstance(answers[-1], SessionSnapshot), "somebody else is not affected"
        held = {p.participant.id: p.connections for p in (await core.presence(session)).people}
        assert held == {person.participant.id: 3, other.participant.id: 1}, "no row for a refused one"

        # The other process stops beating: its connection no longer counts, and one more gets in.
        clock = core.store.clock
        core.store.clock = lambda: clock() - timedelta(minutes=5)
        try:
            await core.store.heartbeat("there")
        finally:
            core.store.clock = clock
        assert isinstance(await joins.join("here", "near-late", person, session), SessionSnapshot)
        with pytest.raises(TooManyConnections):
            await joins.join("here", "near-over", person, session)
    finally:
        await engine.dispose()
