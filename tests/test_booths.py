"""Interpretation booths (issue 21): the booth rules, the relay's switch between a booth's interpreters heard
at a listener (440 Hz and 880 Hz tones, decoded), the cough key, and the booth events over a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.domain.booths import SLOW_DOWN_SECONDS, Booth, Notice, Turn, floor_view, intervention_booths
from server.domain.errors import Conflict
from server.domain.roles import Role
from server.keys import MEDIA_KEY
from server.media.relay import ROOM, SPEAKER, SessionRelay, channel

from .helpers import Client, Running, eventually, mint
from .media_peers import NO_ICE, Publisher, Viewer, longest_silence
from .processes import server_processes

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOW, HIGH, FRENCH = 440.0, 880.0, 660.0


# -- the rules ---------------------------------------------------------------------------------------


def test_first_in_goes_on_air_partner_stands_by_and_takes_only_when_offered() -> None:
    booth = Booth("es")
    assert booth.join(1, "Ana", T0) is not None
    assert booth.on_air == 1
    assert booth.join(2, "Ben", T0) is None
    with pytest.raises(Conflict) as refused:
        booth.take(2, T0)
    assert refused.value.code == "no_offer"
    with pytest.raises(Conflict) as refused:
        booth.offer(2)
    assert refused.value.code == "not_on_air"
    booth.offer(1)
    handover = booth.take(2, T0 + timedelta(minutes=25))
    assert (handover.previous, handover.current, booth.on_air) == (1, 2, 2)
    assert booth.since == T0 + timedelta(minutes=25) and not booth.offered


def test_two_taking_at_once_one_wins_the_other_is_told() -> None:
    booth = Booth("es")
    for pid, name in ((1, "Ana"), (2, "Ben"), (3, "Chen")):
        booth.join(pid, name, T0)
    booth.offer(1)
    booth.take(2, T0)
    with pytest.raises(Conflict) as refused:
        booth.take(3, T0)
    assert refused.value.code == "handover_taken"
    assert "Ben" in refused.value.message
    assert booth.on_air == 2


def test_the_one_on_air_leaving_takes_the_booth_off_air_and_a_partner_may_take_it() -> None:
    booth = Booth("fr")
    booth.join(1, "Ana", T0)
    booth.join(2, "Ben", T0)
    booth.cough(1, True)
    assert booth.silenced
    assert booth.leave(1, T0) is not None
    assert booth.on_air is None and not booth.silenced
    booth.take(2, T0)
    assert booth.on_air == 2
    with pytest.raises(Conflict) as refused:
        booth.cough(9, True)
    assert refused.value.code == "not_publishing"


def test_slow_down_is_rate_limited_per_booth() -> None:
    booth = Booth("ar")
    booth.join(1, "Ana", T0)
    booth.slow_down(1, 100.0)
    with pytest.raises(Conflict) as refused:
        booth.slow_down(1, 100.0 + SLOW_DOWN_SECONDS - 1)
    assert refused.value.code == "rate_limited"
    booth.slow_down(1, 100.0 + SLOW_DOWN_SECONDS)


def test_the_floor_view_names_the_language_the_next_two_and_the_booth_to_stay_off() -> None:
    view = floor_view(("Ana", "es"), [("Li", "es"), ("Omar", "ar"), ("Eve", "en")])
    assert view["language"] == "es" and view["stay_off_air"] == "es"
    assert [n["language"] for n in view["next"]] == ["es", "ar"]
    assert floor_view(None, [])["stay_off_air"] is None


def test_the_record_places_turns_handovers_and_notices_in_each_intervention() -> None:
    t = [T0 + timedelta(minutes=m) for m in range(0, 60, 5)]
    turns = [
        Turn("es", 1, "Ana", t[0], t[3], "on_air"),
        Turn("es", 2, "Ben", t[3], None, "handover"),
        Turn("fr", 3, "Chen", t[0], None, "on_air"),
    ]
    notices = [Notice("es", 2, 11, t[4])]
    record = intervention_booths([(10, t[1], t[2]), (11, t[2], t[5])], turns, notices, t[6])
    assert record[10]["booths"]["es"]["on_air"] == [
        {"participant_id": 1, "name": "Ana", "from": "2026-03-02T09:05:00Z", "to": "2026-03-02T09:10:00Z"}
    ]
    assert record[10]["booths"]["es"]["handovers"] == 0
    assert [turn["name"] for turn in record[11]["booths"]["es"]["on_air"]] == ["Ana", "Ben"]
    assert record[11]["booths"]["es"]["handovers"] == 1
    assert record[11]["booths"]["es"]["slow_down"] == 1 and record[11]["slow_down"] == 1
    assert record[10]["slow_down"] == 0 and "fr" in record[10]["booths"]


# -- the relay: one booth, two interpreters, a listener -----------------------------------------------


@pytest.fixture
async def relay() -> AsyncIterator[SessionRelay]:
    relay = SessionRelay(1, lambda: NO_ICE, connect_timeout=10.0)
    yield relay
    await relay.close()


async def interpreter(relay: SessionRelay, pid: int, frequency: float, standby: bool) -> Publisher:
    publisher = Publisher(frequency=frequency)
    peer = await relay.publish(await publisher.offer(video=False), channel("es"), pid, standby=standby)
    await publisher.accept(peer.answer)
    return publisher


async def listener(relay: SessionRelay, channel_name: str = "es") -> Viewer:
    viewer = Viewer(tones=(LOW, HIGH))
    peer = await relay.view(await viewer.offer(video=False), ROOM, 99, channel_name)
    await viewer.accept(peer.answer)
    return viewer


def heard_since(viewer: Viewer, start: int) -> list[frozenset[float]]:
    return [tones for _, tones in viewer.heard[start:]]


async def test_handover_switches_the_channel_between_two_voices_without_gap_or_overlap(
    relay: SessionRelay,
) -> None:
    ana = await interpreter(relay, 1, LOW, standby=False)
    ben = await interpreter(relay, 2, HIGH, standby=True)
    viewer = await listener(relay)
    try:
        await eventually(lambda: heard_since(viewer, 0).count(frozenset({LOW})) >= 20, timeout=15)
        for now_on, tone in ((2, HIGH), (1, LOW), (2, HIGH)):
            mark = len(viewer.heard)
            relay.switch(channel("es"), now_on)
            await eventually(
                lambda mark=mark, tone=tone: heard_since(viewer, mark).count(frozenset({tone})) >= 25,
                timeout=10,
            )
        heard = [tones for _, tones in viewer.heard]
        assert frozenset({LOW, HIGH}) not in heard, "two voices at once on the channel"
        assert {LOW, HIGH} <= set().union(*heard)
        assert longest_silence(viewer.heard) <= 0.2
        # Both keep publishing: only the one on air reaches the listener.
        assert len(relay.booth_publishers(channel("es"))) == 2
    finally:
        await viewer.close()
        await ana.close()
        await ben.close()


async def test_a_muted_partner_stays_muted_as_they_come_on_air(relay: SessionRelay) -> None:
    ana = await interpreter(relay, 1, LOW, standby=False)
    ben = await interpreter(relay, 2, HIGH, standby=True)
    try:
        relay.set_muted(2, audio=True, video=False)
        feed = relay.feed(channel("es"), "audio")
        assert not feed.muted
        relay.switch(channel("es"), 2)
        assert feed.muted
        relay.switch(channel("es"), 1)
        assert not feed.muted
    finally:
        await ana.close()
        await ben.close()


async def test_cough_key_sends_silence_and_the_channel_stays_on_air(relay: SessionRelay) -> None:
    ana = await interpreter(relay, 1, LOW, standby=False)
    viewer = await listener(relay)
    try:
        await eventually(lambda: heard_since(viewer, 0).count(frozenset({LOW})) >= 10, timeout=15)
        mark = len(viewer.heard)
        relay.silence(channel("es"), True)
        # Frames keep coming (no off-air change), silent.
        await eventually(lambda: heard_since(viewer, mark).count(frozenset()) >= 20, timeout=10)
        assert relay.publisher(channel("es")) is not None
        mark = len(viewer.heard)
        relay.silence(channel("es"), False)
        await eventually(lambda: heard_since(viewer, mark).count(frozenset({LOW})) >= 10, timeout=10)
    finally:
        await viewer.close()
        await ana.close()


async def test_an_interpreter_hears_the_remote_speaker_directly_and_can_pivot(relay: SessionRelay) -> None:
    french = Publisher(frequency=FRENCH)
    french_peer = await relay.publish(await french.offer(video=False), channel("fr"), 8)
    await french.accept(french_peer.answer)
    room = Publisher(frequency=LOW)
    room_peer = await relay.publish(await room.offer(video=False), ROOM, 5)
    await room.accept(room_peer.answer)
    booth = Viewer(tones=(LOW, HIGH, FRENCH))
    peer = await relay.view(await booth.offer(video=False), ROOM, 7, "floor", direct=True)
    await booth.accept(peer.answer)
    attendee = await listener(relay, "floor")
    speaker = Publisher(frequency=HIGH)
    try:
        assert peer.feeds["audio"] is relay.feed(ROOM, "audio")
        speaker_peer = await relay.publish(await speaker.offer(video=False), SPEAKER, 6)
        await speaker.accept(speaker_peer.answer)
        # The booth follows the speaker's own publication; the attendee's floor stays the room's mix.
        assert peer.feeds["audio"] is relay.feed(SPEAKER, "audio")
        assert attendee.heard is not None and relay.peers[peer.id].direct
        mark = len(booth.heard)
        await eventually(lambda: heard_since(booth, mark).count(frozenset({HIGH})) >= 10, timeout=15)
        # Relay (pivot): another booth's output instead of the floor, on the same connection.
        relay.set_channel(peer.id, "fr")
        assert peer.feeds["audio"] is relay.feed(channel("fr"), "audio")
        mark = len(booth.heard)
        await eventually(lambda: heard_since(booth, mark).count(frozenset({FRENCH})) >= 10, timeout=10)
        relay.set_channel(peer.id, "floor")
        await relay.stop(speaker_peer.id)
        assert peer.feeds["audio"] is relay.feed(ROOM, "audio")
    finally:
        for end in (booth, attendee, speaker, room, french):
            await end.close()


# -- over a real server: links, handovers, bad input, the floor, notices, the record ------------------


async def booth_link(running: Running, languages: list[str], name: str) -> tuple[int, dict[str, Any]]:
    admin = await running.staff_token(Role.ADMIN)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{running.url}/api/sessions/{running.live_session}/booths/links",
            json={"languages": languages, "name": name},
            headers={"Authorization": f"Bearer {admin}"},
        ) as response,
    ):
        return response.status, await response.json()


async def interpreter_client(running: Running, languages: list[str], name: str) -> Client:
    status, body = await booth_link(running, languages, name)
    assert status == 201, body
    return await running.join(body["link"].split("#token=", 1)[1])


async def go_on(client: Client, language: str, frequency: float) -> tuple[Publisher, dict[str, Any]]:
    publisher = Publisher(frequency=frequency)
    reply = await client.call(
        "media:publish", {"source": "channel", "channel": language, "sdp": await publisher.offer(video=False)}
    )
    if reply["ok"]:
        await publisher.accept(reply["data"]["sdp"])
    else:
        await publisher.close()
    return publisher, reply


def code(reply: dict[str, Any]) -> str:
    assert not reply["ok"], reply
    return str(reply["error"]["code"])


async def test_booth_links_handover_cough_and_bad_input_over_the_server(hemicycle: Running) -> None:
    # The session's own interpreter link, from before booths: every booth.
    legacy = await hemicycle.join(await hemicycle.staff_token(Role.INTERPRETER))
    assert (await legacy.call("booth:get"))["data"]["mine"] == ["ar", "zh", "en", "fr", "ru", "es"]
    status, refused = await booth_link(hemicycle, ["xx"], "Nobody")
    assert status == 422 and refused["error"]["code"] == "invalid_input"
    ana = await interpreter_client(hemicycle, ["es"], "Ana")
    ben = await interpreter_client(hemicycle, ["es", "en"], "Ben")
    chen = await interpreter_client(hemicycle, ["es"], "Chen")
    french = await interpreter_client(hemicycle, ["fr"], "Fanny")
    chair = await hemicycle.join(await hemicycle.staff_token(Role.CHAIR))
    # A link for another booth publishes nothing there and takes nothing over.
    nothing, wrong = await go_on(french, "es", LOW)
    assert code(wrong) == "not_in_booth"
    assert code(await french.call("booth:take", {"language": "es"})) == "not_in_booth"
    assert code(await ana.call("booth:take", {"language": "tlh"})) == "unknown_booth"
    assert code(await ana.call("booth:cough", {"language": "es", "on": "yes"})) == "invalid_input"

    attendee = await hemicycle.join((await hemicycle.register(display_name="Dana"))["token"])
    mics = []
    viewer = Viewer(tones=(LOW, HIGH))
    try:
        for client, tone in ((ana, LOW), (ben, HIGH), (chen, 660.0)):
            publisher, reply = await go_on(client, "es", tone)
            assert reply["ok"], reply
            mics.append(publisher)
        state = (await chair.call("booth:get"))["data"]
        es = next(b for b in state["booths"] if b["language"] == "es")
        assert es["on_air_name"] == "Ana" and len(es["members"]) == 3 and es["since"]
        assert (await ben.call("booth:get"))["data"]["mine"] == ["en", "es"]
        reply = await attendee.call(
            "media:subscribe",
            {"source": "room", "channel": "es", "audio_only": True, "sdp": await viewer.offer(video=False)},
        )
        assert reply["ok"], reply
        await viewer.accept(reply["data"]["sdp"])
        await eventually(lambda: heard_since(viewer, 0).count(frozenset({LOW})) >= 20, timeout=15)

        assert code(await ben.call("booth:take", {"language": "es"})) == "no_offer"
        assert code(await ben.call("booth:offer", {"language": "es"})) == "not_on_air"
        assert (await ana.call("booth:offer", {"language": "es"}))["data"]["booth"]["offered"]
        # Two partners take at once: one wins, the other is told.
        replies = await asyncio.gather(
            ben.call("booth:take", {"language": "es"}), chen.call("booth:take", {"language": "es"})
        )
        assert sorted(r["ok"] for r in replies) == [False, True]
        winner = "Ben" if replies[0]["ok"] else "Chen"
        assert code(next(r for r in replies if not r["ok"])) == "handover_taken"
        await ana.wait_for("booth:state", lambda s: s["on_air_name"] == winner)
        if winner == "Chen":
            assert (await chen.call("booth:offer", {"language": "es"}))["ok"]
            assert (await ben.call("booth:take", {"language": "es"}))["ok"]
        mark = len(viewer.heard)
        await eventually(lambda: heard_since(viewer, mark).count(frozenset({HIGH})) >= 25, timeout=10)
        # Ben hands back to Ana.
        assert (await ben.call("booth:offer", {"language": "es"}))["ok"]
        assert (await ana.call("booth:take", {"language": "es"}))["ok"]
        mark = len(viewer.heard)
        await eventually(lambda: heard_since(viewer, mark).count(frozenset({LOW})) >= 25, timeout=10)
        heard = [tones for _, tones in viewer.heard]
        assert frozenset({LOW, HIGH}) not in heard
        assert longest_silence(viewer.heard) <= 0.2

        # The cough key: silence on a channel that stays on air.
        coughing = (await ana.call("booth:cough", {"language": "es", "on": True}))["data"]["booth"]
        assert coughing["silenced"] and coughing["on_air_name"] == "Ana"
        mark = len(viewer.heard)
        await eventually(lambda: heard_since(viewer, mark).count(frozenset()) >= 20, timeout=10)
        relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
        assert relay is not None and relay.publisher(channel("es")) is not None
        assert (await ana.call("booth:cough", {"language": "es", "on": False}))["ok"]
        mark = len(viewer.heard)
        await eventually(lambda: heard_since(viewer, mark).count(frozenset({LOW})) >= 10, timeout=10)
        # Refused calls changed nothing: Ana is still on air.
        assert code(await chen.call("booth:take", {"language": "es"})) in ("no_offer", "handover_taken")
        state = (await ana.call("booth:get"))["data"]
        assert next(b for b in state["booths"] if b["language"] == "es")["on_air_name"] == "Ana"
    finally:
        await viewer.close()
        for mic in (*mics, nothing):
            await mic.close()


async def test_the_floor_drives_the_booths_and_slow_down_reaches_the_chair(hemicycle: Running) -> None:
    ana = await interpreter_client(hemicycle, ["es"], "Ana")
    ben = await interpreter_client(hemicycle, ["es"], "Ben")
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    chair = await hemicycle.join(await hemicycle.staff_token(Role.CHAIR))
    attendee_client = await hemicycle.join((await hemicycle.register(display_name="Dana"))["token"])
    assert code(await attendee_client.call("booth:get")) == "not_interpreter"
    mics = []
    try:
        for client, tone in ((ana, LOW), (ben, HIGH)):
            publisher, reply = await go_on(client, "es", tone)
            assert reply["ok"], reply
            mics.append(publisher)
        assert code(await ana.call("booth:slow_down", {"language": "es"})) == "no_speaker"
        entries = []
        for name, language in (("Sofía", "es"), ("Li", "zh"), ("Omar", "ar")):
            speaker = await hemicycle.join((await hemicycle.register(display_name=name))["token"])
            hand = await speaker.call("hand:raise", {"type": "statement", "language": language})
            entries.append(hand["data"]["entry"]["id"])
        assert (await moderator.call("floor:grant", {"entry_id": entries[0]}))["ok"]
        view = await ana.wait_for("booth:floor", lambda v: v["speaker"] is not None)
        assert view["language"] == "es" and view["stay_off_air"] == "es"
        assert [(n["name"], n["language"]) for n in view["next"]] == [("Li", "zh"), ("Omar", "ar")]
        assert (await ben.call("booth:get"))["data"]["floor"]["language"] == "es"

        notice = (await ben.call("booth:slow_down", {"language": "es"}))["data"]
        assert notice["entry_id"] == entries[0] and notice["from"] == "Ben"
        for staff in (chair, moderator):
            got = await staff.wait_for("booth:notice")
            assert got["speaker"] == "Sofía" and got["language"] == "es"
        refused = await ana.call("booth:slow_down", {"language": "es"})
        assert code(refused) == "rate_limited" and refused["error"]["details"]["retry_after"] > 0
        assert len(chair.received("booth:notice")) == 1

        assert (await ana.call("booth:offer", {"language": "es"}))["ok"]
        assert (await ben.call("booth:take", {"language": "es"}))["ok"]
        assert (await moderator.call("floor:grant", {"entry_id": entries[1]}))["ok"]
        view = await ana.wait_for("booth:floor", lambda v: v["language"] == "zh")
        assert view["stay_off_air"] == "zh" and [n["language"] for n in view["next"]] == ["ar"]

        admin = await hemicycle.staff_token(Role.ADMIN)

        async def record() -> dict[str, Any]:
            async with (
                aiohttp.ClientSession() as http,
                http.get(
                    f"{hemicycle.url}/api/sessions/{hemicycle.live_session}/report",
                    headers={"Authorization": f"Bearer {admin}"},
                ) as response,
            ):
                assert response.status == 200
                body: dict[str, Any] = await response.json()
                return body

        def first(rec: dict[str, Any]) -> dict[str, Any] | None:
            row = next(i for i in rec["interventions"] if i["id"] == entries[0])
            booth: dict[str, Any] | None = row["booths"].get("es")
            return row if booth is not None and booth["handovers"] == 1 else None

        rec = await record()
        for _ in range(50):
            if first(rec) is not None:
                break
            await asyncio.sleep(0.05)
            rec = await record()
        row = first(rec)
        assert row is not None, rec["interventions"]
        assert [turn["name"] for turn in row["booths"]["es"]["on_air"]] == ["Ana", "Ben"]
        assert row["slow_down"] == 1 and row["booths"]["es"]["slow_down"] == 1
    finally:
        for mic in mics:
            await mic.close()


async def test_booths_hear_of_a_new_next_two_and_of_nothing_else(hemicycle: Running) -> None:
    """`booth:floor` follows the next two in line (a raise ahead of them, a withdrawal, a move), and is not
    sent again for a change that leaves what booths see as it was (a hand raised at the back)."""
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    ana = await interpreter_client(hemicycle, ["es"], "Ana")
    speakers, entries = {}, {}
    for name, language in (("Sofía", "es"), ("Li", "zh"), ("Omar", "ar"), ("Fanny", "fr")):
        speakers[name] = await hemicycle.join((await hemicycle.register(display_name=name))["token"])
        hand = await speakers[name].call("hand:raise", {"type": "statement", "language": language})
        entries[name] = hand["data"]["entry"]["id"]
    assert (await moderator.call("floor:grant", {"entry_id": entries["Sofía"]}))["ok"]

    def queue_shows(names: list[str]) -> Callable[[dict[str, Any]], bool]:
        return lambda queue: [entry["display_name"] for entry in queue["queue"]] == names

    def told() -> list[list[tuple[str, str]]]:
        return [[(n["name"], n["language"]) for n in view["next"]] for view in ana.received("booth:floor")]

    await ana.wait_for("queue", queue_shows(["Li", "Omar", "Fanny"]))
    assert told()[-1] == [("Li", "zh"), ("Omar", "ar")]
    sent = len(told())
    # A hand at the back, and a move behind the next two: the booths' "next" is unchanged, nothing is sent.
    ivan = await hemicycle.join((await hemicycle.register(display_name="Ivan"))["token"])
    assert (await ivan.call("hand:raise", {"type": "statement", "language": "ru"}))["ok"]
    await ana.wait_for("queue", queue_shows(["Li", "Omar", "Fanny", "Ivan"]))
    assert (await moderator.call("queue:move", {"entry_id": entries["Fanny"], "to": "bottom"}))["ok"]
    await ana.wait_for("queue", queue_shows(["Li", "Omar", "Ivan", "Fanny"]))
    assert len(told()) == sent, told()
    # A withdrawal among the next two: Omar and Ivan are next now.
    assert (await speakers["Li"].call("hand:lower"))["ok"]
    await ana.wait_for("queue", queue_shows(["Omar", "Ivan", "Fanny"]))
    assert told()[sent:] == [[("Omar", "ar"), ("Ivan", "ru")]]
    # A move into the next two, and a point of order that goes ahead of everyone.
    assert (await moderator.call("queue:move", {"entry_id": entries["Fanny"], "to": "top"}))["ok"]
    await ana.wait_for("queue", queue_shows(["Fanny", "Omar", "Ivan"]))
    assert told()[-1] == [("Fanny", "fr"), ("Omar", "ar")]
    point = await speakers["Li"].call("hand:raise", {"type": "point_of_order", "language": "zh"})
    assert point["ok"], point
    await ana.wait_for("queue", queue_shows(["Li", "Fanny", "Omar", "Ivan"]))
    assert told()[sent:] == [
        [("Omar", "ar"), ("Ivan", "ru")],
        [("Fanny", "fr"), ("Omar", "ar")],
        [("Li", "zh"), ("Fanny", "fr")],
    ]
    # Every one of them still told the floor's language and the booth to stay off air.
    assert all(v["language"] == "es" and v["stay_off_air"] == "es" for v in ana.received("booth:floor")[-4:])
    # Refused moves change nothing and tell booths nothing; nor does a hand raised at the back after them.
    assert code(await moderator.call("queue:move", {"entry_id": 999999, "to": "top"})) == "stale_entry"
    assert not (await ana.call("queue:move", {"entry_id": entries["Omar"], "to": "top"}))["ok"]
    wang = await hemicycle.join((await hemicycle.register(display_name="Wang"))["token"])
    assert (await wang.call("hand:raise", {"type": "statement", "language": "zh"}))["ok"]
    await ana.wait_for("queue", queue_shows(["Li", "Fanny", "Omar", "Ivan", "Wang"]))
    assert len(told()) == sent + 3, told()


# -- two processes: the booth lives with the relay, requests from the other process reach it ----------------


async def test_booth_requests_from_another_process_reach_the_relay(
    pg_database_url: str, fresh_redis_url: str, tmp_path: Path
) -> None:
    clients: list[Client] = []
    mics: list[Publisher] = []
    async with (
        server_processes(pg_database_url, fresh_redis_url, tmp_path, [{}, {}]) as servers,
        aiohttp.ClientSession() as http,
    ):
        admin = await mint(servers.core, Role.ADMIN, None, servers.event_id)

        async def interpreter_at(url: str, name: str) -> Client:
            async with http.post(
                f"{servers.urls[0]}/api/sessions/{servers.live_session_id}/booths/links",
                json={"languages": ["es"], "name": name},
                headers={"Authorization": f"Bearer {admin}"},
            ) as response:
                body = await response.json()
                assert response.status == 201, body
            client = Client(url)
            clients.append(client)
            await client.connect(body["link"].split("#token=", 1)[1], servers.live_session_id)
            await client.wait_for("welcome", timeout=10)
            return client

        try:
            ana = await interpreter_at(servers.urls[0], "Ana")  # her publication makes process 0 the origin
            ben = await interpreter_at(servers.urls[1], "Ben")
            for client, tone in ((ana, LOW), (ben, HIGH)):
                publisher, reply = await go_on(client, "es", tone)
                mics.append(publisher)
                assert reply["ok"], reply
            # Ben's process runs no relay: his requests go to Ana's, and so do their refusals.
            state = (await ben.call("booth:get"))["data"]
            es = next(b for b in state["booths"] if b["language"] == "es")
            assert es["on_air_name"] == "Ana" and len(es["members"]) == 2
            assert code(await ben.call("booth:take", {"language": "es"})) == "no_offer"
            assert code(await ben.call("booth:offer", {"language": "es"})) == "not_on_air"
            assert (await ana.call("booth:offer", {"language": "es"}))["ok"]
            taken = await ben.call("booth:take", {"language": "es"})
            assert taken["ok"], taken
            assert taken["data"]["booth"]["on_air_name"] == "Ben"
            await ana.wait_for("booth:state", lambda s: s["on_air_name"] == "Ben", timeout=10)
            coughing = await ben.call("booth:cough", {"language": "es", "on": True})
            assert coughing["ok"] and coughing["data"]["booth"]["silenced"], coughing
            assert (await ben.call("booth:cough", {"language": "es", "on": False}))["ok"]
            assert code(await ben.call("booth:slow_down", {"language": "es"})) == "no_speaker"
        finally:
            for client in clients:
                await client.close()
            for mic in mics:
                await mic.close()
