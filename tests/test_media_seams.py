"""The aiortc internals the relay relies on (server/media/seams.py): an upgrade that moves them fails here,
loudly, before it fails in a session."""

from __future__ import annotations

import asyncio
import copy
import inspect

import aioice
import aiortc
import pytest
from aioice.ice import StunProtocol
from aiortc import RTCDtlsTransport, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import SRTP_AES128_CM_SHA1_80, SRTP_PROFILES
from aiortc.rtp import RtpPacket
from OpenSSL import SSL
from pylibsrtp import Error as SrtpError
from pylibsrtp import Policy, Session

from server.media import seams
from server.media.codecs import starts_keyframe
from server.media.forward import ForwardTrack

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


def test_the_sender_still_answers_rtcp_and_reports_what_the_relay_records() -> None:
    handler = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "self._send_keyframe()" in handler
    assert "await self._retransmit(seq)" in handler
    retransmit = inspect.getsource(RTCRtpSender._retransmit)
    assert "self.__rtp_history.get(sequence_number % RTP_HISTORY_SIZE)" in retransmit
    reports = inspect.getsource(RTCRtpSender._run_rtcp)
    for figure in ("__ntp_timestamp", "__rtp_timestamp", "__packet_count", "__octet_count"):
        assert f"self.{figure}" in reports
    sender_setup = inspect.getsource(RTCRtpSender.send)
    assert "self.__mid = parameters.muxId" in sender_setup
    assert "self.__rtp_header_extensions_map.configure(parameters)" in sender_setup
    assert "self.__started = True" in sender_setup
    sending = inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "self._state != State.CONNECTED" in sending
    assert "data = self._tx_srtp.protect(data)" in sending
    assert "await self.transport._send(data)" in sending
    # The direct path does what aioice does for a direct pair, without its coroutines.
    assert "self.transport.sendto(data, addr)" in inspect.getsource(StunProtocol.send_data)
    assert "active_pair = self._nominated.get(component)" in inspect.getsource(aioice.Connection.sendto)
    assert "await active_pair.protocol.send_data(data, active_pair.remote_addr)" in inspect.getsource(
        aioice.Connection.sendto
    )


async def test_a_tapped_receiver_hands_over_every_packet_and_never_decodes() -> None:
    publisher = Publisher()
    relay_side = RTCPeerConnection(NO_ICE)
    packets: list[RtpPacket] = []

    async def collect(packet: RtpPacket) -> None:
        packets.append(packet)

    try:
        transceiver = relay_side.addTransceiver("video", direction="recvonly")
        seams.tap_receiver(transceiver.receiver, collect)
        assert seams.is_tapped(transceiver.receiver)
        await relay_side.setRemoteDescription(
            aiortc.RTCSessionDescription(sdp=await publisher.offer(audio=False), type="offer")
        )
        await relay_side.setLocalDescription(await relay_side.createAnswer())
        await publisher.accept(relay_side.localDescription.sdp)
        await eventually(lambda: seams.frames_dropped(transceiver.receiver) >= 10, timeout=15)
        codec = seams.negotiated_codecs(transceiver)[0]
        assert codec.mimeType == "video/VP8"
        media = [packet for packet in packets if packet.payload_type == codec.payloadType]
        assert media and starts_keyframe(codec.mimeType, media[0].payload)
        # The remote track gets nothing: no frame was decoded.
        assert transceiver.receiver.track._queue.empty()
        with pytest.raises(seams.SeamError):
            seams.tap_receiver(transceiver.receiver, collect)
        await seams.send_pli(transceiver.receiver, media[0].ssrc)
    finally:
        await publisher.close()
        await relay_side.close()
    await asyncio.sleep(0)


