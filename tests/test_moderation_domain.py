"""The moderation rules alone: waiting room defaults, admission rules, targets, versions, browser ids."""

from __future__ import annotations

import pytest

from server.domain.errors import Conflict, Forbidden, InvalidInput
from server.domain.moderation import (
    AdmitRules,
    Grant,
    Reach,
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


HERE, THERE = 10, 20  # two sessions of one event
ME, TARGET, OTHER = 1, 2, 3


def target(
    actor: Role, *held: Grant, others: tuple[Grant, ...] = (), reach: Reach = Reach.EVENT, who: int = TARGET
) -> None:
    check_target(
        actor_participant=ME,
        actor_role=actor,
        session_id=HERE,
        target_participant=who,
        grants=[*held, *others],
        action="ban",
        reach=reach,
    )


def refusal(
    actor: Role, *held: Grant, others: tuple[Grant, ...] = (), reach: Reach = Reach.EVENT, who: int = TARGET
) -> str:
    with pytest.raises((Forbidden, Conflict)) as refused:
        target(actor, *held, others=others, reach=reach, who=who)
    return refused.value.code


def test_a_moderator_acts_on_attendees_only() -> None:
    attendee = Grant(TARGET, Role.ATTENDEE, None)
    for actor in (Role.MODERATOR, Role.CHAIR, Role.AV, Role.ADMIN):
        target(actor, attendee)
    assert refusal(Role.MODERATOR, Grant(ME, Role.MODERATOR, HERE), who=ME) == "self_target"
    # Staff anywhere in the event, whatever the action: a grant for another session counts as one here.
    for role in (Role.MODERATOR, Role.CHAIR, Role.AV, Role.CAPTIONER, Role.INTERPRETER, Role.DISPLAY):
        for session in (HERE, THERE):
            for reach in Reach:
                for actor in (Role.MODERATOR, Role.CHAIR, Role.AV):
                    assert refusal(actor, Grant(TARGET, role, session), reach=reach) == "staff_target"
    assert refusal(Role.MODERATOR, Grant(TARGET, Role.ADMIN, None)) == "staff_target"
    # No grant left (a link withdrawn before): nothing to protect.
    target(Role.MODERATOR)


def test_no_session_loses_its_last_moderator() -> None:
    mine, theirs = Grant(TARGET, Role.MODERATOR, HERE), Grant(TARGET, Role.MODERATOR, THERE)
    assert refusal(Role.ADMIN, mine) == "last_moderator"
    assert refusal(Role.ADMIN, theirs) == "last_moderator"
    assert refusal(Role.ADMIN, mine, reach=Reach.SESSION) == "last_moderator"
    # A removal or a mute here takes nothing from another session's moderator; an admission takes nothing.
    target(Role.ADMIN, theirs, reach=Reach.SESSION)
    target(Role.ADMIN, mine, reach=Reach.NOTHING)
    # Another moderator of the same session keeps it; one of another session, or the administrator, does not.
    target(Role.ADMIN, theirs, others=(Grant(OTHER, Role.MODERATOR, THERE),))
    assert refusal(Role.ADMIN, theirs, others=(Grant(OTHER, Role.MODERATOR, HERE),)) == "last_moderator"
    assert refusal(Role.ADMIN, theirs, others=(Grant(ME, Role.ADMIN, None),)) == "last_moderator"
    # The administrator's own link: another administrator must hold one.
    admin = Grant(TARGET, Role.ADMIN, None)
    assert refusal(Role.ADMIN, admin, others=(Grant(OTHER, Role.MODERATOR, HERE),)) == "last_moderator"
    target(Role.ADMIN, admin, others=(Grant(ME, Role.ADMIN, None),))
    assert refusal(Role.ADMIN, admin, who=ME) == "self_target"


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
