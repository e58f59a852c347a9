"""The session archive (issue 22, items 3 and 4): what a recording holds, laid on one timeline; its chapters
(one per intervention and per question read aloud) and captions; its files, wherever they are stored; who may
open it; storing finished files away and removing expired recordings.

Built once by the composition root; the HTTP views (server/archive_http.py) and `hemicycle archive`
(server/cli.py) call it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .archive_storage import (
    DirectoryStorage,
    LocalFiles,
    OutsideRoot,
    S3Options,
    S3Storage,
    Storage,
    parse_storage,
)
from .db.archive_store import ArchiveStore
from .db.caption_store import CaptionStore
from .db.question_store import QuestionStore
from .db.queue_store import QueueStore
from .domain import report
from .domain.archive import (
    FLOOR_TRACK,
    Chapter,
    chapters,
    chapters_json,
    chapters_vtt,
    check_access,
    expired,
    span,
    timeline_length,
)
from .domain.captions import CAPTION_LANGUAGES, to_vtt
from .domain.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from .domain.model import Principal, SessionInfo, iso
from .domain.recording import RecordingFiles, Segment
from .domain.roles import Permission, can
from .recording.paths import recordings_dir
from .service import Hemicycle
from .settings import Settings

log = logging.getLogger(__name__)

# A media key lets a <video> element fetch one session's archive files (it cannot send a bearer header).
# Staff (permission archive.view) get a key of MEDIA_SCOPE; anyone else got theirs only because the archive
# was public, and their key (PUBLIC_MEDIA_SCOPE) works only while it still is.
MEDIA_SCOPE = "archive"
PUBLIC_MEDIA_SCOPE = "archive-public"
MEDIA_KEY_TTL = timedelta(hours=6)
CONTENT_TYPES = {"webm": "video/webm", "mkv": "video/x-matroska", "mp4": "video/mp4"}


def build_storage(settings: Settings) -> Storage | None:
    """The configured storage for finished files; None when they stay in the recordings directory."""
    kind, root, prefix = parse_storage(settings.archive_storage)
    if kind == "directory":
        return DirectoryStorage(Path(root))
    if kind == "s3":
        return S3Storage(
            S3Options(
                bucket=root,
                prefix=prefix,
                endpoint=settings.s3_endpoint,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
            )
        )
    return None


@dataclass(frozen=True)
class MediaFile:
    """One segment file, ready to be read in ranges."""

    segment: Segment
    size: int
    content_type: str
    filename: str
    read: Callable[[int, int], AsyncIterator[bytes]]


class Archive:
    """A session's recordings as an archive: listing, chapters, captions, files, access, storage and
    retention."""

    def __init__(self, core: Hemicycle) -> None:
        self.core = core
        self.rows = ArchiveStore(core.store)
        self.queue = QueueStore(core.store)
        self.questions = QuestionStore(core.store)
        self.captions = CaptionStore(core.store)
        self.local = LocalFiles(recordings_dir(core.settings))
        self.storage = build_storage(core.settings)
        # Who the session's gate would let in (the waiting room, removals, bans): set by the composition
        # root, so that a public archive is not a way round them.
        self.entry: Callable[[Principal, SessionInfo], Awaitable[None]] | None = None
        # The same check for whom a public media key was handed to, known by participant id.
        self.attendee_entry: Callable[[int, SessionInfo], Awaitable[None]] | None = None

    # -- access --------------------------------------------------------------------------------

    async def session_for(self, principal: Principal, session_id: int) -> SessionInfo:
        """The session, if this caller may open its archive: staff always, anyone in the session when the
        administrator made it public."""
        session = await self.core.session_for(principal, session_id, Permission.SESSION_VIEW)
        if await self.rows.access(session.id) != "public":
            try:
                principal.require(Permission.ARCHIVE_VIEW, session)
            except Forbidden:
                raise Forbidden(
                    "this session's archive is for staff only", code="archive_staff_only"
                ) from None
        if self.entry is not None:
            await self.entry(principal, session)
        return session

    async def set_access(self, principal: Principal, session_id: int, value: object) -> dict[str, Any]:
        """The administrator's switch between a staff-only and a public archive."""
        access = check_access(value)
        session = await self.core.session_for(principal, session_id, Permission.ARCHIVE_MANAGE)
        previous = await self.rows.set_access(principal, session.id, access)
        return {"session_id": session.id, "access": access, "previous": previous}

    def media_key(self, session_id: int, principal: Principal) -> tuple[str, datetime]:
        """A short-lived key to a session's archive files for media elements, which cannot send a token.
        Only staff's keys outlive a switch back to staff-only (see check_media_key)."""
        staff = can(principal.role, Permission.ARCHIVE_VIEW)
        return self.core.tokens.issue_service(
            scope=MEDIA_SCOPE if staff else PUBLIC_MEDIA_SCOPE,
            session_id=session_id,
            instance_id=f"participant-{principal.participant.id}",
            ttl=MEDIA_KEY_TTL,
        )

    async def check_media_key(self, key: str, session_id: int) -> None:
        """A media key of this session; one handed out because the archive was public only while it still
        is (else Forbidden ``archive_staff_only``) and while its holder may still enter the session."""
        tokens = self.core.tokens
        try:
            claims = tokens.verify_service(key, MEDIA_SCOPE)
            public = False
        except Unauthenticated as exc:
            if exc.code != "token_invalid":
                raise
            try:
                claims = tokens.verify_service(key, PUBLIC_MEDIA_SCOPE)
            except Unauthenticated as public_exc:
                # Neither kind of media key: the first refusal (which names the route's credential).
                raise (exc if public_exc.code == "token_invalid" else public_exc) from None
            public = True
        if claims.session_id != session_id:
            raise Unauthenticated("this media key is for another session", code="token_invalid")
        if not public:
            return
        if await self.rows.access(session_id) != "public":
            raise Forbidden("this session's archive is for staff only", code="archive_staff_only")
        # Handed out because the archive was public: only while whom it was handed to may still enter the
        # session (someone removed since is refused, as with their token).
        holder = claims.instance_id.removeprefix("participant-")
        if self.attendee_entry is not None and holder.isdigit():
            session = await self.core.store.get_session(session_id)
            await self.attendee_entry(int(holder), session)

    # -- the archive ---------------------------------------------------------------------------

    async def recording(self, session_id: int, recording_id: int) -> RecordingFiles:
        for rec in await self.rows.recordings(session_id):
            if rec.id == recording_id:
                return rec
        raise NotFound(f"there is no recording {recording_id} in this session", code="unknown_recording")

    async def chapters(self, session: SessionInfo, rec: RecordingFiles) -> list[Chapter]:
        """The recording's chapters from the intervention record and the questions read aloud."""
        now = self.core.store.clock()
        rows = report.interventions(
            await self.queue.history(session.id), session.default_speaking_seconds, now
        )
        questions = (await self.questions.state(session.id)).questions
        read = [
            {
                "id": q.id,
                "text": q.text,
                "asker": None if q.anonymous else q.display_name,
                "stakeholder_group": q.stakeholder_group,
                "to": q.addressed_to,
                "read_at": iso(q.read_at),
                "answered_at": iso(q.answered_at),
            }
            for q in questions
            if q.read_at is not None
        ]
        return chapters(rows, read, rec.started_at, rec.stopped_at or now)

    async def caption_vtt(
        self, session: SessionInfo, rec: RecordingFiles, language: str, from_seconds: float = 0.0
    ) -> str:
        """One language's captions during the recording, timed from its start, or from `from_seconds` into it
        (where a segment file starts, for a player that plays the recording file by file)."""
        if language not in CAPTION_LANGUAGES:
            raise InvalidInput(
                f"language must be one of: {', '.join(CAPTION_LANGUAGES)}", details={"field": "language"}
            )
        origin = rec.started_at + timedelta(seconds=from_seconds)
        until = rec.stopped_at or self.core.store.clock()
        lines = [
            line
            for line in await self.captions.transcript(session.id, language)
            if origin <= line.at <= until
        ]
        return to_vtt(lines, start=origin)

    async def listing(self, principal: Principal, session: SessionInfo) -> dict[str, Any]:
        """Everything the archive page needs: each recording's tracks and segments on its timeline, chapters,
        caption languages, and a media key for the files."""
        access = await self.rows.access(session.id)
        transcript = await self.captions.transcript(session.id)
        now = self.core.store.clock()
        key, key_expires = self.media_key(session.id, principal)
        recordings = []
        for rec in await self.rows.recordings(session.id):
            spans = [
                span(s.id, s.track, rec.started_at, s.started_at, s.ended_at, s.complete)
                for s in rec.segments
            ]
            tracks: dict[str, list[dict[str, Any]]] = {}
            for seg, placed in zip(rec.segments, spans, strict=True):
                item = placed.public()
                item["container"] = seg.container
                item["codecs"] = list(seg.codecs)
                item["bytes"] = seg.bytes
                tracks.setdefault(seg.track, []).append(item)
            until = rec.stopped_at or now
            languages = sorted(
                {line.language for line in transcript if rec.started_at <= line.at <= until},
                key=CAPTION_LANGUAGES.index,
            )
            stopped = None if rec.stopped_at is None else (rec.stopped_at - rec.started_at).total_seconds()
            recordings.append(
                {
                    "id": rec.id,
                    "state": rec.state.value,
                    "started_at": iso(rec.started_at),
                    "stopped_at": iso(rec.stopped_at),
                    "started_by": rec.started_by,
                    "stopped_by": rec.stopped_by,
                    "error": rec.error,
                    "duration_seconds": timeline_length(spans, stopped),
                    # The floor first, then the language channels in the channels' order.
                    "tracks": dict(sorted(tracks.items(), key=lambda kv: (kv[0] != FLOOR_TRACK, kv[0]))),
                    "captions": languages,
                    "chapters": [c.public(i) for i, c in enumerate(await self.chapters(session, rec))],
                }
            )
        return {
            "session": session.public(),
            "access": access,
            "can_manage": can(principal.role, Permission.ARCHIVE_MANAGE),
            "media_key": key,
            "media_key_expires_at": iso(key_expires),
            "recordings": recordings,
        }

    # -- files ---------------------------------------------------------------------------------

    async def media(self, session_id: int, recording_id: int, segment_id: int) -> MediaFile:
        """A segment's file, from the recordings directory or from where it was stored away."""
        rec = await self.recording(session_id, recording_id)
        segment = next((s for s in rec.segments if s.id == segment_id), None)
        if segment is None:
            raise NotFound(f"there is no segment {segment_id} in this recording", code="unknown_segment")
        content_type = CONTENT_TYPES.get(segment.container, "application/octet-stream")
        name = (
            f"session-{session_id}-recording-{recording_id}-{segment.track}-{segment.id}.{segment.container}"
        )
        if segment.stored_at is not None and self.storage is not None:
            storage = self.storage
            location = segment.stored_at
            size = await storage.size(location)
            return MediaFile(segment, size, content_type, name, lambda a, b: storage.read(location, a, b))
        size = await self.local.size(segment.path)
        return MediaFile(segment, size, content_type, name, lambda a, b: self.local.read(segment.path, a, b))

    async def export(
        self,
        session: SessionInfo,
        out: Path,
        progress: Callable[[int], None] | None = None,
        total: Callable[[int], None] | None = None,
    ) -> list[Path]:
        """Write every recording's files, its captions (WebVTT per language), its chapters (WebVTT and JSON)
        and a manifest under `out/recording-<id>/`. `total` hears the byte count first, `progress` each
        chunk's size."""
        written: list[Path] = []
        recordings = await self.rows.recordings(session.id)
        files = [
            (rec, await self.media(session.id, rec.id, seg.id)) for rec in recordings for seg in rec.segments
        ]
        if total is not None:
            total(sum(f.size for _, f in files))
        for rec in recordings:
            folder = out / f"recording-{rec.id}"
            folder.mkdir(parents=True, exist_ok=True)
            items = await self.chapters(session, rec)
            written.append(_write(folder / "chapters.vtt", chapters_vtt(items, rec.started_at)))
            written.append(_write(folder / "chapters.json", chapters_json(items, rec.started_at)))
            transcript = await self.captions.transcript(session.id)
            for language in sorted({line.language for line in transcript}, key=CAPTION_LANGUAGES.index):
                text = await self.caption_vtt(session, rec, language)
                if text.count("-->"):
                    written.append(_write(folder / f"captions-{language}.vtt", text))
            manifest = {
                "session": session.public(),
                "recording": {
                    "id": rec.id,
                    "state": rec.state.value,
                    "started_at": iso(rec.started_at),
                    "stopped_at": iso(rec.stopped_at),
                },
                "segments": [],
            }
            for owner, media in files:
                if owner.id != rec.id:
                    continue
                seg = media.segment
                target = folder / f"{seg.track}-{seg.id}.{seg.container}"
                partial = target.with_name(f".{target.name}.partial")
                with partial.open("wb") as handle:
                    # A segment the writer left empty is copied as an empty file.
                    chunks = media.read(0, media.size - 1) if media.size else None
                    async for chunk in chunks or _no_chunks():
                        await asyncio.to_thread(handle.write, chunk)
                        if progress is not None:
                            progress(len(chunk))
                os.replace(partial, target)
                written.append(target)
                manifest["segments"].append(  # type: ignore[attr-defined]
                    {
                        "file": target.name,
                        "track": seg.track,
                        "offset": round(max(0.0, (seg.started_at - rec.started_at).total_seconds()), 3),
                        "started_at": iso(seg.started_at),
                        "ended_at": iso(seg.ended_at),
                        "bytes": media.size,
                    }
                )
            written.append(_write(folder / "manifest.json", json.dumps(manifest, indent=2)))
        return written

    # -- storage and retention -----------------------------------------------------------------

    async def store_away(self) -> int:
        """Copy finished segments from the recordings directory to the configured storage, then remove the
        local copy. Returns how many were stored."""
        if self.storage is None:
            return 0
        stored = 0
        for segment in await self.rows.unstored():
            try:
                source = self.local.path(segment.path)
            except OutsideRoot:
                log.warning(
                    "segment %s: %s is outside the recordings directory, not stored", segment.id, segment.path
                )
                continue
            if not source.exists():
                log.warning("segment %s: %s is missing, not stored", segment.id, segment.path)
                continue
            location = await self.storage.put(segment.path, source)
            if await self.rows.mark_stored(segment.id, location):
                await asyncio.to_thread(source.unlink, True)
                stored += 1
        return stored

    async def expire(self) -> int:
        """Remove recordings stopped longer ago than HEMICYCLE_ARCHIVE_RETENTION_DAYS: files, then rows, each
        removal written in the session's audit log. Returns how many were removed."""
        days = self.core.settings.archive_retention_days
        if days <= 0:
            return 0
        now = self.core.store.clock()
        removed = 0
        for rec in await self.rows.stopped_before(now - timedelta(days=days)):
            if not expired(rec.stopped_at, days, now):
                continue
            for segment in rec.segments:
                try:
                    if segment.stored_at is not None and self.storage is not None:
                        await self.storage.delete(segment.stored_at)
                    await self.local.delete(segment.path)
                except OutsideRoot:
                    # Never deleted: a path that leads outside the archive is not the archive's to remove.
                    log.warning("segment %s: %s is outside the archive, left alone", segment.id, segment.path)
            if await self.rows.remove(rec, days):
                removed += 1
        return removed

    async def sweep(self) -> tuple[int, int]:
        """One pass of both: (stored, removed)."""
        return await self.store_away(), await self.expire()


async def _no_chunks() -> AsyncIterator[bytes]:
    empty: tuple[bytes, ...] = ()
    for chunk in empty:
        yield chunk


def _write(path: Path, text: str) -> Path:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8", newline="")
    os.replace(partial, path)
    return path
