"""Every use Hemicycle makes of aiortc's private internals, in one place.

The relay forwards the publisher's RTP packets to every viewer as they arrive, as a selective forwarding
unit does: no decoding, no re-encoding, not even re-assembling frames or packetising them again per viewer.
aiortc has no public API for that, so this module reaches into these places of aiortc 1.16.0 (pinned in
pyproject.toml):

1. ``RTCRtpReceiver._handle_rtp_packet``: wrapped per instance, so each packet the publisher sends reaches
   the relay first (then aiortc's own handling: receiver statistics and reports, NACKs to the publisher).
2. ``RTCRtpReceiver.__decoder_queue``: the receiver still re-assembles frames for its decoder thread; we
   replace the queue, before the receiver starts, with one that drops them, so nothing is ever decoded.
3. ``RTCRtpReceiver._send_rtcp_pli``: asks the publisher for a keyframe (RFC 4585 picture loss).
4. ``RTCRtpSender``: a viewer's sender keeps its RTCP (sender reports, receiver reports, NACK, PLI) but its
   track never yields a frame; the relay writes the RTP itself with the sender's SSRC, payload type and
   header extensions (``__mid``, ``__rtp_header_extensions_map``), encrypted with the DTLS transport's SRTP
   session (``RTCDtlsTransport._tx_srtp``, ``_state``) and sent on the ICE connection's nominated pair
   (aioice ``Connection._nominated``): straight to the UDP socket for a direct pair, as aioice's
   ``StunProtocol.send_data`` does, else through ``RTCDtlsTransport._send_rtp`` (a TURN relay). The relay
   keeps the figures the sender's reports carry (``__ntp_timestamp``, ``__rtp_timestamp``,
   ``__octet_count``, ``__packet_count``) up to date; the DTLS transport's own byte counts are not.
   ``_send_keyframe`` (PLI/FIR from the viewer) is replaced per instance so the request goes upstream, and
   ``_retransmit`` (NACK) so a lost packet is sent again from the relay's own history, through aiortc's
   retransmission (RTX when negotiated, via ``__rtp_history``).
5. ``RTCPeerConnection.__certificates`` and ``RTCCertificate._create_ssl_context``: aiortc offers only
   ECDHE-ECDSA cipher suites, so as DTLS client it cannot reach a server with an RSA certificate (GStreamer's
   webrtcbin, many hardware encoders); ``accept_any_dtls_peer`` adds the ECDHE-RSA suites.
6. ``RTCDtlsTransport._setup_srtp`` and pylibsrtp ``Session._cdata``/``_buffer``: pylibsrtp works in a
   1,500-byte buffer, too small for a full-size packet from a 1,400-byte-MTU payloader once it carries the
   relay's header extension and the SRTP tag; ``guard_transport`` gives each session a larger one and turns a
   packet that still does not fit into a dropped packet instead of an exception in aiortc's receive loop. It
   also wraps ``RTCIceTransport._recv`` (empty datagrams), ``RtpRouter.route_rtp`` (packets of no stream)
   and ``RTCDtlsTransport._handle_rtcp_data`` (RTCP floods), per instance.

An edge relay's link receivers also hand on retransmissions: ``RTCRtpReceiver.__codecs`` and ``__rtx_ssrc``
tell an RTX packet and the stream it repairs, as aiortc's own ``_handle_rtp_packet`` reads them.

tests/test_media_seams.py fails loudly if an upgrade breaks any of this.

ICE: aioice's ``Connection.add_remote_candidate`` (reached through ``RTCIceTransport._connection``) is wrapped
per connection so that the relay ignores a remote end-of-candidates and mDNS host names
(``learn_addresses``); tests/test_media_mdns.py checks the aioice behaviour this relies on.
"""

from __future__ import annotations

import logging
import queue
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aioice.mdns
import aiortc
import pylibsrtp
from aioice.ice import StunProtocol
from aiortc import RTCCertificate, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport, SRTPProtectionProfile
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket, unwrap_rtx
from OpenSSL import SSL
from pylibsrtp._binding import ffi  # type: ignore[import-not-found]

from server.domain.ratelimit import TokenBucket

log = logging.getLogger(__name__)

# The aiortc release whose internals this module was written against.
AIORTC_VERSION = "1.16.0"

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"

PacketSink = Callable[[RtpPacket], Awaitable[None]]


class SeamError(RuntimeError):
    """aiortc no longer looks the way this module expects: the relay cannot forward."""


