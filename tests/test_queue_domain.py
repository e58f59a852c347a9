"""Queue, floor, timer and balance rules with a fake clock: no database, no sockets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from server.domain.balance import Targets, suggest_next, tally
from server.domain.errors import Conflict, InvalidInput
from server.domain.model import SessionInfo
from server.domain.queue import (
    MIN_SPEAKING_SECONDS,
    Entry,
    EntryState,
    InterventionType,
    QueueState,
    check_language,
    check_seconds,
    check_type,
    countdown,
    insertion_index,
    mine_view,
    move_index,
    public_view,
)
from server.domain.sessions import SessionState

T0 = datetime(2026, 5, 27, 10, 0, tzinfo=UTC)
S, Q, R, P = (
    InterventionType.STATEMENT,
    InterventionType.QUESTION,
    InterventionType.RIGHT_OF_REPLY,
    InterventionType.POINT_OF_ORDER,
)


def entry(
    eid: int,
    kind: InterventionType = S,
    *,
    position: int | None = None,
    state: EntryState = EntryState.QUEUED,
    group: str | None = "government",
    gender: str | None = None,
    age: str | None = None,
    country: str | None = "CH",
    participant: int | None = None,
    granted: datetime | None = None,
    ended: datetime | None = None,
) -> Entry:
    return Entry(
        id=eid,
        session_id=1,
        participant_id=participant if participant is not None else eid,
        in_room=False,
        display_name=f"P{eid}",
        affiliation="",
        stakeholder_group=group,
        country=country,
        gender=gender,
        age_band=age,
        type=kind,
        language="en",
        state=state,
        position=position if position is not None else eid,
        requested_at=T0 + timedelta(seconds=eid),
        granted_at=granted,
        ended_at=ended,
    )


def order_after_inserts(kinds: list[InterventionType]) -> list[int]:
    queued: list[Entry] = []
    for eid, kind in enumerate(kinds, start=1):
        queued.insert(insertion_index(queued, kind), entry(eid, kind))
    return [e.id for e in queued]


def test_fifo_by_default() -> None:
    assert order_after_inserts([S, Q, S, S]) == [1, 2, 3, 4]


def test_point_of_order_goes_to_the_head_fifo_among_themselves() -> None:
    assert order_after_inserts([S, S, P, P, S]) == [3, 4, 1, 2, 5]


def test_right_of_reply_goes_after_points_of_order_and_earlier_replies() -> None:
    assert order_after_inserts([S, S, R, P, R, S]) == [4, 3, 5, 1, 2, 6]


def test_moves() -> None:
    queued = [entry(i) for i in (1, 2, 3, 4)]
    assert [e.id for e in move_index(queued, 3, "up")] == [1, 3, 2, 4]
    assert [e.id for e in move_index(queued, 3, "top")] == [3, 1, 2, 4]
    assert [e.id for e in move_index(queued, 1, "down")] == [2, 1, 3, 4]
    assert [e.id for e in move_index(queued, 1, "bottom")] == [2, 3, 4, 1]
    assert [e.id for e in move_index(queued, 1, "up")] == [1, 2, 3, 4]  # already first
    assert [e.id for e in move_index(queued, 4, 1)] == [1, 4, 2, 3]
    assert [e.id for e in move_index(queued, 4, 99)] == [1, 2, 3, 4]
    with pytest.raises(Conflict) as stale:
        move_index(queued, 9, "up")
    assert stale.value.code == "stale_entry"
    with pytest.raises(InvalidInput):
        move_index(queued, 1, "sideways")


def test_input_checks() -> None:
    assert check_type("point_of_order") is P
    for bad in ("speech", None, 3):
        with pytest.raises(InvalidInput):
            check_type(bad)
    assert check_language("fr", ("en", "fr")) == "fr"
    with pytest.raises(InvalidInput):
        check_language("ar", ("en", "fr"))
    assert check_seconds(180) == 180
    for bad in (5, 4000, True, "60", None):
        with pytest.raises(InvalidInput):
            check_seconds(bad)


def test_countdown_phases_and_overrun() -> None:
    speaking = entry(1, state=EntryState.SPEAKING, granted=T0)
    assert countdown(speaking, 180, T0 + timedelta(seconds=100))["phase"] == "speaking"
    timer = countdown(speaking, 180, T0 + timedelta(seconds=160))
    assert timer["phase"] == "ending" and timer["remaining_seconds"] == 20
    assert timer["deadline"] == "2026-05-27T10:03:00Z" and timer["server_time"] == "2026-05-27T10:02:40Z"
    assert countdown(speaking, 180, T0 + timedelta(seconds=190))["phase"] == "over"
    assert speaking.overrun_seconds(180, T0 + timedelta(seconds=190)) == 10
    extended = replace(speaking, limit_seconds=120, extra_seconds=30)
    assert extended.deadline(180) == T0 + timedelta(seconds=150)
    short = replace(speaking, limit_seconds=60)
    assert countdown(short, 180, T0 + timedelta(seconds=49))["phase"] == "ending"  # last fifth of a minute
    assert countdown(short, 180, T0 + timedelta(seconds=47))["phase"] == "speaking"
    assert countdown(None, 180, T0) is None


def _session() -> SessionInfo:
    return SessionInfo(1, 1, "r", "t", "", T0, T0, ("en",), SessionState.LIVE, None, 180, True)


def test_views_give_each_their_part() -> None:
    state = QueueState(
        _session(),
        7,
        None,
        (
            entry(1, state=EntryState.SPEAKING, granted=T0, participant=11),
            entry(2, participant=12, position=1),
            entry(3, participant=13, position=2),
            entry(4, participant=14, position=3),
            entry(5, state=EntryState.WITHDRAWN, participant=15),
        ),
    )
    now = T0 + timedelta(seconds=30)
    public = public_view(state, now)
    assert public["speaking"]["display_name"] == "P1" and public["length"] == 3
    assert [e["display_name"] for e in public["next"]] == ["P2", "P3"]
    assert public["timer"]["remaining_seconds"] == 150
    assert mine_view(state, 14, now)["place"] == 3
    speaker = mine_view(state, 11, now)
    assert (
        speaker["entry"]["state"] == "speaking" and speaker["timer"] is not None and speaker["place"] is None
    )
    assert mine_view(state, 15, now)["entry"] is None
    assert "gender" not in public["speaking"] and "age_band" not in public["next"][0]


def test_tally_counts_only_consented_demographics() -> None:
    entries = [
        entry(
            1,
            state=EntryState.DONE,
            granted=T0,
            ended=T0 + timedelta(seconds=90),
            gender="woman",
            age="under_25",
            group="civil_society",
            country="KE",
        ),
        entry(2, state=EntryState.DONE, granted=T0, ended=T0 + timedelta(seconds=30), country="BR"),
        entry(3, group="private_sector", country="JP"),
    ]
    figures = tally(entries, T0 + timedelta(minutes=5))
    assert figures["stakeholder_group"]["interventions"] == {"civil_society": 1, "government": 1}
    assert figures["stakeholder_group"]["speaking_seconds"] == {"civil_society": 90, "government": 30}
    assert figures["stakeholder_group"]["queue"] == {"private_sector": 1}
    assert figures["gender"]["interventions"] == {"unspecified": 1, "woman": 1}
    assert figures["youth"]["interventions"] == {"unspecified": 1, "youth": 1}
    assert figures["region"]["interventions"] == {"africa": 1, "americas": 1}
    assert figures["region"]["queue"] == {"asia": 1}


def test_suggest_next_prefers_the_under_represented_and_falls_back_to_fifo() -> None:
    done = [
        entry(i, state=EntryState.DONE, granted=T0, ended=T0, group="government", country="FR")
        for i in (1, 2, 3)
    ]
    queued = [
        entry(4, position=1, group="government", country="DE"),
        entry(5, position=2, group="civil_society", country="SN"),
        entry(6, position=3, group="civil_society", country="SN"),
    ]
    suggestion = suggest_next(done + queued)
    assert suggestion is not None and suggestion.entry.id == 5, "first of the under-represented, not 6"
    assert {"dimension": "stakeholder_group", "value": "civil_society"} in suggestion.improves
    # Nothing spoken and nothing known: FIFO.
    blank = [entry(7, position=1, group=None, country=None), entry(8, position=2, group=None, country=None)]
    assert suggest_next(blank).entry.id == 7  # type: ignore[union-attr]
    # A point of order at the head is always next.
    assert suggest_next([*done, entry(9, P, position=0), *queued]).entry.id == 9  # type: ignore[union-attr]
    assert suggest_next(done) is None
    # Targets are the session's to set.
    only_gov = Targets({"stakeholder_group": {"government": 1.0}})
    assert suggest_next(done + queued, only_gov).entry.id == 4  # type: ignore[union-attr]


def test_a_turn_is_never_shorter_than_the_rules_allow() -> None:
    """Time taken away, then a shorter limit or default: the turn still lasts MIN_SPEAKING_SECONDS."""
    cut = replace(entry(1, state=EntryState.SPEAKING), extra_seconds=-1)
    assert cut.allowed_seconds(180) == 179
    assert cut.allowed_seconds(MIN_SPEAKING_SECONDS) == MIN_SPEAKING_SECONDS
    assert replace(cut, limit_seconds=MIN_SPEAKING_SECONDS).allowed_seconds(180) == MIN_SPEAKING_SECONDS
