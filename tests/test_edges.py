"""What a stranger can send at the edges, case by case: ids outside the one rule, JSON nested too deep or sent
as something else, Socket.IO frames that cannot be events, requests sent slowly, a connection that never
reads. Each gets a 4xx with a JSON body or an `error` event, changes nothing and logs nothing above WARNING.
(tests/test_fuzz.py throws random input at every route and event; these are the cases it was written for.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.domain.ids import MAX_ID, parse_id
from server.domain.jsonlimits import too_deep
from server.domain.roles import Role
from server.keys import HUB_KEY
from server.media_http import NUDGE_HEADER

from .conftest import make_settings, run_app
from .helpers import REGISTRATION, Running, eventually
from .test_http import count_participants, request

DEEP = "[" * 30_000 + "]" * 30_000


@contextmanager
def errors_logged() -> Iterator[list[logging.LogRecord]]:
    """Every record above WARNING while inside."""
    found: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record)

    handler = Catch(logging.ERROR)
    logging.getLogger().addHandler(handler)
    try:
        yield found
    finally:
        logging.getLogger().removeHandler(handler)


def test_the_id_rule() -> None:
    assert [parse_id(raw) for raw in ("1", "42", "007", str(MAX_ID))] == [1, 42, 7, MAX_ID]
    for raw in ("", "0", "-1", "+1", " 1", "²", "①", "٣", "1²", str(MAX_ID + 1), "9" * 5000, "1e3", None):
        assert parse_id(raw) is None, raw


def test_the_depth_rule() -> None:
    assert not too_deep(json.dumps({"a": [{"b": [1, 2]}], "s": "[[[[" * 100}))
    assert too_deep(DEEP) and too_deep("[" * 33) and not too_deep("[" * 32 + "]" * 32)
    assert not too_deep('["' + "[" * 100 + '"]'), "brackets inside a string do not count"
    assert not too_deep('["\\"' + "[" * 100 + '"]'), "nor after an escaped quote"


async def test_ids_outside_the_rule_name_nothing(database_url: str, tmp_path: Path) -> None:
    """2³¹ is past PostgreSQL's integer, 2⁶³ past SQLite's; "²" and "①" pass str.isdigit but not int()."""
    async for running in run_app(make_settings(tmp_path, database_url)):
        admin = await running.staff_token(Role.ADMIN)
        with errors_logged() as errors:
            for bad in ("²", "①", "0", str(2**31), str(2**63), "9" * 30):
                for path, code in (
                    (f"/api/sessions/{bad}", "unknown_session"),
                    (f"/api/events/{bad}", "unknown_event"),
                    (f"/api/sessions/{bad}/presence", "unknown_session"),
                    (f"/api/events/{bad}/report", "unknown_event"),
                    (f"/api/grants/{bad}/revoke", "unknown_grant"),
                ):
                    method = "POST" if path.startswith("/api/grants/") else "GET"
                    status, body = await request(running, method, path, token=admin)
                    assert (status, body["error"]["code"]) == (404, code), (path, body)
                status, body = await request(
                    running, "POST", f"/api/events/{bad}/participants", json=REGISTRATION
                )
                assert (status, body["error"]["code"]) == (404, "unknown_event")
                for page in (f"/s/{bad}", f"/s/{bad}/moderator", f"/e/{bad}/admin"):
                    status, text = await request(running, "GET", page)
                    assert status == 404 and "no such page" in text, page
                status, body = await request(
                    running,
                    "POST",
                    f"/api/sessions/{running.live_session}/whep?participant_id={bad}&source=greenroom",
                    token=admin,
                    data="v=0",
                    headers={"Content-Type": "application/sdp"},
                )
                assert (status, body["error"]["code"]) == (400, "invalid_input"), body
            # The largest id is an id: the database answers that there is no such session.
            status, body = await request(running, "GET", f"/api/sessions/{MAX_ID}", token=admin)
            assert (status, body["error"]["code"]) == (404, "unknown_session")
            for stamp in ("²", "①.x", f"{'9' * 40}.x"):
                status, body = await request(
                    running,
                    "POST",
                    f"/api/sessions/{running.live_session}/media/floor",
                    headers={NUDGE_HEADER: stamp},
                )
                assert (status, body["error"]["code"]) == (403, "forbidden"), stamp

            # Socket.IO: on connecting, and in every id field of a payload.
            refused = await running.client().try_connect({"token": admin, "session_id": 2**31})
            assert refused["data"]["code"] == "invalid_input"
            moderator = await running.join(await running.staff_token(Role.MODERATOR))
            for event, payload in (
                ("floor:grant", {"entry_id": 2**31}),
                ("queue:move", {"entry_id": 2**63, "to": "up"}),
                ("question:merge", {"question_id": 1, "into_id": 2**64}),
                ("participant:mute", {"participant_id": 2**31, "audio": True}),
                ("media:subscribe", {"source": "greenroom", "participant_id": 2**31, "sdp": "v=0"}),
            ):
                reply = await moderator.call(event, payload)
                assert reply["error"]["code"] == "invalid_input", (event, reply)
            reply = await moderator.call("floor:grant", {"entry_id": MAX_ID})
            assert reply["error"]["code"] not in ("invalid_input", "internal"), reply
        assert errors == []


async def test_json_bodies_are_json_objects_of_bounded_depth(hemicycle: Running) -> None:

    path = f"/api/events/{hemicycle.event_id}/participants"
    moderator = await hemicycle.staff_token(Role.MODERATOR)
    before = await count_participants(hemicycle)
    with errors_logged() as errors:
        status, body = await request(
            hemicycle, "POST", path, data=DEEP, headers={"Content-Type": "application/json"}
        )
        assert (status, body["error"]["code"]) == (400, "malformed_json")
        # A cross-site form can post text/plain (or a form encoding) without asking: not to JSON routes.
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {"Content-Type": content_type} if content_type else {}
            status, body = await request(
                hemicycle, "POST", path, data=json.dumps(REGISTRATION).encode(), headers=headers
            )
            assert (status, body["error"]["code"]) == (415, "unsupported_media_type"), content_type
        status, body = await request(
            hemicycle,
            "POST",
            f"/api/sessions/{hemicycle.scheduled_session}/state",
            token=moderator,
            data='{"state": "live"}',
            headers={"Content-Type": "text/plain"},
        )
        assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    assert errors == []
    assert await count_participants(hemicycle) == before
    assert (await hemicycle.core.store.get_session(hemicycle.scheduled_session)).state.value == "scheduled"
    status, _ = await request(
        hemicycle,
        "POST",
        path,
        data=json.dumps(REGISTRATION).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert status == 201


async def test_page_policy(hemicycle: Running) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{hemicycle.url}/s/{hemicycle.live_session}") as page,
    ):
        policy = dict(
            part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";")
        )
    host = hemicycle.url.split("://", 1)[1]
    assert policy["connect-src"] == f"'self' ws://{host} wss://{host}", "its own host, not any websocket"
    assert policy["base-uri"] == "'none'" and policy["frame-ancestors"] == "'none'"


# -- Socket.IO frames -----------------------------------------------------------------------------------


async def test_frames_that_cannot_be_events_are_answered(hemicycle: Running) -> None:
    attendee = await hemicycle.join((await hemicycle.register())["token"])
    before = await hemicycle.core.presence_summary(hemicycle.live_session)
    with errors_logged() as errors:
        for name in (5, {"a": 1}, None, [1], True):
            reply = await attendee.call(name, {})  # type: ignore[arg-type]
            assert reply == {
                "ok": False,
                "error": {"code": "invalid_input", "message": "an event is a name (text) and its payload"},
            }, name
        # python-socketio's own event names would run its connect and disconnect handlers again; "*" its
        # catch-all without an event name.
        for name in ("connect", "disconnect", "*"):
            reply = await attendee.call(name, {"token": "x", "session_id": 1})
            assert reply["error"]["code"] == "unknown_event_name", name
        # Data that is not JSON (a Python client writes NaN and Infinity) gets its acknowledgement all the
        # same.
        for value in (float("nan"), float("inf")):
            reply = await attendee.call("queue:get", {"at": value})
            assert reply == {
                "ok": False,
                "error": {"code": "invalid_input", "message": "a message is a Socket.IO packet"},
            }, value
        # Frames sent as they are: too deep, not JSON, JSON's non-numbers and a lone surrogate (which the
        # decoder refuses: signaling/wirepacket.py), an event without a name.
        frames = ("2" + DEEP, '2["queue:get",', '2["queue:get",NaN]', '2["queue:get","\\ud800"]', "2{}", "2")
        for frame in (*frames, "21[]"):
            await attendee.sio.eio.send(frame)
        await eventually(lambda: len(attendee.received("error")) >= 5 + 3 + 2 + 7)
        assert {e["code"] for e in attendee.received("error")} == {"invalid_input", "unknown_event_name"}
        # The connection goes on, still counted once.
        assert (await attendee.call("queue:get"))["ok"]
        assert await hemicycle.core.presence_summary(hemicycle.live_session) == before
    assert errors == []


ENGINEIO_JUNK = ["", "x", "²", "4" + DEEP, "4{" * 20_000, "b" + "A" * 5]


async def test_engineio_frames_it_cannot_decode_end_the_connection(hemicycle: Running) -> None:
    """Below Socket.IO: engine.io decodes a websocket frame outside its error handling, and a polling body's
    bad UTF-8 or deep JSON into an error log. Such a frame ends its connection, quietly."""
    token = (await hemicycle.register())["token"]
    with errors_logged() as errors:
        for junk in ENGINEIO_JUNK:
            client = await hemicycle.join(token)
            await client.sio.eio.ws.send_str(junk)
            await eventually(lambda client=client: not client.sio.connected)  # type: ignore[misc]
        async with aiohttp.ClientSession() as http:
            for junk in [*ENGINEIO_JUNK[1:], "\xff\xfe"]:  # an empty POST is no packet at all
                async with http.get(f"{hemicycle.url}/socket.io/?EIO=4&transport=polling") as opened:
                    sid = json.loads((await opened.text())[1:])["sid"]
                body = junk.encode("latin-1") if junk == "\xff\xfe" else junk.encode()
                polling = f"{hemicycle.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
                async with http.post(polling, data=body) as posted:
                    assert posted.status == 200, junk[:20]
                async with http.post(polling, data=b"40") as again:
                    assert again.status == 400, "the session is closed"
        assert (await (await hemicycle.join(token)).call("queue:get"))["ok"]
    assert errors == []


async def test_deep_payload_is_refused(hemicycle: Running) -> None:
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    nested: Any = {}
    for _ in range(40):
        nested = {"x": nested}
    reply = await moderator.call("queue:settings", {"targets": nested})
    assert reply["error"]["code"] == "invalid_input"
    assert (await moderator.call("queue:get"))["ok"]


# -- slow clients ---------------------------------------------------------------------------------------


@pytest.fixture
async def impatient(tmp_path: Path) -> AsyncIterator[Running]:
    """A server that gives a request half a second to arrive, and a connection 20 unread messages."""
    # The test fills a socket with a made-up event: no model of signaling/messages.py applies.
    settings = replace(
        make_settings(tmp_path, check_messages=False), http_read_seconds=0.5, send_queue_limit=20
    )
    async for running in run_app(settings):
        yield running


async def closed_after(reader: asyncio.StreamReader, limit: float = 5.0) -> tuple[float, bytes]:
    """How long until the server closes the connection, and what it sent before."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), limit)
    return time.monotonic() - started, data