async def test_a_sender_port_writes_the_viewers_stream_and_retransmits_what_it_lost() -> None:
    """Packets written through a viewer's sender reach a real aiortc viewer as its negotiated stream; one the
    viewer missed is sent again (over RTX) when it asks (NACK), from the port's own history."""
    relay_side = RTCPeerConnection(NO_ICE)
    viewer = RTCPeerConnection(NO_ICE)
    track = ForwardTrack("video", "video/VP8")
    received: list[RtpPacket] = []
    try:
        transceiver = relay_side.addTransceiver(track, direction="sendonly")
        track.bind(transceiver)
        port = track.port
        assert port is not None and not port.ready()
        viewer_side = viewer.addTransceiver("video", direction="recvonly")
        handle = viewer_side.receiver._handle_rtp_packet

        async def record(packet: RtpPacket, arrival_time_ms: int) -> None:
            received.append(packet)
            await handle(packet, arrival_time_ms=arrival_time_ms)

        viewer_side.receiver._handle_rtp_packet = record  # type: ignore[method-assign]
        await viewer.setLocalDescription(await viewer.createOffer())
        await relay_side.setRemoteDescription(viewer.localDescription)
        await relay_side.setLocalDescription(await relay_side.createAnswer())
        await viewer.setRemoteDescription(relay_side.localDescription)
        await eventually(port.ready, timeout=10)
        codec = seams.negotiated_codecs(transceiver)[0]
        payload = bytes([0x10, 0x01]) + bytes(30)
        for sequence_number in range(10, 16):
            if sequence_number == 12:  # kept for retransmission, but "lost" on the way
                port.packet(sequence_number, 9000 * sequence_number, 1, payload)
            else:
                assert port.send(sequence_number, 9000 * sequence_number, 1, payload, 0) is None
        await eventually(lambda: any(p.payload_type != codec.payloadType for p in received), timeout=10)
        media = [p for p in received if p.payload_type == codec.payloadType]
        assert [p.sequence_number for p in media] == [10, 11, 13, 14, 15]
        assert {p.ssrc for p in media} == {transceiver.sender._ssrc}
        assert media[0].payload == payload
        retransmitted = [p for p in received if p.payload_type != codec.payloadType]
        # RTX (RFC 4588): the original sequence number, then the original payload.
        assert retransmitted[0].ssrc == transceiver.sender._rtx_ssrc
        assert retransmitted[0].payload == (12).to_bytes(2, "big") + payload
        # A packet far older than the last one (beyond the 1024-packet SRTP window): SRTP refuses it,
        # with an error the relay drops.
        port.write(port.packet(5000, 9000 * 5000, 1, payload))
        with pytest.raises(seams.SEND_ERRORS):
            port.write(port.packet(500, 9000 * 500, 1, payload))
        # Through a TURN relay (any other protocol than a direct pair's), aiortc's own path is awaited.
        nominated = transceiver.sender.transport.transport._connection._nominated
        relayed = copy.copy(nominated[1])
        relayed.protocol = copy.copy(relayed.protocol)
        relayed.protocol.__class__ = type("Relayed", (StunProtocol,), {})
        nominated[1] = relayed
        pending = port.write(port.packet(5001, 9000 * 5001, 1, payload))
        assert pending is not None
        await pending
        await eventually(lambda: received[-1].sequence_number == 5001, timeout=10)
        stats = await transceiver.sender.getStats()
        outbound = next(s for s in stats.values() if s.type == "outbound-rtp")
        assert outbound.packetsSent == 5  # as recorded by send()
    finally:
        track.stop()
        await viewer.close()
        await relay_side.close()


def test_keyframes_are_recognised_from_the_packet_that_begins_them() -> None:
    vp8 = "video/VP8"
    assert starts_keyframe(vp8, bytes([0x10, 0x00, 0x00]))  # S, partition 0; key frame tag
    assert not starts_keyframe(vp8, bytes([0x10, 0x01, 0x00]))  # an inter frame
    assert not starts_keyframe(vp8, bytes([0x00, 0x00, 0x00]))  # not the frame's first packet
    # Extended descriptor: X, then I with a 15-bit picture id, L, T/K; the frame tag after them.
    assert starts_keyframe(vp8, bytes([0x90, 0xF0, 0x80, 0x01, 0x02, 0x03, 0x00]))
    assert not starts_keyframe(vp8, bytes([0x90, 0xF0, 0x80, 0x01, 0x02, 0x03, 0x01]))
    assert not starts_keyframe(vp8, bytes([0x90, 0x80]))  # cut short
    h264 = "video/H264"
    assert starts_keyframe(h264, bytes([0x67, 0x42]))  # SPS
    assert starts_keyframe(h264, bytes([0x65, 0x88]))  # IDR slice
    assert not starts_keyframe(h264, bytes([0x41, 0x9A]))  # non-IDR slice
    stap_a = bytes([0x18, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0x01])
    assert starts_keyframe(h264, stap_a)
    assert starts_keyframe(h264, bytes([0x7C, 0x85, 0x00]))  # FU-A, start of an IDR slice
    assert not starts_keyframe(h264, bytes([0x7C, 0x05, 0x00]))  # FU-A, later fragment
    assert starts_keyframe("audio/opus", b"\x01")
    assert not starts_keyframe(vp8, b"")


