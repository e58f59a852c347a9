"""Property-based fuzzing of every edge a stranger can reach: each HTTP route of the app's router and each
Socket.IO event the hub handles, with tokens of several roles, none and forged ones.

Routes and events are enumerated from the running app, so a new one is fuzzed without being named here;
frames are also sent as they are, to Socket.IO and below it to engine.io. A run
fails on any 5xx, any `internal` error (event or acknowledgement), a frame left without its acknowledgement,
and any ERROR log record or exception reported to the event loop ("Task exception was never retrieved").

Hypothesis drives the examples from a worker thread; each example runs on the server's own event loop. The
number of examples is bounded for CI; HEMICYCLE_FUZZ_EXAMPLES=100 (per route and event) runs more.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import jwt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from server.api import STAFF_PAGES
from server.domain.roles import Role
from server.media_http import NUDGE_HEADER
from signaling.protocol import CLIENT_EVENTS, Message

from .conftest import make_settings, run_app
from .helpers import Client, Running

# hypothesis builds values for the payload models' types and ignores pydantic's strictness, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Ignoring unsupported Strict")

# Examples per HTTP route and per Socket.IO event (four times as many odd events and raw frames).
PER_ROUTE = int(os.environ.get("HEMICYCLE_FUZZ_EXAMPLES", "8"))
PER_EVENT = PER_ROUTE
FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,  # nothing written next to the project
    derandomize=PER_ROUTE <= 8,  # the same examples on every CI run; more, and they vary
    suppress_health_check=list(HealthCheck),
)
CALL_TIMEOUT = 2.0
T = TypeVar("T")

# -- values ----------------------------------------------------------------------------------------------

EDGE_INTS = [0, 1, 2, 3, -1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30]
WORDS = [
    "²",
    "①",
    "٣",
    "live",
    "ended",
    "scheduled",
    "en",
    "fr",
    "floor",
    "room",
    "speaker",
    "greenroom",
    "channel",
    "statement",
    "question",
    "approve",
    "dismiss",
    "star",
    "forwarded",
    "read",
    "answered",
    "up",
    "top",
    "government",
    "a" * 600,
    "\x00",
    "\u202e",
]
scalars = st.one_of(
    st.sampled_from(EDGE_INTS),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.sampled_from(WORDS),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def deep(depth: int = 30_000) -> str:
    return "[" * depth + "]" * depth


# -- HTTP ------------------------------------------------------------------------------------------------


def id_texts(valid: list[int]) -> st.SearchStrategy[str]:
    edge = ["0", "-1", "007", "2147483647", "2147483648", "9223372036854775807", "9223372036854775808"]
    odd = ["²", "①", "٣", "1²", "1e3", " 1", "1 ", "+1", "0x10", "9" * 40, ""]
    return st.one_of(
        st.sampled_from([str(v) for v in valid] + edge + odd), st.text(max_size=12), st.integers().map(str)
    )


PARAM = re.compile(r"\{(\w+)\}")
QUERY_KEYS = ["format", "part", "embed", "language", "source", "channel", "participant_id", "audio_only"]
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "application/sdp",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    None,
]


def route_table(running: Running) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves; HEAD mirrors GET."""
    table = set()
    for route in running.server.app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        template = resource.canonical
        if template.startswith("/static"):
            template = "/static/{file}"
        table.add((route.method, template))
    return sorted(table)