async def test_half_sent_requests_are_cut(impatient: Running) -> None:
    host, port = impatient.url.split("://", 1)[1].split(":")
    with errors_logged() as errors:
        # Headers that never end.
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /api/events HTTP/1.1\r\nHost: x\r\n")
        waited, data = await closed_after(reader)
        assert data == b"" and waited < 3
        writer.close()
        # A body that never ends.
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST /api/events/{impatient.event_id}/participants HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{".encode()
        )
        waited, data = await closed_after(reader)
        assert waited < 3 and data.startswith(b"HTTP/1.1 408"), data[:200]
        assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
        writer.close()
        # The same on Socket.IO's polling transport, whose body engine.io reads: the session is closed.
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{impatient.url}/socket.io/?EIO=4&transport=polling") as opened,
        ):
            sid = json.loads((await opened.text())[1:])["sid"]
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: text/plain\r\nContent-Length: 200\r\n\r\n40".encode()
        )
        waited, data = await closed_after(reader)
        assert waited < 3 and data.startswith(b"HTTP/1.1 200"), data[:200]
        writer.close()
        hub = impatient.server.app[HUB_KEY]
        sockets = hub.sio.eio.sockets
        await eventually(lambda: sid not in sockets or sockets[sid].closed)
    assert errors == []


async def test_a_connection_that_never_reads_is_dropped(
    impatient: Running, caplog: pytest.LogCaptureFixture
) -> None:
    hub = impatient.server.app[HUB_KEY]
    token = (await impatient.register())["token"]
    async with aiohttp.ClientSession() as http:
        # A websocket client that connects, then reads nothing more: its receive buffer fills, then the
        # server's, then its queue.
        ws = await http.ws_connect(f"{impatient.url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0)
        await ws.receive()  # engine.io's open packet
        await ws.send_str("40" + json.dumps({"token": token, "session_id": impatient.live_session}))
        await eventually(lambda: len(hub.connections) == 1)
        (sid,) = hub.connections
        with caplog.at_level(logging.WARNING, logger="signaling.wsdirect"):
            big = "x" * 60_000
            deadline = time.monotonic() + 10
            while sid in hub.connections and time.monotonic() < deadline:
                await hub.sio.emit("filler", big, to=sid)
                await asyncio.sleep(0)
            assert sid not in hub.connections, "dropped"
        assert "messages waiting, it does not read them" in caplog.text
        await ws.close()
    # Others are not held up: a new connection is served as usual.
    other = await impatient.join((await impatient.register())["token"])
    assert (await other.call("queue:get"))["ok"]
