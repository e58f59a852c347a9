"""The `hemicycle` command, run as a real process: agenda import, links, serve, and clear errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from server.agenda import AgendaError, load_agenda

from .helpers import SECRET, die_with_parent, free_port, serve_output

AGENDA_YAML = """\
event:
  slug: wsis20
  title: WSIS+20 Forum High-Level Event
  venue: Geneva
sessions:
  - ref: opening
    title: Opening ceremony
    room: Room 1
    starts_at: 2024-05-27T10:00:00
    ends_at: 2024-05-27T12:00:00
    languages: [en, fr, ar, zh, ru, es]
  - ref: hlps-1
    title: "High-level policy session 1: Bridging digital divides"
    room: Room 2
    starts_at: "2024-05-27T14:00:00+02:00"
    ends_at: "2024-05-27T15:30:00+02:00"
    default_speaking_seconds: 120
"""


def run(tmp_path: Path, *args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HEMICYCLE_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env["HEMICYCLE_DATA_DIR"] = str(tmp_path)
    if secret:
        env["HEMICYCLE_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "server", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_import_agenda_then_links(tmp_path: Path) -> None:
    agenda = tmp_path / "agenda.yaml"
    agenda.write_text(AGENDA_YAML)
    result = run(tmp_path, "import-agenda", str(agenda))
    assert result.returncode == 0, result.stderr
    assert "2 session(s) created, 0 updated" in result.stdout
    # Times without an offset are read in Geneva time (UTC+2 in May).
    assert "2024-05-27 08:00Z" in result.stdout
    again = run(tmp_path, "import-agenda", str(agenda))
    assert "0 session(s) created, 2 updated" in again.stdout

    links = run(tmp_path, "links", "1")
    assert links.returncode == 0, links.stderr
    for page in ("moderator", "chair", "av", "captioner", "interpreter", "display"):
        assert re.search(rf"/s/1/{page}#token=[\w.-]+", links.stdout), page
    assert "/e/1/admin#token=" in links.stdout

    unknown = run(tmp_path, "links", "99")
    assert unknown.returncode == 1 and "there is no session 99" in unknown.stderr


def test_import_agenda_json_list_needs_an_event(tmp_path: Path) -> None:
    agenda = tmp_path / "agenda.json"
    agenda.write_text(
        json.dumps(
            [{"title": "Plenary", "starts_at": "2024-05-28T09:00:00Z", "ends_at": "2024-05-28T10:00:00Z"}],
            indent=2,
        )
    )
    result = run(tmp_path, "import-agenda", str(agenda))
    assert result.returncode == 1 and "--event" in result.stderr
    result = run(tmp_path, "import-agenda", str(agenda), "--event", "forum-2024", "--title", "Forum 2024")
    assert result.returncode == 0, result.stderr
    assert "Created event forum-2024" in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sessions:\n  - title: A\n    starts_at: 2024-05-27T10:00:00\n    ends_at: 2024-05-27T09:00:00\n",
            r"line 2 \(session 1\): field 'ends_at': must be after starts_at",
        ),
        (
            '[\n  {"title": "A", "starts_at": "2024-05-27T10:00", "ends_at": "2024-05-27T11:00"},\n'
            '  {"title": "", "starts_at": "2024-05-27T10:00", "ends_at": "2024-05-27T11:00"}\n]\n',
            r"line 3 \(session 2\): field 'title': title is required",
        ),
        (
            "- title: A\n  starts_at: yesterday\n  ends_at: 2024-05-27T11:00:00\n",
            r"line 1 \(session 1\): field 'starts_at': 'yesterday' is not an ISO 8601 date-time",
        ),
        (
            "- title: A\n  starts_at: 2024-05-27T10:00:00\n  ends_at: 2024-05-27T11:00:00\n"
            "  languages: [de]\n",
            r"field 'languages'",
        ),
        ("- title: A\n  speaker: B\n", r"unknown field 'speaker'"),
        ("- title: A\n  starts_at: [unclosed\n", r"line \d+: not valid JSON or YAML"),
        ("[]", r"non-empty list of sessions"),
        (
            "- ref: x\n  title: A\n  starts_at: 2024-05-27T10:00:00\n  ends_at: 2024-05-27T11:00:00\n"
            "- ref: x\n  title: B\n  starts_at: 2024-05-27T10:00:00\n  ends_at: 2024-05-27T11:00:00\n",
            r"line 5 \(session 2\): field 'ref': 'x' is used twice",
        ),
    ],
)
def test_agenda_errors_name_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agenda.yaml"
    path.write_text(text)
    with pytest.raises(AgendaError, match=message):
        load_agenda(path)


SESSION = "  starts_at: 2024-05-27T10:00:00\n  ends_at: 2024-05-27T11:00:00\n"
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # The billion laughs: refused at the first anchor, before anything is expanded.
        (LAUGHS, r"agenda.yaml, line 1: anchors and aliases \(& and \*\) are not allowed"),
        (f"- &s\n  title: A\n{SESSION}- *s\n", r"line 1: anchors and aliases"),
        ("[" * 100_000 + "]" * 100_000, r"line 1: nested more than 8 levels deep"),
        (
            "- title: A\n  starts_at: 0001-01-01T00:00:00\n  ends_at: 2024-05-27T11:00:00\n",
            r"field 'starts_at'",
        ),
        (f"- title: A\n{SESSION.replace('2024-05-27T11', '9999-12-31T23')}", r"the year must be from 2000"),
        (f'- title: "Opening\\0"\n{SESSION}', r"line 1 \(session 1\): field 'title': .*U\+0000"),
        (f'- title: "\\u202eOpening"\n{SESSION}', r"field 'title': .*U\+202E"),
        (f"- title: {'x' * 100_000}\n{SESSION}", r"field 'title': title is too long"),
        (f'- ref: "a\\u2066b"\n  title: A\n{SESSION}', r"field 'ref': .*U\+2066"),
        (
            f'event:\n  slug: x\n  title: "Forum\\0"\nsessions:\n- title: A\n{SESSION}',
            r"line 2: field 'title'.*U\+0000",
        ),
        (
            f"event:\n  slug: x\n  title: {'y' * 100_000}\nsessions:\n- title: A\n{SESSION}",
            r"line 2: field 'title'",
        ),
        (f'event:\n  slug: "../x"\nsessions:\n- title: A\n{SESSION}', r"line 2: field 'slug'"),
        (
            f"event:\n  slug: x\n  venue: [a, b]\nsessions:\n- title: A\n{SESSION}",
            r"field 'venue': venue must be text",
        ),
    ],
)
def test_hostile_agendas_get_a_clear_refusal(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agenda.yaml"
    path.write_text(text)
    with pytest.raises(AgendaError, match=message):
        load_agenda(path)


def test_an_agenda_over_a_megabyte_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "agenda.yaml"
    path.write_text(f"- title: A\n{SESSION}" + "# padding\n" * 120_000)
    with pytest.raises(AgendaError, match=r"agenda.yaml: the file is over 1024 KiB"):
        load_agenda(path)


def test_the_command_line_checks_its_event_fields_too(tmp_path: Path) -> None:
    agenda = tmp_path / "agenda.yaml"
    agenda.write_text(f"- title: A\n{SESSION}")
    result = run(tmp_path, "import-agenda", str(agenda), "--event", "forum", "--title", "Forum\u202e")
    assert result.returncode == 1 and "--title: field 'title'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_needs_a_secret_outside_demo(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--port", str(free_port()), secret=None)
    assert result.returncode == 2
    assert "HEMICYCLE_SECRET is not set" in result.stderr
    short = run(tmp_path, "serve", "--port", str(free_port()), secret="short")
    assert short.returncode == 2 and "at least 32 characters" in short.stderr


def test_serve_demo_prints_links_and_serves(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HEMICYCLE_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env["HEMICYCLE_DATA_DIR"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    output = ""
    try:
        deadline = time.monotonic() + 60
        output = serve_output(process, deadline)
        assert f"http://127.0.0.1:{port}/s/1/moderator#token=" in output, output
        assert f"http://127.0.0.1:{port}/e/1/admin#token=" in output
        assert "[live]" in output
        body = b""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    body = response.read()
                    break
            except OSError:
                time.sleep(0.1)
        assert json.loads(body)["status"] == "ok"
        assert (tmp_path / "hemicycle.db").exists()
        # Against the demo's data directory, `links` needs no secret and prints the port it serves on.
        links = run(tmp_path, "links", "1", secret=None)
        assert links.returncode == 0, links.stderr
        assert f"http://127.0.0.1:{port}/s/1/moderator#token=" in links.stdout, links.stdout
        assert (tmp_path / "demo-secret").stat().st_mode & 0o077 == 0
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=15)
    # A serving process paces the cycle collector (server/collector.py), with the documented defaults.
    assert "survivors frozen every 2 s, a full collection every 360 min" in output + rest