@st.composite
def http_requests(
    draw: st.DrawFn, routes: list[tuple[str, str]], ids: list[int], tokens: list[str | None]
) -> Any:
    method, template = draw(st.sampled_from(routes))

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("_id") and name != "resource_id":
            value = draw(id_texts(ids))
        elif name == "page":
            value = draw(st.sampled_from([*STAFF_PAGES, "nope"]) | st.text(max_size=12))
        else:
            value = draw(st.text(max_size=20) | st.sampled_from(["js/protocol.js", "../pyproject.toml"]))
        return quote(value, safe="")

    path = PARAM.sub(fill, template)
    query = draw(
        st.dictionaries(st.sampled_from(QUERY_KEYS), id_texts(ids) | st.sampled_from(WORDS), max_size=3)
    )
    headers: dict[str, str] = {}
    token = draw(st.sampled_from(tokens))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if draw(st.integers(0, 9)) == 0:
        headers[NUDGE_HEADER] = draw(
            st.sampled_from(["²", "①.x", "1.abc", "9" * 30 + ".x", ""]) | st.text(max_size=20)
        )
    body: bytes | None = draw(
        st.one_of(
            st.none(),
            json_values.map(lambda v: json.dumps(v).encode()),
            st.dictionaries(
                st.sampled_from(["display_name", "stakeholder_group", "state", "channel", "country"]), scalars
            ).map(lambda v: json.dumps(v).encode()),
            st.just(deep().encode()),
            st.just(b"{" * 10_000),
            st.binary(max_size=64),
        )
    )
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if body is not None and content_type is not None:
        headers["Content-Type"] = content_type
    return method, path, query, headers, body


# -- Socket.IO -------------------------------------------------------------------------------------------


# Text fields the domain checks against a list: their good values, so that examples get past those checks.
HINTS: dict[str, list[str]] = {
    "language": ["en", "fr", "ar", "zh", "ru", "es", "floor", "xx"],
    "channel": ["floor", "en", "fr", "ar"],
    "type": ["statement", "question", "right_of_reply", "point_of_order"],
    "stakeholder_group": ["government", "civil_society", "private_sector"],
    "country": ["SN", "FR", "XX"],
    # The help desk's.
    "category": ["no_sound", "no_picture", "microphone", "other", "bored"],
    "answer": ["looking", "reload", "fixed", "go_away"],
}


def typed_values(model: type[Message], name: str) -> st.SearchStrategy[Any]:
    """Values of the field's own type (its literals, text, booleans), or ids and words likely to exist."""
    if name.endswith("_id") and name != "resource_id":
        return st.integers(1, 12)
    # A nested model (the help desk's figures) goes on the wire as the object it describes.
    typed = st.from_type(model.model_fields[name].annotation).map(  # type: ignore[arg-type]
        lambda value: value.model_dump(exclude_none=True) if isinstance(value, Message) else value
    )
    return st.one_of(st.sampled_from(HINTS[name]), typed) if name in HINTS else typed


def payloads(event: str) -> st.SearchStrategy[Any]:
    """Objects of the event's own fields, of the right types (to reach the handlers) or of any value (edge
    values, wrong types), sometimes with a field too many; sometimes anything at all."""
    model = CLIENT_EVENTS.get(event)
    if model is None:
        return json_values
    fields = model.model_fields
    typed = st.fixed_dictionaries(
        {name: typed_values(model, name) for name, info in fields.items() if info.is_required()},
        optional={name: typed_values(model, name) for name, info in fields.items() if not info.is_required()},
    )
    wild = st.fixed_dictionaries(
        {},
        optional={
            name: st.one_of(typed_values(model, name), st.sampled_from(EDGE_INTS), json_values)
            for name in fields
        },
    )
    extra = st.builds(lambda d, k, v: {**d, k: v}, typed, st.text(max_size=8), scalars)
    return st.one_of(typed, typed, wild, wild, extra, json_values)


odd_names = st.one_of(
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.lists(scalars, max_size=2),
    st.dictionaries(st.text(max_size=4), scalars, max_size=2),
    st.sampled_from(["connect", "disconnect", "connect_error", "*", "error", "", "x" * 200]),
    st.text(max_size=20),
)
raw_frames = st.one_of(
    st.just("2" + deep()),
    st.just('2["queue:get",' + "{" * 5_000),
    st.sampled_from(
        ["2", "2[]", "2{}", '2"x"', "25", "2null", "9", "x", "", "3[]", "1", "0{}", '2["', "5-", "21[5]"]
    ),
    json_values.map(lambda v: "2" + json.dumps(v)),
    json_values.map(lambda v: "27" + json.dumps(["queue:get", v])),
    st.text(max_size=30),
)


# -- the run ---------------------------------------------------------------------------------------------


