"""Two server processes on one PostgreSQL database and one Redis: a change through one reaches the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.service import Hemicycle

from .helpers import Client, eventually, mint, register_at, snapshots_of
from .media_peers import Publisher
from .processes import server_processes


@pytest.fixture
async def two_servers(
    pg_database_url: str, fresh_redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[list[str], Hemicycle]]:
    async with server_processes(pg_database_url, fresh_redis_url, tmp_path, [{}, {}]) as servers:
        yield servers.urls, servers.core


async def test_change_through_one_process_reaches_clients_of_the_other(
    two_servers: tuple[list[str], Hemicycle],
) -> None:
    (url_a, url_b), core = two_servers
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.SCHEDULED)

    moderator = Client(url_a)
    watcher = Client(url_b)
    clients = [moderator, watcher]
    try:
        await moderator.connect(await mint(core, Role.MODERATOR, session.id), session.id)
        await watcher.connect(await mint(core, Role.CHAIR, session.id), session.id)
        await moderator.wait_for("welcome")
        await watcher.wait_for("welcome")

        # Presence is durable and shared: each process's client sees the other's.
        await moderator.wait_for(
            "presence:people", lambda d: {p["role"] for p in d["people"]} == {"moderator", "chair"}
        )
        await watcher.wait_for(
            "presence:people", lambda d: {p["role"] for p in d["people"]} == {"moderator", "chair"}
        )

        # An attendee registered through process B joins through process A.
        attendee_token = (
            await register_at(
                url_b,
                event.id,
                display_name="Kofi Mensah",
                affiliation="University of Ghana",
                stakeholder_group="academic_technical",
                country="GH",
            )
        )["token"]
        attendee = Client(url_a)
        clients.append(attendee)
        await attendee.connect(attendee_token, session.id)
        await watcher.wait_for("presence", lambda d: d["by_group"] == {"academic_technical": 1})

        # The state change is made through A; the chair on B and the attendee on A both see it.
        reply = await moderator.call("session:set_state", {"state": "live"})
        assert reply["ok"], reply
        change = await watcher.wait_for("session:state")
        assert change["session"]["state"] == "live" and change["by"]["role"] == "moderator"
        await attendee.wait_for("session:state")

        # B reads the same durable state.
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{url_b}/api/sessions/{session.id}") as response,
        ):
            assert (await response.json())["session"]["state"] == "live"

        # Leaving through A is seen on B.
        await attendee.close()
        await watcher.wait_for("presence", lambda d: d["by_group"] == {})
    finally:
        for client in clients:
            await client.close()


async def test_a_stopped_process_presence_is_reaped(two_servers: tuple[list[str], Hemicycle]) -> None:
    (_url_a, url_b), core = two_servers
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    watcher = Client(url_b)
    try:
        await watcher.connect(await mint(core, Role.MODERATOR, session.id), session.id)
        await watcher.wait_for("welcome")
        # A row left by a process that died without a goodbye (no heartbeat since long ago).
        await core.store.register_instance("crashed-process", "elsewhere", 1)
        async with core.store.engine.begin() as connection:
            from sqlalchemy import update

            from server.db import models

            await connection.execute(
                update(models.Instance)
                .where(models.Instance.id == "crashed-process")
                .values(heartbeat_at=core.store.clock() - timedelta(minutes=5))
            )
        chair_principal = (await core.authenticate(await mint(core, Role.CHAIR, session.id)))[0]
        await snapshots_of(core.store).join("crashed-process", "ghost-sid", chair_principal, session.id)
        assert all(p.role is not Role.CHAIR for p in (await core.presence(session.id)).people), (
            "presence held by a silent process is not counted"
        )

        async def ghost_gone() -> bool:
            async with core.store.engine.connect() as connection:
                from sqlalchemy import func, select

                from server.db import models

                count = await connection.scalar(
                    select(func.count())
                    .select_from(models.Presence)
                    .where(models.Presence.instance_id == "crashed-process")
                )
                return count == 0

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await ghost_gone():
            assert loop.time() < deadline, "the live processes never reaped the dead one"
            await asyncio.sleep(0.2)
    finally:
        await watcher.close()


async def _crowd(
    urls: list[str], core: Hemicycle, count: int, prefix: str, group: str, clients: list[Client]
) -> tuple[list[Client], list[Client]]:
    """A moderator on each process and `count` attendees registered and connected alternately through both."""
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    moderators = [Client(url) for url in urls]
    clients.extend(moderators)
    for moderator in moderators:
        await moderator.connect(await mint(core, Role.MODERATOR, session.id), session.id)
        await moderator.wait_for("welcome")
    attendees = []
    async with aiohttp.ClientSession() as http:
        for index in range(count):
            url = urls[index % len(urls)]
            body = {
                "display_name": f"{prefix} {index:02d}",
                "affiliation": "Delegation",
                "stakeholder_group": group,
                "country": "KE",
            }
            async with http.post(f"{url}/api/events/{event.id}/participants", json=body) as response:
                token = (await response.json())["token"]
            client = Client(url)
            clients.append(client)
            attendees.append(client)
            await client.connect(token, session.id)
    return moderators, attendees


async def test_queue_agrees_across_processes_under_concurrent_changes(
    two_servers: tuple[list[str], Hemicycle],
) -> None:
    urls, core = two_servers
    clients: list[Client] = []
    try:
        moderators, attendees = await _crowd(urls, core, 40, "Delegate", "government", clients)
        hand = {"type": "statement", "language": "en"}
        # Every hand twice, through both processes at once: one request each, none lost.
        replies = await asyncio.gather(*(c.call("hand:raise", hand, timeout=30) for c in attendees * 2))
        assert all(r["ok"] for r in replies)
        ids = {r["data"]["entry"]["id"] for r in replies}
        assert len(ids) == 40

        final = [await m.wait_for("queue", lambda q: len(q["queue"]) == 40, timeout=20) for m in moderators]
        latest = max(q["version"] for q in final)
        views = [await m.wait_for("queue", lambda q: q["version"] == latest, timeout=20) for m in moderators]
        assert [e["id"] for e in views[0]["queue"]] == [e["id"] for e in views[1]["queue"]]

        # Two moderators on two processes grant the same head at once: one wins, the other hears it is stale.
        head = views[0]["queue"][0]["id"]
        results = await asyncio.gather(*(m.call("floor:grant", {"entry_id": head}) for m in moderators))
        assert sorted(r["ok"] for r in results) == [False, True]
        loser = next(r for r in results if not r["ok"])
        assert loser["error"]["code"] in ("stale_entry", "no_change")
        for moderator in moderators:
            await moderator.wait_for("queue", lambda q: q["speaking"] and q["speaking"]["id"] == head)
        owner = {r["data"]["entry"]["id"]: c for c, r in zip(attendees * 2, replies, strict=True)}
        await owner[head].wait_for("queue:mine", lambda m: m["entry"] and m["entry"]["state"] == "speaking")
    finally:
        for client in clients:
            await client.close()


async def test_questions_and_votes_are_exact_across_processes(
    two_servers: tuple[list[str], Hemicycle],
) -> None:
    urls, core = two_servers
    clients: list[Client] = []
    try:
        moderators, attendees = await _crowd(urls, core, 30, "Asker", "civil_society", clients)
        assert (await moderators[0].call("questions:settings", {"premoderated": False}))["ok"]
        posts = await asyncio.gather(
            *(c.call("question:post", {"text": f"Q from {i}"}, timeout=30) for i, c in enumerate(attendees))
        )
        ids = [p["data"]["question"]["id"] for p in posts]
        # Everyone votes for the next three people's questions, through both processes at once.
        votes = await asyncio.gather(
            *(
                c.call("question:vote", {"question_id": ids[(i + step) % 30]}, timeout=30)
                for i, c in enumerate(attendees)
                for step in (1, 2, 3)
            )
        )
        assert all(v["ok"] for v in votes)
        views = [
            await m.wait_moderation(lambda v: sum(q["votes"] for q in v["questions"]) == 90, timeout=20)
            for m in moderators
        ]
        latest = max(v["version"] for v in views)
        views = [await m.wait_moderation(lambda v: v["version"] == latest, timeout=20) for m in moderators]
        assert views[0]["questions"] == views[1]["questions"]
        assert all(q["votes"] == 3 for q in views[0]["questions"])
        # Attendees on either process, from the deltas both processes sent in whatever order they came,
        # hold the same 30 questions with their three votes each.
        for attendee in attendees[:2]:
            await attendee.wait_questions(
                lambda v: len(v["questions"]) == 30 and all(q["votes"] == 3 for q in v["questions"]),
                timeout=20,
            )
    finally:
        for client in clients:
            await client.close()


async def test_a_speaker_whose_offer_went_to_the_owner_hears_the_revoke(
    two_servers: tuple[list[str], Hemicycle],
) -> None:
    """The relay lives on A; the speaker is connected to B, which hands their offer to A. When the floor is
    revoked, A stops the speaker's media and the push reaches them on B through Redis."""
    (url_a, url_b), core = two_servers
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    room = Publisher()
    voice = Publisher()
    clients: list[Client] = []
    try:
        # A owns the relay: the room feed goes there first.
        av = await mint(core, Role.AV, session.id)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{url_a}/api/sessions/{session.id}/whip",
                data=await room.offer(),
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {av}"},
            ) as response,
        ):
            assert response.status == 201, await response.text()
            await room.accept(await response.text())

        attendee_token = (
            await register_at(
                url_b,
                event.id,
                display_name="Aiyana Redcloud",
                affiliation="Assembly of First Nations",
                stakeholder_group="civil_society",
                country="CA",
            )
        )["token"]
        speaker = Client(url_b)
        moderator = Client(url_a)
        clients += [speaker, moderator]
        await speaker.connect(attendee_token, session.id)
        await moderator.connect(await mint(core, Role.MODERATOR, session.id), session.id)
        await speaker.wait_for("welcome")
        await moderator.wait_for("welcome")

        raised = await speaker.call("hand:raise", {"type": "statement", "language": "en"})
        assert raised["ok"], raised
        entry_id = raised["data"]["entry"]["id"]
        assert (await moderator.call("floor:grant", {"entry_id": entry_id}))["ok"]
        await speaker.wait_for("floor", lambda f: (f.get("speaking") or {}).get("id") == entry_id)
        published = await speaker.call("media:publish", {"source": "speaker", "sdp": await voice.offer()})
        assert published["ok"], published
        assert published["data"]["owner"] != "", published
        await voice.accept(published["data"]["sdp"])

        assert (await moderator.call("floor:end", {"entry_id": entry_id, "revoke": True}))["ok"]
        stopped = await speaker.wait_for(
            "media:stopped", lambda s: s["resource_id"] == published["data"]["resource_id"]
        )
        assert stopped["reason"] == "floor_ended" and stopped["source"] == "speaker"
    finally:
        for client in clients:
            await client.close()
        await voice.close()
        await room.close()


