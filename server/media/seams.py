"""Every use Hemicycle makes of aiortc's private internals, in one place.

The relay forwards encoded frames instead of decoding and re-encoding them. aiortc has no public API for
that, so this module reaches into four places of aiortc 1.16.0 (pinned in pyproject.toml):

1. ``RTCRtpReceiver.__decoder_queue``: the receiver puts each re-assembled encoded frame, as
   ``(codec, JitterFrame)``, on this queue for its decoder thread. We replace it, before the receiver
   starts, with a queue that hands frames to the relay on the event loop and never to the decoder: the
   decoder thread starts, waits on an empty queue and ends when the receiver stops.
2. ``RTCRtpReceiver._handle_rtp_packet``: wrapped per instance to count bytes and read the audio-level
   header extension (RFC 6464), so health figures need no decoding either.
3. ``RTCRtpReceiver._send_rtcp_pli``: asks the publisher for a keyframe (RFC 4585 picture loss).
4. ``RTCRtpSender._send_keyframe``: called when a viewer sends PLI or FIR; replaced per instance so the
   request goes upstream to the publisher (the sender has no encoder of its own to ask).

``RTCRtpSender._next_encoded_frame`` packetises whatever is not an ``av.Frame`` with the codec's
``pack()``: that is public behaviour of ``MediaStreamTrack.recv()`` returning an ``av.Packet`` and needs
nothing here. tests/test_media_seams.py fails loudly if an upgrade breaks any of this.
"""

from __future__ import annotations

import queue
from collections.abc import Awaitable, Callable
from typing import Any

import aiortc
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

# The aiortc release whose internals this module was written against.
AIORTC_VERSION = "1.16.0"

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"

FrameSink = Callable[[RTCRtpCodecParameters, bytes, int], None]
PacketSink = Callable[[int, int, int | None], None]


class SeamError(RuntimeError):
    """aiortc no longer looks the way this module expects: the relay cannot forward."""


def check_version() -> None:
    """Refuse to run the relay on an aiortc whose internals have not been checked."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise SeamError(
            f"the media relay relies on aiortc {AIORTC_VERSION} internals, found {aiortc.__version__}: "
            "run tests/test_media_seams.py against the new version, then update AIORTC_VERSION"
        )


class _EncodedFrameTap(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue: frames go to the relay, only the stop marker queues."""

    def __init__(self, sink: FrameSink) -> None:
        super().__init__()
        self._sink = sink

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None)
            return
        codec, frame = item
        self._sink(codec, frame.data, frame.timestamp)


def tap_receiver(receiver: RTCRtpReceiver, on_frame: FrameSink, on_packet: PacketSink) -> None:
    """Take a receiver's encoded frames and packet counts; call before the connection starts it.

    ``on_frame(codec, data, timestamp)`` gets each complete encoded frame (timestamp in the codec's clock,
    starting at 0); ``on_packet(ssrc, bytes, audio_level)`` each RTP packet as it arrives, with the level
    in -dBov (0 loudest, 127 silence) when the publisher sends it.
    """
    if not hasattr(receiver, _DECODER_QUEUE) or getattr(receiver, _DECODER_THREAD, None) is not None:
        raise SeamError("RTCRtpReceiver has no decoder queue to take frames from, or has already started")
    setattr(receiver, _DECODER_QUEUE, _EncodedFrameTap(on_frame))
    handle: Callable[..., Awaitable[None]] = receiver._handle_rtp_packet

    async def counted(packet: Any, arrival_time_ms: int) -> None:
        level = packet.extensions.audio_level
        on_packet(packet.ssrc, len(packet.payload) + 12, level[1] if level is not None else None)
        await handle(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = counted  # type: ignore[method-assign]


def is_tapped(receiver: RTCRtpReceiver) -> bool:
    return isinstance(getattr(receiver, _DECODER_QUEUE, None), _EncodedFrameTap)


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the publisher behind a receiver for a keyframe."""
    await receiver._send_rtcp_pli(media_ssrc)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the viewer behind a sender sends PLI or FIR."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs a transceiver agreed on, first the one media is sent with."""
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    return codecs
