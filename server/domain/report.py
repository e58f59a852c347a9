"""The session record and its figures: interventions, balance, the question funnel and attendance.

Pure functions over what the stores read. Privacy: gender and age band are only ever counted, never listed
per person, and they come only from people who consented (the queue keeps them only then). In those two
dimensions a value held by fewer people than the threshold shows no figures, only "fewer than N", so that a
small group cannot be picked out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .balance import DIMENSIONS, UNSPECIFIED
from .model import iso
from .questions import Question
from .queue import Entry, EntryState

# The dimensions whose small groups are hidden (personal data, given with consent).
PRIVATE_DIMENSIONS = ("gender", "youth")
DEFAULT_MIN_GROUP = 5
FUNNEL = ("asked", "approved", "forwarded", "read", "answered")


def fewer_than(threshold: int) -> str:
    return f"fewer than {threshold}"


@dataclass(frozen=True)
class Visit:
    """One connection to a session."""

    participant_id: int
    role: str
    stakeholder_group: str | None
    country: str | None
    joined_at: datetime
    left_at: datetime | None


def _spoken(entries: Iterable[Entry]) -> list[Entry]:
    """The interventions: requests that were given the floor, in the order they were."""
    granted = [
        e for e in entries if e.granted_at is not None and e.state in (EntryState.DONE, EntryState.SPEAKING)
    ]
    return sorted(granted, key=lambda e: (e.granted_at, e.id))


def _person(entry: Entry) -> tuple[str, int | str]:
    """Who spoke: a participant, or an in-room speaker known by name."""
    if entry.participant_id is not None:
        return ("participant", entry.participant_id)
    return ("room", entry.display_name.casefold())


def interventions(entries: Iterable[Entry], default_seconds: int, now: datetime) -> list[dict[str, Any]]:
    """Every intervention with its timings; never gender or age band."""
    rows = []
    for e in _spoken(entries):
        rows.append(
            {
                "id": e.id,
                "speaker": e.display_name,
                "affiliation": e.affiliation,
                "stakeholder_group": e.stakeholder_group,
                "country": e.country,
                "in_room": e.in_room,
                "type": e.type.value,
                "language": e.language,
                "requested_at": iso(e.requested_at),
                "granted_at": iso(e.granted_at),
                "ended_at": iso(e.ended_at),
                "end_reason": e.end_reason,
                "allowed_seconds": e.allowed_seconds(default_seconds),
                "duration_seconds": round(e.spoken_seconds(now), 1),
                "overrun_seconds": round(e.overrun_seconds(default_seconds, now), 1),
            }
        )
    return rows


def requests(entries: Iterable[Entry]) -> dict[str, int]:
    """What became of every request for the floor."""
    counts = Counter(e.state.value for e in entries)
    spoken = counts[EntryState.DONE.value] + counts[EntryState.SPEAKING.value]
    return {
        "requested": sum(counts.values()),
        "granted": spoken,
        "withdrawn": counts[EntryState.WITHDRAWN.value],
        "removed": counts[EntryState.REMOVED.value],
        "waiting": counts[EntryState.QUEUED.value],
    }


def balance(
    entries: Iterable[Entry],
    targets: dict[str, dict[str, float]],
    now: datetime,
    threshold: int = DEFAULT_MIN_GROUP,
) -> dict[str, Any]:
    """Interventions and speaking time per value of each dimension, with shares and targets."""
    spoken = _spoken(entries)
    total = len(spoken)
    seconds_total = sum(e.spoken_seconds(now) for e in spoken)
    result: dict[str, Any] = {}
    for name, key in DIMENSIONS.items():
        count: Counter[str] = Counter()
        seconds: dict[str, float] = defaultdict(float)
        people: dict[str, set[tuple[str, int | str]]] = defaultdict(set)
        for e in spoken:
            value = key(e)
            count[value] += 1
            seconds[value] += e.spoken_seconds(now)
            people[value].add(_person(e))
        wished = targets.get(name, {})
        rows = []
        for value in sorted(set(count) | set(wished)):
            hidden = (
                name in PRIVATE_DIMENSIONS and value != UNSPECIFIED and 0 < len(people[value]) < threshold
            )
            rows.append(
                {
                    "value": value,
                    "interventions": None if hidden else count[value],
                    "speaking_seconds": None if hidden else round(seconds[value]),
                    "share_of_interventions": None if hidden or not total else round(count[value] / total, 3),
                    "share_of_time": None
                    if hidden or not seconds_total
                    else round(seconds[value] / seconds_total, 3),
                    "target": wished.get(value),
                    "suppressed": fewer_than(threshold) if hidden else None,
                }
            )
        result[name] = rows
    return {
        "interventions": total,
        "speaking_seconds": round(seconds_total),
        "min_group": threshold,
        "dimensions": result,
    }


def question_funnel(questions: Iterable[Question]) -> dict[str, Any]:
    """Asked, approved, forwarded, read aloud and answered, in all and per stakeholder group of the asker."""

    def stages(q: Question) -> dict[str, bool]:
        return {
            "asked": True,
            "approved": q.approved_at is not None,
            "forwarded": q.forwarded_at is not None,
            "read": q.read_at is not None,
            "answered": q.answered_at is not None,
        }

    total: Counter[str] = Counter()
    by_group: dict[str, Counter[str]] = defaultdict(Counter)
    for q in questions:
        for stage, reached in stages(q).items():
            if reached:
                total[stage] += 1
                by_group[q.stakeholder_group or UNSPECIFIED][stage] += 1
    return {
        "total": {stage: total[stage] for stage in FUNNEL},
        "by_stakeholder_group": {
            group: {stage: counts[stage] for stage in FUNNEL} for group, counts in sorted(by_group.items())
        },
    }


def attendance(
    visits: Sequence[Visit], now: datetime, *, bucket: timedelta = timedelta(minutes=1)
) -> dict[str, Any]:
    """Joins and leaves, distinct people, the peak of people connected at once, the curve over time, and
    the people by stakeholder group and country (attendees only: staff are counted apart)."""
    people = {v.participant_id for v in visits}
    attendees = {v.participant_id: v for v in visits if v.role == "attendee"}
    # People connected at once: a person with two tabs counts once.
    changes: list[tuple[datetime, int, int]] = []
    for v in visits:
        changes.append((v.joined_at, 1, v.participant_id))
        changes.append((v.left_at or now, -1, v.participant_id))
    changes.sort(key=lambda c: (c[0], c[1]))  # leaves before joins at the same instant
    open_connections: Counter[int] = Counter()
    current = peak = 0
    peak_at: datetime | None = None
    timeline: list[tuple[datetime, int]] = []
    for at, step, pid in changes:
        before = open_connections[pid]
        open_connections[pid] += step
        if before == 0 and step == 1:
            current += 1
        elif before == 1 and step == -1:
            current -= 1
        timeline.append((at, current))
        if current > peak:
            peak, peak_at = current, at
    curve = _curve(timeline, bucket) if timeline else []
    return {
        "connections": len(visits),
        "people": len(people),
        "attendees": len(attendees),
        "staff": len(people - set(attendees)),
        "leaves": sum(1 for v in visits if v.left_at is not None),
        "peak_concurrent": peak,
        "peak_at": iso(peak_at),
        "by_stakeholder_group": dict(
            sorted(Counter(v.stakeholder_group or UNSPECIFIED for v in attendees.values()).items())
        ),
        "by_country": dict(sorted(Counter(v.country or UNSPECIFIED for v in attendees.values()).items())),
        "curve": curve,
    }


def _curve(timeline: list[tuple[datetime, int]], bucket: timedelta) -> list[dict[str, Any]]:
    """The most people connected at once in each bucket of time, from the first join to the last change."""
    start = timeline[0][0]
    end = timeline[-1][0]
    buckets = max(1, int((end - start) / bucket) + 1)
    if buckets > 2000:  # a whole day at one-minute buckets is 1,440; beyond that, widen them
        bucket = (end - start) / 2000
        buckets = 2001
    highest = [0] * buckets
    level = 0
    index = 0
    for at, people in timeline:
        slot = min(buckets - 1, int((at - start) / bucket))
        # The level held since the previous change counts in every bucket it spanned.
        while index < slot:
            highest[index] = max(highest[index], level)
            index += 1
        highest[slot] = max(highest[slot], level, people)
        level = people
    return [{"at": iso(start + bucket * i), "people": n} for i, n in enumerate(highest)]
