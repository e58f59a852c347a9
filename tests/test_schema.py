"""The generated files (docs/protocol.schema.json, the payload tables of docs/protocol.md,
web/js/protocol-types.js) say what the models say."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from server.domain import floor_rules, moderation, participants, questions
from server.domain.captions import CAPTION_MAX_CHARS
from server.domain.errors import InvalidInput
from signaling import protocol, schema
from signaling.messages import ACKS, PROTOCOL_VERSION, SERVER_EVENTS
from signaling.protocol import CLIENT_EVENTS


def test_generated_files_match_the_models() -> None:
    behind = [str(path.relative_to(schema.ROOT)) for path in schema.stale()]
    assert not behind, f"{', '.join(behind)} out of date: run `{schema.COMMAND}`"


def test_the_schema_names_every_event_and_resolves_every_reference() -> None:
    built = schema.build()
    assert built["x-protocol-version"] == PROTOCOL_VERSION
    assert set(built["x-client-events"]) == set(CLIENT_EVENTS)
    assert set(built["x-server-events"]) == set(SERVER_EVENTS)
    for name, refs in built["x-client-events"].items():
        assert refs["payload"]["$ref"] == f"#/$defs/{CLIENT_EVENTS[name].__name__}"
        assert refs["ack"]["$ref"] == f"#/$defs/{ACKS[name].__name__}"
    for ref in set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(built))):
        assert ref.removeprefix("#/$defs/") in built["$defs"], ref


def test_a_drift_names_the_file_and_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    original = schema.jsdoc

    def changed(built: dict[str, Any]) -> str:
        return original(built) + "// a model changed\n"

    monkeypatch.setattr(schema, "jsdoc", changed)
    assert schema.stale() == [schema.JSDOC_FILE]
    monkeypatch.undo()
    check = subprocess.run(
        [sys.executable, "-m", "signaling.schema", "--check"],
        cwd=schema.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def test_the_check_command_fails_on_a_stale_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stale_copy = tmp_path / "protocol-types.js"
    stale_copy.write_text(schema.JSDOC_FILE.read_text(encoding="utf-8") + "// edited by hand\n")
    monkeypatch.setattr(schema, "JSDOC_FILE", stale_copy)
    monkeypatch.setattr(schema, "ROOT", tmp_path)
    assert schema.main(["--check"]) == 1


def test_a_reason_is_bounded_as_the_schema_says() -> None:
    """Every `reason` a client sends: at most MAX_REASON_SENT characters as sent (the model's bound, which the
    schema states), and at most the record's 300 once white space is collapsed (the domain's, stated in the
    field's description). Both refusals are invalid_input naming `reason`."""
    limits = {floor_rules.MAX_REASON, questions.REASON_MAX, moderation.REASON_MAX}
    assert limits == {300}
    built = schema.build()
    reasons = [
        (name, built["$defs"][model.__name__]["properties"]["reason"])
        for name, model in CLIENT_EVENTS.items()
        if "reason" in model.model_fields
    ]
    assert {name for name, _ in reasons} >= {"queue:remove", "participant:remove", "participant:ban"}
    for name, node in reasons:
        assert node["maxLength"] == protocol.MAX_REASON_SENT, name
        assert "at most 300 characters once white space is collapsed" in node["description"], name
    spaced = " ".join(["word"] * 60)  # 299 characters
    padded = spaced.replace(" ", "  ")  # 358 as sent, 299 once collapsed
    cleaners = [
        lambda value: floor_rules.clean_reason(value, required=True),
        lambda value: moderation.clean_reason(value, required=True),
        lambda value: questions.Decide.clean_reason(questions.Decision.DISMISS, value),
    ]
    for clean in cleaners:
        assert clean(padded) == spaced
        with pytest.raises(InvalidInput) as refused:
            clean("x" * 301)
        assert refused.value.details == {"field": "reason"}
    protocol.parse(protocol.QueueRemove, {"entry_id": 1, "reason": padded})
    with pytest.raises(InvalidInput) as too_long:
        protocol.parse(protocol.QueueRemove, {"entry_id": 1, "reason": "x" * (protocol.MAX_REASON_SENT + 1)})
    assert too_long.value.details == {"field": "reason"}


def test_what_the_domain_bounds_the_schema_says() -> None:
    """Limits the domain checks after the model has parsed a message are written in the models'
    descriptions, from the same numbers."""
    built = schema.build()["$defs"]
    in_room = built["QueueAddInRoom"]["description"]
    assert f"display name 1–{participants.NAME_MAX} characters" in in_room
    assert f"affiliation at most {participants.AFFILIATION_MAX}" in in_room
    assert (
        f"at most {CAPTION_MAX_CHARS} characters once cleaned"
        in built["CaptionPost"]["properties"]["text"]["description"]
    )