def check_version() -> None:
    """Refuse to run the relay on an aiortc whose internals have not been checked."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise SeamError(
            f"the media relay relies on aiortc {AIORTC_VERSION} internals, found {aiortc.__version__}: "
            "run tests/test_media_seams.py against the new version, then update AIORTC_VERSION"
        )


# aiortc's four ECDHE-ECDSA suites, then their ECDHE-RSA counterparts: the suite follows the server's
# certificate, so a relay that is the DTLS client must offer both (as browsers do).
DTLS_CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    b"ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA"
)
_CERTIFICATES = "_RTCPeerConnection__certificates"


class _AnyPeerCertificate(RTCCertificate):
    """aiortc's certificate (ECDSA P-256), in a DTLS context that can also talk to an RSA peer."""

    def _create_ssl_context(self, srtp_profiles: list[SRTPProtectionProfile]) -> SSL.Context:
        context = super()._create_ssl_context(srtp_profiles)
        context.set_cipher_list(DTLS_CIPHERS)
        return context


def accept_any_dtls_peer(pc: RTCPeerConnection) -> None:
    """Let a new connection complete DTLS with a peer of either certificate type, in either role.

    Call before the first transceiver is added: its DTLS transport takes the certificate then.
    """
    certificates: list[RTCCertificate] = getattr(pc, _CERTIFICATES, [])
    if len(certificates) != 1 or type(certificates[0]) is not RTCCertificate:
        raise SeamError("RTCPeerConnection has no single certificate to widen")
    certificate = certificates[0]
    certificates[0] = _AnyPeerCertificate(key=certificate._key, cert=certificate._cert)


# A UDP datagram on any usual path (Ethernet and jumbo frames alike) fits; pylibsrtp's own buffer is 1,500.
SRTP_BUFFER_BYTES = 9216
# RTCP a peer may send: compound packets per second, and a burst. A browser sends a few a second, more
# while it loses packets; past this each one still costs parsing, NACK lookups and keyframe logic.
RTCP_PER_SECOND = 200.0
RTCP_BURST = 400.0
# Retransmissions one viewer may ask for: a NACK can name many packets at once.
RETRANSMITS_PER_SECOND = 500.0
DROP_LOG_SECONDS = 60.0


