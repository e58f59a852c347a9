"""Use cases of recording (issue 22): staff start and stop a session's recording; the process that runs the
session's relay writes it; a fault stops it with its error. Check, store, notify.

The database says whether a session is being recorded; the process that runs the session's relay (its
origin) makes it so, checking every half second: a start or stop decided on any process reaches it there, a
relay that moved to another process (a takeover, a restart) is recorded there in new segments, and a
recording stopped elsewhere ends here. A fault while writing (a full disk, a file size limit) fails the
recording: its state becomes ``failed`` with the error, everyone is told, the session goes on.

A session that ends stops its recording (by any process, within two seconds).

Starting with nothing on air is allowed: the recording waits, and its files begin with the first keyframe of
the floor (or the first sound of a language) once someone publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import Protocol

from ..db.recording_store import RecordingStore
from ..domain.errors import Conflict
from ..domain.model import Principal
from ..domain.recording import Recording, RecordingState, Segment, StorageError, error_text
from ..domain.roles import Permission
from ..domain.sessions import SessionState
from ..media import relay as r
from ..media.service import MediaService
from ..service import Hemicycle
from .paths import recordings_dir
from .recorder import SessionRecorder
from .writer import RecordingWriteError

log = logging.getLogger(__name__)

FOLLOW_SECONDS = 0.5
# Every this many follow-ups, the recordings of sessions that have ended are stopped (by any process).
ENDED_EVERY = 4


class RecordingNotifier(Protocol):
    """What the transport does once a recording's state changed (signaling/recording_events.py)."""

    def recording_changed(self, recording: Recording) -> None: ...


class _NoNotifier:
    def recording_changed(self, recording: Recording) -> None:
        return None


def check_writable(root: Path) -> None:
    """Raise StorageError unless files can be created in the recordings directory now."""
    probe = root / f".probe-{secrets.token_hex(4)}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with probe.open("wb") as handle:
            handle.write(b"0")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise StorageError(
            f"the recordings directory cannot be written: {exc.strerror or exc}", code="recording_storage"
        ) from None


class Recordings:
    """Every session's recording: started and stopped by staff (``Permission.RECORDING_CONTROL``), written
    by this process's ``SessionRecorder`` for the sessions whose relay runs here. Built once by the
    composition root (server/wiring.py)."""

    def __init__(self, core: Hemicycle, media: MediaService) -> None:
        self.core = core
        self.media = media
        self.store = RecordingStore(core.store)
        self.root = recordings_dir(core.settings)
        self.notifier: RecordingNotifier = _NoNotifier()
        self.recorders: dict[int, SessionRecorder] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start_loop(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="hemicycle-recording")

    async def stop_loop(self) -> None:
        """End this process's files properly (a clean shutdown loses nothing); the recordings keep running
        in the database, for the process that takes the relays over."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._background, return_exceptions=True)
        for recorder in list(self.recorders.values()):
            await self._close(recorder)
        self.recorders.clear()

    # -- use cases ------------------------------------------------------------------------------

    async def start(self, principal: Principal, session_id: int) -> Recording:
        session = await self.core.session_for(principal, session_id, Permission.RECORDING_CONTROL)
        if session.state is SessionState.ENDED:
            raise Conflict("the session has ended", code="session_ended")
        check_writable(self.root)
        recording = await self.store.start(principal, session_id)
        log.info("session %s: recording %s started by %s", session_id, recording.id, principal.participant.id)
        self.notifier.recording_changed(recording)
        await self.sync()
        return recording

    async def stop(self, principal: Principal, session_id: int) -> Recording:
        await self.core.session_for(principal, session_id, Permission.RECORDING_CONTROL)
        recording = await self.store.stop(principal, session_id)
        log.info("session %s: recording %s stopped by %s", session_id, recording.id, principal.participant.id)
        recorder = self.recorders.pop(session_id, None)
        if recorder is not None:
            await self._close(recorder)
        self.notifier.recording_changed(recording)
        return recording

    async def current(self, principal: Principal, session_id: int) -> Recording | None:
        await self.core.session_for(principal, session_id, Permission.SESSION_VIEW)
        return await self.store.latest(session_id)

    async def latest(self, session_id: int) -> Recording | None:
        """The session's last recording, for a welcome (the caller is checked there)."""
        return await self.store.latest(session_id)

    async def segments(self, recording_id: int) -> list[Segment]:
        return await self.store.segments(recording_id)

    # -- following the database ------------------------------------------------------------------

    async def _loop(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            tick += 1
            try:
                if tick % ENDED_EVERY == 0:
                    await self.stop_ended()
                await self.sync()
            except Exception:
                log.exception("recording upkeep failed")

    async def stop_ended(self) -> None:
        """Stop the recordings of sessions that have ended, and tell their sessions."""
        for ended in await self.store.stop_ended_sessions():
            log.info("session %s ended: recording %s stopped", ended.session_id, ended.id)
            self.notifier.recording_changed(ended)

    async def sync(self) -> None:
        """Make this process's recorders match the database for the relays it runs, follow their sources
        and store each segment's progress."""
        async with self._lock:
            relays = dict(self.media.relays)
            running = await self.store.running(set(relays) | set(self.recorders))
            for session_id, recorder in list(self.recorders.items()):
                wanted = running.get(session_id)
                if (
                    wanted is None
                    or wanted.id != recorder.recording.id
                    or relays.get(session_id) is not recorder.relay
                    or recorder.failed
                ):
                    del self.recorders[session_id]
                    await self._close(recorder)
            for session_id, recording in running.items():
                relay = relays.get(session_id)
                if relay is not None and session_id not in self.recorders:
                    self.recorders[session_id] = self._recorder(relay, recording)
            for recorder in list(self.recorders.values()):
                try:
                    await recorder.follow()
                    await recorder.flush()
                except (OSError, RecordingWriteError) as exc:
                    self._fault(recorder, exc)

    def _recorder(self, relay: r.SessionRelay, recording: Recording) -> SessionRecorder:
        log.info("session %s: recording %s written here", recording.session_id, recording.id)
        return SessionRecorder(relay, recording, self.store, self.root, self.core.instance_id, self._fault)

    async def _close(self, recorder: SessionRecorder) -> None:
        try:
            await recorder.close()
        except Exception as exc:
            log.warning("recording %s: ending its files failed: %s", recorder.recording.id, exc)
            await self._failed(recorder, exc)

    # -- faults ---------------------------------------------------------------------------------

    def _fault(self, recorder: SessionRecorder, exc: BaseException) -> None:
        """A write failed: nothing more is written; the recording is stored as failed and everyone told."""
        if recorder.failed:
            return
        log.error(
            "recording %s of session %s failed: %s", recorder.recording.id, recorder.recording.session_id, exc
        )
        recorder.stop_writing()
        task = asyncio.ensure_future(self._failed(recorder, exc))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _failed(self, recorder: SessionRecorder, exc: BaseException) -> None:
        try:
            if self.recorders.get(recorder.recording.session_id) is recorder:
                del self.recorders[recorder.recording.session_id]
            with contextlib.suppress(Exception):
                await recorder.close()
            failed = await self.store.fail(recorder.recording.id, error_text(exc))
            if failed is not None and failed.state is RecordingState.FAILED:
                self.notifier.recording_changed(failed)
        except Exception:
            log.exception("recording %s: storing its failure failed", recorder.recording.id)
