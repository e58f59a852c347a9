"""What the relay needs to know about each codec it forwards: names, clocks and where keyframes are."""

from __future__ import annotations

VP8 = "video/VP8"
H264 = "video/H264"
OPUS = "audio/opus"

# What publishers may send, in the order the relay prefers: VP8 first, since every browser has it, and
# H.264 for encoders such as OBS Studio that send only that.
VIDEO_CODECS = (VP8, H264)
AUDIO_CODECS = (OPUS,)

# The codecs' RTP clocks (RFC 7587 for Opus, RFC 7741 and RFC 6184 for video).
CLOCK_RATES = {"audio": 48000, "video": 90000}
# One frame's duration in the codec clock: the least gap left when a viewer's timeline joins another source.
FRAME_TICKS = {"audio": 960, "video": 3000}


def starts_keyframe(mime: str, payload: bytes) -> bool:
    """True when this RTP payload begins a frame a decoder can start from (it is the frame's first packet).

    The packet's own header says so, without re-assembling the frame: VP8's payload descriptor and frame tag
    (RFC 7741 4.2, RFC 6386 9.1); for H.264 (RFC 6184) a parameter set or an IDR slice, alone, aggregated
    (STAP-A) or in the first fragment of a FU-A. Audio frames are all independent.
    """
    if not payload:
        return False
    name = mime.lower()
    if name == VP8.lower():
        return _vp8_starts_keyframe(payload)
    if name == H264.lower():
        return _h264_starts_keyframe(payload)
    return True


def _vp8_starts_keyframe(payload: bytes) -> bool:
    first = payload[0]
    if not first & 0x10 or first & 0x07:
        # Not the start of partition 0: not a frame's first packet.
        return False
    index = 1
    if first & 0x80:
        if len(payload) < 2:
            return False
        extension = payload[1]
        index = 2
        if extension & 0x80:  # a picture id, 7 or 15 bits
            if len(payload) <= index:
                return False
            index += 2 if payload[index] & 0x80 else 1
        if extension & 0x40:  # TL0PICIDX
            index += 1
        if extension & 0x30:  # TID / KEYIDX
            index += 1
    return len(payload) > index and payload[index] & 0x01 == 0


H264_KEY_NALS = frozenset({5, 7})  # an IDR slice, a sequence parameter set


def _h264_starts_keyframe(payload: bytes) -> bool:
    nal_type = payload[0] & 0x1F
    if nal_type in H264_KEY_NALS:
        return True
    if nal_type == 24:  # STAP-A: 16-bit size, then the NAL unit, repeated
        index = 1
        while index + 2 < len(payload):
            size = int.from_bytes(payload[index : index + 2], "big")
            if payload[index + 2] & 0x1F in H264_KEY_NALS:
                return True
            index += 2 + size
        return False
    if nal_type == 28 and len(payload) > 1:  # FU-A: the first fragment of an IDR slice
        header = payload[1]
        return bool(header & 0x80) and header & 0x1F == 5
    return False
