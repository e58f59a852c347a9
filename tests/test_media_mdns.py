"""Offers as Firefox and Safari send them before a site has a remembered camera or microphone permission:
host candidates hidden behind mDNS names, and (Firefox) ``a=end-of-candidates``. The relay still answers
with its own candidates, learns the browser's address from its checks, and frees what never connects."""

from __future__ import annotations

import inspect
import logging
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aioice
import pytest
from aiortc import RTCIceTransport, RTCPeerConnection

from server.domain.roles import Role
from server.media import seams
from server.media.errors import MediaError
from server.media.relay import ROOM, SessionRelay
from server.media_http import MEDIA_KEY

from .conftest import make_settings, run_app
from .helpers import eventually
from .media_peers import NO_ICE, Publisher, Viewer
from .test_media_signaling import media_tasks

CONNECT_SECONDS = 10.0


@pytest.fixture
async def relay() -> AsyncIterator[SessionRelay]:
    relay = SessionRelay(1, lambda: NO_ICE, connect_timeout=CONNECT_SECONDS)
    yield relay
    await relay.close()


def firefox_style(offer: str, extra: tuple[str, ...] = ()) -> str:
    """The offer with each candidate's address replaced by an mDNS name, ``extra`` candidate lines added and
    every media section ended with ``a=end-of-candidates``, as Firefox writes it."""
    names: dict[str, str] = {}

    def hide(match: re.Match[str]) -> str:
        name = names.setdefault(match[2], f"{uuid.uuid4()}.local")
        return f"{match[1]}{name}{match[3]}"

    lines = []
    for line in offer.splitlines():
        if line == "a=end-of-candidates":
            continue
        if line.startswith("a=candidate:"):
            line = re.sub(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( .*)$", hide, line)
        lines.append(line)
    sections = "\r\n".join(lines).split("\r\nm=")
    extras = "".join(f"\r\n{line}" for line in extra)
    ended = [sections[0], *(f"{section}{extras}\r\na=end-of-candidates" for section in sections[1:])]
    return "\r\nm=".join(ended) + "\r\n"


def candidates(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def test_a_publisher_with_only_mdns_candidates_and_end_of_candidates_connects(
    relay: SessionRelay,
) -> None:
    publisher = Publisher()
    offer = firefox_style(await publisher.offer())
    assert candidates(offer) and all(".local " in c for c in candidates(offer))
    peer = await relay.publish(offer, ROOM, 1)
    viewer = Viewer()
    try:
        # The relay's own candidates are in the answer: the browser has somewhere to send its checks.
        assert candidates(peer.answer)
        await publisher.accept(peer.answer)
        await eventually(lambda: peer.pc.connectionState == "connected", timeout=CONNECT_SECONDS)
        # A Firefox-style viewer too, and the picture goes through.
        watching = await relay.view(firefox_style(await viewer.offer()), ROOM, 2)
        assert candidates(watching.answer)
        await viewer.accept(watching.answer)
        await eventually(lambda: viewer.frames["video"] >= 5 and viewer.frames["audio"] >= 5, timeout=15)
        # Learned from the checks: peer-reflexive, since every signalled candidate was an mDNS name.
        remote = peer.pc.getReceivers()[0].transport.transport.getRemoteCandidates()
        assert remote and {c.type for c in remote} == {"prflx"}
    finally:
        await viewer.close()
        await publisher.close()


async def test_candidates_for_unknown_components_and_transports_are_ignored(relay: SessionRelay) -> None:
    publisher = Publisher()
    extra = (
        "a=candidate:9 3 UDP 2122252543 192.0.2.7 40000 typ host",
        "a=candidate:8 1 TCP 2105524479 192.0.2.7 9 typ host tcptype active",
        "a=candidate:7 1 UDP 1686052607 198.51.100.9 40001 typ prflx raddr 0.0.0.0 rport 0",
    )
    peer = await relay.publish(firefox_style(await publisher.offer(video=False), extra), ROOM, 1)
    try:
        assert candidates(peer.answer)
        await publisher.accept(peer.answer)
        await eventually(lambda: peer.pc.connectionState == "connected", timeout=CONNECT_SECONDS)
    finally:
        await publisher.close()


async def test_an_offer_that_never_connects_is_freed_at_the_deadline() -> None:
    relay = SessionRelay(1, lambda: NO_ICE, connect_timeout=1.0)
    publisher = Publisher()
    try:
        # End of candidates and none at all: an answer all the same, then nothing checks in.
        lines = (await publisher.offer()).splitlines()
        offer = firefox_style("\r\n".join(line for line in lines if "candidate" not in line) + "\r\n")
        assert not candidates(offer) and "a=end-of-candidates" in offer
        peer = await relay.publish(offer, ROOM, 1)
        assert candidates(peer.answer)
        await eventually(lambda: not relay.peers and peer.closed, timeout=5)
        assert peer.pc.connectionState == "closed"
        assert relay.publisher(ROOM) is None
    finally:
        await publisher.close()
        await relay.close()


async def test_a_malformed_candidate_is_invalid_sdp(relay: SessionRelay) -> None:
    publisher = Publisher()
    try:
        offer = firefox_style(await publisher.offer(video=False), ("a=candidate:1 one UDP x y z typ host",))
        with pytest.raises(MediaError) as raised:
            await relay.publish(offer, ROOM, 1)
        assert raised.value.code == "invalid_sdp"
        assert not relay.peers
    finally:
        await publisher.close()


async def test_what_the_seam_relies_on_in_aioice() -> None:
    """aiortc hands every remote candidate and the end of candidates to the connection's
    ``add_remote_candidate``; without an end, aioice keeps checking and learns peer-reflexive candidates."""
    adding = inspect.getsource(RTCIceTransport.addRemoteCandidate)
    assert "await self._connection.add_remote_candidate(None)" in adding
    assert "await self._connection.add_remote_candidate(" in adding
    assert "return self._remote_candidates_expected()" in inspect.getsource(aioice.Connection._check_periodic)
    assert 'type="prflx"' in inspect.getsource(aioice.Connection.check_incoming)
    pc = RTCPeerConnection(NO_ICE)
    try:
        pc.addTransceiver("audio", direction="recvonly")
        seams.learn_addresses(pc)
        seams.learn_addresses(pc)  # once is enough: a second call wraps nothing again
        connection = pc.getTransceivers()[0].receiver.transport.transport._connection
        await connection.add_remote_candidate(None)
        await connection.add_remote_candidate(aioice.Candidate("1", 1, "udp", 1, "abc.local", 9, "host"))
        await connection.add_remote_candidate(aioice.Candidate("2", 1, "udp", 1, "192.0.2.1", 9, "host"))
        assert [c.host for c in connection.remote_candidates] == ["192.0.2.1"]
        assert connection._remote_candidates_expected()
    finally:
        await pc.close()


async def test_through_the_server_what_never_connects_is_freed_within_the_connect_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async for running in run_app(make_settings(tmp_path, media_connect_seconds=1.0)):
        av = await running.join(await running.staff_token(Role.AV))
        publisher = Publisher()
        try:
            lines = (await publisher.offer()).splitlines()
            bare = firefox_style("\r\n".join(line for line in lines if "candidate" not in line) + "\r\n")
            broken = firefox_style("\r\n".join(lines) + "\r\n", ("a=candidate:x",))
            refused = await av.call("media:publish", {"source": "room", "sdp": broken})
            assert not refused["ok"] and refused["error"]["code"] == "invalid_sdp", refused
            reply = await av.call("media:publish", {"source": "room", "sdp": bare})
            assert reply["ok"], reply
            assert candidates(reply["data"]["sdp"])
            stopped = await av.wait_for("media:stopped", timeout=5)
            assert stopped["reason"] == "connect_timeout"
            relay = running.server.app[MEDIA_KEY].relay(running.live_session)
            assert relay is None or not relay.peers
            await eventually(lambda: not media_tasks(), timeout=5)
            # Bad input from a client is not the server's fault: nothing logged above WARNING.
            assert not [r.getMessage() for r in caplog.records if r.levelno > logging.WARNING]
        finally:
            await publisher.close()
