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

tests/test_media_seams.py fails loudly if an upgrade breaks any of this.

ICE: aioice's ``Connection.add_remote_candidate`` (reached through ``RTCIceTransport._connection``) is wrapped
per connection so that the relay ignores a remote end-of-candidates and mDNS host names
(``learn_addresses``); tests/test_media_mdns.py checks the aioice behaviour this relies on.
"""

from __future__ import annotations

import logging
import queue
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aioice.mdns
import aiortc
import pylibsrtp
from aioice.ice import StunProtocol
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket

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


def tap_receiver(receiver: RTCRtpReceiver, on_packet: PacketSink) -> None:
    """Hand every RTP packet a receiver gets to ``on_packet`` first; nothing it gets is decoded.

    Call before the connection starts the receiver. ``on_packet`` is awaited on the receiver's own loop, so
    whatever it sends goes out before the next packet is read.
    """
    if not hasattr(receiver, _DECODER_QUEUE) or getattr(receiver, _DECODER_THREAD, None) is not None:
        raise SeamError("RTCRtpReceiver has no decoder queue to replace, or has already started")
    setattr(receiver, _DECODER_QUEUE, _NoDecoding())
    handle: Callable[..., Awaitable[None]] = receiver._handle_rtp_packet

    async def tapped(packet: RtpPacket, arrival_time_ms: int) -> None:
        try:
            await on_packet(packet)
        except Exception:
            # A fault in forwarding must not end the publisher's connection: this packet is lost, no more.
            log.exception("forwarding an RTP packet failed")
        await handle(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = tapped  # type: ignore[method-assign]


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

        async def retransmit(sequence_number: int) -> None:
            data = self._history[sequence_number % RTP_HISTORY_SIZE]
            if data is None or _HEADER.unpack_from(data)[2] != sequence_number:
                return
            history: dict[int, RtpPacket] = getattr(self.sender, _SENDER + "rtp_history")
            history[sequence_number % RTP_HISTORY_SIZE] = RtpPacket.parse(data, self._extension_map())
            await original(sequence_number)

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
