"""Sessions created, changed and deleted one at a time by an event's administrators, each one audited.

An agenda import (Store.upsert_sessions) changes many sessions at once and is not audited per session; these
are the administrator page's edits, so each one says who changed what, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..domain.errors import Conflict, NotFound
from ..domain.model import Principal, SessionInfo, iso
from ..domain.sessions import SessionState
from . import models as m
from .engine import sessions
from .store import SessionDraft, Store, _session


@dataclass(frozen=True)
class SessionEdit:
    """A session as the administrator wants it: the agenda's fields, and the waiting room (None: default)."""

    draft: SessionDraft
    waiting_room: bool | None


def _fields(edit: SessionEdit) -> dict[str, Any]:
    return {**edit.draft.columns(), "waiting_room": edit.waiting_room}


def _shown(value: Any) -> Any:
    return iso(value) if hasattr(value, "isoformat") else value


class SessionStore:
    """The agenda's writes: sessions created, changed and deleted by the administrator, agenda imports
    recorded, and a session's own waiting-room setting."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = sessions(store.engine)

    async def _ref_taken(self, tx: Any, event_id: int, ref: str, other_than: int | None = None) -> None:
        found = await tx.scalar(
            select(m.Session.id).where(m.Session.event_id == event_id, m.Session.ref == ref)
        )
        if found is not None and found != other_than:
            raise Conflict(f"another session of this event has the ref {ref!r}", code="ref_taken")

    async def create(self, actor: Principal, event_id: int, edit: SessionEdit) -> SessionInfo:
        async with self._sessions() as tx, tx.begin():
            if await tx.get(m.Event, event_id) is None:
                raise NotFound(f"there is no event {event_id}", code="unknown_event")
            await self._ref_taken(tx, event_id, edit.draft.ref)
            fields = _fields(edit)
            row = m.Session(
                event_id=event_id,
                ref=edit.draft.ref,
                state=SessionState.SCHEDULED.value,
                created_at=self.store.clock(),
                **fields,
            )
            tx.add(row)
            await tx.flush()
            details = {"ref": row.ref, **{k: _shown(v) for k, v in fields.items()}}
            tx.add(
                self.store._audit(
                    actor, "session.create", f"session:{row.id}", details, row.id, event_id=event_id
                )
            )
            return _session(row)

    async def update(self, actor: Principal, session_id: int, edit: SessionEdit) -> SessionInfo:
        """Change what the administrator sent; the state is not theirs to set here (it has its own route)."""
        async with self._sessions() as tx, tx.begin():
            row = await tx.get(m.Session, session_id, with_for_update=True)
            if row is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            await self._ref_taken(tx, row.event_id, edit.draft.ref, other_than=row.id)
            changes: dict[str, dict[str, Any]] = {}
            for key, value in {"ref": edit.draft.ref, **_fields(edit)}.items():
                if getattr(row, key) != value:
                    changes[key] = {"from": _shown(getattr(row, key)), "to": _shown(value)}
                    setattr(row, key, value)
            if "waiting_room" in changes:
                # Processes re-read admissions when this moves (server/db/moderation_store.py).
                row.moderation_version += 1
            if changes:
                tx.add(
                    self.store._audit(
                        actor, "session.update", f"session:{row.id}", changes, row.id, event_id=row.event_id
                    )
                )
            await tx.flush()
            return _session(row)

    async def delete(self, actor: Principal, session_id: int) -> SessionInfo:
        """Delete a session and everything recorded in it; a live session must be ended first."""
        async with self._sessions() as tx, tx.begin():
            row = await tx.get(m.Session, session_id, with_for_update=True)
            if row is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            if row.state == SessionState.LIVE.value:
                raise Conflict("the session is live: end it before deleting it", code="session_live")
            info = _session(row)
            await tx.delete(row)
            # Recorded against the event, not the session (whose own entries go with it): it names what went.
            tx.add(
                self.store._audit(
                    actor,
                    "session.delete",
                    f"session:{info.id}",
                    {"ref": info.ref, "title": info.title, "state": info.state.value},
                    None,
                    event_id=info.event_id,
                )
            )
            return info

    async def waiting_room(self, session_id: int) -> bool | None:
        """The session's own waiting-room setting (None: it follows HEMICYCLE_WAITING_ROOM)."""
        async with self._sessions() as tx:
            value: bool | None = await tx.scalar(
                select(m.Session.waiting_room).where(m.Session.id == session_id)
            )
            return value

    async def record_import(self, actor: Principal, event_id: int, details: dict[str, Any]) -> None:
        """Audit an agenda file imported from the administrator's page (Store.upsert_sessions stored it)."""
        async with self._sessions() as tx, tx.begin():
            tx.add(
                self.store._audit(
                    actor, "agenda.import", f"event:{event_id}", details, None, event_id=event_id
                )
            )
