"""The README, docs/protocol.md and the code say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

from server.app import create_app
from server.settings import ENVIRONMENT
from signaling.protocol import CLIENT_EVENTS, SERVER_EVENTS

from .conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()


def test_configuration_table_lists_every_variable() -> None:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.MULTILINE))
    assert documented == set(ENVIRONMENT)
    for name in ENVIRONMENT:
        assert name in (ROOT / "server" / "settings.py").read_text()


def test_quick_start_has_two_commands_and_ci_runs_the_test_one() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_protocol_documents_every_route_and_event(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    for resource in app.router.resources():
        path = resource.canonical
        if path.startswith(("/socket.io", "/static")):
            continue
        assert f"`{path}`" in PROTOCOL or f" {path}`" in PROTOCOL, f"{path} is not in docs/protocol.md"
    for event in (*CLIENT_EVENTS, *SERVER_EVENTS):
        assert f"`{event}`" in PROTOCOL, f"event {event} is not in docs/protocol.md"
    for code in (
        "malformed_json",
        "invalid_input",
        "token_expired",
        "forbidden",
        "wrong_session",
        "rate_limited",
        "payload_too_large",
        "unknown_event_name",
    ):
        assert f"`{code}`" in PROTOCOL, code
