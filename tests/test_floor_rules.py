"""The queue's transition (server.domain.floor_rules.apply), alone: examples of each rule, then properties
over random sequences of commands. No database, no sockets, a fake clock."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.errors import Conflict, Forbidden, HemicycleError, InvalidInput
from server.domain.floor_rules import (
    NEW_ENTRY,
    AddInRoom,
    Caller,
    ChangeSettings,
    Command,
    End,
    FloorSettings,
    Grant,
    Line,
    LowerAll,
    LowerHand,
    Move,
    Outcome,
    Presence,
    RaiseHand,
    Remove,
    Requester,
    SetTime,
    apply,
    past_auto_end,
    presence,
)
from server.domain.queue import (
    MIN_SPEAKING_SECONDS,
    EndReason,
    Entry,
    EntryState,
    InterventionType,
)
from server.domain.roles import Role
from server.domain.sessions import SessionState

T0 = datetime(2026, 5, 27, 10, 0, tzinfo=UTC)
MODERATOR = Caller(900, Role.MODERATOR)


def person(pid: int) -> Requester:
    return Requester(pid, f"P{pid}", "", "civil_society", "CH")


def empty() -> Line:
    return Line(1, FloorSettings(180, None))


class Run:
    """Applies commands as the store would: the new request gets the next id, and the outcome's writes are
    replayed on a copy of every entry, to check that they describe the whole change."""

    def __init__(self) -> None:
        self.line = empty()
        self.now = T0
        self.next_id = 1
        self.stored: dict[int, Entry] = {}

    def __call__(self, command: Command) -> Outcome:
        self.now += timedelta(seconds=7)
        line, outcome = apply(self.line, command, self.now)
        if outcome.added is not None:
            line, outcome = line.with_id(NEW_ENTRY, self.next_id), outcome.with_id(NEW_ENTRY, self.next_id)
            assert outcome.added is not None
            self.stored[self.next_id] = outcome.added
            self.next_id += 1
        for write in outcome.writes:
            assert write.entry_id != NEW_ENTRY
            self.stored[write.entry_id] = replace(self.stored[write.entry_id], **write.values)
        self.line = line
        return outcome


def raise_hand(pid: int, kind: InterventionType = InterventionType.STATEMENT) -> RaiseHand:
    return RaiseHand(person(pid), kind, "en")


def test_a_hand_raised_twice_changes_nothing() -> None:
    run = Run()
    first = run(raise_hand(1))
    again = run(raise_hand(1))
    assert again.changes_nothing and again.entry == first.entry and not again.writes
    assert [e.id for e in run.line.queued] == [1]


def test_a_grant_replaces_the_speaker_and_only_floor_staff_or_the_speaker_end_a_turn() -> None:
    run = Run()
    for pid in (1, 2):
        run(raise_hand(pid))
    run(Grant(1))
    outcome = run(Grant(2, limit_seconds=60))
    granted, replaced = outcome.entries
    assert (granted.id, granted.state, granted.limit_seconds) == (2, EntryState.SPEAKING, 60)
    assert (replaced.id, replaced.state, replaced.end_reason) == (1, EntryState.DONE, "replaced")
    assert outcome.floor_changed and outcome.speaker == 2 and outcome.told == {1, 2}
    with pytest.raises(Forbidden):
        run(End(Caller(1, Role.ATTENDEE), 2, EndReason.REVOKED))  # not their turn
    ended = run(End(Caller(2, Role.ATTENDEE), 2, EndReason.REVOKED)).entry
    assert ended.end_reason == "finished", "a speaker only finishes their own turn"
    assert not run(raise_hand(3)).audit and run.line.speaking is None


def test_time_taken_away_never_leaves_less_than_the_shortest_turn() -> None:
    run = Run()
    run(raise_hand(1))
    run(Grant(1, limit_seconds=60))
    speaking = run(SetTime(1, add_seconds=-600)).entry
    assert speaking.allowed_seconds(180) == MIN_SPEAKING_SECONDS
    with pytest.raises(Conflict):
        run(raise_hand(2)) and run(SetTime(2, add_seconds=30))  # only while speaking
    with pytest.raises(InvalidInput):
        SetTime(1, add_seconds=0)
    with pytest.raises(InvalidInput):
        SetTime(1)


def test_session_state_and_permissions_are_the_commands_own() -> None:
    with pytest.raises(Conflict) as ended:
        RaiseHand.check_session(SessionState.ENDED)
    assert ended.value.code == "session_ended"
    with pytest.raises(Conflict) as not_live:
        Grant.check_session(SessionState.SCHEDULED)
    assert not_live.value.code == "session_not_live"
    End.check_session(SessionState.ENDED)  # a turn can always end
    assert {RaiseHand.permission.value, Grant.permission.value, End.permission.value} == {
        "queue.raise",
        "queue.manage",
        "session.view",
    }


def test_settings_and_the_sweep() -> None:
    run = Run()
    run(ChangeSettings.checked(120, None, True))
    assert run.line.settings == FloorSettings(120, 0, None)
    run(ChangeSettings.checked(None, None, False))
    assert run.line.settings.auto_end_grace_seconds is None
    with pytest.raises(InvalidInput):
        ChangeSettings.checked(None, 601, None)
    run(raise_hand(1))
    speaking = run(Grant(1)).entry
    late = T0 + timedelta(hours=1)
    assert not past_auto_end(speaking, run.line.settings, late), "no automatic end: never"
    assert past_auto_end(speaking, FloorSettings(120, 10), late)
    grace = timedelta(seconds=30)
    assert presence(False, None, late, grace) is Presence.GONE
    assert presence(False, late - timedelta(seconds=10), late, grace) is Presence.SAME
    assert presence(False, late - timedelta(seconds=31), late, grace) is Presence.END
    assert presence(True, late, late, grace) is Presence.BACK
    assert presence(True, None, late, grace) is Presence.SAME


def test_in_room_requests_check_consent() -> None:
    body: dict[str, Any] = {"display_name": "Delegate", "stakeholder_group": "government", "gender": "woman"}
    with pytest.raises(InvalidInput):
        Requester.in_the_room(body, added_by=9)
    requester = Requester.in_the_room({**body, "consent_demographics": True}, added_by=9)
    outcome = Run()(AddInRoom(requester, InterventionType.POINT_OF_ORDER, "en"))
    assert outcome.entry.in_room and outcome.added_by == 9 and outcome.audit[0].entry_id == 1


# -- properties ----------------------------------------------------------------------------------

participants = st.integers(min_value=1, max_value=6)
kinds = st.sampled_from(list(InterventionType))
callers = st.one_of(st.none(), st.just(MODERATOR), st.builds(Caller, participants, st.just(Role.ATTENDEE)))


def command_for(line: Line) -> st.SearchStrategy[Command]:
    """A random command aimed, mostly, at requests the line holds (sometimes at one long gone)."""
    ids = st.sampled_from([e.id for e in line.active] + [999]) if line.active else st.just(999)
    return st.one_of(
        st.builds(raise_hand, participants, kinds),
        st.builds(raise_hand, participants, kinds),
        st.builds(Grant, ids, st.one_of(st.none(), st.integers(15, 3600))),
        st.builds(Grant, ids),
        st.builds(End, callers, ids, st.sampled_from(list(EndReason))),
        st.builds(LowerHand, participants),
        st.builds(AddInRoom, st.builds(person, st.just(None)), kinds, st.just("en")),
        st.builds(Move, ids, st.one_of(st.sampled_from(["up", "down", "top", "bottom"]), st.integers(0, 9))),
        st.builds(Remove, ids, st.just("off topic")),
        st.builds(SetTime, ids, st.integers(15, 3600), st.none()),
        st.builds(SetTime, ids, st.none(), st.integers(-600, 600).filter(bool)),
        st.builds(
            ChangeSettings,
            st.one_of(st.none(), st.integers(15, 3600)),
            st.one_of(st.none(), st.integers(0, 600)),
            st.booleans(),
        ),
        st.builds(LowerAll, st.just("time")) if len(line.queued) > 4 else st.builds(LowerHand, participants),
    )


def check_invariants(run: Run) -> None:
    line = run.line
    active = line.active
    assert len({e.id for e in active}) == len(active), "no entry twice"
    present = [e.participant_id for e in active if e.participant_id is not None]
    assert len(set(present)) == len(present), "one active request per participant"
    assert all(e.state is EntryState.QUEUED for e in line.queued)
    assert line.speaking is None or line.speaking.state is EntryState.SPEAKING
    places = [e.position for e in line.queued]
    assert places == sorted(set(places)), "places strictly increase along the line"
    # The writes describe the whole change: replayed on every stored entry, they give the same line.
    stored_active = sorted(
        (e for e in run.stored.values() if e.state is EntryState.QUEUED), key=lambda e: e.position
    )
    assert tuple(stored_active) == line.queued
    speakers = [e for e in run.stored.values() if e.state is EntryState.SPEAKING]
    assert speakers == ([line.speaking] if line.speaking else []), "one speaker at most, as stored"
    if line.speaking is not None:
        assert line.speaking.allowed_seconds(line.settings.default_speaking_seconds) >= MIN_SPEAKING_SECONDS


@settings(max_examples=100, deadline=None)
@given(st.data(), st.integers(min_value=1, max_value=40))
def test_any_sequence_keeps_the_line_consistent(data: st.DataObject, steps: int) -> None:
    run = Run()
    for _ in range(steps):
        command = data.draw(command_for(run.line))
        before = (run.line, dict(run.stored))
        try:
            outcome = run(command)
        except HemicycleError:
            assert (run.line, run.stored) == before, "a refused command changes nothing"
            continue
        if outcome.changes_nothing:
            assert run.line == before[0] and not outcome.writes and outcome.added is None
        for entry in outcome.entries:
            if entry.participant_id is not None and entry.state is not EntryState.QUEUED:
                assert entry.participant_id in outcome.told, "whoever's request changed state is told"
        check_invariants(run)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(participants, kinds), max_size=20))
def test_without_moves_the_line_follows_precedence_then_arrival(hands: list[tuple[int, Any]]) -> None:
    run = Run()
    for pid, kind in hands:
        run(raise_hand(pid, kind))
    order = [(e.type.priority, e.id) for e in run.line.queued]
    assert order == sorted(order)


def test_every_command_field_is_plain_data() -> None:
    """Commands and the line hold no transport or database object: only values the rules read."""
    for kind in (RaiseHand, Grant, End, SetTime, ChangeSettings, Line, FloorSettings):
        for f in fields(kind):
            assert "Session" not in str(f.type) and "Principal" not in str(f.type), (kind, f.name)
