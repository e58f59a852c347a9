"""Use cases of moderating participants (participant moderation): the waiting room, remove, ban, unban and
mute. Not to be confused with moderators' decisions on questions, or the questions' review mode
(pre-moderation): both are server.desk's.

Each checks the caller and the target, changes the store, then notifies (the Socket.IO adapter in
signaling/moderation_events.py). The rules are in server.domain.moderation.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from .db.moderation_store import (
    AdmissionInfo,
    BanInfo,
    Gate,
    ParticipantModerationState,
    ParticipantModerationStore,
)
from .domain.errors import Conflict, HemicycleError, InvalidInput
from .domain.model import Principal, SessionInfo
from .domain.moderation import (
    Admission,
    AdmitRules,
    WaitingRoom,
    clean_browser_id,
    clean_reason,
)
from .domain.queue import MAX_REASON
from .domain.roles import Permission, Role
from .floor import Floor
from .service import Hemicycle

log = logging.getLogger(__name__)


class ParticipantModerationNotifier(Protocol):
    """What the real-time layer does after a moderation change; implemented by ModerationEvents."""

    def moderation_changed(self, session_id: int) -> None: ...

    async def admitted(self, session_id: int, participant_ids: list[int]) -> None: ...

    async def removed(self, participant_id: int, sessions: set[int], payload: dict[str, Any]) -> None: ...

    async def muted(self, session_id: int, participant_id: int, payload: dict[str, Any]) -> None: ...


class MediaModeration(Protocol):
    """What the media relay implements so that moderation is enforced on media, server-side.

    The media relay registers itself with `ParticipantModeration.attach_media(relay)`. `set_muted` is
    called, on the process that took the decision, after the mute is stored, and `participant_gone` after a
    removal or a ban; both act only if that process runs the session's media relay. The process that does
    run it enforces what is stored: `ParticipantModeration.mutes(session_id, participant_id)` when a
    participant starts publishing, and `ParticipantModeration.muted_in(session_id)` in its periodic
    reconcile (one query for the whole session).
    """

    async def set_muted(self, session_id: int, participant_id: int, audio: bool, video: bool) -> None: ...

    async def participant_gone(self, session_id: int, participant_id: int) -> None: ...


class _NoMedia:
    async def set_muted(self, session_id: int, participant_id: int, audio: bool, video: bool) -> None:
        return None

    async def participant_gone(self, session_id: int, participant_id: int) -> None:
        return None


class _NoNotifier:
    def moderation_changed(self, session_id: int) -> None:
        return None

    async def admitted(self, session_id: int, participant_ids: list[int]) -> None:
        return None

    async def removed(self, participant_id: int, sessions: set[int], payload: dict[str, Any]) -> None:
        return None

    async def muted(self, session_id: int, participant_id: int, payload: dict[str, Any]) -> None:
        return None


def actor_view(principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.participant.id,
        "name": principal.participant.display_name,
        "role": principal.role.value,
    }


class ParticipantModeration:
    """Participant moderation of every session: the waiting room (gate, admit, settings), remove, ban,
    unban and mute, and the moderators' view. It checks the caller and the target, has
    server/db/moderation_store.py record each decision, then tells its ``notifier``
    (signaling/moderation_events.py) and, for mutes and removals, the media relay (``attach_media``).

    Built once by the composition root (server/wiring.py), which also lets the MediaService ask it who is
    muted or admitted; called by the Socket.IO moderation events and the HTTP views (registration, session
    reads, the moderation log's export)."""

    def __init__(self, core: Hemicycle, floor: Floor) -> None:
        self.core = core
        self.floor = floor
        self.store = ParticipantModerationStore(core.store)
        self.notifier: ParticipantModerationNotifier = _NoNotifier()
        self.media: MediaModeration = _NoMedia()

    def attach_media(self, relay: MediaModeration) -> None:
        """Called by the media relay once, at start: mutes and removals reach it from then on."""
        self.media = relay

    @property
    def default(self) -> WaitingRoom:
        return WaitingRoom(self.core.settings.waiting_room)

    async def _session(self, principal: Principal, session_id: int, permission: Permission) -> SessionInfo:
        return await self.core.session_for(principal, session_id, permission)

    # -- attendees -------------------------------------------------------------------------------

    async def record_origin(self, participant_id: int, browser_id: object, address: str | None) -> None:
        await self.store.record_origin(participant_id, clean_browser_id(browser_id), address)

    async def gate(self, principal: Principal, session: SessionInfo, straight_in: bool = False) -> Gate:
        """Straight in (staff; attendees `straight_in` by their arrival, Store.arrive: admitted before, or
        an open session) or the waiting room."""
        if principal.role is not Role.ATTENDEE or straight_in:
            return Gate(True, False, None)
        gate = await self.store.gate(principal, session.id, self.default)
        if gate.changed:
            self.notifier.moderation_changed(session.id)
        return gate

    async def mutes(self, session_id: int, participant_id: int) -> tuple[bool, bool]:
        """(audio muted, video muted): the stored decision the media relay enforces."""
        return await self.store.mutes(session_id, participant_id)

    async def muted_in(self, session_id: int) -> dict[int, tuple[bool, bool]]:
        """Everyone muted in the session, for the relay's periodic check on the process that runs it."""
        return await self.store.muted_in(session_id)

    async def require_admitted(self, principal: Principal, session: SessionInfo) -> None:
        """Refuse an attendee the Socket.IO gate would not let in (waiting, removed, or not through a
        waiting room yet): for media, and for reading a non-public session. Staff are checked by their
        grant alone, as at the gate. Reads only: nobody is put in the waiting room by this."""
        if principal.role is not Role.ATTENDEE:
            return
        refusal = await self.store.entry(principal.participant.id, session.id, self.default)
        if refusal is not None:
            raise refusal

    async def require_attendee_admitted(self, participant_id: int, session: SessionInfo) -> None:
        """As require_admitted, for an attendee known by id alone (a key handed out earlier names whom)."""
        refusal = await self.store.entry(participant_id, session.id, self.default)
        if refusal is not None:
            raise refusal

    # -- moderators -------------------------------------------------------------------------------

    async def state(self, session_id: int) -> ParticipantModerationState:
        return await self.store.state(session_id, self.default)

    def view(self, state: ParticipantModerationState) -> dict[str, Any]:
        """What moderators see: the waiting list, removed and muted people, bans and the latest actions."""
        by_state: dict[str, list[dict[str, Any]]] = {"waiting": [], "removed": [], "muted": []}
        for admission in state.admissions:
            if admission.state in (Admission.WAITING, Admission.LEFT):
                by_state["waiting"].append(admission.staff())
            elif admission.state is Admission.REMOVED:
                by_state["removed"].append(admission.staff())
            if admission.muted_audio or admission.muted_video:
                by_state["muted"].append(admission.staff())
        return {
            "session_id": state.session_id,
            "version": state.version,
            "waiting_room": state.waiting_room,
            "waiting_room_setting": state.waiting_room_setting,
            "rules": state.rules.stored(),
            **by_state,
            "bans": [b.staff() for b in state.bans],
            "audit": list(state.audit),
        }

    async def admit(
        self, principal: Principal, session_id: int, participant_id: int, version: int
    ) -> AdmissionInfo:
        session = await self._session(principal, session_id, Permission.PARTICIPANTS_MODERATE)
        admission = await self.store.admit(principal, session.id, participant_id, version)
        self.notifier.moderation_changed(session.id)
        await self.notifier.admitted(session.id, [participant_id])
        return admission

    async def admit_all(self, principal: Principal, session_id: int, include_flagged: bool) -> list[int]:
        session = await self._session(principal, session_id, Permission.PARTICIPANTS_MODERATE)
        admitted = await self.store.admit_all(principal, session.id, include_flagged)
        self.notifier.moderation_changed(session.id)
        await self.notifier.admitted(session.id, admitted)
        return admitted

    async def settings(
        self, principal: Principal, session_id: int, waiting_room: bool | None, rules: object
    ) -> list[int]:
        session = await self._session(principal, session_id, Permission.PARTICIPANTS_MODERATE)
        if waiting_room is False and not session.is_public:
            raise Conflict(
                "a non-public session always has a waiting room: admit people, or add a rule",
                code="not_public",
            )
        parsed = AdmitRules.parse(rules) if rules is not None else None
        present = await self.store.present(session.id)
        admitted = await self.store.settings(
            principal, session.id, waiting_room, parsed, self.default, present
        )
        self.notifier.moderation_changed(session.id)
        if admitted:
            await self.notifier.admitted(session.id, admitted)
        return admitted

    async def remove(
        self, principal: Principal, session_id: int, participant_id: int, reason: object, version: int | None
    ) -> AdmissionInfo:
        session = await self._session(principal, session_id, Permission.PARTICIPANTS_MODERATE)
        why = clean_reason(reason, required=True)
        admission = await self.store.remove(principal, session.id, participant_id, why, version)
        await self._clear_floor(principal, session.id, participant_id, why)
        self.notifier.moderation_changed(session.id)
        await self.notifier.removed(
            participant_id,
            {session.id},
            {"session_id": session.id, "reason": why, "banned": False, "by": actor_view(principal)},
        )
        await self._media_gone(session.id, participant_id)
        return admission

    async def ban(
        self, principal: Principal, session_id: int, participant_id: int, reason: object
    ) -> BanInfo:
        session = await self._session(principal, session_id, Permission.PARTICIPANTS_MODERATE)
        why = clean_reason(reason, required=True)
        ban, touched = await self.store.ban(principal, session.id, participant_id, why)
        for other in sorted(touched):
            await self._clear_floor(principal, other, participant_id, why)
            self.notifier.moderation_changed(other)
        await self.notifier.removed(
            participant_id,
            touched,
            {"session_id": session.id, "reason": why, "banned": True, "by": actor_view(principal)},
        )
        for other in sorted(touched):
            await self._media_gone(other, participant_id)
        return ban

    async def unban(
        self, principal: Principal, session_id: int, participant_id: int, reason: object
    ) -> BanInfo:
        session = await self._session(principal, session_id, Permission.PARTICIPANTS_MODERATE)
        why = clean_reason(reason, required=False)
        ban = await self.store.unban(principal, session.id, participant_id, why)
        self.notifier.moderation_changed(session.id)
        return ban

    async def mute(
        self,
        principal: Principal,
        session_id: int,
        participant_id: int,
        audio: bool | None,
        video: bool | None,
        reason: object,
    ) -> AdmissionInfo:
        session = await self._session(principal, session_id, Permission.MEDIA_MUTE)
        if audio is None and video is None:
            raise InvalidInput(
                "send audio, video or both (true to mute, false to unmute)", details={"field": "audio"}
            )
        why = clean_reason(reason, required=False)
        admission = await self.store.mute(principal, session.id, participant_id, audio, video, why)
        try:
            await self.media.set_muted(
                session.id, participant_id, admission.muted_audio, admission.muted_video
            )
        except Exception:
            # Stored and audited: a relay that reconnects the participant reads it with mutes().
            log.exception("the media relay failed to apply a mute in session %s", session.id)
        self.notifier.moderation_changed(session.id)
        await self.notifier.muted(
            session.id,
            participant_id,
            {
                "session_id": session.id,
                "audio": admission.muted_audio,
                "video": admission.muted_video,
                "reason": why,
                "by": actor_view(principal),
            },
        )
        return admission

    async def record(self, principal: Principal, session_id: int) -> tuple[SessionInfo, list[dict[str, Any]]]:
        session = await self._session(principal, session_id, Permission.AUDIT_VIEW)
        return session, await self.store.record(session.id)

    # -- helpers ---------------------------------------------------------------------------------

    async def _clear_floor(
        self, principal: Principal, session_id: int, participant_id: int, reason: str
    ) -> None:
        """Their hand leaves the queue and their turn ends; their questions stay for the record."""
        try:
            state = await self.floor.state(session_id)
            why = f"removed by a moderator: {reason}"[:MAX_REASON]
            for entry in state.queued:
                if entry.participant_id == participant_id:
                    await self.floor.remove(principal, session_id, entry.id, why)
            if state.speaking and state.speaking.participant_id == participant_id:
                await self.floor.end(principal, session_id, state.speaking.id, True)
        except HemicycleError as exc:
            # An ended session keeps its queue as it was; the removal itself is stored.
            log.info("queue left as it is for %s in session %s: %s", participant_id, session_id, exc.code)

    async def _media_gone(self, session_id: int, participant_id: int) -> None:
        try:
            await self.media.participant_gone(session_id, participant_id)
        except Exception:
            log.exception("the media relay failed to drop participant %s", participant_id)
