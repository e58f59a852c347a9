"""Logs for machines: one JSON object per line with its context, no token anywhere, no static-file lines."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from server import logs
from server.domain.roles import Role
from server.settings import Settings, SettingsError
from server.tokens import TokenService

from .helpers import SECRET, die_with_parent, free_port

JWT = TokenService(SECRET).issue(
    grant_id=1, participant_id=7, role=Role.ATTENDEE, event_id=1, session_id=3, ttl=timedelta(hours=1)
)[0]


@pytest.mark.parametrize(
    "text",
    [
        f"opened http://h/s/1/moderator#token={JWT} at once",
        f"GET /api/sessions/1/questions?format=csv&token={JWT}",
        "GET /x?access_token=abc.def-ghi&y=1",
        "Authorization: Bearer abc.def-ghi",
        f"auth {{'token': '{JWT}', 'session_id': 1}}",
        'payload {"token": "opaque-secret-value"}',
        "HEMICYCLE_SECRET=opaque-secret-value",
    ],
)
def test_redact_hides_tokens_and_secrets(text: str) -> None:
    cleaned = logs.redact(text)
    assert JWT not in cleaned and "abc.def-ghi" not in cleaned and "opaque-secret-value" not in cleaned
    assert logs.REDACTED in cleaned


def test_redact_leaves_ordinary_text() -> None:
    text = "participant 12 joined session 3 as attendee (tokens checked: 2)"
    assert logs.redact(text) == text


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("hemicycle.test", logging.WARNING, __file__, 1, message, args, exc_info)
    logs.ContextFilter().filter(record)
    return record


async def test_json_lines_carry_the_context_and_no_token() -> None:
    token = logs.REQUEST_ID.set("req-1")
    try:
        logs.bind(session=3, participant=7)
        line = logs.JsonFormatter().format(_record("link %s refused", f"/s/3#token={JWT}", exc=True))
    finally:
        logs.REQUEST_ID.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "hemicycle.test"
    assert entry["session"] == 3 and entry["participant"] == 7 and entry["request_id"] == "req-1"
    assert entry["time"].endswith("+00:00")
    assert entry["message"] == f"link /s/3#token={logs.REDACTED} refused"
    assert "ValueError" in entry["exception"] and JWT not in line


def test_text_lines_are_redacted_too() -> None:
    line = logs.TextFormatter().format(_record("link %s", f"?token={JWT}", exc=True))
    assert JWT not in line and logs.REDACTED in line


def test_bad_settings_are_named() -> None:
    with pytest.raises(SettingsError, match="HEMICYCLE_LOG_FORMAT"):
        Settings.from_env({"HEMICYCLE_LOG_FORMAT": "xml"}, demo=True).resolved()
    with pytest.raises(SettingsError, match="HEMICYCLE_ACCESS_LOG"):
        Settings.from_env({"HEMICYCLE_ACCESS_LOG": "some"}, demo=True).resolved()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_a_json_logging_server(tmp_path: Path) -> None:
    """A real server with HEMICYCLE_LOG_FORMAT=json: every line of its standard error is a JSON object, the
    access log names the request id and skips the static files, and no token reaches the log."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEMICYCLE_") and k != "DATABASE_URL"}
    env |= {"HEMICYCLE_DATA_DIR": str(tmp_path), "HEMICYCLE_LOG_FORMAT": "json", "HEMICYCLE_SECRET": SECRET}
    errors = tmp_path / "stderr.log"
    with errors.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _get(f"{base}/api/health")
                    break
                except OSError:
                    assert process.poll() is None and time.monotonic() < deadline, errors.read_text()
                    time.sleep(0.1)
            status, headers = _get(f"{base}/api/health", {"X-Request-ID": "probe-42"})
            assert status == 200 and headers["X-Request-ID"] == "probe-42"
            # A malformed id is replaced, not echoed.
            _, headers = _get(f"{base}/api/health", {"X-Request-ID": "bad id\u00e9"})
            assert headers["X-Request-ID"] != "bad id\u00e9"
            assert _get(f"{base}/static/css/hemicycle.css")[0] == 200
            # Digits to str.isdigit but no id: the log context names no session, the route answers 404.
            assert _get(f"{base}/api/sessions/%C2%B2")[0] == 404
            # A token in a URL, and one in an Authorization header the server refuses.
            _get(f"{base}/api/sessions/1/questions?format=csv&token={JWT}")
            _get(f"{base}/api/me", {"Authorization": f"Bearer {JWT}x"})
            logged: list[dict[str, object]] = []
            while time.monotonic() < deadline:
                logged = [json.loads(line) for line in errors.read_text().splitlines() if line.strip()]
                if any("/api/me" in str(entry["message"]) for entry in logged):
                    break
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(timeout=15)
    text = errors.read_text()
    assert JWT not in text and SECRET not in text
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    access = [entry for entry in entries if entry["logger"] == logs.ACCESS_LOGGER]
    probe = [entry for entry in access if entry.get("request_id") == "probe-42"]
    assert probe and "/api/health" in str(probe[0]["message"])
    assert any("/api/me" in entry["message"] and " 401 " in entry["message"] for entry in access), access
    assert not any("/static/" in entry["message"] for entry in access)