class DropCounter:
    """What a connection dropped, by reason: packets that could not be decrypted, did not fit, belonged to
    no stream, arrived empty, or came too fast. Logged (a warning) at most once a minute per connection."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.counts: dict[str, int] = {}
        self._logged_at = -DROP_LOG_SECONDS

    def add(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._logged_at >= DROP_LOG_SECONDS:
            self._logged_at = now
            log.warning("media resource %s dropped bad or excess packets: %s", self.name, self.counts)


def _widen(session: pylibsrtp.Session, drops: DropCounter) -> None:
    cdata = ffi.new("char[]", SRTP_BUFFER_BYTES)
    session._cdata = cdata
    session._buffer = ffi.buffer(cdata)
    for name in ("unprotect", "unprotect_rtcp", "protect", "protect_rtcp"):
        method: Callable[[bytes], bytes] = getattr(session, name)

        def guarded(data: bytes, method: Callable[[bytes], bytes] = method, name: str = name) -> bytes:
            try:
                return method(data)
            except ValueError:
                # Over the buffer: aiortc expects pylibsrtp.Error (it drops the packet), not ValueError.
                drops.add("too_long")
                raise pylibsrtp.Error(f"{name}: packet is too long ({len(data)} bytes)") from None
            except pylibsrtp.Error:
                drops.add("srtp_" + name)
                raise

        setattr(session, name, guarded)


def guard_transport(transport: RTCDtlsTransport, drops: DropCounter) -> None:
    """Make a DTLS transport drop, and count, what a peer (or anyone who knows its port) sends amiss.

    - SRTP sessions get a buffer for full-size packets; one still too long is dropped, not raised.
    - An empty datagram is dropped before aiortc reads its first byte (an IndexError there would end the
      transport's receive loop, and the connection with it). aioice hands on whatever reaches the socket.
    - RTP that belongs to no negotiated stream (unknown payload type or SSRC) is counted as aiortc drops it.
    - RTCP beyond ``RTCP_PER_SECOND`` is dropped.
    """
    if getattr(transport, "_hemicycle_guarded", False):
        return
    for name in ("_setup_srtp", "_handle_rtcp_data"):
        if not callable(getattr(transport, name, None)):
            raise SeamError(f"RTCDtlsTransport has no {name} to wrap")
    setup: Callable[[], None] = transport._setup_srtp

    def wide_setup() -> None:
        setup()
        for session in (transport._rx_srtp, transport._tx_srtp):
            if session is not None:
                _widen(session, drops)

    transport._setup_srtp = wide_setup  # type: ignore[method-assign]

    ice = transport.transport
    receive: Callable[[], Awaitable[bytes]] = ice._recv

    async def receive_nonempty() -> bytes:
        while True:
            data = await receive()
            if data:
                return data
            drops.add("empty")

    ice._recv = receive_nonempty

    route: Callable[[RtpPacket], Any] = transport._rtp_router.route_rtp

    def route_counted(packet: RtpPacket) -> Any:
        receiver = route(packet)
        if receiver is None:
            drops.add("unknown_stream")
        return receiver

    transport._rtp_router.route_rtp = route_counted  # type: ignore[method-assign]

    handle_rtcp: Callable[[bytes], Awaitable[None]] = transport._handle_rtcp_data
    bucket = TokenBucket(RTCP_PER_SECOND, RTCP_BURST)

    async def rtcp_limited(data: bytes) -> None:
        if not bucket.take(time.monotonic()):
            drops.add("rtcp_flood")
            return
        await handle_rtcp(data)

    transport._handle_rtcp_data = rtcp_limited  # type: ignore[method-assign]
    transport._hemicycle_guarded = True  # type: ignore[attr-defined]


class _NoDecoding(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue: frames are dropped, only the stop marker queues."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None)
        else:
            self.frames += 1


def tap_receiver(
    receiver: RTCRtpReceiver, on_packet: PacketSink, on_repaired: PacketSink | None = None
) -> None:
    """Hand every RTP packet a receiver gets to ``on_packet`` first; nothing it gets is decoded.

    Call before the connection starts the receiver. ``on_packet`` is awaited on the receiver's own loop, so
    whatever it sends goes out before the next packet is read. With ``on_repaired``, a retransmission (RTX,
    RFC 4588) is also handed to it unwrapped, as the packet it repairs (an edge relay passes repairs of its
    link on to its viewers).
    """
    if not hasattr(receiver, _DECODER_QUEUE) or getattr(receiver, _DECODER_THREAD, None) is not None:
        raise SeamError("RTCRtpReceiver has no decoder queue to replace, or has already started")
    setattr(receiver, _DECODER_QUEUE, _NoDecoding())
    handle: Callable[..., Awaitable[None]] = receiver._handle_rtp_packet

    failures = {"count": 0, "logged_at": -DROP_LOG_SECONDS}

    async def tapped(packet: RtpPacket, arrival_time_ms: int) -> None:
        try:
            await on_packet(packet)
            if on_repaired is not None:
                repaired = _unwrapped(receiver, packet)
                if repaired is not None:
                    await on_repaired(repaired)
        except Exception:
            # A fault in forwarding must not end the publisher's connection: this packet is lost, no more.
            # Logged once a minute at most: a fault that repeats would otherwise log every packet.
            failures["count"] += 1
            now = time.monotonic()
            if now - failures["logged_at"] >= DROP_LOG_SECONDS:
                failures["logged_at"] = now
                log.exception("forwarding an RTP packet failed (%d so far)", failures["count"])
        await handle(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = tapped  # type: ignore[method-assign]


_RECEIVER_CODECS = "_RTCRtpReceiver__codecs"
_RECEIVER_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"


def _unwrapped(receiver: RTCRtpReceiver, packet: RtpPacket) -> RtpPacket | None:
    """The packet an RTX retransmission carries, as aiortc's receiver unwraps it; None for anything else."""
    codecs: dict[int, RTCRtpCodecParameters] = getattr(receiver, _RECEIVER_CODECS)
    codec = codecs.get(packet.payload_type)
    if codec is None or codec.mimeType.lower() != "video/rtx" or len(packet.payload) < 2:
        return None
    original_ssrc = getattr(receiver, _RECEIVER_RTX_SSRC).get(packet.ssrc)
    apt = codec.parameters.get("apt")
    if original_ssrc is None or not isinstance(apt, int) or apt not in codecs:
        return None
    return unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)


def is_tapped(receiver: RTCRtpReceiver) -> bool:
    return isinstance(getattr(receiver, _DECODER_QUEUE, None), _NoDecoding)


