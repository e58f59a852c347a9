"""One segment file: RTP payloads of one track (sound, and picture for the floor) remuxed into a container.

Nothing is decoded: each packet's payload is depacketised (VP8 and H.264 by aiortc's payload descriptors,
Opus as it is), the packets of one frame joined, and the frame handed to PyAV's muxer with its time. VP8 and
Opus go into WebM, H.264 into Matroska. Matroska is written cluster by cluster (at most a second each) and
each cluster reaches the file as it is closed, so a process that dies leaves a file playable up to its last
second or so.

Times: each kind's first frame fixes where its RTP clock sits on the segment's timeline (when it was taken,
as the relay tells it from the publisher's least delayed frames, measured from the segment's first picture);
from there on the packets' own timestamps count. A first keyframe that arrives late, being big, does not put
the sound out of step with the picture for the whole file. The relay's viewer end
(``server.media.forward.ForwardTrack``) keeps those timestamps continuous across a change of source, and on
the time each frame was taken, so the file's timeline is too.
"""

from __future__ import annotations

import logging
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.codecs.vpx import VpxPayloadDescriptor

from ..media.codecs import CLOCK_RATES, H264, OPUS, VP8, starts_keyframe

# Matroska clusters of at most this long: what a crash may lose.
CLUSTER_MILLISECONDS = 1000
# A frame split over more packets than this is not a frame the relay forwards.
MAX_FRAME_PACKETS = 2000
# Opus identification header (RFC 7845 5.1): version 1, two channels, no pre-skip, 48 kHz, no gain, family 0.
OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 0, 48000, 0, 0)
CONTAINERS = {VP8.lower(): "webm", H264.lower(): "mkv"}
_CODEC_NAMES = {VP8.lower(): "vp8", H264.lower(): "h264", OPUS.lower(): "opus"}
WRITE_ERRORS = (OSError, av.FFmpegError)
# The picture size written when the first keyframe does not say its own.
DEFAULT_SIZE = (1280, 720)


log = logging.getLogger(__name__)


class RecordingWriteError(Exception):
    """The file could not be written (a full disk, a file size limit, a vanished directory)."""


def container_for(video_mime: str | None) -> str:
    """The container a track's codecs are written into: WebM for VP8 (and sound only), Matroska for H.264."""
    return CONTAINERS.get((video_mime or VP8).lower(), "webm")


def codec_names(video_mime: str | None, audio: bool = True) -> list[str]:
    names = [_CODEC_NAMES[video_mime.lower()]] if video_mime else []
    return [*names, "opus"] if audio else names


