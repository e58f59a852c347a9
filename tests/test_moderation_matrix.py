"""The authorization matrix: every privileged Socket.IO event and HTTP route, called by every lesser role,
by a connection still in the waiting room and with no token, is refused and changes nothing.

Events and routes are enumerated from the protocol and the app's router: a new one fails this test until it
is given its allow-list below (and a sample payload), so nothing privileged goes unchecked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from server.db import models
from server.domain.roles import Role
from signaling.protocol import CLIENT_EVENTS

from .conftest import make_settings, run_app
from .helpers import Client, Running

HAND = {"type": "statement", "language": "en"}
ADMIN, MODERATOR, CHAIR, AV = Role.ADMIN, Role.MODERATOR, Role.CHAIR, Role.AV
CAPTIONER, INTERPRETER, DISPLAY, ATTENDEE = Role.CAPTIONER, Role.INTERPRETER, Role.DISPLAY, Role.ATTENDEE
EVERYONE = frozenset(Role)
FLOOR_STAFF = frozenset({ADMIN, MODERATOR, CHAIR})
MODERATORS = frozenset({ADMIN, MODERATOR})
# An attendee's own voice (hands, questions, votes): not even the administrator's (roles.ATTENDEE_ONLY).
ATTENDEES = frozenset({ATTENDEE})
RECORDING = frozenset({ADMIN, MODERATOR, AV})

# Who may send each client event. The attendee calling is not the asker of the sample question nor the
# holder of the sample hand: what only the asker or the speaker may do counts as refused for everyone here.
ALLOWED_EVENTS: dict[str, frozenset[Role]] = {
    "session:set_state": FLOOR_STAFF,
    "presence:get": EVERYONE,
    "queue:get": EVERYONE,
    "questions:get": EVERYONE,
    "hand:raise": ATTENDEES,
    "hand:lower": ATTENDEES,
    "queue:add_in_room": FLOOR_STAFF,
    "queue:move": FLOOR_STAFF,
    "queue:remove": FLOOR_STAFF,
    "queue:lower_all": FLOOR_STAFF,
    "queue:settings": FLOOR_STAFF,
    "floor:grant": FLOOR_STAFF,
    "floor:end": FLOOR_STAFF,
    "floor:time": FLOOR_STAFF,
    "questions:settings": MODERATORS,
    "question:post": ATTENDEES,
    "question:edit": MODERATORS,
    "question:withdraw": frozenset(),
    "question:vote": ATTENDEES,
    "question:unvote": ATTENDEES,
    "question:moderate": MODERATORS,
    "question:merge": MODERATORS,
    "question:relay": MODERATORS,
    "moderation:get": MODERATORS,
    "moderation:settings": MODERATORS,
    "participant:admit": MODERATORS,
    "participant:admit_all": MODERATORS,
    "participant:remove": MODERATORS,
    "participant:ban": MODERATORS,
    "participant:unban": MODERATORS,
    "participant:mute": frozenset({ADMIN, MODERATOR, CHAIR, AV}),
    # Media: anyone connected may ask for the ICE servers and watch; health reports go only to the AV desk and
    # floor staff (others get nothing back). The room feed is the AV desk's; the green room is seen by the AV
    # desk and floor staff; a resource (channel, ICE, stop) is only ever its own holder's.
    "media:config": EVERYONE,
    "media:health": EVERYONE,
    "media:publish": frozenset({ADMIN, AV}),
    "media:subscribe": frozenset({ADMIN, MODERATOR, CHAIR, AV}),
    "media:channel": frozenset(),
    "media:ice": frozenset(),
    "media:stop": frozenset(),
    # Captions: everyone in the session reads them; only the captioner (and the administrator) writes.
    "captions:get": EVERYONE,
    "caption:post": frozenset({ADMIN, CAPTIONER}),
    # The help desk: attendees ask (an attendee writes only in their own thread: tests/test_helpdesk.py);
    # AV technicians, moderators and the administrator answer and close.
    "help:get": EVERYONE,
    "help:open": ATTENDEES,
    "help:message": ATTENDEES,
    "help:reply": frozenset({ADMIN, MODERATOR, AV}),
    "help:close": frozenset({ADMIN, MODERATOR, AV}),
    # Live polls (issue 24): everyone reads them; moderators run them; only attendees answer.
    "polls:get": EVERYONE,
    "poll:create": MODERATORS,
    "poll:edit": MODERATORS,
    "poll:delete": MODERATORS,
    "poll:open": MODERATORS,
    "poll:close": MODERATORS,
    "poll:results": MODERATORS,
    "poll:answer": ATTENDEES,
    # Recording (issue 22): the moderator and the AV desk start and stop it; everyone sees whether it runs.
    "recording:start": RECORDING,
    "recording:stop": RECORDING,
    "recording:get": EVERYONE,
    # Interpretation booths (issue 21): booth staff read them; interpreters (and the AV desk, the
    # administrator) work in them.
    "booth:get": frozenset({ADMIN, MODERATOR, CHAIR, AV, INTERPRETER}),
    "booth:offer": frozenset({ADMIN, AV, INTERPRETER}),
    "booth:take": frozenset({ADMIN, AV, INTERPRETER}),
    "booth:cough": frozenset({ADMIN, AV, INTERPRETER}),
    "booth:slow_down": frozenset({ADMIN, AV, INTERPRETER}),
    # Statements sent in advance (issue 21): the booths, the captioner and moderators read them; never an
    # attendee, the room display, the chair or the AV desk.
    "statements:get": frozenset({ADMIN, MODERATOR, CAPTIONER, INTERPRETER}),
}
# What a refusal may say: the role may not, or the thing is someone else's (or, for a media resource, is not
# there for the caller).
REFUSED = {"forbidden", "not_yours", "not_av", "media_not_found", "not_interpreter"}
SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

PUBLIC_ROUTES = {
    ("GET", "/api/health"),
    ("GET", "/api/ready"),
    ("GET", "/api/events"),
    ("GET", "/api/events/{event_id}"),
    ("POST", "/api/events/{event_id}/participants"),
    ("GET", "/api/sessions/{session_id}"),
    # The descriptions of the routes and of the Socket.IO events (server/openapi.py).
    ("GET", "/api/openapi.json"),
    ("GET", "/api/socketio-schema.json"),
}
STAFF = frozenset({ADMIN, MODERATOR, CHAIR, AV, CAPTIONER, INTERPRETER})
ALLOWED_ROUTES: dict[tuple[str, str], frozenset[Role]] = {
    ("GET", "/api/me"): EVERYONE,
    ("GET", "/api/events/{event_id}/sessions"): frozenset({ADMIN}),
    ("POST", "/api/sessions/{session_id}/state"): FLOOR_STAFF,
    ("GET", "/api/sessions/{session_id}/presence"): STAFF,
    ("GET", "/api/sessions/{session_id}/audit"): MODERATORS,
    ("POST", "/api/sessions/{session_id}/links"): frozenset({ADMIN}),
    ("POST", "/api/sessions/{session_id}/booths/links"): frozenset({ADMIN}),
    # Booths over HTTP (where the booth events of other processes send theirs): as `booth:get` and the rest.
    ("GET", "/api/sessions/{session_id}/booths"): frozenset({ADMIN, MODERATOR, CHAIR, AV, INTERPRETER}),
    ("POST", "/api/sessions/{session_id}/booths/{language}/{action}"): frozenset({ADMIN, AV, INTERPRETER}),
    ("POST", "/api/grants/{grant_id}/revoke"): frozenset({ADMIN}),
    ("POST", "/api/grants/{grant_id}/reissue"): frozenset({ADMIN}),
    ("GET", "/api/sessions/{session_id}/questions"): MODERATORS,
    ("GET", "/api/sessions/{session_id}/moderation"): MODERATORS,
    ("GET", "/api/sessions/{session_id}/report"): MODERATORS,
    ("GET", "/api/events/{event_id}/report"): frozenset({ADMIN}),
    # The agenda is the organisers': sessions are created, changed and deleted by the administrator alone.
    ("POST", "/api/events/{event_id}/sessions"): frozenset({ADMIN}),
    ("PATCH", "/api/sessions/{session_id}"): frozenset({ADMIN}),
    ("DELETE", "/api/sessions/{session_id}"): frozenset({ADMIN}),
    ("POST", "/api/events/{event_id}/agenda"): frozenset({ADMIN}),
    # The stored transcript is part of the record: its captioner, moderators and the administrator.
    ("GET", "/api/sessions/{session_id}/transcript"): frozenset({ADMIN, MODERATOR, CAPTIONER}),
    # Media over HTTP: publishing the room feed (WHIP) is the AV desk's; watching (WHEP), the ICE servers and
    # one's own resources are everyone's in the session; health is for the AV desk and floor staff.
    ("POST", "/api/sessions/{session_id}/whip"): frozenset({ADMIN, AV}),
    ("POST", "/api/sessions/{session_id}/whep"): EVERYONE,
    ("DELETE", "/api/sessions/{session_id}/media/{resource_id}"): EVERYONE,
    ("POST", "/api/sessions/{session_id}/media/{resource_id}/channel"): EVERYONE,
    ("GET", "/api/sessions/{session_id}/media/ice"): EVERYONE,
    ("GET", "/api/sessions/{session_id}/media/health"): frozenset({ADMIN, MODERATOR, CHAIR, AV}),
    # Between Hemicycle's own processes, signed with the shared secret: no token opens it.
    ("POST", "/api/sessions/{session_id}/media/floor"): frozenset(),
    # An edge relay pulling from the origin, with a relay-only service credential: no role's token opens it.
    ("POST", "/api/sessions/{session_id}/media/pull"): frozenset(),
    # Recording (issue 22): as its Socket.IO events.
    ("GET", "/api/sessions/{session_id}/recording"): EVERYONE,
    ("POST", "/api/sessions/{session_id}/recording/start"): RECORDING,
    ("POST", "/api/sessions/{session_id}/recording/stop"): RECORDING,
    # The session archive (issue 22), staff-only by default (public: tests/test_archive.py); its files also
    # take a media key. Who may open it is the administrator's choice.
    ("GET", "/api/sessions/{session_id}/archive"): STAFF,
    ("GET", "/api/sessions/{session_id}/recordings/{recording_id}/segments/{segment_id}"): STAFF,
    ("GET", "/api/sessions/{session_id}/recordings/{recording_id}/captions"): STAFF,
    ("GET", "/api/sessions/{session_id}/recordings/{recording_id}/chapters"): STAFF,
    ("POST", "/api/sessions/{session_id}/archive/access"): frozenset({ADMIN}),
    # Statements sent in advance: attached by floor staff for anyone (and by an attendee to their own request:
    # "Curious" here has none, tests/test_statements.py covers the speaker); read by the booths, the
    # captioner and moderators.
    ("POST", "/api/sessions/{session_id}/queue/{entry_id}/statement"): FLOOR_STAFF,
    ("GET", "/api/sessions/{session_id}/queue/{entry_id}/statement"): frozenset(
        {ADMIN, MODERATOR, CAPTIONER, INTERPRETER}
    ),
    ("GET", "/api/sessions/{session_id}/statements"): frozenset({ADMIN, MODERATOR, CAPTIONER, INTERPRETER}),
}
INTERNAL_ROUTES = {("POST", "/api/sessions/{session_id}/media/floor")}
RELAY_ROUTES = {("POST", "/api/sessions/{session_id}/media/pull")}
ROUTE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/sessions/{session_id}/state"): {"state": "ended"},
    ("POST", "/api/events/{event_id}/sessions"): {
        "title": "Side event",
        "starts_at": "2030-01-01T10:00:00",
        "ends_at": "2030-01-01T11:00:00",
    },
    ("PATCH", "/api/sessions/{session_id}"): {"title": "Renamed"},
    ("POST", "/api/sessions/{session_id}/archive/access"): {"access": "public"},
    ("POST", "/api/sessions/{session_id}/booths/links"): {"languages": ["es"], "name": "Matrix"},
}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[Running]:
    async for running in run_app(make_settings(tmp_path, waiting_room="public")):
        yield running


async def snapshot(running: Running) -> dict[str, list[tuple[Any, ...]]]:
    """Every durable row but connections and process heartbeats, which change by themselves."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    async with running.core.store.engine.connect() as connection:
        for table in models.Base.metadata.sorted_tables:
            if table.name in ("presence", "instances"):
                continue
            rows = await connection.execute(select(table).order_by(*table.primary_key.columns))
            tables[table.name] = [tuple(row) for row in rows]
    return tables