def test_dtls_and_srtp_still_look_the_way_the_widening_expects() -> None:
    """A relay connection's DTLS offers ECDHE-RSA suites too, and its SRTP sessions take full-size packets."""
    pc = RTCPeerConnection(NO_ICE)
    seams.accept_any_dtls_peer(pc)
    with pytest.raises(seams.SeamError):
        seams.accept_any_dtls_peer(pc)  # once only: the certificate is already the relay's
    certificate = pc._RTCPeerConnection__certificates[0]
    context = certificate._create_ssl_context(srtp_profiles=SRTP_PROFILES)
    ciphers = SSL.Connection(context).get_cipher_list()
    assert "ECDHE-RSA-AES128-GCM-SHA256" in ciphers and "ECDHE-ECDSA-AES128-GCM-SHA256" in ciphers
    setup = inspect.getsource(RTCDtlsTransport._setup_srtp)
    assert "self._rx_srtp = Session(rx_policy)" in setup and "self._tx_srtp = Session(tx_policy)" in setup


async def test_a_guarded_transport_takes_full_size_packets_and_drops_what_is_amiss() -> None:
    key = bytes(range(30))
    sessions = []
    for direction in (Policy.SSRC_ANY_OUTBOUND, Policy.SSRC_ANY_INBOUND):
        policy = Policy(key=key, ssrc_type=direction, srtp_profile=SRTP_AES128_CM_SHA1_80.libsrtp_profile)
        sessions.append(Session(policy))
    sender, receiver = sessions
    drops = seams.DropCounter("test")
    pc = RTCPeerConnection(NO_ICE)
    transport = pc.addTransceiver("audio").receiver.transport
    datagrams = [b"", b"", b"\x80\x00"]

    async def receive() -> bytes:
        return datagrams.pop(0)

    transport.transport._recv = receive  # type: ignore[method-assign]
    transport._setup_srtp = lambda: None  # type: ignore[method-assign]
    transport._rx_srtp, transport._tx_srtp = receiver, sender
    seams.guard_transport(transport, drops)
    transport._setup_srtp()
    packet = RtpPacket(payload_type=96, sequence_number=1, ssrc=1234, payload=b"\x01" * 1450).serialize()
    assert receiver.unprotect(sender.protect(packet)) == packet
    with pytest.raises(SrtpError):
        sender.protect(packet + b"\x00" * seams.SRTP_BUFFER_BYTES)
    with pytest.raises(SrtpError):
        receiver.unprotect(b"\x80" + b"\x00" * 40)
    # Empty datagrams never reach aiortc (it would read their first byte).
    assert await transport.transport._recv() == b"\x80\x00"
    assert transport._rtp_router.route_rtp(RtpPacket(payload_type=99, ssrc=5)) is None
    for _ in range(int(seams.RTCP_BURST) + 10):
        await transport._handle_rtcp_data(b"\x80\xc9\x00\x01\x00\x00\x00\x01")
    assert drops.counts.pop("rtcp_flood") >= 5  # the bucket refills a little while the loop runs
    assert drops.counts == {"too_long": 1, "srtp_unprotect": 1, "empty": 2, "unknown_stream": 1}
    await pc.close()


async def test_a_retransmission_is_unwrapped_as_the_receiver_does_it() -> None:
    """Edge relays pass on repairs of their links: the receiver's codecs and RTX stream map tell them."""
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from aiortc.rtp import wrap_rtx

    pc = RTCPeerConnection(NO_ICE)
    try:
        receiver = pc.addTransceiver("video", direction="recvonly").receiver
        codecs = getattr(receiver, seams._RECEIVER_CODECS)
        rtx_ssrc = getattr(receiver, seams._RECEIVER_RTX_SSRC)
        assert isinstance(codecs, dict) and isinstance(rtx_ssrc, dict)
        codecs[96] = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
        codecs[97] = RTCRtpCodecParameters(
            mimeType="video/rtx", clockRate=90000, payloadType=97, parameters={"apt": 96}
        )
        rtx_ssrc[2222] = 1111
        original = RtpPacket(payload_type=96, sequence_number=500, timestamp=9000, ssrc=1111, payload=b"vp8")
        wrapped = wrap_rtx(original, payload_type=97, sequence_number=7, ssrc=2222)
        repaired = seams._unwrapped(receiver, wrapped)
        assert repaired is not None
        assert (repaired.payload_type, repaired.sequence_number, repaired.ssrc, repaired.payload) == (
            96,
            500,
            1111,
            b"vp8",
        )
        assert seams._unwrapped(receiver, original) is None
    finally:
        await pc.close()