def vp8_dimensions(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe's header (RFC 6386 9.1), or None if it is not one."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return width, height


# H.264 profiles whose sequence parameter set has the chroma format and bit depths (H.264 7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
# A sequence parameter set is a few dozen bytes; this bounds what is read of one that claims more.
MAX_SPS_BYTES = 1024


class _Bits:
    """Bits of an H.264 RBSP, most significant first; reading past the end raises ValueError."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def bit(self) -> int:
        byte, shift = divmod(self._at, 8)
        if byte >= len(self._data):
            raise ValueError("the parameter set ends early")
        self._at += 1
        return (self._data[byte] >> (7 - shift)) & 1

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        """An unsigned Exp-Golomb number (9.1)."""
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("an Exp-Golomb number longer than 32 bits")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        """A signed Exp-Golomb number (9.1.1)."""
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def _nal_units(frame: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (as aiortc's depacketiser joins them), start codes removed."""
    units = []
    for part in frame.split(b"\x00\x00\x01"):
        # A four-byte start code leaves a zero at the end of the unit before it (a unit never ends in one).
        unit = part.rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def _rbsp(payload: bytes) -> bytes:
    """A NAL unit's payload without its emulation prevention bytes (00 00 03 -> 00 00, 7.4.1)."""
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def sps_dimensions(sps: bytes) -> tuple[int, int]:
    """Width and height of the pictures an H.264 sequence parameter set (its RBSP, after the NAL header)
    describes, cropping applied (ITU-T H.264 7.3.2.1.1, 7.4.2.1.1). ValueError for one that cannot be read."""
    bits = _Bits(sps[:MAX_SPS_BYTES])
    profile = bits.bits(8)
    bits.bits(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    separate_planes = 0
    if profile in _HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format > 3:
            raise ValueError(f"chroma_format_idc {chroma_format}")
        if chroma_format == 3:
            separate_planes = bits.bit()
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.bit():  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format != 3 else 12):
                if bits.bit():
                    last, following = 8, 8
                    for _ in range(16 if index < 6 else 64):
                        if following:
                            following = (last + bits.se() + 256) % 256
                        last = following or last
    bits.ue()  # log2_max_frame_num_minus4
    order_type = bits.ue()
    if order_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif order_type == 1:
        bits.bit()
        bits.se()
        bits.se()
        cycle = bits.ue()
        if cycle > 255:
            raise ValueError(f"num_ref_frames_in_pic_order_cnt_cycle {cycle}")
        for _ in range(cycle):
            bits.se()
    elif order_type != 2:
        raise ValueError(f"pic_order_cnt_type {order_type}")
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    if not frame_mbs_only:
        bits.bit()  # mb_adaptive_frame_field_flag
    bits.bit()  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_units * 16
    if bits.bit():  # frame_cropping_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        if chroma_format == 0 or separate_planes:
            unit_x, unit_y = 1, 2 - frame_mbs_only
        else:
            unit_x = 1 if chroma_format == 3 else 2
            unit_y = (2 if chroma_format == 1 else 1) * (2 - frame_mbs_only)
        width -= (left + right) * unit_x
        height -= (top + bottom) * unit_y
    if width <= 0 or height <= 0:
        raise ValueError(f"a picture of {width}x{height}")
    return width, height


def h264_dimensions(frame: bytes) -> tuple[int, int] | None:
    """Width and height from the sequence parameter set in an H.264 access unit (Annex B), or None when it
    carries none that can be read."""
    for unit in _nal_units(frame):
        if unit[0] & 0x1F == 7:
            try:
                return sps_dimensions(_rbsp(unit[1 : MAX_SPS_BYTES + 1]))
            except ValueError:
                return None
    return None


def picture_size(video_mime: str, keyframe: bytes | None) -> tuple[int, int]:
    """The size written in the file's header: the first keyframe's own (VP8 frame header, H.264 sequence
    parameter set); DEFAULT_SIZE only when it says none (a player then reads the size from the stream)."""
    if keyframe is None:
        return DEFAULT_SIZE
    found = vp8_dimensions(keyframe) if video_mime.lower() == VP8.lower() else h264_dimensions(keyframe)
    if found is None:
        log.warning("no picture size in the first keyframe: %dx%d written", *DEFAULT_SIZE)
    return found or DEFAULT_SIZE


class _Assembler:
    """The packets of one kind, joined into frames (all of a frame's packets share its timestamp; the marker
    bit ends a video frame). A frame with a packet missing is dropped, and video waits for a keyframe."""

    def __init__(self, kind: str, mime: str) -> None:
        self.kind = kind
        self.mime = mime.lower()
        self._parts: list[bytes] = []
        self._timestamp: int | None = None
        self._next_sequence: int | None = None
        self._keyframe = False
        self._broken = False
        self.waiting_keyframe = kind == "video"

    def push(
        self, sequence: int, timestamp: int, marker: bool, payload: bytes
    ) -> tuple[bytes, int, bool] | None:
        """A packet in; a whole frame out (its data, its RTP timestamp, whether it is a keyframe) when the
        packet completes one."""
        if self.kind == "audio":
            return payload, timestamp, True
        if timestamp != self._timestamp:
            # A new frame; the last one never saw its marker: lost at its end.
            if self._parts:
                self.waiting_keyframe = True
            self._parts = []
            self._timestamp = timestamp
            self._keyframe = starts_keyframe(self.mime, payload)
            self._broken = False
        elif self._next_sequence is not None and sequence != self._next_sequence:
            self._broken = True
        self._next_sequence = (sequence + 1) & 0xFFFF
        if self._broken:
            self._parts = []
        else:
            try:
                self._parts.append(self._depayload(payload))
            except ValueError:  # a payload no depacketiser accepts: the frame is lost
                self._broken = True
            if len(self._parts) > MAX_FRAME_PACKETS:
                self._broken = True
                self._parts = []
        if not marker:
            return None
        parts, self._parts = self._parts, []
        if self._broken or not parts:
            self.waiting_keyframe = True
            return None
        if self.waiting_keyframe and not self._keyframe:
            return None
        self.waiting_keyframe = False
        return b"".join(parts), timestamp, self._keyframe

    def _depayload(self, payload: bytes) -> bytes:
        if self.mime == H264.lower():
            return H264PayloadDescriptor.parse(payload)[1]
        return VpxPayloadDescriptor.parse(payload)[1]


class _Stream:
    """One kind's place in the file: its PyAV stream and where its RTP clock sits on the timeline."""

    def __init__(self, kind: str, mime: str) -> None:
        self.kind = kind
        self.clock = CLOCK_RATES[kind]
        self.time_base = Fraction(1, self.clock)
        self.assembler = _Assembler(kind, mime)
        self.stream: Any = None
        self.origin: int | None = None  # the segment-timeline tick of its first frame, in its clock
        self.first_timestamp = 0
        self.unwrapped = 0
        self.last_timestamp = 0
        self.last_pts = -1


class SegmentWriter:
    """Writes one segment file. ``write`` takes the relay's packets as they are forwarded; ``close`` ends the
    file. Raises RecordingWriteError when the file cannot be written."""

    def __init__(
        self, path: Path, video_mime: str | None, audio: bool = True, not_before: float | None = None
    ) -> None:
        self.path = path
        self.video_mime = video_mime
        self.container_name = container_for(video_mime)
        self.codecs = codec_names(video_mime, audio)
        self._streams: dict[str, _Stream] = {}
        if video_mime is not None:
            self._streams["video"] = _Stream("video", video_mime)
        if audio:
            self._streams["audio"] = _Stream("audio", OPUS)
        self._output: Any = None
        # Wall-clock (time.time) of the segment's media time 0: when its first picture was taken, not before
        # ``not_before`` (the end of the file before it on the same track).
        self.started: float | None = None
        self._not_before = not_before
        # Wall-clock of the newest frame written, by the file's own timeline.
        self.last_written: float | None = None
        self.frames = 0
        self.closed = False

    @property
    def waiting_keyframe(self) -> bool:
        video = self._streams.get("video")
        return video is not None and video.assembler.waiting_keyframe

    def write(
        self, kind: str, sequence: int, timestamp: int, marker: bool, payload: bytes, taken: float
    ) -> None:
        """One RTP packet of ``kind``; ``taken``: when its frame was taken (``time.time()`` seconds, as the
        relay tells it)."""
        state = self._streams.get(kind)
        if state is None or self.closed:
            return
        frame = state.assembler.push(sequence, timestamp, marker, payload)
        if frame is None:
            return
        data, frame_timestamp, keyframe = frame
        now = taken
        if self._output is None:
            if "video" in self._streams and kind != "video":
                return  # the file begins with a picture: sound before the first keyframe is not kept
            self._open(data if kind == "video" else None)
            self.started = now if self._not_before is None else max(now, self._not_before)
        started = self.started
        assert started is not None
        if state.origin is None:
            # Sound taken a moment before the first picture (and which came after it) starts with it.
            state.origin = max(0, round((now - started) * state.clock))
            state.first_timestamp = frame_timestamp
            state.last_timestamp = frame_timestamp
        # Unwrap the 32-bit RTP clock.
        delta = (frame_timestamp - state.last_timestamp) & 0xFFFFFFFF
        if delta >= 0x80000000:
            return  # older than the last frame written: reordered, too late for the file
        state.unwrapped += delta
        state.last_timestamp = frame_timestamp
        pts = state.origin + state.unwrapped
        if pts <= state.last_pts:
            return
        state.last_pts = pts
        packet = av.Packet(data)
        packet.stream = state.stream
        packet.pts = packet.dts = pts
        packet.time_base = state.time_base
        packet.is_keyframe = keyframe
        try:
            self._output.mux(packet)
        except WRITE_ERRORS as exc:
            raise RecordingWriteError(f"writing {self.path.name} failed: {exc}") from exc
        self.frames += 1
        written = started + pts / state.clock
        if self.last_written is None or written > self.last_written:
            self.last_written = written

    def _open(self, keyframe: bytes | None) -> None:
        options = {"cluster_time_limit": str(CLUSTER_MILLISECONDS), "flush_packets": "1"}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            output = av.open(
                str(self.path),
                "w",
                format="webm" if self.container_name == "webm" else "matroska",
                options=options,
            )
        except WRITE_ERRORS as exc:
            raise RecordingWriteError(f"creating {self.path.name} failed: {exc}") from exc
        video = self._streams.get("video")
        if video is not None and self.video_mime is not None:
            stream: Any = output.add_stream(_CODEC_NAMES[self.video_mime.lower()])
            stream.width, stream.height = picture_size(self.video_mime, keyframe)
            stream.time_base = video.time_base
            video.stream = stream
        audio = self._streams.get("audio")
        if audio is not None:
            stream = output.add_stream("opus", rate=48000)
            stream.time_base = audio.time_base
            stream.codec_context.extradata = OPUS_HEAD
            audio.stream = stream
        self._output = output

    @property
    def bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def close(self) -> None:
        """End the file (its index and duration written); idempotent. A write error here is reported."""
        if self.closed:
            return
        self.closed = True
        output, self._output = self._output, None
        if output is not None:
            try:
                output.close()
            except WRITE_ERRORS as exc:
                raise RecordingWriteError(f"closing {self.path.name} failed: {exc}") from exc
