"""Recordings for the archive's tests, made as the recorder makes them: real WebM files (VP8 video, Opus
audio, encoded here with PyAV) in the recordings directory, and their rows in `recordings` and
`recording_segments`."""

from __future__ import annotations

import fractions
import math
import struct
from datetime import datetime
from pathlib import Path

import av

from server.db import models as m
from server.service import Hemicycle

WIDTH, HEIGHT, FPS, RATE = 160, 120, 15, 48_000


def write_webm(path: Path, seconds: float, *, video: bool = True) -> int:
    """A WebM file of `seconds`: a frame whose brightness steps each frame (when `video`) and a 440 Hz tone.
    Returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="webm") as out:
        # Every stream is added before the first packet is written.
        picture = out.add_stream("libvpx", rate=FPS) if video else None
        if picture is not None:
            picture.width, picture.height, picture.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = out.add_stream("libopus", rate=RATE)
        sound.layout = "mono"
        if picture is not None:
            for index in range(int(seconds * FPS)):
                frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
                for plane_index, plane in enumerate(frame.planes):
                    level = (index * 8) % 255 if plane_index == 0 else 128
                    plane.update(bytes([level]) * plane.buffer_size)
                frame.pts = index
                frame.time_base = fractions.Fraction(1, FPS)
                for packet in picture.encode(frame):
                    out.mux(packet)
            for packet in picture.encode():
                out.mux(packet)
        samples = 960
        for index in range(int(seconds * RATE / samples)):
            chunk = av.AudioFrame(format="s16", layout="mono", samples=samples)
            tone = (
                struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * (j + index * samples) / RATE)))
                for j in range(samples)
            )
            chunk.planes[0].update(b"".join(tone))
            chunk.sample_rate = RATE
            chunk.pts = index * samples
            chunk.time_base = fractions.Fraction(1, RATE)
            for packet in sound.encode(chunk):
                out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    return path.stat().st_size


async def add_recording(
    core: Hemicycle,
    session_id: int,
    started_at: datetime,
    stopped_at: datetime | None,
    *,
    state: str = "stopped",
) -> int:
    """A recording row, as the recorder writes it when staff start recording."""
    async with core.store._tx() as tx, tx.begin():
        row = m.Recording(
            session_id=session_id,
            state=state,
            started_at=started_at,
            stopped_at=stopped_at,
            started_by_name="AV technician",
            stopped_by_name=None if stopped_at is None else "AV technician",
        )
        tx.add(row)
        await tx.flush()
        return row.id


async def add_segment(
    core: Hemicycle,
    recordings: Path,
    session_id: int,
    recording_id: int,
    track: str,
    started_at: datetime,
    ended_at: datetime,
    *,
    write: bool = True,
    path: str | None = None,
    writer: str = "test-process",
) -> int:
    """A segment: its row, then (unless `write` is False) its file at
    `<session>/<recording>/<track>-<id>.webm`, as long as its wall-clock span; video only on the floor."""
    async with core.store._tx() as tx, tx.begin():
        row = m.RecordingSegment(
            recording_id=recording_id,
            track=track,
            path=path or "pending",
            container="webm",
            codecs=["vp8", "opus"] if track == "floor" else ["opus"],
            started_at=started_at,
            ended_at=ended_at,
            complete=True,
            writer=writer,
        )
        tx.add(row)
        await tx.flush()
        segment_id = row.id
        if path is None:
            row.path = f"{session_id}/{recording_id}/{track}-{segment_id}.webm"
            if write:
                seconds = (ended_at - started_at).total_seconds()
                row.bytes = write_webm(recordings / row.path, seconds, video=track == "floor")
    return segment_id
