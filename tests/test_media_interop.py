"""Clients the relay's own tests do not use: GStreamer's webrtcbin publishing over WHIP as an external
encoder process (its RSA certificate, ``a=setup:actpass``, 1400-byte packets), aiortc viewers over WHEP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiortc.rtp import RtpPacket
from playwright.async_api import Browser

from server.domain.roles import Role
from server.media.forward import GOP_REPLAY_SECONDS
from server.media.relay import ROOM
from server.media.seams import RTCP_BURST, SRTP_BUFFER_BYTES
from server.media_http import MEDIA_KEY

from .browser import open_page, real_errors
from .conftest import make_settings, run_app
from .helpers import Running, eventually, free_port, start
from .media_peers import Publisher, Viewer

SDP = {"Content-Type": "application/sdp"}
PUBLISHER_SCRIPT = Path(__file__).with_name("gst_publisher.py")
PLAYER_ORIGIN = "http://player.example.org:8081"
PLAYER_PAGE = Path(__file__).with_name("assets") / "whep_player.html"


@pytest.fixture
def player_port() -> int:
    """Where a web player's page is served: another origin than Hemicycle's."""
    return free_port()


@pytest.fixture
async def hemicycle(tmp_path: Path, player_port: int) -> AsyncIterator[Running]:
    settings = make_settings(
        tmp_path,
        media_connect_seconds=10.0,
        cors_origins=(PLAYER_ORIGIN, f"http://127.0.0.1:{player_port}"),
        stun_urls=("stun:stun.example.org:3478",),
    )
    async for running in run_app(settings):
        yield running


@dataclass
class GstPublisher:
    """tests/gst_publisher.py in its own process, and the lines it printed."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode().strip()
            self.lines.append(line)
            print("gst:", line, file=sys.stderr)

    def saw(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for line in self.lines)

    def count(self, line: str) -> int:
        return self.lines.count(line)

    async def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


@contextlib.asynccontextmanager
async def gst_publish(python: str, url: str, token: str, *options: str) -> AsyncIterator[GstPublisher]:
    process = await asyncio.create_subprocess_exec(
        python, str(PUBLISHER_SCRIPT), url, token, *options, stdout=asyncio.subprocess.PIPE
    )
    publisher = GstPublisher(process)
    publisher.reader = asyncio.ensure_future(publisher.read())
    try:
        yield publisher
    finally:
        await publisher.stop()


