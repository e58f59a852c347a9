"""The moderation rules alone: waiting room defaults, admission rules, targets, versions, browser ids."""

from __future__ import annotations

import pytest

from server.domain.errors import Conflict, Forbidden, InvalidInput
from server.domain.moderation import (
    AdmitRules,
    WaitingRoom,
    check_target,
    check_version,
    clean_browser_id,
    entry_refusal,
    waiting_room_on,
)
from server.domain.roles import Role


def test_the_session_setting_wins_over_the_default() -> None:
    assert waiting_room_on(None, True, WaitingRoom.PUBLIC) is True
    assert waiting_room_on(None, True, WaitingRoom.OFF) is False
    assert waiting_room_on(False, True, WaitingRoom.ALL) is False
    assert waiting_room_on(True, True, WaitingRoom.OFF) is True


def test_a_non_public_session_always_has_a_waiting_room() -> None:
    for setting in (None, False, True):
        for default in WaitingRoom:
            assert waiting_room_on(setting, False, default) is True


def test_media_entry_follows_the_admission() -> None:
    assert entry_refusal("admitted", True) is None
    assert entry_refusal(None, False) is None  # an open session, nobody decided on
    for state, must_wait, code in (
        ("waiting", False, "waiting"),
        ("left", False, "waiting"),
        (None, True, "waiting"),
        ("removed", False, "not_admitted"),
        ("removed", True, "not_admitted"),
    ):
        refusal = entry_refusal(state, must_wait)
        assert refusal is not None and (refusal.code, refusal.status) == (code, 403), state


def test_rules_parse_match_and_round_trip() -> None:
    rules = AdmitRules.parse(
        {"stakeholder_groups": ["civil_society"], "affiliations": ["  Permanent Mission of  Chile "]}
    )
    assert rules.matches("civil_society", "") == "stakeholder_group:civil_society"
    assert (
        rules.matches("government", "permanent mission of chile") == "affiliation:permanent mission of chile"
    )
    assert rules.matches("government", "PERMANENT  MISSION OF CHILE") is not None
    assert rules.matches("government", "Mission of Chile") is None
    assert AdmitRules.from_stored(rules.stored()) == rules
    assert AdmitRules.parse(None) == AdmitRules()
    for bad in (
        [],
        {"groups": []},
        {"stakeholder_groups": "civil_society"},
        {"stakeholder_groups": ["aliens"]},
        {"affiliations": ["\u202eevil"]},
        {"affiliations": ["x"] * 51},
    ):
        with pytest.raises(InvalidInput):
            AdmitRules.parse(bad)


def test_targets() -> None:
    def target(actor: Role, roles: set[Role], others: int = 1, same: bool = False) -> None:
        check_target(
            actor_participant=1,
            actor_role=actor,
            target_participant=1 if same else 2,
            target_roles=roles,
            other_moderators=others,
            action="ban",
        )

    target(Role.MODERATOR, {Role.ATTENDEE})
    target(Role.ADMIN, {Role.CHAIR})
    target(Role.ADMIN, {Role.MODERATOR}, others=1)
    with pytest.raises(Forbidden) as refused:
        target(Role.MODERATOR, {Role.ATTENDEE}, same=True)
    assert refused.value.code == "self_target"
    with pytest.raises(Forbidden) as refused:
        target(Role.MODERATOR, {Role.CHAIR})
    assert refused.value.code == "staff_target"
    with pytest.raises(Conflict) as conflict:
        target(Role.ADMIN, {Role.MODERATOR}, others=0)
    assert conflict.value.code == "last_moderator"


def test_versions_and_browser_ids() -> None:
    check_version(None, 3)
    check_version(3, 3)
    with pytest.raises(Conflict) as stale:
        check_version(2, 3)
    assert stale.value.code == "stale_participant" and stale.value.details == {"current_version": 3}
    assert clean_browser_id(None) is None and clean_browser_id("") is None
    assert clean_browser_id("a1-B2_c3") == "a1-B2_c3"
    for bad in ("a b", "x" * 65, 12, "é", "<script>"):
        with pytest.raises(InvalidInput):
            clean_browser_id(bad)
