"""Prometheus metrics: /metrics behind its token, and a real Prometheus scraping a real server.

The Prometheus server is Debian's `prometheus` package (.ci/run installs it under CI=true), started from its
binary on free ports with a generated configuration; the series are read back through its HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.domain.roles import Role
from server.media_http import MEDIA_KEY

from .conftest import make_settings, run_app
from .helpers import Running, die_with_parent, eventually, free_port
from .media_peers import Publisher, Viewer
from .services import _unavailable
from .test_media_http import post

TOKEN = "metrics-token-" + "m" * 24


@pytest.fixture
async def measured(tmp_path: Path) -> AsyncIterator[Running]:
    # Fifteen events a second, bursts of sixty: the 250 below are refused in part however slowly a loaded
    # machine delivers them (the suite's usual fifty a second let them all through at times), and stay under
    # the flood limit (twenty times the rate in a burst), which would close the connection.
    async for running in run_app(make_settings(tmp_path, metrics_token=TOKEN, events_per_second=15)):
        yield running


async def _scrape(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics", headers=headers or {}) as response:
        return response.status, await response.text(), dict(response.headers)


async def test_metrics_need_their_token(measured: Running) -> None:
    status, body, headers = await _scrape(measured.url)
    assert status == 401 and json.loads(body)["error"]["code"] == "token_missing"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = await _scrape(measured.url, {"Authorization": "Bearer " + "x" * len(TOKEN)})
    assert status == 401 and json.loads(body)["error"]["code"] == "token_invalid"
    # An attendee's or a moderator's token is not the metrics token.
    moderator = await measured.staff_token(Role.MODERATOR)
    assert (await _scrape(measured.url, {"Authorization": f"Bearer {moderator}"}))[0] == 401
    status, body, headers = await _scrape(measured.url, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "hemicycle_connections" in body and TOKEN not in body


async def test_metrics_are_off_without_a_token(hemicycle: Running) -> None:
    status, body, _ = await _scrape(hemicycle.url, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 404 and "HEMICYCLE_METRICS_TOKEN" in body


def _sample(body: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the text format, or None."""
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def test_the_series_follow_what_happens(measured: Running) -> None:
    moderator = await measured.join(await measured.staff_token(Role.MODERATOR))
    attendees = [await measured.join((await measured.register())["token"]) for _ in range(2)]
    assert (await attendees[0].call("hand:raise", {"type": "statement", "language": "en"}))["ok"]
    posted = await attendees[1].call("question:post", {"text": "What about rural connectivity?"})
    assert posted["ok"], posted
    helped = await attendees[0].call("help:open", {"category": "no_sound", "language": "en"})
    assert helped["ok"], helped
    # Over the limit of events per second: refused as rate_limited, and counted.
    await asyncio.gather(*(attendees[1].call("presence:get") for _ in range(250)), return_exceptions=True)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    _, body, _ = await _scrape(measured.url, auth)
    session = str(measured.live_session)
    assert _sample(body, "hemicycle_connections", role="attendee", transport="websocket") == 2
    assert _sample(body, "hemicycle_connections", role="moderator", transport="websocket") == 1
    assert _sample(body, "hemicycle_queue_length", session=session) == 1
    assert _sample(body, "hemicycle_sessions", state="live") == 1
    questions = [
        _sample(body, "hemicycle_questions", session=session, state=state, stage="none")
        for state in ("pending", "approved")
    ]
    assert sum(count or 0 for count in questions) == 1, questions
    assert _sample(body, "hemicycle_help_requests", session=session, state="open") == 1
    assert _sample(body, "hemicycle_help_requests", session=session, state="answered") == 0
    assert (_sample(body, "hemicycle_rate_limit_refusals_total", transport="socketio") or 0) > 0
    assert (_sample(body, "hemicycle_db_query_duration_seconds_count") or 0) > 0
    assert _sample(body, "hemicycle_relay_sessions") is not None
    assert _sample(body, "hemicycle_relay_viewers", kind="room") == 0

    async def lag_sampled() -> bool:
        """The loop's lag is sampled every 0.25 s from the start: the steps above may all fit in the first."""
        return (
            _sample((await _scrape(measured.url, auth))[1], "hemicycle_event_loop_lag_seconds_count") or 0
        ) > 0

    await eventually(lag_sampled)
    # The hand and the question were broadcast to the session (floor, questions) and its staff (queue).
    assert (_sample(body, "hemicycle_broadcasts_total", event="queue") or 0) >= 1
    assert (_sample(body, "hemicycle_broadcasts_total", event="floor") or 0) >= 1
    route = "/api/events/{event_id}/participants"
    assert _sample(body, "hemicycle_http_requests_total", route=route, method="POST", status="201") == 2
    await moderator.close()


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        _unavailable("Prometheus", "no prometheus program (apt-get install prometheus)")
    return found