async def admitted_attendee(running: Running, moderator: Client, name: str) -> tuple[Client, int]:
    registered = await running.register(display_name=name)
    participant_id = registered["participant"]["id"]
    client = running.client()
    await client.connect(registered["token"], running.live_session)
    await client.wait_for("waiting")
    state = await moderator.wait_for(
        "moderation", lambda s: any(p["id"] == participant_id for p in s["waiting"])
    )
    version = next(p["version"] for p in state["waiting"] if p["id"] == participant_id)
    reply = await moderator.call("participant:admit", {"participant_id": participant_id, "version": version})
    assert reply["ok"], reply
    await client.wait_for("welcome")
    return client, participant_id


async def test_every_privileged_event_is_refused_to_lesser_roles(world: Running) -> None:
    unlisted = sorted(set(CLIENT_EVENTS) - set(ALLOWED_EVENTS))
    assert not unlisted, f"give these events an allow-list in this test: {unlisted}"

    moderator = await world.join(await world.staff_token(MODERATOR))
    await moderator.wait_for("moderation")
    asker, asker_id = await admitted_attendee(world, moderator, "Asker")
    attendee, _ = await admitted_attendee(world, moderator, "Another Attendee")
    hand = await asker.call("hand:raise", HAND)
    entry_id = hand["data"]["entry"]["id"]
    pending = (await asker.call("question:post", {"text": "A pending question"}))["data"]["question"]["id"]
    approved = (await asker.call("question:post", {"text": "An approved one"}))["data"]["question"]["id"]
    assert (await moderator.call("question:moderate", {"question_id": approved, "action": "approve"}))["ok"]
    opened = await asker.call("help:open", {"category": "other", "language": "en", "text": "Help"})
    thread = opened["data"]["thread"]["id"]
    waiting_registration = await world.register(display_name="Still Waiting")
    waiting = world.client()
    await waiting.connect(waiting_registration["token"], world.live_session)
    await waiting.wait_for("waiting")
    waiting_id = waiting_registration["participant"]["id"]
    state = await moderator.wait_for("moderation", lambda s: any(p["id"] == waiting_id for p in s["waiting"]))
    waiting_version = next(p["version"] for p in state["waiting"] if p["id"] == waiting_id)
    draft = (await moderator.call("poll:create", {"kind": "rating", "question": "A draft"}))["data"]["poll"][
        "id"
    ]
    opened = (await moderator.call("poll:create", {"kind": "rating", "question": "Open"}))["data"]["poll"][
        "id"
    ]
    assert (await moderator.call("poll:open", {"poll_id": opened}))["ok"]

    samples: dict[str, dict[str, Any]] = {
        "session:set_state": {"state": "ended"},
        "presence:get": {},
        "queue:get": {},
        "questions:get": {},
        "hand:raise": HAND,
        "hand:lower": {},
        "queue:add_in_room": {"display_name": "In Room", "stakeholder_group": "government", "language": "en"},
        "queue:move": {"entry_id": entry_id, "to": "top"},
        "queue:remove": {"entry_id": entry_id, "reason": "matrix"},
        "queue:lower_all": {"reason": "matrix"},
        "queue:settings": {"default_speaking_seconds": 120},
        "floor:grant": {"entry_id": entry_id},
        "floor:end": {"entry_id": entry_id, "revoke": True},
        "floor:time": {"entry_id": entry_id, "limit_seconds": 60},
        "questions:settings": {"premoderated": False},
        "question:post": {"text": "From the matrix"},
        "question:edit": {"question_id": pending, "text": "Edited by the matrix"},
        "question:withdraw": {"question_id": pending},
        "question:vote": {"question_id": approved},
        "question:unvote": {"question_id": approved},
        "question:moderate": {"question_id": pending, "action": "approve"},
        "question:merge": {"question_id": pending, "into_id": approved},
        "question:relay": {"question_id": approved, "stage": "forwarded"},
        "moderation:get": {},
        "moderation:settings": {"waiting_room": False},
        "participant:admit": {"participant_id": waiting_id, "version": waiting_version},
        "participant:admit_all": {},
        "participant:remove": {"participant_id": asker_id, "reason": "matrix"},
        "participant:ban": {"participant_id": asker_id, "reason": "matrix"},
        "participant:unban": {"participant_id": asker_id},
        "participant:mute": {"participant_id": asker_id, "audio": True},
        "media:config": {},
        "media:health": {},
        "media:publish": {"source": "room", "sdp": SDP},
        "media:subscribe": {"source": "greenroom", "participant_id": asker_id, "sdp": SDP},
        "media:channel": {"resource_id": "someone-elses", "channel": "fr"},
        "media:ice": {"resource_id": "someone-elses", "candidate": ""},
        "media:stop": {"resource_id": "someone-elses"},
        "captions:get": {},
        "caption:post": {"language": "floor", "text": "From the matrix"},
        "help:get": {},
        "help:open": {"category": "no_sound", "language": "en"},
        "help:message": {"thread_id": thread, "text": "From the matrix"},
        "help:reply": {"thread_id": thread, "text": "From the matrix"},
        "help:close": {"thread_id": thread},
        "polls:get": {},
        "poll:create": {"kind": "rating", "question": "From the matrix"},
        "poll:edit": {"poll_id": draft, "kind": "rating", "question": "Edited by the matrix"},
        "poll:delete": {"poll_id": draft},
        "poll:open": {"poll_id": draft},
        "poll:close": {"poll_id": opened},
        "poll:results": {"poll_id": opened, "shown": True},
        "poll:answer": {"poll_id": opened, "rating": 3},
        "recording:start": {},
        "recording:stop": {},
        "recording:get": {},
        "booth:get": {},
        "booth:offer": {"language": "es"},
        "booth:take": {"language": "es"},
        "booth:cough": {"language": "es", "on": True},
        "booth:slow_down": {"language": "es"},
        "statements:get": {},
    }
    missing = sorted(set(CLIENT_EVENTS) - set(samples))
    assert not missing, f"give these events a sample payload in this test: {missing}"

    callers: dict[Role, Client] = {ATTENDEE: attendee}
    for role in (ADMIN, CHAIR, AV, CAPTIONER, INTERPRETER, DISPLAY):
        callers[role] = await world.join(await world.staff_token(role))
    callers[MODERATOR] = moderator

    refused_calls = 0
    for event in CLIENT_EVENTS:
        allowed = ALLOWED_EVENTS[event]
        if allowed == EVERYONE:
            continue
        before = await snapshot(world)
        for role, client in callers.items():
            if role in allowed:
                continue
            reply = await client.call(event, samples[event])
            assert not reply["ok"], (event, role, reply)
            assert reply["error"]["code"] in REFUSED, (event, role, reply)
            refused_calls += 1
        # A connection in the waiting room may do nothing at all.
        reply = await waiting.call(event, samples[event])
        assert reply["error"]["code"] == "waiting", (event, reply)
        assert await snapshot(world) == before, f"{event}: a refused call changed something"
    assert refused_calls > 100
    # Every caller is still connected: refusals are user errors, not protocol errors.
    assert all(c.sio.connected for c in (*callers.values(), waiting))


