"""The aiortc internals the relay relies on (server/media/seams.py): an upgrade that moves them fails here,
loudly, before it fails in a session."""

from __future__ import annotations

import asyncio
import inspect
from fractions import Fraction

import aiortc
import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from server.media import seams
from server.media.codecs import h264_nal_types, is_keyframe

from .helpers import eventually
from .media_peers import NO_ICE, Publisher


def test_the_pinned_aiortc_is_installed() -> None:
    assert aiortc.__version__ == seams.AIORTC_VERSION
    seams.check_version()


def test_the_receiver_still_hands_encoded_frames_to_a_decoder_queue() -> None:
    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    assert "self.__jitter_buffer.add(packet)" in source
    assert hasattr(RTCRtpReceiver, "_send_rtcp_pli")


def test_the_sender_packs_what_is_not_a_frame() -> None:
    source = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "self.__encoder.pack(data)" in source
    assert "isinstance(data, Frame)" in source
    handler = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "self._send_keyframe()" in handler


@pytest.mark.parametrize("mime", ["video/VP8", "video/H264", "audio/opus"])
def test_every_forwarded_codec_can_pack_a_packet(mime: str) -> None:
    kind = mime.split("/")[0]
    clock = 48000 if kind == "audio" else 90000
    codec = RTCRtpCodecParameters(mimeType=mime, clockRate=clock, payloadType=96)
    encoder = get_encoder(codec)
    data = b"\x00\x00\x00\x01\x65" + bytes(50) if mime == "video/H264" else bytes(60)
    packet = av.Packet(data)
    packet.pts = 3000
    packet.time_base = Fraction(1, 90000 if kind == "video" else 48000)
    payloads, timestamp = encoder.pack(packet)
    assert payloads and timestamp == 3000


async def test_a_tapped_receiver_gives_frames_and_never_decodes() -> None:
    publisher = Publisher()
    relay_side = RTCPeerConnection(NO_ICE)
    frames: list[tuple[str, int]] = []
    packets: list[int] = []
    try:
        transceiver = relay_side.addTransceiver("video", direction="recvonly")
        seams.tap_receiver(
            transceiver.receiver,
            lambda codec, data, ts: frames.append((codec.mimeType, len(data))),
            lambda ssrc, size, level: packets.append(size),
        )
        assert seams.is_tapped(transceiver.receiver)
        await relay_side.setRemoteDescription(
            aiortc.RTCSessionDescription(sdp=await publisher.offer(audio=False), type="offer")
        )
        await relay_side.setLocalDescription(await relay_side.createAnswer())
        await publisher.accept(relay_side.localDescription.sdp)
        await eventually(lambda: len(frames) >= 10, timeout=15)
        assert frames[0][0] == "video/VP8"
        assert packets
        # The remote track gets nothing: no frame was decoded.
        assert transceiver.receiver.track._queue.empty()
        with pytest.raises(seams.SeamError):
            seams.tap_receiver(transceiver.receiver, lambda *a: None, lambda *a: None)
        assert seams.negotiated_codecs(transceiver)[0].mimeType == "video/VP8"
        ssrc = next(iter(transceiver.receiver.getSynchronizationSources())).source
        await seams.send_pli(transceiver.receiver, ssrc)
    finally:
        await publisher.close()
        await relay_side.close()
    await asyncio.sleep(0)


def test_keyframes_are_recognised() -> None:
    assert is_keyframe("video/VP8", bytes([0x10, 0, 0]))
    assert not is_keyframe("video/VP8", bytes([0x11, 0, 0]))
    idr = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x68\x01" + b"\x00\x00\x01\x65\x88"
    assert h264_nal_types(idr) == [7, 8, 5]
    assert is_keyframe("video/H264", idr)
    assert not is_keyframe("video/H264", b"\x00\x00\x00\x01\x41\x9a")
    assert is_keyframe("audio/opus", b"\x01")
    assert not is_keyframe("video/VP8", b"")
