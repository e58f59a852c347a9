"""Which process serves a new viewer: plain rules, no transport.

Each process has a viewer capacity (``HEMICYCLE_MEDIA_MAX_VIEWERS``) and publishes its load. A viewer is
served where their request arrives while that process has room; a full process sends them to the live
process with the most room; when none has room, the viewer is refused rather than crowding a process past
what it can forward in time for everyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Measured (bench.relay): about 0.27 % of a core per forwarded viewer, so one process forwards to some 370
# viewers at full load; the default leaves a fifth of the core for signalling and bursts.
DEFAULT_MAX_VIEWERS = 300
MAX_VIEWERS_LIMIT = 20000


@dataclass(frozen=True)
class Load:
    """One process's media load: the streams it forwards (viewers and links to edges) and its capacity."""

    instance_id: str
    base_url: str
    viewers: int
    capacity: int

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.viewers < 0:
            raise ValueError(f"a load of {self.viewers} viewers for {self.capacity} is not valid")

    @property
    def room(self) -> int:
        return self.capacity - self.viewers


def place(here: Load, others: Iterable[Load]) -> Load | None:
    """The process that serves a new viewer arriving ``here``: here while it has room, else the other
    process with the most room (ties: the first by id, so that every process picks the same), else None."""
    if here.room > 0:
        return here
    candidates = [load for load in others if load.instance_id != here.instance_id and load.room > 0]
    if not candidates:
        return None
    return min(candidates, key=lambda load: (-load.room, load.instance_id))