async def whep(url: str, token: str) -> tuple[Viewer, str]:
    viewer = Viewer()
    offer = await viewer.offer()
    headers = SDP | {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.post(url, data=offer, headers=headers) as response:
        answer = await response.text()
        assert response.status == 201, answer
        location = response.headers["Location"]
    await viewer.accept(answer)
    return viewer, location


async def connected(publisher: GstPublisher) -> None:
    def check() -> bool:
        failed = [line for line in publisher.lines if line.startswith("error") or line.endswith("failed")]
        assert not failed, failed
        return publisher.saw("connection-state connected")

    await eventually(check, timeout=20)


class PacketLog:
    """What a viewer's video receiver got: sizes by sequence number, and the originals RTX sent again."""

    def __init__(self, viewer: Viewer) -> None:
        self.sizes: dict[int, int] = {}
        self.resent: set[int] = set()
        self.receiver = next(r for r in viewer.pc.getReceivers() if r.track and r.track.kind == "video")
        handle = self.receiver._handle_rtp_packet
        codecs = {c.payloadType: c.mimeType.lower() for c in self.receiver._RTCRtpReceiver__codecs.values()}

        async def logged(packet: RtpPacket, arrival_time_ms: int) -> None:
            if codecs.get(packet.payload_type) == "video/rtx" and len(packet.payload) >= 2:
                self.resent.add(int.from_bytes(packet.payload[:2], "big"))
            else:
                self.sizes[packet.sequence_number] = len(packet.serialize())
                self.ssrc = packet.ssrc
            await handle(packet, arrival_time_ms=arrival_time_ms)

        self.receiver._handle_rtp_packet = logged  # type: ignore[method-assign]


@pytest.mark.parametrize(
    "video",
    [
        # The relay as DTLS server for an RSA client (the encoder offers setup:active), then as client.
        ["vp8", "--setup", "active"],
        ["h264", "--profile", "constrained-baseline"],
        ["h264", "--profile", "main"],
    ],
    ids=str,
)
async def test_gstreamer_publishes_over_whip(
    hemicycle: Running, gstreamer_python: str, video: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """webrtcbin offers actpass with an RSA certificate and sends full 1400-byte packets (H.264 as STAP-A and
    FU-A, Opus with FEC and DTX): the relay must complete DTLS with it, forward every packet to each viewer,
    ask the encoder for a keyframe for a late viewer, and retransmit what a viewer lost."""
    base = f"{hemicycle.url}/api/sessions/{hemicycle.live_session}"
    av = await hemicycle.staff_token(Role.AV)
    attendee = (await hemicycle.register())["token"]
    async with gst_publish(gstreamer_python, f"{base}/whip", av, "--video", *video) as publisher:
        await connected(publisher)
        first, _ = await whep(f"{base}/whep", attendee)
        viewers = [first]
        try:
            await eventually(lambda: first.frames["video"] >= 10 and first.loud_frames >= 10, timeout=20)
            assert first.sizes == {(640, 480)}
            # Once the last keyframe is older than the relay replays, a late viewer's picture needs a new one,
            # which only the encoder can make (its own interval is 100 s): the relay must ask for it.
            relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
            assert relay is not None
            stats = relay.feed(ROOM, "video").stats
            last = {"keyframes": -1, "at": 0.0}

            def keyframes_quiet() -> bool:
                now = asyncio.get_running_loop().time()
                if stats.keyframes != last["keyframes"]:
                    last.update(keyframes=stats.keyframes, at=now)
                return now - last["at"] > GOP_REPLAY_SECONDS + 0.3

            await eventually(keyframes_quiet, timeout=15)
            requests, keyframes = publisher.count("keyframe-request"), stats.keyframes
            late, _ = await whep(f"{base}/whep", attendee)
            viewers.append(late)
            await eventually(lambda: late.frames["video"] >= 10 and late.loud_frames >= 5, timeout=10)
            assert publisher.count("keyframe-request") > requests
            assert stats.keyframes > keyframes
            # A viewer asks again for its largest packet: it comes back (by RTX), and both viewers go on.
            log = PacketLog(first)
            await eventually(lambda: len(log.sizes) > 30, timeout=10)
            largest = max(log.sizes, key=lambda seq: log.sizes[seq])
            assert log.sizes[largest] >= 1300, log.sizes[largest]
            await log.receiver._send_rtcp_nack(log.ssrc, [largest])
            await eventually(lambda: largest in log.resent, timeout=5)
            frames = [viewer.frames["video"] for viewer in viewers]
            await eventually(
                lambda: all(v.frames["video"] > n + 10 for v, n in zip(viewers, frames, strict=True)),
                timeout=10,
            )
            assert all(v.pc.connectionState == "connected" for v in viewers)
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert not errors, [r.getMessage()[:200] for r in errors]
        finally:
            for viewer in viewers:
                await viewer.close()


async def test_offers_without_a_usable_fingerprint_are_refused(hemicycle: Running) -> None:
    """Without a fingerprint aiortc would answer, then fail in a background task: refuse up front."""
    url = f"{hemicycle.url}/api/sessions/{hemicycle.live_session}/whip"
    av = await hemicycle.staff_token(Role.AV)
    publisher = Publisher()
    offer = await publisher.offer()
    await publisher.close()
    lines = offer.splitlines()
    without = [line for line in lines if not line.startswith("a=fingerprint:")]
    sha1_only = [
        "a=fingerprint:sha-1 " + ":".join(["AB"] * 20) if line.startswith("a=fingerprint:") else line
        for line in lines
    ]
    malformed = [
        "a=fingerprint:sha-256 ZZ:12" if line.startswith("a=fingerprint:sha-256") else line for line in lines
    ]
    headers = SDP | {"Authorization": f"Bearer {av}"}
    async with aiohttp.ClientSession() as http:
        for body in (without, sha1_only, malformed):
            async with http.post(url, data="\r\n".join(body) + "\r\n", headers=headers) as response:
                reply = await response.json()
                assert (response.status, reply["error"]["code"]) == (400, "invalid_sdp"), reply
    relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
    assert relay is None or not relay.peers


async def test_cors_options_and_idempotent_delete_for_web_players(hemicycle: Running) -> None:
    """A player page on another origin: preflights pass, answers are readable, PATCH gets a readable 405,
    and a DELETE after the connection already ended succeeds."""
    base = f"{hemicycle.url}/api/sessions/{hemicycle.live_session}"
    av = await hemicycle.staff_token(Role.AV)
    attendee = (await hemicycle.register())["token"]
    origin = {"Origin": PLAYER_ORIGIN}
    async with aiohttp.ClientSession() as http:
        preflight = await http.options(
            f"{base}/whep",
            headers=origin
            | {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
        )
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == PLAYER_ORIGIN
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
        assert "Link" not in preflight.headers  # no token, no ICE servers
        stranger = await http.options(
            f"{base}/whep",
            headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"},
        )
        assert "Access-Control-Allow-Origin" not in stranger.headers
        assert (
            "Access-Control-Allow-Origin"
            not in (await http.get(f"{hemicycle.url}/api/health", headers=origin)).headers
        )
        # A plain OPTIONS with a token: the caller's ICE servers, as on the 201 (RFC 9725 4.6).
        plain = await http.options(f"{base}/whip", headers={"Authorization": f"Bearer {av}"})
        assert plain.status == 204
        assert plain.headers.getall("Link") == ['<stun:stun.example.org:3478>; rel="ice-server"']

        viewer = Viewer()
        offer = await viewer.offer()
        auth = {"Authorization": f"Bearer {attendee}"}
        # A publisher's Opus is answered with in-band FEC accepted, so that browsers send it.
        publisher = Publisher()
        whip_headers = SDP | origin | {"Authorization": f"Bearer {av}"}
        async with http.post(f"{base}/whip", data=await publisher.offer(), headers=whip_headers) as response:
            assert response.status == 201
            assert re.search(r"a=fmtp:\d+ .*useinbandfec=1", await response.text())
        await publisher.close()
        async with http.post(f"{base}/whep", data=offer, headers=SDP | auth | origin) as response:
            assert response.status == 201
            assert response.headers["Access-Control-Allow-Origin"] == PLAYER_ORIGIN
            exposed = response.headers["Access-Control-Expose-Headers"]
            assert all(name in exposed for name in ("Location", "Link", "ETag"))
            location = hemicycle.url + response.headers["Location"]
            assert response.headers["ETag"]
            await viewer.accept(await response.text())
        resource = await http.options(location, headers=origin | {"Access-Control-Request-Method": "PATCH"})
        assert resource.status == 204
        assert {"DELETE", "PATCH"} <= set(resource.headers["Access-Control-Allow-Methods"].split(", "))
        assert (await http.options(location)).headers["Allow"] == "DELETE, OPTIONS, PATCH"
        trickle = await http.patch(
            location,
            data="a=end-of-candidates",
            headers=auth | origin | {"Content-Type": "application/trickle-ice-sdpfrag"},
        )
        assert trickle.status == 405
        assert trickle.headers["Access-Control-Allow-Origin"] == PLAYER_ORIGIN
        assert (await trickle.json())["error"]["code"] == "method_not_allowed"

        # The player closes its connection first, then sends DELETE: success, and again.
        relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
        assert relay is not None
        resource_id = location.rsplit("/", 1)[1]
        await eventually(lambda: relay.peers[resource_id].pc.connectionState == "connected", timeout=10)
        await viewer.close()
        await eventually(lambda: resource_id not in relay.peers, timeout=10)
        for _ in range(2):
            ended = await http.delete(location, headers=auth | origin)
            assert ended.status == 200
            assert ended.headers["Access-Control-Allow-Origin"] == PLAYER_ORIGIN
        other = (await hemicycle.register())["token"]
        refused = await http.delete(location, headers={"Authorization": f"Bearer {other}"})
        assert refused.status == 404
        unknown = await http.delete(location + "x", headers=auth)
        assert (unknown.status, (await unknown.json())["error"]["code"]) == (404, "media_not_found")


@pytest.mark.parametrize("video", ["vp8", "h264"])
async def test_a_web_whep_player_on_another_origin_plays_a_gstreamer_publication(
    hemicycle: Running, gstreamer_python: str, browser: Browser, player_port: int, video: str
) -> None:
    """Chromium runs a standard WHEP player from its own origin (CORS): it plays what webrtcbin publishes,
    probes trickle ICE and goes on without it, and its DELETE after closing its connection succeeds."""

    async def player_page(_: web.Request) -> web.StreamResponse:
        return web.FileResponse(PLAYER_PAGE)

    async def no_icon(_: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    page_app = web.Application()
    page_app.router.add_get("/", player_page)
    page_app.router.add_get("/favicon.ico", no_icon)
    page_server = await start(page_app, player_port)
    base = f"{hemicycle.url}/api/sessions/{hemicycle.live_session}"
    av = await hemicycle.staff_token(Role.AV)
    attendee = (await hemicycle.register())["token"]
    errors: list[str] = []
    try:
        async with gst_publish(gstreamer_python, f"{base}/whip", av, "--video", video) as publisher:
            await connected(publisher)
            page = await open_page(browser, f"http://127.0.0.1:{player_port}/", errors)
            started = await page.evaluate("([url, token]) => play(url, token)", [f"{base}/whep", attendee])
            assert started["location"].startswith(f"{base.replace('/whep', '')}/media/"), started
            assert started["etag"] and started["trickle"] == 405, started

            await page.click("#listen")

            async def played() -> bool:
                got = await page.evaluate("received()")
                return bool(got["video"] >= 20 and got["width"] == 640 and got["peak"] > 0.05)

            deadline = asyncio.get_running_loop().time() + 20
            while not await played():
                assert asyncio.get_running_loop().time() < deadline, await page.evaluate("received()")
                await asyncio.sleep(0.2)
            assert await page.evaluate("stop()") == 200
            relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
            assert relay is not None
            await eventually(lambda: all(p.role == "publish" for p in relay.peers.values()), timeout=10)
        # The refused trickle is the one failed request a browser reports, and the player expects it.
        unexpected = [e for e in real_errors(errors) if "405 (Method Not Allowed)" not in e]
        assert not unexpected, errors
    finally:
        await page_server.close()


def relay_address(pc: Any) -> tuple[str, int]:
    """The relay's end of a connection's nominated ICE pair (a UDP socket anyone may send to)."""
    connection = pc.getTransceivers()[0].receiver.transport.transport._connection
    address: tuple[str, int] = connection._nominated[1].protocol.transport.get_extra_info("sockname")[:2]
    return address


async def test_bad_packets_are_dropped_counted_and_end_nothing(
    hemicycle: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage DTLS, SRTP that fails authentication, empty and oversized datagrams from anyone, RTP of no
    stream and RTCP floods from the peers themselves: dropped and counted, logged once, nothing ends."""
    base = f"{hemicycle.url}/api/sessions/{hemicycle.live_session}"
    av = await hemicycle.staff_token(Role.AV)
    attendee = (await hemicycle.register())["token"]
    publisher = Publisher()
    headers = SDP | {"Authorization": f"Bearer {av}"}
    offer = await publisher.offer()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/whip", data=offer, headers=headers) as answer,
    ):
        assert answer.status == 201
        await publisher.accept(await answer.text())
    viewer, _ = await whep(f"{base}/whep", attendee)
    try:
        await eventually(lambda: viewer.frames["video"] >= 10, timeout=15)
        relay = hemicycle.server.app[MEDIA_KEY].relay(hemicycle.live_session)
        assert relay is not None
        publishing = next(p for p in relay.peers.values() if p.role == "publish")
        viewing = next(p for p in relay.peers.values() if p.role == "view")
        for peer in (publishing, viewing):
            address = relay_address(peer.pc)
            # A plain socket: asyncio's transports do not send empty datagrams.
            stranger = socket.socket(
                socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_DGRAM
            )
            for datagram in (
                b"",
                b"\x17\xfe\xfd" + bytes(60),  # DTLS application data from no session
                b"\x80\x60\x00\x01" + bytes(100),  # SRTP that fails authentication
                b"\x80\xc8\x00\x06" + bytes(40),  # SRTCP likewise
                b"\x80\x60" + bytes(SRTP_BUFFER_BYTES + 100),  # over any MTU
            ):
                stranger.sendto(datagram, address)
            stranger.close()
        # From the publisher itself: RTP of a payload type and SSRC it never announced.
        sending = publisher.pc.getTransceivers()[0].sender.transport
        video_type = publishing.feeds["video"].codec.payloadType  # type: ignore[union-attr]
        for sequence in range(5):
            for payload_type in (77, video_type):  # unknown, and the video's with another SSRC
                ssrc = 0x1234 + payload_type  # one SSRC per stream: SRTP refuses a replayed sequence
                stray = RtpPacket(payload_type, sequence_number=sequence, ssrc=ssrc, payload=bytes(20))
                await sending._send_rtp(stray.serialize())
        # From the viewer itself: a flood of NACKs and picture-loss reports.
        receiver = next(r for r in viewer.pc.getReceivers() if r.track and r.track.kind == "video")
        ssrc = viewing.senders["video"]._ssrc
        for _ in range(int(RTCP_BURST) + 200):
            await receiver._send_rtcp_nack(ssrc, list(range(1, 30)))
            await receiver._send_rtcp_pli(ssrc)
        expected = (
            (publishing, {"empty", "srtp_unprotect", "too_long", "unknown_stream", "unknown_ssrc"}),
            (viewing, {"empty", "srtp_unprotect", "too_long", "rtcp_flood"}),
        )
        try:
            await eventually(lambda: all(want <= set(p.drops.counts) for p, want in expected), timeout=5)
        except AssertionError:
            raise AssertionError([p.drops.counts for p, _ in expected]) from None
        frames = viewer.frames["video"]
        await eventually(lambda: viewer.frames["video"] >= frames + 20, timeout=10)
        assert publisher.pc.connectionState == viewer.pc.connectionState == "connected"
        assert set(relay.peers) == {publishing.id, viewing.id}
        warnings = [r for r in caplog.records if "dropped bad or excess packets" in r.getMessage()]
        assert len(warnings) == 2, [r.getMessage() for r in warnings]  # once per resource
        assert not [r for r in caplog.records if r.levelno > logging.WARNING]
        assert not [r for r in caplog.records if "Task exception" in r.getMessage()]
    finally:
        await viewer.close()
        await publisher.close()
