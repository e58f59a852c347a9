"""Statements sent in advance (issue 21, item 5) over a real server: a speaker attaches the text of their
statement to their request (or the moderator does for them); the booths and the captioner are told over
Socket.IO, list and open it; attendees and the room display are neither told nor served; bad files and bad
requests are refused with a clear error and store nothing; the session record says which interventions had
one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from server.db import models
from server.domain.errors import HemicycleError
from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.domain.statements import STATEMENT_UPLOADS, StatementKind, check_statement, clean_name
from server.service import Hemicycle

from .conftest import make_settings, run_app
from .helpers import Client, Running, mint, register_at
from .test_multiprocess import two_servers

__all__ = ["two_servers"]  # the fixture, shared with tests/test_multiprocess.py

MAX = 4096


def pdf(body: str = "Madam Chair, distinguished delegates") -> bytes:
    """A small, well-formed PDF: header, one page object, a cross-reference and the end marker."""
    objects = (
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\n" + f"% {body}\n".encode()
    )
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    xref_at = len(head) + len(objects)
    tail = b"xref\n0 4\n0000000000 65535 f \ntrailer\n<< /Size 4 /Root 1 0 R >>\n"
    return head + objects + tail + f"startxref\n{xref_at}\n%%EOF\n".encode()


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
)


# -- the rules, without a server ----------------------------------------------------------------------------


def test_what_a_statement_is_is_read_from_its_bytes() -> None:
    assert check_statement(pdf(), MAX) is StatementKind.PDF
    assert check_statement("Señora Presidenta, distinguidos delegados\n".encode(), MAX) is StatementKind.TEXT
    assert check_statement("السيدة الرئيسة\tالمندوبون\r\n".encode(), MAX) is StatementKind.TEXT
    cases = {
        PNG: "statement_type",  # a PNG, whatever its name says
        b"\xff\xfe\x00\x01binary": "statement_type",  # not UTF-8
        b"text with a NUL \x00 inside": "statement_type",  # UTF-8, but binary
        b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n": "statement_malformed",  # truncated: no xref, no %%EOF
        b"%PDF-x.y\nstartxref\n0\n%%EOF": "statement_malformed",  # a header that is no version
        pdf().replace(b"obj", b"jbo"): "statement_malformed",  # no objects
        b"   \n\t ": "statement_malformed",  # empty
        b"x" * (MAX + 1): "statement_too_large",
    }
    for data, code in cases.items():
        with pytest.raises(HemicycleError) as refused:
            check_statement(data, MAX)
        assert refused.value.code == code, (data[:20], refused.value.message)
    assert clean_name("../../etc/passwd", StatementKind.TEXT) == "passwd.txt"
    assert clean_name("Statement <Brazil>.PDF", StatementKind.PDF) == "Statement Brazil.pdf"
    assert clean_name("photo.png", StatementKind.TEXT) == "photo.txt"  # named after what it is
    assert clean_name(None, StatementKind.PDF) == "statement.pdf"


# -- over a real server -------------------------------------------------------------------------------------


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, statement_max_bytes=64 * 1024)):
        yield running


async def stored(running: Running) -> int:
    async with running.core.store.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(models.Statement)) or 0)


async def raised_hand(running: Running, name: str) -> tuple[str, Client, int]:
    registered = await running.register(display_name=name)
    client = await running.join(registered["token"])
    reply = await client.call("hand:raise", {"type": "statement", "language": "fr"})
    assert reply["ok"], reply
    return registered["token"], client, int(reply["data"]["entry"]["id"])


def statement_url(running: Running, entry_id: int | str) -> str:
    return f"{running.url}/api/sessions/{running.live_session}/queue/{entry_id}/statement"


async def upload(
    running: Running,
    token: str | None,
    entry_id: int | str,
    data: bytes,
    name: str = "statement.pdf",
    content_type: str = "application/pdf",
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.post(statement_url(running, entry_id), params={"name": name}, data=data, headers=headers) as r,
    ):
        return r.status, await r.json()


async def fetch(running: Running, token: str, url: str) -> tuple[int, bytes, aiohttp.typedefs.LooseHeaders]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        return r.status, await r.read(), r.headers


async def test_a_statement_reaches_the_booths_and_the_captioner_and_never_attendees(world: Running) -> None:
    interpreter_token = await world.staff_token(Role.INTERPRETER)
    interpreter = await world.join(interpreter_token)
    captioner_token = await world.staff_token(Role.CAPTIONER)
    captioner = await world.join(captioner_token)
    display = await world.join(await world.staff_token(Role.DISPLAY))
    av = await world.join(await world.staff_token(Role.AV))
    moderator_token = await world.staff_token(Role.MODERATOR)
    moderator = await world.join(moderator_token)
    speaker_token, speaker, entry_id = await raised_hand(world, "Ana Souza")
    other_token, other, _ = await raised_hand(world, "Bo Lindqvist")

    text = pdf("Statement of Brazil on the digital divide")
    status, body = await upload(world, speaker_token, entry_id, text, name="Brazil statement.pdf")
    assert status == 201, body
    statement = body["statement"]
    assert statement["entry_id"] == entry_id
    assert statement["kind"] == "pdf"
    assert statement["name"] == "Brazil statement.pdf"
    assert statement["size"] == len(text)
    assert statement["sha256"] == hashlib.sha256(text).hexdigest()
    assert statement["speaker"] == "Ana Souza"
    assert statement["uploaded_by"] == {"name": "Ana Souza", "role": "attendee"}

    # The notice reaches the booth, the captioner and the moderator (on every process: through the manager).
    for reader in (interpreter, captioner, moderator):
        notice = await reader.wait_for("statement:attached", lambda s: s["entry_id"] == entry_id)
        assert notice == statement
    # The booth lists it with the queue it already sees, and opens it.
    listed = await interpreter.call("statements:get")
    assert listed["ok"], listed
    assert [s["entry_id"] for s in listed["data"]["statements"]] == [entry_id]
    assert listed["data"]["max_bytes"] == 64 * 1024
    queue = interpreter.last("queue")
    assert any(e["id"] == entry_id for e in queue["queue"])
    for token in (interpreter_token, captioner_token, moderator_token):
        status, served, headers = await fetch(world, token, statement_url(world, entry_id))
        assert status == 200
        assert served == text
        assert headers["Content-Type"] == "application/pdf"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in headers["Content-Security-Policy"]
        assert headers["Content-Disposition"] == 'inline; filename="Brazil statement.pdf"'

    # Attendees, their own statement included, and the room display: not served, not listed, not told.
    for token in (speaker_token, other_token, await world.staff_token(Role.DISPLAY)):
        status, served, _ = await fetch(world, token, statement_url(world, entry_id))
        assert status == 403, served
        status, served, _ = await fetch(
            world, token, f"{world.url}/api/sessions/{world.live_session}/statements"
        )
        assert status == 403
    for client in (speaker, other, display):
        refused = await client.call("statements:get")
        assert refused["error"]["code"] == "forbidden", refused
    # The AV desk reads no statement either, and none of these heard of it.
    assert (await av.call("statements:get"))["error"]["code"] == "forbidden"
    await interpreter.call("presence:get")  # a round trip after the notice: anything sent has arrived
    for client in (speaker, other, display, av):
        assert client.received("statement:attached") == []


async def test_the_moderator_attaches_for_a_speaker_and_a_new_text_replaces_the_old(world: Running) -> None:
    moderator_token = await world.staff_token(Role.MODERATOR)
    moderator = await world.join(moderator_token)
    interpreter_token = await world.staff_token(Role.INTERPRETER)
    interpreter = await world.join(interpreter_token)
    reply = await moderator.call(
        "queue:add_in_room",
        {"display_name": "Delegate of Kenya", "stakeholder_group": "government", "language": "en"},
    )
    in_room = reply["data"]["entry"]["id"]
    words = b"Thank you, Chair. Kenya welcomes the review.\n"
    status, body = await upload(world, moderator_token, in_room, words, name="kenya.pdf", content_type="x/y")
    assert status == 201, body
    # The name ends in what the file is, not in what it was called; the declared type was never read.
    assert body["statement"]["kind"] == "text"
    assert body["statement"]["name"] == "kenya.txt"
    assert body["statement"]["uploaded_by"]["role"] == "moderator"
    await interpreter.wait_for("statement:attached", lambda s: s["entry_id"] == in_room)
    status, served, headers = await fetch(world, interpreter_token, statement_url(world, in_room))
    assert served == words
    assert headers["Content-Type"] == "text/plain; charset=utf-8"

    better = b"Thank you, Chair. Kenya welcomes the review and the roadmap.\n"
    status, body = await upload(world, moderator_token, in_room, better, name="kenya-v2.txt")
    assert status == 201
    assert await stored(world) == 1
    status, served, _ = await fetch(world, interpreter_token, statement_url(world, in_room))
    assert served == better

    # Given the floor, spoken and ended: the record says this intervention came with a statement.
    assert (await moderator.call("floor:grant", {"entry_id": in_room}))["ok"]
    assert (await moderator.call("floor:end", {"entry_id": in_room}))["ok"]
    status, raw, _ = await fetch(
        world, moderator_token, f"{world.url}/api/sessions/{world.live_session}/report?format=json"
    )
    record = json.loads(raw)
    row = next(i for i in record["interventions"] if i["id"] == in_room)
    assert row["statement"] == "text"
    assert record["statements"] == {"requests": [in_room], "count": 1}
    status, html, _ = await fetch(
        world, moderator_token, f"{world.url}/api/sessions/{world.live_session}/report?format=html"
    )
    assert b'data-name="statement">Text<' in html
    # Ended: no more statements for it.
    status, body = await upload(world, moderator_token, in_room, better)
    assert (status, body["error"]["code"]) == (409, "not_in_line")


async def test_a_speaker_sees_their_own_statement_after_a_reload(world: Running) -> None:
    """The own-request view says a statement is attached (kind and name, never the content): in the welcome of
    a new connection, queue:get and hand:raise's answer; a refused upload leaves it as it was; nobody else's
    view says anything of it, and a request that ended carries none."""
    speaker_token, speaker, entry_id = await raised_hand(world, "Ana Souza")
    other_token, other, _ = await raised_hand(world, "Bo Lindqvist")
    assert (await speaker.call("queue:get"))["data"]["mine"]["statement"] is None
    got, body = await upload(world, speaker_token, entry_id, PNG)
    assert (got, body["error"]["code"]) == (415, "statement_type")
    assert (await speaker.call("queue:get"))["data"]["mine"]["statement"] is None
    secret = "Madame la Présidente, the secret paragraph"
    got, body = await upload(world, speaker_token, entry_id, secret.encode(), "My speech.txt", "text/plain")
    assert got == 201, body

    reloaded = await world.join(speaker_token)  # the page again: a new connection with the same link
    welcome = await reloaded.wait_for("welcome")
    assert welcome["mine"]["entry"]["id"] == entry_id
    assert welcome["mine"]["statement"] == {"kind": "text", "name": "My speech.txt"}
    assert "secret paragraph" not in json.dumps(welcome)
    again = await reloaded.call("hand:raise", {"type": "statement", "language": "fr"})  # already raised
    assert again["data"]["statement"] == {"kind": "text", "name": "My speech.txt"}
    # Replaced by a PDF: the view follows.
    got, body = await upload(world, speaker_token, entry_id, pdf(), "Final.pdf")
    assert got == 201, body
    assert (await reloaded.call("queue:get"))["data"]["mine"]["statement"] == {
        "kind": "pdf",
        "name": "Final.pdf",
    }
    # Someone else's view says nothing of it.
    assert (await other.call("queue:get"))["data"]["mine"]["statement"] is None
    assert (await world.join(other_token)).received("welcome")[0]["mine"]["statement"] is None
    # A request that ended carries no statement (a new one starts without).
    assert (await speaker.call("hand:lower"))["ok"]
    lowered = await reloaded.wait_for("queue:mine", lambda m: m["entry"] is None)
    assert lowered["statement"] is None
    raised = await speaker.call("hand:raise", {"type": "statement", "language": "fr"})
    assert raised["data"]["entry"]["id"] != entry_id and raised["data"]["statement"] is None


async def test_bad_statements_are_refused_and_store_nothing(world: Running) -> None:
    speaker_token, speaker, entry_id = await raised_hand(world, "Ana Souza")
    other_token, _, other_entry = await raised_hand(world, "Bo Lindqvist")
    interpreter = await world.join(await world.staff_token(Role.INTERPRETER))
    cases: list[tuple[str | None, int | str, bytes, int, str]] = [
        (speaker_token, entry_id, b"x" * (64 * 1024 + 1), 413, "statement_too_large"),
        (speaker_token, entry_id, PNG, 415, "statement_type"),  # sent as statement.pdf
        (speaker_token, entry_id, bytes(range(256)) * 4, 415, "statement_type"),
        (speaker_token, entry_id, b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", 422, "statement_malformed"),
        (speaker_token, entry_id, b"", 422, "statement_malformed"),
        # Someone else's request, by an attendee.
        (speaker_token, other_entry, pdf(), 403, "not_yours"),
        # A request that does not exist, or is not a request at all.
        (speaker_token, 999_999, pdf(), 404, "unknown_request"),
        (speaker_token, "abc", pdf(), 404, "unknown_request"),
        # Staff whose role may not put anyone in line.
        (await world.staff_token(Role.INTERPRETER), entry_id, pdf(), 403, "forbidden"),
        (await world.staff_token(Role.DISPLAY), entry_id, pdf(), 403, "forbidden"),
        (None, entry_id, pdf(), 401, "token_missing"),
    ]
    for token, target, data, status, code in cases:
        got, body = await upload(world, token, target, data)
        assert (got, body["error"]["code"]) == (status, code), (target, data[:16], body)
        assert body["error"]["message"]
    # A request that is no longer in line.
    assert (await speaker.call("hand:lower"))["ok"]
    got, body = await upload(world, speaker_token, entry_id, pdf())
    assert (got, body["error"]["code"]) == (409, "not_in_line")
    # An announced size over the limit is refused before the body is read.
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            statement_url(world, other_entry),
            data=b"x" * (80 * 1024),
            headers={"Authorization": f"Bearer {other_token}"},
        ) as r,
    ):
        assert r.status == 413
    # Nothing stored, no one told; asking for a statement that does not exist says so.
    assert await stored(world) == 0
    assert interpreter.received("statement:attached") == []
    status, body, _ = await fetch(
        world, await world.staff_token(Role.INTERPRETER), statement_url(world, other_entry)
    )
    assert status == 404
    assert b"no_statement" in body


async def test_a_statement_sent_through_one_process_reaches_booths_on_the_other(
    two_servers: tuple[list[str], Hemicycle],
) -> None:
    """Two server processes on PostgreSQL and Redis: sent to one, stored once, told to a booth and the
    captioner connected to the other, and served by either."""
    (url_a, url_b), core = two_servers
    event = (await core.store.list_events())[0]
    session = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    registered = await register_at(url_a, event.id, display_name="Ana Souza")
    speaker, booth, captioner, listener = Client(url_a), Client(url_b), Client(url_b), Client(url_b)
    clients = [speaker, booth, captioner, listener]
    booth_token = await mint(core, Role.INTERPRETER, session.id)
    try:
        await speaker.connect(registered["token"], session.id)
        await booth.connect(booth_token, session.id)
        await captioner.connect(await mint(core, Role.CAPTIONER, session.id), session.id)
        other = await register_at(url_b, event.id, display_name="Bo Lindqvist")
        await listener.connect(other["token"], session.id)
        for client in clients:
            await client.wait_for("welcome")
        hand = await speaker.call("hand:raise", {"type": "statement", "language": "es"})
        entry_id = hand["data"]["entry"]["id"]
        text = pdf("Declaración de la Argentina")
        path = f"/api/sessions/{session.id}/queue/{entry_id}/statement"
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                url_b + path,
                params={"name": "argentina.pdf"},
                data=text,
                headers={"Authorization": f"Bearer {registered['token']}"},
            ) as r,
        ):
            assert r.status == 201, await r.text()
        for reader in (booth, captioner):
            notice = await reader.wait_for("statement:attached", lambda s: s["entry_id"] == entry_id)
            assert notice["sha256"] == hashlib.sha256(text).hexdigest()
        async with (
            aiohttp.ClientSession() as http,
            http.get(url_a + path, headers={"Authorization": f"Bearer {booth_token}"}) as r,
        ):
            assert r.status == 200
            assert await r.read() == text
        await booth.call("presence:get")
        assert listener.received("statement:attached") == []
    finally:
        for client in clients:
            await client.close()


async def test_statements_are_limited_per_speaker(world: Running) -> None:
    token, _, entry_id = await raised_hand(world, "Ana Souza")
    for version in range(STATEMENT_UPLOADS.limit):
        status, body = await upload(world, token, entry_id, f"Version {version}\n".encode())
        assert status == 201, body
    status, body = await upload(world, token, entry_id, b"One too many\n")
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert body["error"]["details"]["retry_after"] >= 1
    booth = await world.staff_token(Role.INTERPRETER)
    status, served, _ = await fetch(world, booth, statement_url(world, entry_id))
    assert served == f"Version {STATEMENT_UPLOADS.limit - 1}\n".encode()  # the refused one changed nothing