def frames_dropped(receiver: RTCRtpReceiver) -> int:
    """Frames the receiver re-assembled for a decoder and the tap dropped instead."""
    tap = getattr(receiver, _DECODER_QUEUE, None)
    return tap.frames if isinstance(tap, _NoDecoding) else 0


_HEADER = struct.Struct("!BBHII")
# What writing a packet may raise: not connected (any more), or refused by SRTP (a sequence number already
# used or too old: a duplicate from the publisher). Either way the packet is dropped, the viewer goes on.
SEND_ERRORS = (ConnectionError, pylibsrtp.Error)
_SENDER = "_RTCRtpSender__"
_NTP_TIMESTAMP = _SENDER + "ntp_timestamp"
_RTP_TIMESTAMP = _SENDER + "rtp_timestamp"
_OCTET_COUNT = _SENDER + "octet_count"
_PACKET_COUNT = _SENDER + "packet_count"


class SenderPort:
    """Writes RTP through a viewer's ``RTCRtpSender``: its SSRC, payload type, extensions and SRTP keys.

    Usable once the sender has started (the answer is applied) and its DTLS transport is connected:
    ``ready()`` says when, and fixes the header every packet gets from then on. Written this way, a packet
    costs an SRTP encryption and one ``sendto``: no task, no coroutine.
    """

    def __init__(self, transceiver: RTCRtpTransceiver) -> None:
        self.sender: RTCRtpSender = transceiver.sender
        self._transceiver = transceiver
        self._history: list[bytes | None] = [None] * RTP_HISTORY_SIZE
        self._first_byte = 0
        self._payload_type = 0
        self._ssrc = 0
        self._extensions = b""
        self._ready = False
        self._dtls: Any = None
        self._ice: Any = None
        self._pair: Any = None
        self._sendto: Callable[[bytes, Any], None] | None = None
        self._address: Any = None
        # The sender's own attributes, where its reports read them.
        self._figures: dict[str, Any] = vars(self.sender)
        for name in (_NTP_TIMESTAMP, _RTP_TIMESTAMP, _OCTET_COUNT, _PACKET_COUNT):
            if not isinstance(self._figures.get(name), int):
                raise SeamError(f"RTCRtpSender has no {name} figure to keep")
        original: Callable[[int], Awaitable[None]] = self.sender._retransmit
        budget = TokenBucket(RETRANSMITS_PER_SECOND, RTP_HISTORY_SIZE)

        async def retransmit(sequence_number: int) -> None:
            if not budget.take(time.monotonic()):
                return  # a NACK flood: the relay does not multiply it
            data = self._history[sequence_number % RTP_HISTORY_SIZE]
            if data is None or _HEADER.unpack_from(data)[2] != sequence_number:
                return
            history: dict[int, RtpPacket] = getattr(self.sender, _SENDER + "rtp_history")
            history[sequence_number % RTP_HISTORY_SIZE] = RtpPacket.parse(data, self._extension_map())
            try:
                await original(sequence_number)
            except (*SEND_ERRORS, ValueError) as exc:
                # Raised here, it would end aiortc's receive loop and with it this viewer's connection.
                log.debug("retransmitting packet %d failed: %s", sequence_number, exc)

        self.sender._retransmit = retransmit  # type: ignore[method-assign]

    def _extension_map(self) -> Any:
        return getattr(self.sender, _SENDER + "rtp_header_extensions_map")

    def ready(self) -> bool:
        if self._ready:
            return True
        if not getattr(self.sender, _SENDER + "started"):
            return False
        transport = self.sender.transport
        if transport.state != "connected":
            return False
        payload_type = negotiated_codecs(self._transceiver)[0].payloadType
        if payload_type is None:
            raise SeamError("the viewer's negotiated codec has no payload type")
        template = RtpPacket(payload_type=payload_type)
        template.ssrc = self.sender._ssrc
        template.extensions.mid = getattr(self.sender, _SENDER + "mid")
        header = template.serialize(self._extension_map())
        self._first_byte = header[0]
        self._payload_type = template.payload_type
        self._ssrc = template.ssrc
        self._extensions = header[12:]
        self._dtls = transport
        self._ice = transport.transport._connection
        self._ready = True
        return True

    def write(self, data: bytes) -> Awaitable[None] | None:
        """Encrypt and send a packet from ``packet()`` now, or (through a TURN relay) return what to await.

        Raises one of ``SEND_ERRORS`` when it cannot be sent.
        """
        dtls = self._dtls
        if dtls is None or dtls._state != DtlsState.CONNECTED:
            raise ConnectionError("the viewer is not connected")
        pair = self._ice._nominated.get(1)
        if pair is not self._pair:
            self._route(pair)
        if self._sendto is not None:
            self._sendto(dtls._tx_srtp.protect(data), self._address)
            return None
        awaitable: Awaitable[None] = dtls._send_rtp(data)
        return awaitable

    def _route(self, pair: Any) -> None:
        """The nominated pair changed (first use, ICE restart): send straight to its socket if direct."""
        if pair is None:
            raise ConnectionError("the viewer has no ICE pair")
        self._pair = pair
        direct = type(pair.protocol) is StunProtocol
        self._sendto = pair.protocol.transport.sendto if direct else None
        self._address = pair.remote_addr

    def packet(self, sequence_number: int, timestamp: int, marker: int, payload: bytes) -> bytes:
        """An RTP packet of this sender's stream (kept for retransmission), to hand to ``write``."""
        data = (
            _HEADER.pack(
                self._first_byte, (marker << 7) | self._payload_type, sequence_number, timestamp, self._ssrc
            )
            + self._extensions
            + payload
        )
        self._history[sequence_number % RTP_HISTORY_SIZE] = data
        return data

    def send(
        self, sequence_number: int, timestamp: int, marker: int, payload: bytes, ntp_time: int
    ) -> Awaitable[None] | None:
        """``packet`` and ``write`` in one, keeping the sender's report figures true (RFC 3550 6.4.1)."""
        write = self.write(self.packet(sequence_number, timestamp, marker, payload))
        figures = self._figures
        figures[_NTP_TIMESTAMP] = ntp_time
        figures[_RTP_TIMESTAMP] = timestamp
        figures[_OCTET_COUNT] += len(payload)
        figures[_PACKET_COUNT] += 1
        return write


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the publisher behind a receiver for a keyframe."""
    await receiver._send_rtcp_pli(media_ssrc)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the viewer behind a sender sends PLI or FIR."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


def accept_opus_fec(transceiver: RTCRtpTransceiver) -> None:
    """Answer a publisher's Opus with ``useinbandfec=1`` (RFC 7587 6.1).

    It says the receiver (the relay) takes in-band FEC, and browsers send FEC only when the answer says so;
    viewers' decoders use it to conceal a lost packet, or ignore it. aiortc answers with its own codec
    parameters, which lack it: the agreed codecs are changed after the offer is applied, before the answer
    is made from them. DTX is not asked for (it would change what browsers send in silence), but an encoder
    that uses it is forwarded as it comes.
    """
    for codec in negotiated_codecs(transceiver):
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters = {**codec.parameters, "useinbandfec": 1}


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs a transceiver agreed on, first the one media is sent with."""
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    return codecs


