"""What the relay needs to know about each codec it forwards: names, clocks and where keyframes are."""

from __future__ import annotations

from fractions import Fraction

VP8 = "video/VP8"
H264 = "video/H264"
OPUS = "audio/opus"

# What publishers may send, in the order the relay prefers: VP8 first, since every browser has it, and
# H.264 for encoders such as OBS Studio that send only that.
VIDEO_CODECS = (VP8, H264)
AUDIO_CODECS = (OPUS,)

TIME_BASES = {"audio": Fraction(1, 48000), "video": Fraction(1, 90000)}
# One frame's duration in the codec clock: used to join two sources' timelines without a gap.
FRAME_TICKS = {"audio": 960, "video": 3000}


def is_keyframe(mime: str, data: bytes) -> bool:
    """True when a decoder can start from this frame."""
    if not data:
        return False
    name = mime.lower()
    if name == VP8.lower():
        # RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame.
        return data[0] & 0x01 == 0
    if name == H264.lower():
        return any(nal_type == 5 for nal_type in h264_nal_types(data))
    return True


def h264_nal_types(data: bytes) -> list[int]:
    """NAL unit types of an Annex B access unit (start codes 00 00 01 or 00 00 00 01)."""
    types: list[int] = []
    index = data.find(b"\x00\x00\x01")
    while index != -1 and index + 3 < len(data):
        types.append(data[index + 3] & 0x1F)
        index = data.find(b"\x00\x00\x01", index + 3)
    return types