@pytest.fixture
def prometheus(prometheus_binary: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Prometheus server of our own, not yet scraping: (its URL, its configuration file)."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs: []\n")
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            prometheus_binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent(signal.SIGTERM),
    )
    try:
        yield f"http://127.0.0.1:{port}", config
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _query(http: aiohttp.ClientSession, prometheus: str, query: str) -> list[dict[str, Any]]:
    async with http.get(f"{prometheus}/api/v1/query", params={"query": query}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def test_a_real_prometheus_scrapes_the_server(measured: Running, prometheus: tuple[str, Path]) -> None:
    url, config = prometheus
    host = measured.url.split("//", 1)[1]
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: hemicycle\n"
        "    authorization:\n"
        f"      credentials: {TOKEN}\n"
        f"    static_configs:\n      - targets: ['{host}']\n"
    )
    attendee = await measured.join((await measured.register())["token"])
    assert (await attendee.call("hand:raise", {"type": "statement", "language": "en"}))["ok"]
    async with aiohttp.ClientSession() as http:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:  # Prometheus starting: its readiness endpoint answers, then it takes the new config.
            try:
                async with http.post(f"{url}/-/reload") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            assert loop.time() < deadline, "Prometheus did not start"
            await asyncio.sleep(0.2)

        async def series(query: str) -> list[dict[str, Any]]:
            return await _query(http, url, query)

        up: list[dict[str, Any]] = []

        async def scraped() -> bool:
            nonlocal up
            up = await series('up{job="hemicycle"} == 1')
            return bool(up)

        while not await scraped():
            assert loop.time() < deadline + 15, f"Prometheus never scraped the server: {up}"
            await asyncio.sleep(0.25)
        connections = await series('sum(hemicycle_connections{role="attendee"})')
        assert float(connections[0]["value"][1]) == 1
        queue = await series(f'hemicycle_queue_length{{session="{measured.live_session}"}}')
        assert float(queue[0]["value"][1]) == 1
        lag = await series("hemicycle_event_loop_lag_seconds_count")
        assert float(lag[0]["value"][1]) > 0
        queries = await series("hemicycle_db_query_duration_seconds_count")
        assert float(queries[0]["value"][1]) > 0


@pytest.fixture
async def relayed(tmp_path: Path) -> AsyncIterator[Running]:
    settings = make_settings(
        tmp_path,
        metrics_token=TOKEN,
        turn_urls=("turn:turn.example.org:3478?transport=udp",),
        turn_secret="shared-turn-secret",
    )
    async for running in run_app(settings):
        yield running


def _viewers(running: Running) -> int:
    relay = running.server.app[MEDIA_KEY].relay(running.live_session)
    return 0 if relay is None else sum(peer.role == "view" for peer in relay.peers.values())


