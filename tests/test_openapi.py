"""The OpenAPI description (/api/openapi.json): valid OpenAPI 3.1, every route in it, and the live server held
to it by schemathesis; the Socket.IO messages' JSON Schema (/api/socketio-schema.json)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import hypothesis
import jsonschema
import schemathesis
from hypothesis import HealthCheck, Phase
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from server import api, openapi
from server.agenda import SESSION_FIELDS
from server.app import create_app
from server.domain.ids import MAX_ID
from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.organiser import EDITABLE
from server.service import REGISTRATION_FIELDS
from signaling import protocol, schema
from signaling.messages import PROTOCOL_VERSION, SERVER_EVENTS, ErrorEvent

from .conftest import make_settings
from .helpers import Running
from .test_http import count_participants


async def _get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


def test_the_description_is_valid_and_names_every_route(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    spec = openapi.build(app)
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    # Walked from the router: a route added tomorrow is in it, or this fails.
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path") or f"{info['prefix']}/{{filename}}"
        methods = ["get", "post"] if route.method == "*" else [route.method.lower()]
        for method in methods:
            assert method in spec["paths"].get(path, {}), (method, path)
    register = spec["paths"]["/api/events/{event_id}/participants"]["post"]
    assert register["parameters"][0]["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    assert register["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/RegistrationBody"
    )
    assert spec["paths"]["/api/me"]["get"]["security"] == [{"bearer": []}]
    error = spec["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]
    assert spec["paths"]["/s/{session_id}/{page}"]["get"]["parameters"][1]["schema"]["enum"] == list(
        api.STAFF_PAGES
    )
    assert "503" in spec["paths"]["/api/ready"]["get"]["responses"]
    whip = spec["paths"]["/api/sessions/{session_id}/whip"]["post"]
    assert "application/sdp" in whip["requestBody"]["content"]


def test_the_models_name_the_fields_the_server_checks() -> None:
    """The handlers refuse the fields these models do not name; the models name every field the domain
    reads, so the description cannot lag what the server accepts."""
    assert set(openapi.RegistrationBody.model_fields) == {*REGISTRATION_FIELDS, "browser_id"}
    assert set(openapi.SessionFields.model_fields) == SESSION_FIELDS | {"waiting_room"}
    assert set(openapi.SessionFields.model_fields) == EDITABLE
    assert set(openapi.StateChange.model_json_schema()["$defs"]["SessionState"]["enum"]) == {
        state.value for state in SessionState
    }


async def test_both_descriptions_are_served(hemicycle: Running) -> None:
    status, spec = await _get(f"{hemicycle.url}/api/openapi.json")
    assert status == 200
    validate(spec)
    status, served = await _get(f"{hemicycle.url}/api/socketio-schema.json")
    assert status == 200
    jsonschema.Draft202012Validator.check_schema(served)
    # The whole contract, both ways: what docs/protocol.schema.json holds, with the protocol version.
    assert served == json.loads(schema.SCHEMA_FILE.read_text(encoding="utf-8"))
    assert served["x-protocol-version"] == PROTOCOL_VERSION
    assert set(served["x-client-events"]) == set(protocol.CLIENT_EVENTS)
    assert set(served["x-server-events"]) == set(SERVER_EVENTS)
    validator = jsonschema.Draft202012Validator(served)

    def allows(ref: dict[str, str], message: Any) -> bool:
        return validator.evolve(schema={**ref, "$defs": served["$defs"]}).is_valid(message)

    # A payload the schema allows is one the server's model accepts, and the other way round.
    raise_hand = served["x-client-events"]["hand:raise"]["payload"]
    assert allows(raise_hand, {"type": "statement", "language": "en"})
    assert not allows(raise_hand, {"type": "statement", "bogus": 1})
    # What the server sends is there too: its `error` event, and the acknowledgement's envelope.
    error = {"code": "forbidden", "message": "no", "details": None, "event": "hand:raise"}
    assert allows(served["x-server-events"]["error"], ErrorEvent.model_validate(error).model_dump())
    assert not allows(served["x-server-events"]["error"], {k: v for k, v in error.items() if k != "event"})
    assert allows(served["x-ack"], {"ok": True, "data": {}})
    assert allows(served["x-ack"], {"ok": False, "error": {"code": "forbidden", "message": "no"}})
    assert not allows(served["x-ack"], {"ok": False, "data": {}})


async def test_what_the_schema_forbids_is_refused_and_not_stored(hemicycle: Running) -> None:
    """An OpenAPI client that sends a field the schema does not list gets a 4xx naming it; nothing is kept."""
    url = f"{hemicycle.url}/api/events/{hemicycle.event_id}/participants"
    body = {
        "display_name": "Ada",
        "affiliation": "ACM",
        "stakeholder_group": "civil_society",
        "country": "FR",
        "is_admin": True,
    }
    assert not openapi.RegistrationBody.model_json_schema()["additionalProperties"]
    before = await count_participants(hemicycle)
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        assert response.status == 422
        assert (await response.json())["error"]["details"] == {"field": "is_admin"}
    assert await count_participants(hemicycle) == before
    admin = await hemicycle.staff_token(Role.ADMIN)
    headers = {"Authorization": f"Bearer {admin}"}
    state = f"{hemicycle.url}/api/sessions/{hemicycle.scheduled_session}/state"
    async with (
        aiohttp.ClientSession() as http,
        http.post(state, json={"state": "paused"}, headers=headers) as r,
    ):
        assert 400 <= r.status < 500
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{hemicycle.url}/api/events/{hemicycle.event_id}") as r,
    ):
        sessions = {s["id"]: s for s in (await r.json())["sessions"]}
    assert sessions[hemicycle.scheduled_session]["state"] == "scheduled"


# Operations left out of the fuzzing: SDP and YAML bodies (no JSON to generate), Socket.IO (its own
# transport, fuzzed by tests/test_fuzz.py) and the pages.
_SKIPPED_PATHS = ("/socket.io/", "/static/{filename}", "/api/sessions/{session_id}/whip")
_SKIPPED_PATHS += ("/api/sessions/{session_id}/whep", "/api/events/{event_id}/agenda")
EXAMPLES = 15


def _fuzz(url: str, token: str, mode: GenerationMode = GenerationMode.POSITIVE) -> list[str]:
    """Every described operation, a few generated requests each, against the live server: no 5xx, and each
    reply matches what the description says of its status. In NEGATIVE mode, only the operations with a
    JSON body, with requests the description forbids: each must be refused with a 4xx. Returns the
    operations tried."""
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    checks: tuple[Any, ...] = (not_a_server_error, response_schema_conformance)
    if mode is GenerationMode.NEGATIVE:
        checks = (not_a_server_error, negative_data_rejection)
    tried: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in _SKIPPED_PATHS or not operation.path.startswith("/api/"):
            continue
        if mode is GenerationMode.NEGATIVE and "requestBody" not in operation.definition.raw:
            continue
        tried.append(f"{operation.method.upper()} {operation.path}")
        strategies = [operation.as_strategy(generation_mode=mode)]
        if mode is GenerationMode.POSITIVE:  # the description's examples first
            strategies[:0] = operation.get_strategies_from_examples()
        for strategy in strategies:

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,  # the same requests on every run: a failure here is reproducible
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=strategy)
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
                case.validate_response(response, checks=checks)

            check()
    return tried


async def test_the_live_server_keeps_to_its_description(hemicycle: Running) -> None:
    # A moderator's token: most routes are reachable, and nothing it may do ends the test's own access.
    token = await hemicycle.staff_token(Role.MODERATOR)
    before = await count_participants(hemicycle)
    tried = await asyncio.to_thread(_fuzz, hemicycle.url, token)
    # The registration's example went through: a 201, its reply held to the description too.
    assert await count_participants(hemicycle) > before
    assert "POST /api/events/{event_id}/participants" in tried
    assert "PATCH /api/sessions/{session_id}" in tried
    assert len(tried) > 25


async def count_attendees(running: Running) -> int:
    from sqlalchemy import func, select

    from server.db import models

    query = select(func.count()).select_from(models.Participant).where(models.Participant.role == "attendee")
    async with running.core.store.engine.connect() as connection:
        return int(await connection.scalar(query) or 0)


async def test_what_the_description_forbids_is_refused(hemicycle: Running) -> None:
    """Bodies, path ids and headers outside the description: a 4xx each, never a 2xx or a 5xx."""
    token = await hemicycle.staff_token(Role.ADMIN)
    # Registrations only: some of schemathesis's negative cases for the booth links route carry a body the
    # route accepts (answered 201, an interpreter made), which says nothing of registration.
    before = await count_attendees(hemicycle)
    tried = await asyncio.to_thread(_fuzz, hemicycle.url, token, GenerationMode.NEGATIVE)
    assert "POST /api/events/{event_id}/participants" in tried
    assert "POST /api/sessions/{session_id}/state" in tried
    assert await count_attendees(hemicycle) == before