class Trouble(logging.Handler):
    """Every ERROR record and every exception the event loop reports, while installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(f"{record.name}: {record.getMessage()}")

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.found.append(f"event loop: {context.get('message')} {context.get('exception')!r}")


@contextmanager
def watching(loop: asyncio.AbstractEventLoop) -> Iterator[Trouble]:
    trouble = Trouble()
    root = logging.getLogger()
    root.addHandler(trouble)
    previous = loop.get_exception_handler()
    loop.set_exception_handler(trouble.loop_handler)
    try:
        yield trouble
    finally:
        gc.collect()  # a task that failed unseen is reported when it is collected
        loop.set_exception_handler(previous)
        root.removeHandler(trouble)


@pytest.fixture
async def fuzzed(tmp_path: Path) -> AsyncIterator[Running]:
    """The demo server, with a per-connection event limit no fuzzer reaches (the limits have their tests)."""
    async for running in run_app(replace(make_settings(tmp_path), events_per_second=100_000)):
        yield running


async def tokens_of_every_kind(running: Running) -> dict[str, str | None]:
    tokens: dict[str, str | None] = {
        role.value: await running.staff_token(role) for role in Role if role is not Role.ATTENDEE
    }
    tokens["attendee"] = (await running.register())["token"]
    tokens["none"] = None
    tokens["forged"] = jwt.encode(
        {"sub": "1", "role": "admin", "gid": 1}, "another-secret-" + "y" * 40, "HS256"
    )
    tokens["garbage"] = "not.a.token"
    return tokens


def on_loop(loop: asyncio.AbstractEventLoop, timeout: float = 30.0) -> Callable[[Awaitable[T]], T]:
    """Run a coroutine on the server's loop from hypothesis's thread, and wait for its result."""

    def run(coroutine: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)  # type: ignore[arg-type]

    return run


async def test_every_http_route(fuzzed: Running) -> None:
    loop = asyncio.get_running_loop()
    tokens = list((await tokens_of_every_kind(fuzzed)).values())
    ids = [fuzzed.event_id, fuzzed.live_session, fuzzed.scheduled_session, 1, 2]
    routes = route_table(fuzzed)
    assert ("POST", "/api/events/{event_id}/participants") in routes and len(routes) > 20
    run = on_loop(loop)
    statuses: Counter[int] = Counter()
    async with aiohttp.ClientSession() as http:

        async def send(
            method: str, path: str, query: Any, headers: Any, body: bytes | None
        ) -> tuple[int, str, str]:
            async with http.request(
                method, fuzzed.url + path, params=query, headers=headers, data=body, allow_redirects=False
            ) as response:
                return response.status, response.content_type, await response.text(errors="replace")

        def fuzz(route: tuple[str, str]) -> None:
            @settings(FUZZ_SETTINGS, max_examples=PER_ROUTE)
            @given(http_requests([route], ids, tokens))
            def check(request: Any) -> None:
                method, path, query, headers, body = request
                status, content_type, text = run(send(method, path, query, headers, body))
                statuses[status] += 1
                assert status < 500, (method, path, query, status, text[:300])
                if status >= 400 and path.startswith("/api/"):
                    assert content_type == "application/json", (method, path, status, text[:300])
                    assert json.loads(text)["error"]["code"], text[:300]

            check()

        with watching(loop) as trouble:
            for route in routes:
                await asyncio.to_thread(fuzz, route)
        assert trouble.found == []
    # The examples went past the edges: some succeeded, some were refused for what they sent.
    assert statuses[200] and statuses[404] and statuses[401] and statuses[415], statuses


async def test_every_socketio_event(fuzzed: Running) -> None:
    loop = asyncio.get_running_loop()
    # Every event the protocol names (the Hub refuses to start unless it has a handler for each).
    events = sorted(CLIENT_EVENTS)
    assert "hand:raise" in events and "media:subscribe" in events
    tokens = await tokens_of_every_kind(fuzzed)
    roles = [name for name, token in tokens.items() if token is not None and name != "garbage"]
    clients: dict[str, Client] = {}

    async def client(role: str) -> Client | None:
        """The role's connection, again if an example got it removed or banned (then a new attendee)."""
        current = clients.get(role)
        if current is not None and current.sio.connected:
            return current
        token = tokens[role]
        if role == "attendee" and current is not None:
            token = tokens[role] = (await fuzzed.register())["token"]
        fresh = fuzzed.client()
        try:
            await fresh.connect(token, fuzzed.live_session)
        except Exception:
            return None  # "forged" is refused, as it should be; a banned staff member too
        clients[role] = fresh
        return fresh

    async def call(role: str, event: Any, payload: Any) -> Any:
        connection = await client(role)
        if connection is None:
            return None
        try:
            return await connection.sio.call(event, payload, timeout=CALL_TIMEOUT)
        except Exception as exc:  # the connection closed under it (removed, banned): not this test's business
            if connection.sio.connected:
                raise AssertionError(f"no acknowledgement for {event!r}: {exc!r}") from None
            return None

    async def raw_engineio(role: str, frame: str) -> None:
        """A websocket frame below Socket.IO, as engine.io receives it."""
        connection = fuzzed.client()
        try:
            await connection.connect(tokens[role], fuzzed.live_session)
        except Exception:
            return
        await connection.sio.eio.ws.send_str(frame)
        clients[f"{role} engine.io {frame[:20]}"] = connection
        await connection.close()

    async def raw(role: str, frame: str) -> None:
        """A frame on a connection of its own: one that says "disconnect" or starts a binary packet leaves
        its connection in a state that the next example should not inherit."""
        connection = fuzzed.client()
        try:
            await connection.connect(tokens[role], fuzzed.live_session)
        except Exception:
            return
        await connection.sio.eio.send(frame)
        clients[f"{role} {frame[:20]}"] = connection
        await connection.close()

    run = on_loop(loop)
    outcomes: Counter[str] = Counter()
    # Not shrunk: the connections' state moves on between examples, so a replay is not the same run.
    unshrunk = settings(FUZZ_SETTINGS, phases=[Phase.explicit, Phase.reuse, Phase.generate])

    def check_reply(role: str, event: Any, payload: Any) -> None:
        reply = run(call(role, event, payload))
        outcomes["none" if reply is None else "ok" if reply.get("ok") else reply["error"]["code"]] += 1
        if reply is not None:
            assert isinstance(reply, dict) and "ok" in reply, (event, payload, reply)
            assert reply.get("error", {}).get("code") != "internal", (event, payload, reply)

    def fuzz_event(event: str) -> None:
        @settings(unshrunk, max_examples=PER_EVENT)
        @given(st.sampled_from(roles), payloads(event))
        def check(role: str, payload: Any) -> None:
            check_reply(role, event, payload)

        check()

    @settings(unshrunk, max_examples=PER_EVENT * 4)
    @given(st.sampled_from(roles), odd_names, json_values)
    def odd_events(role: str, event: Any, payload: Any) -> None:
        check_reply(role, event, payload)

    @settings(unshrunk, max_examples=PER_EVENT * 4)
    @given(st.sampled_from(roles), raw_frames)
    def frames(role: str, frame: str) -> None:
        run(raw(role, frame))

    @settings(unshrunk, max_examples=PER_EVENT * 2)
    @given(
        st.sampled_from(roles),
        st.one_of(st.sampled_from(["4" + deep(), "b!", "bAAAAA"]), st.text(max_size=20)),
    )
    def engineio_frames(role: str, frame: str) -> None:
        run(raw_engineio(role, frame))

    with watching(loop) as trouble:
        await asyncio.to_thread(engineio_frames)
        for event in events:
            await asyncio.to_thread(fuzz_event, event)
        await asyncio.to_thread(odd_events)
        await asyncio.to_thread(frames)
        # What the raw frames caused arrives shortly after them.
        await asyncio.sleep(0.2)
    internal = [
        (c.url, data)
        for c in clients.values()
        for data in c.received("error")
        if data.get("code") == "internal"
    ]
    assert internal == []
    assert trouble.found == []
    # The examples reached the handlers: some succeeded, some were refused for their payload or their role.
    assert all(outcomes[code] for code in ("ok", "invalid_input", "forbidden", "unknown_event_name")), (
        outcomes
    )
