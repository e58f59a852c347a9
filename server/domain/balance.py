"""Balance: who is waiting and who has spoken, by stakeholder group, gender, youth and region.

Gender and age band count only for people who gave them with consent; everyone else is "unspecified".
"suggest_next" proposes the queued person who most improves the balance of interventions toward the
session's targets; the chair decides, and FIFO stays the default.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import InvalidInput
from .participants import AgeBand, Gender, StakeholderGroup
from .queue import Entry, EntryState
from .regions import Region, region_of

UNSPECIFIED = "unspecified"


def _group(entry: Entry) -> str:
    return entry.stakeholder_group or UNSPECIFIED


def _gender(entry: Entry) -> str:
    return entry.gender or UNSPECIFIED


def _youth(entry: Entry) -> str:
    if entry.age_band is None:
        return UNSPECIFIED
    return "youth" if AgeBand(entry.age_band).is_youth else "not_youth"


def _region(entry: Entry) -> str:
    region = region_of(entry.country)
    return region.value if region else UNSPECIFIED


DIMENSIONS: dict[str, Callable[[Entry], str]] = {
    "stakeholder_group": _group,
    "gender": _gender,
    "youth": _youth,
    "region": _region,
}


@dataclass(frozen=True)
class Targets:
    """Wished-for shares of interventions per dimension (each dimension's shares sum to at most 1).

    The defaults: the five stakeholder groups equally, women and men equally, a fifth of interventions by
    young people, the five regions equally.
    """

    shares: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "stakeholder_group": {g.value: 0.2 for g in StakeholderGroup},
            "gender": {Gender.WOMAN.value: 0.5, Gender.MAN.value: 0.5},
            "youth": {"youth": 0.2},
            "region": {r.value: 0.2 for r in Region},
        }
    )


def parse_targets(value: object) -> Targets:
    """Check targets sent by floor staff: known dimensions and values, shares 0..1 adding up to at most 1."""
    if not isinstance(value, dict) or not value:
        raise InvalidInput("targets must be an object of dimensions", details={"field": "targets"})
    allowed = Targets().shares
    shares: dict[str, dict[str, float]] = {}
    for name, wished in value.items():
        if name not in allowed:
            raise InvalidInput(
                f"unknown balance dimension {str(name)[:40]!r} (allowed: {', '.join(allowed)})",
                details={"field": "targets"},
            )
        values = allowed[name].keys() | ({"youth"} if name == "youth" else set())
        if name == "gender":
            values = {g.value for g in Gender}
        if not isinstance(wished, dict) or not wished:
            raise InvalidInput(f"targets.{name} must map values to shares", details={"field": "targets"})
        parsed: dict[str, float] = {}
        for key, share in wished.items():
            if key not in values:
                raise InvalidInput(
                    f"targets.{name}: unknown value {str(key)[:40]!r}", details={"field": "targets"}
                )
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
                raise InvalidInput(
                    f"targets.{name}.{key} must be a share from 0 to 1", details={"field": "targets"}
                )
            parsed[key] = float(share)
        if sum(parsed.values()) > 1.0001:
            raise InvalidInput(
                f"targets.{name}: the shares add up to more than 1", details={"field": "targets"}
            )
        shares[name] = parsed
    return Targets({**allowed, **shares})


def tally(entries: Iterable[Entry], now: datetime) -> dict[str, Any]:
    """Counts of the queue, and counts and speaking time of interventions, per dimension."""
    queued: dict[str, Counter[str]] = {name: Counter() for name in DIMENSIONS}
    spoken: dict[str, Counter[str]] = {name: Counter() for name in DIMENSIONS}
    seconds: dict[str, Counter[str]] = {name: Counter() for name in DIMENSIONS}
    for entry in entries:
        for name, key in DIMENSIONS.items():
            value = key(entry)
            if entry.state is EntryState.QUEUED:
                queued[name][value] += 1
            elif entry.granted_at is not None and entry.state in (EntryState.SPEAKING, EntryState.DONE):
                spoken[name][value] += 1
                seconds[name][value] += round(entry.spoken_seconds(now))
    return {
        name: {
            "queue": dict(sorted(queued[name].items())),
            "interventions": dict(sorted(spoken[name].items())),
            "speaking_seconds": dict(sorted(seconds[name].items())),
        }
        for name in DIMENSIONS
    }


def _distance(counts: dict[str, Counter[str]], targets: Targets) -> float:
    """How far the shares of interventions are from the targets (sum of squared gaps)."""
    total = 0.0
    for name, wished in targets.shares.items():
        counter = counts[name]
        known = sum(n for value, n in counter.items() if value != UNSPECIFIED)
        if not known:
            continue
        for value, share in wished.items():
            total += (counter.get(value, 0) / known - share) ** 2
    return total


@dataclass(frozen=True)
class Suggestion:
    entry: Entry
    improves: list[dict[str, str]]  # [{"dimension": "stakeholder_group", "value": "civil_society"}, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"entry_id": self.entry.id, "display_name": self.entry.display_name, "improves": self.improves}


def suggest_next(entries: list[Entry], targets: Targets | None = None) -> Suggestion | None:
    """The queued person whose intervention brings the balance closest to the targets.

    Ties go to the one who asked first (queue order), so with no information the suggestion is FIFO.
    Requests outside the balance (points of order, queue.OUTSIDE_BALANCE) are not weighed: one waiting at
    the head of the line is the suggestion.
    """
    targets = targets or Targets()
    queued = sorted((e for e in entries if e.state is EntryState.QUEUED), key=lambda e: e.position)
    if not queued:
        return None
    if queued[0].type.outside_balance:
        return Suggestion(queued[0], [{"dimension": "type", "value": queued[0].type.value}])
    base: dict[str, Counter[str]] = {name: Counter() for name in DIMENSIONS}
    for entry in entries:
        if entry.granted_at is not None and entry.state in (EntryState.SPEAKING, EntryState.DONE):
            for name, key in DIMENSIONS.items():
                base[name][key(entry)] += 1
    best: tuple[float, int] | None = None
    chosen = queued[0]
    for index, candidate in enumerate(queued):
        trial = {name: base[name].copy() for name in DIMENSIONS}
        for name, key in DIMENSIONS.items():
            trial[name][key(candidate)] += 1
        score = (_distance(trial, targets), index)
        if best is None or score < best:
            best, chosen = score, candidate
    improves = []
    for name, key in DIMENSIONS.items():
        value = key(chosen)
        wished = targets.shares.get(name, {}).get(value)
        if value == UNSPECIFIED or wished is None:
            continue
        known = sum(n for v, n in base[name].items() if v != UNSPECIFIED)
        share = base[name].get(value, 0) / known if known else 0.0
        if share < wished:
            improves.append({"dimension": name, "value": value})
    return Suggestion(chosen, improves)