async def test_no_token_no_connection(world: Running) -> None:
    before = await snapshot(world)
    for auth in ({"session_id": world.live_session}, {"token": "", "session_id": world.live_session}, None):
        refusal = await world.client().try_connect(auth)
        assert refusal["data"]["code"] in {"invalid_input", "token_missing", "token_invalid"}, refusal
    assert await snapshot(world) == before


async def test_every_privileged_route_is_refused_to_lesser_roles_and_without_a_token(world: Running) -> None:
    routes = {
        (route.method, route.resource.canonical)
        for route in world.server.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method not in ("HEAD", "OPTIONS")
    }
    unlisted = sorted(routes - PUBLIC_ROUTES - set(ALLOWED_ROUTES))
    assert not unlisted, f"give these routes an allow-list in this test: {unlisted}"

    tokens: dict[Role, str] = {role: await world.staff_token(role) for role in Role if role is not ATTENDEE}
    tokens[ATTENDEE] = (await world.register(display_name="Curious"))["token"]
    # A request in line, not "Curious"'s: the entry a statement is attached to.
    floor = await world.join(await world.staff_token(MODERATOR))
    hand = await floor.call(
        "queue:add_in_room", {"display_name": "In Room", "stakeholder_group": "government", "language": "en"}
    )
    # A moderator's link for another session of the same event.
    other_moderator = await world.staff_token(MODERATOR, world.scheduled_session)
    values = {
        "event_id": str(world.event_id),
        "session_id": str(world.live_session),
        "resource_id": "nope1234",
        "grant_id": "1",
        "recording_id": "1",
        "segment_id": "1",
        "language": "es",
        "action": "offer",
        "entry_id": str(hand["data"]["entry"]["id"]),
    }

    async with aiohttp.ClientSession() as http:
        for (method, path), allowed in sorted(ALLOWED_ROUTES.items()):
            if (method, path) not in routes:
                continue
            url = world.url + path.format(**values)
            callers: list[tuple[str, str | None]] = [
                (r.value, t) for r, t in tokens.items() if r not in allowed
            ]
            callers.append(("no token", None))
            if "{session_id}" in path:
                callers.append(("moderator of another session", other_moderator))
            before = await snapshot(world)
            for who, token in callers:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with http.request(
                    method, url, headers=headers, json=ROUTE_BODIES.get((method, path))
                ) as response:
                    body = await response.json()
                    assert response.status in (401, 403), (method, path, who, response.status, body)
                    if (method, path) in INTERNAL_ROUTES:
                        expected = {"forbidden"}
                    elif (method, path) in RELAY_ROUTES:
                        expected = {"token_missing" if token is None else "token_invalid"}
                    elif token is None:
                        expected = {"token_missing"}
                    else:
                        expected = {
                            "forbidden",
                            "wrong_session",
                            "not_av",
                            "archive_staff_only",
                            "not_interpreter",
                            "not_yours",
                        }
                    assert body["error"]["code"] in expected, (method, path, who, body)
            assert await snapshot(world) == before, f"{method} {path}: a refused call changed something"