async def test_a_caption_posted_on_one_process_reaches_the_other(
    two_servers: tuple[list[str], Hemicycle],
) -> None:
    (url_a, url_b), core = two_servers
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    captioners = [Client(url_a), Client(url_b)]
    display = Client(url_b)
    clients = [*captioners, display]
    try:
        for captioner in captioners:
            await captioner.connect(await mint(core, Role.CAPTIONER, session.id), session.id)
        await display.connect(await mint(core, Role.DISPLAY, session.id), session.id)
        for client in clients:
            await client.wait_for("welcome")

        # Two captioners on two processes at once: distinct numbers, stored before anyone sees them.
        replies = await asyncio.gather(
            *(
                c.call("caption:post", {"language": "en", "text": f"Line {i} from {n}"}, timeout=20)
                for i in range(5)
                for n, c in enumerate(captioners)
            )
        )
        assert all(r["ok"] for r in replies), replies
        seqs = sorted(r["data"]["caption"]["seq"] for r in replies)
        assert seqs == list(range(1, 11))
        await eventually(lambda: len(display.received("caption")) == 10, timeout=10)
        assert sorted(c["seq"] for c in display.received("caption")) == seqs
        # Process A's client hears B's captioner (through Redis: maybe a moment after B's display).
        texts = {r["data"]["caption"]["text"] for r in replies}
        await eventually(lambda: {c["text"] for c in captioners[0].received("caption")} == texts, timeout=10)

        late = Client(url_a)
        clients.append(late)
        await late.connect(await mint(core, Role.DISPLAY, session.id), session.id)
        welcome = await late.wait_for("welcome")
        assert [c["seq"] for c in welcome["captions"]["lines"]] == seqs
    finally:
        for client in clients:
            await client.close()