_LEARNING = "_hemicycle_learns_addresses"


def learn_addresses(pc: aiortc.RTCPeerConnection) -> None:
    """Let ``pc`` connect to a browser that hides its addresses, whatever its offer says.

    Until a site has a remembered camera or microphone permission, browsers (Firefox, Chromium, Safari)
    give their host candidates as mDNS ``.local`` names; Firefox also ends its offer with
    ``a=end-of-candidates``. aioice would resolve each name by multicast (a server is rarely on the
    browser's link, so this only waits a second), then take "end of candidates" with none resolved to mean
    that no component has a pair: it gathers no candidates of its own and fails at once. So, on every ICE
    connection of ``pc`` (call before the offer is applied), both are ignored: the relay answers with its
    own candidates and keeps waiting for checks, learning the browser's address from the first one it
    receives (a peer-reflexive candidate, RFC 8445 7.3.1.3), as it does when a browser's host candidates
    are unreachable. What never connects is closed by the relay's own deadline instead.
    """
    for transceiver in pc.getTransceivers():
        connection: Any = transceiver.receiver.transport.transport._connection
        if not getattr(connection, _LEARNING, False):
            connection.add_remote_candidate = _signalled_only(connection.add_remote_candidate)
            setattr(connection, _LEARNING, True)


def _signalled_only(add: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
    """``add_remote_candidate`` without the end of candidates and without mDNS names."""

    async def add_remote_candidate(candidate: Any) -> None:
        if candidate is None or aioice.mdns.is_mdns_hostname(candidate.host):
            return
        await add(candidate)

    return add_remote_candidate
