"""A session's recorder: one more viewer of its relay's floor and language channels, writing files.

Each recorded track (``floor``, and each language on air) has one ``ForwardTrack`` per kind, attached to the
relay's feeds exactly as a viewer's are: the feed writes each packet to it in the same step as to the
viewers, from a keyframe on, with the timestamps kept continuous across a change of source. Its port
(``SinkPort``) hands the packets to the track's ``SegmentWriter`` instead of a socket. The floor follows the
speaker while one publishes (their picture and sound; the room's picture when they send none), else the room
feed and the floor sound; the keyframe is asked for at the start and at each switch.

Everything here runs on the event loop; the database writes are the owner's (server/recording/service.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from ..db.recording_store import RecordingStore
from ..domain.recording import Recording, Segment
from ..media import relay as r
from ..media.codecs import OPUS
from ..media.forward import Feed, ForwardTrack
from ..media.timeline import unix_from_ntp
from .paths import resolve, segment_path
from .writer import RecordingWriteError, SegmentWriter, codec_names, container_for

log = logging.getLogger(__name__)

FLOOR = "floor"
KINDS = ("video", "audio")


Write = Callable[[int, int, int, bytes, float], None]


class SinkPort:
    """A forwarded track's port that writes to a file: always ready, never awaited. Each packet goes with
    when its frame was taken (the feed's NTP time for it, in ``time.time()`` seconds)."""

    def __init__(self, write: Write) -> None:
        self._write = write

    def ready(self) -> bool:
        return True

    def send(
        self, sequence_number: int, timestamp: int, marker: int, payload: bytes, ntp_time: int
    ) -> Awaitable[None] | None:
        self._write(sequence_number, timestamp, marker, payload, unix_from_ntp(ntp_time))
        return None


def _wall(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


class TrackRecorder:
    """One track written into its current segment file."""

    def __init__(
        self,
        name: str,
        segment: Segment,
        path: Path,
        video_mime: str | None,
        on_fault: Callable[[BaseException], None],
        not_before: float | None = None,
    ) -> None:
        self.name = name
        self.segment = segment
        self.video_mime = video_mime
        self.writer = SegmentWriter(path, video_mime, not_before=not_before)
        self._on_fault = on_fault
        self.failed = False
        self.sinks: dict[str, ForwardTrack] = {}
        kinds = ("video", "audio") if video_mime else ("audio",)
        for kind in kinds:
            # A file waits for the keyframe it asks for: a picture replayed from a moment ago would be placed
            # after the last one written, behind its sound for as long as the source lasts.
            sink = ForwardTrack(kind, video_mime if kind == "video" and video_mime else OPUS, catch_up=False)
            sink.port = SinkPort(self._writer_of(kind))
            self.sinks[kind] = sink

    def _writer_of(self, kind: str) -> Write:
        def write(sequence_number: int, timestamp: int, marker: int, payload: bytes, taken: float) -> None:
            if self.failed:
                return
            try:
                self.writer.write(kind, sequence_number, timestamp, bool(marker), payload, taken)
            except RecordingWriteError as exc:
                # Called from inside a feed's loop over its tracks: the sinks are detached later, not here.
                self.failed = True
                asyncio.get_running_loop().call_soon(self._on_fault, exc)

        return write

    def follow(self, kind: str, feed: Feed | None) -> bool:
        """Take this kind from ``feed`` (None: nothing); True when that is a switch to another feed."""
        sink = self.sinks.get(kind)
        if sink is None or sink.feed is feed:
            return False
        sink.attach(feed)
        if feed is not None:
            # At the start and at each switch: the file continues from the new source's next keyframe.
            feed.request_keyframe()
        return True

    def detach(self) -> None:
        for sink in self.sinks.values():
            sink.stop()

    def figures(self) -> tuple[datetime, datetime, int] | None:
        """When the file's media time 0 was, its last frame, and its size; None before its first frame."""
        started, last = self.writer.started, self.writer.last_written
        if started is None or last is None:
            return None
        return _wall(started), _wall(last), self.writer.bytes


class SessionRecorder:
    """The tracks of one running recording written by this process (its segments)."""

    def __init__(
        self,
        relay: r.SessionRelay,
        recording: Recording,
        store: RecordingStore,
        root: Path,
        writer_id: str,
        on_fault: Callable[[SessionRecorder, BaseException], None],
    ) -> None:
        self.relay = relay
        self.recording = recording
        self.store = store
        self.root = root
        self.writer_id = writer_id
        self._on_fault = on_fault
        self.tracks: dict[str, TrackRecorder] = {}
        self.switches = 0
        # Whose publication the floor is recorded from (the speaker's peer), None for the room's.
        self._floor_source: object | None = None
        self.closed = False
        self.failed = False

    # -- following the relay ---------------------------------------------------------------------

    def _floor_feeds(self) -> tuple[dict[str, Feed | None], object | None]:
        """The feeds the floor is recorded from now: the speaker's while one publishes, else the room's; and
        the speaker's publication when any of them is the speaker's (None: the room's)."""
        relay = self.relay
        speaker = relay.publisher(r.SPEAKER)
        video = relay.feed(r.SPEAKER, "video") if speaker is not None else None
        from_speaker = video is not None and video.live
        if video is None or not video.live:
            video = relay.feed(r.ROOM, "video")
        audio = relay.feed(r.SPEAKER, "audio") if speaker is not None else None
        from_speaker = from_speaker or (audio is not None and audio.live)
        if audio is None or not audio.live:
            audio = relay.channel_feed(FLOOR)
        feeds = {"video": video if video.live else None, "audio": audio if audio.live else None}
        return feeds, speaker if from_speaker else None

    def _languages(self) -> list[str]:
        return [c for c in r.CHANNELS if c != FLOOR and self.relay.publisher(r.channel(c)) is not None]

    async def follow(self) -> None:
        """Begin the tracks that came on air, and point the floor at its current source."""
        if self.closed or self.failed:
            return
        floor, source = self._floor_feeds()
        if floor["video"] is not None or floor["audio"] is not None:
            video = floor["video"]
            wanted = video.mime if video is not None else None
            current = self.tracks.get(FLOOR)
            not_before: float | None = None
            if (
                current is not None
                and wanted is not None
                and (current.video_mime or "").lower() != wanted.lower()
            ):
                # The new source sends another codec (or the file had no picture): a new file from here,
                # beginning where the last one ended on the floor (its first keyframe may have been taken
                # before the last picture of the other went out).
                not_before = current.writer.last_written
                await self._end_track(current)
                current = None
            if current is None:
                current = await self._begin(FLOOR, wanted, not_before)
            if current is not None:
                switched = current.follow("video", video) if video is not None else False
                switched = current.follow("audio", floor["audio"]) or switched
                # One speaker after another within a follow period: the feeds are the same (the speaker's),
                # their publisher is not. The feed restarts its tracks from the newcomer's keyframe itself;
                # it is a switch of source all the same.
                switched = switched or source is not self._floor_source
                self._floor_source = source
                if switched and current.writer.started is not None:
                    self.switches += 1
        for language in self._languages():
            if language not in self.tracks:
                track = await self._begin(language, None)
                if track is not None:
                    track.follow("audio", self.relay.feed(r.channel(language), "audio"))

    def _stopped(self) -> bool:
        return self.closed or self.failed

    async def _begin(
        self, name: str, video_mime: str | None, not_before: float | None = None
    ) -> TrackRecorder | None:
        if self._stopped():
            return None
        recording = self.recording
        container = container_for(video_mime)
        codecs = codec_names(video_mime)
        segment = await self.store.add_segment(
            recording.id,
            name,
            container,
            codecs,
            self.writer_id,
            lambda segment_id: segment_path(recording.session_id, recording.id, name, segment_id, container),
        )
        if self._stopped():
            await self.store.drop_segment(segment.id)
            return None
        track = TrackRecorder(
            name,
            segment,
            resolve(self.root, segment.path),
            video_mime,
            lambda exc: self._on_fault(self, exc),
            not_before,
        )
        self.tracks[name] = track
        log.info("recording %s: %s in %s", recording.id, name, segment.path)
        return track

    # -- the database ----------------------------------------------------------------------------

    async def flush(self) -> None:
        """Each segment's times and size as they are now (what survives a crash)."""
        for track in list(self.tracks.values()):
            figures = track.figures()
            if figures is not None:
                await self.store.update_segment(track.segment.id, *figures)

    async def _end_track(self, track: TrackRecorder) -> None:
        track.detach()
        self.tracks.pop(track.name, None)
        error: RecordingWriteError | None = None
        try:
            track.writer.close()
        except RecordingWriteError as exc:
            error = exc
        figures = track.figures()
        if figures is None:
            await self.store.drop_segment(track.segment.id)
        else:
            await self.store.update_segment(track.segment.id, *figures, complete=error is None)
        if error is not None:
            raise error

    async def close(self) -> None:
        """Stop writing: every sink detached, every file ended and its row completed. Idempotent."""
        if self.closed:
            return
        self.closed = True
        errors: list[RecordingWriteError] = []
        for track in list(self.tracks.values()):
            try:
                await self._end_track(track)
            except RecordingWriteError as exc:
                errors.append(exc)
        if errors and not self.failed:
            raise errors[0]

    def stop_writing(self) -> None:
        """A fault: no packet is written from now on (the files are ended by ``close``)."""
        self.failed = True
        for track in self.tracks.values():
            track.failed = True
            track.detach()