async def test_relay_series_count_what_is_forwarded(relayed: Running) -> None:
    """A WHIP publisher and a WHEP viewer: sources, viewers, packets in and out, and TURN credentials."""
    base = f"{relayed.url}/api/sessions/{relayed.live_session}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    publisher, viewer = Publisher(), Viewer()
    try:
        av = await relayed.staff_token(Role.AV)
        status, _, answer = await post(f"{base}/whip", await publisher.offer(), av)
        assert status == 201, answer
        await publisher.accept(answer)
        attendee = (await relayed.register())["token"]
        status, _, answer = await post(f"{base}/whep", await viewer.offer(), attendee)
        assert status == 201, answer
        await viewer.accept(answer)
        await eventually(lambda: viewer.frames["video"] >= 5, timeout=15)
        _, body, _ = await _scrape(relayed.url, auth)
        assert _sample(body, "hemicycle_relay_sessions") == 1
        assert _sample(body, "hemicycle_relay_edges") == 0
        assert _sample(body, "hemicycle_relay_sources", kind="room") == 1
        assert _sample(body, "hemicycle_relay_viewers", kind="room") == 1
        forwarded = _sample(body, "hemicycle_relay_packets_forwarded_total", kind="video") or 0
        assert forwarded >= 5
        assert (_sample(body, "hemicycle_relay_bytes_received_total", kind="video") or 0) > 0
        assert (_sample(body, "hemicycle_turn_credentials_issued_total") or 0) >= 2
    finally:
        await viewer.close()
        await publisher.close()
    # The viewer gone, what it was sent stays counted.
    await eventually(lambda: _viewers(relayed) == 0, timeout=15)
    _, body, _ = await _scrape(relayed.url, auth)
    assert (_sample(body, "hemicycle_relay_packets_forwarded_total", kind="video") or 0) >= forwarded


@pytest.mark.redis
async def test_redis_round_trips_and_reconnects_are_counted(tmp_path: Path, fresh_redis_url: str) -> None:
    """With Redis: the rate-limit counters' and the fan-out's round trips, and the listener subscribing
    again after its connection is killed (an error, then a reconnect)."""
    import redis.asyncio as aioredis

    settings = make_settings(
        tmp_path, metrics_token=TOKEN, redis_url=fresh_redis_url, redis_channel=f"metrics-{tmp_path.name}"
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    # Redis numbers its connections in order: this server's are those opened from now on.
    async with aioredis.Redis.from_url(fresh_redis_url) as admin:
        first_id = int((await admin.client_info())["id"])
    async for running in run_app(settings):
        attendee = await running.join((await running.register())["token"])
        assert (await attendee.call("hand:raise", {"type": "statement", "language": "en"}))["ok"]
        _, body, _ = await _scrape(running.url, auth)
        count = "hemicycle_redis_round_trip_duration_seconds_count"
        # The registration and the hand went through the shared counters; the hand was published.
        assert (_sample(body, count, client="limits") or 0) >= 2
        assert (_sample(body, count, client="fanout") or 0) >= 1
        assert _sample(body, "hemicycle_redis_errors_total", client="fanout") == 0
        assert _sample(body, "hemicycle_redis_reconnects_total", client="fanout") == 0
        # This server's listener: subscribed, on this test's database, opened after `first_id`.
        async with aioredis.Redis.from_url(fresh_redis_url) as admin:
            db = str(admin.connection_pool.connection_kwargs.get("db", 0))
            listeners = [
                c["id"]
                for c in await admin.client_list()
                if c.get("db") == db and int(c.get("sub", 0)) and int(c["id"]) > first_id
            ]
            assert listeners
            for listener in listeners:
                await admin.client_kill_filter(_id=listener)
        reconnects = 0.0
        for _ in range(100):
            _, body, _ = await _scrape(running.url, auth)
            reconnects = _sample(body, "hemicycle_redis_reconnects_total", client="fanout") or 0
            if reconnects:
                break
            await asyncio.sleep(0.1)
        assert reconnects >= 1
        _, body, _ = await _scrape(running.url, auth)
        assert (_sample(body, "hemicycle_redis_errors_total", client="fanout") or 0) >= 1
        await attendee.close()


async def test_redis_errors_of_the_limits_are_counted() -> None:
    """A Redis that does not answer: the counters fall back to memory, and the error is counted."""
    from types import SimpleNamespace

    from server.limits import RedisCounters
    from server.metrics import Metrics

    metrics = Metrics()
    counters = RedisCounters(f"redis://127.0.0.1:{free_port()}/0", "test")
    hub: Any = SimpleNamespace(sio=SimpleNamespace(manager=None))
    limits: Any = SimpleNamespace(counters=counters)
    stop = metrics.watch_redis(hub, limits)
    try:
        assert await counters.hit("someone", 1, 10.0) == (1, 0)
        assert metrics.registry.get_sample_value("hemicycle_redis_errors_total", {"client": "limits"}) == 1
    finally:
        stop()
        await counters.close()
