"""The fan-out benchmark still runs end to end (tiny sizes): both servers, the lean client, the checks."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def test_fanout_benchmark_runs_and_loses_nothing() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fanout",
        "--sizes", "20", "--actions", "3", "--load-seconds", "1", "--hand-rate", "10",
        "--settle-seconds", "5", "--max-seconds", "100", "--rounds", "2",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 110)
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    rows = re.findall(r"^\s+20 (quiet|load)\s+(baseline|hemicycle)\s.*\s(\d+)\s+(\d+)$", text, re.M)
    assert {(phase, server) for phase, server, _drop, _lost in rows} == {
        (phase, server) for phase in ("quiet", "load") for server in ("baseline", "hemicycle")
    }, text[-3000:]
    assert all(drop == "0" and lost == "0" for *_, drop, lost in rows), text[-3000:]
    hands = re.search(r"hemicycle\s+N=20: (\d+) hand actions, (\d+) accepted", text)
    assert hands and hands.group(1) == hands.group(2) and int(hands.group(1)) > 0, text[-3000:]
    # Two rounds, the second on the same attendees: its check counts only its own requests.
    assert len(rows) == 8, text[-3000:]
    assert re.findall(r"lost updates: (\d+)", text) == ["0", "0"], text[-3000:]
    rounds = re.findall(r"join storm, round (\d): (\d+)/20, [\d.]+ s \(bare server [\d.]+ s, [\d.]+x\)", text)
    assert rounds == [("1", "20"), ("2", "20")], text[-3000:]
    storm = re.search(
        r"join storm, (\d+)/20 welcomed: median [\d.]+ s \(bare server median [\d.]+ s, median", text
    )
    assert storm and storm.group(1) == "20", text[-3000:]


async def test_failover_benchmark_runs_behind_nginx(
    nginx_path: str, pg_database_url: str, fresh_redis_url: str
) -> None:
    """`--processes 2 --proxy nginx --kill-one` at a tiny size: everyone back, nothing lost or doubled."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.fanout",
        "--sizes", "20", "--processes", "2", "--proxy", "nginx", "--kill-one",
        "--database-url", pg_database_url, "--redis-url", fresh_redis_url, "--max-seconds", "100",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HEMICYCLE_NGINX": nginx_path},
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 110)
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    back = re.search(r"back: (\d+)/(\d+) within", text)
    assert back and back.group(1) == back.group(2) and int(back.group(2)) > 0, text[-3000:]
    assert "queue order kept: True" in text and "floor kept: True" in text, text[-3000:]
    assert "0 acknowledged but lost, 0 stored twice" in text, text[-3000:]
    assert "other than last acknowledged: 0, requests stored beyond those sent: 0" in text, text[-3000:]


async def test_speaker_benchmark_times_every_step(chromium_path: str) -> None:
    """`bench.speaker` at one turn: each step from the click to the AV desk's "live" is timed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.speaker", "--turns", "1", "--chromium", chromium_path,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    for step in (
        "microphone",
        "offer",
        "gathering complete",
        "offer sent",
        "answered",
        "connected",
        "desk live",
    ):
        assert re.search(rf"^{step}\s+\d+\s+\d+$", text, re.M), (step, text[-3000:])


async def test_poll_benchmark_runs_and_counts_each_answer_once() -> None:
    """`bench.polls` at 30 attendees: every answer accepted, stored once and counted by the staff."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.polls", "--attendees", "30", "--answer-seconds", "1",
        "--idle-seconds", "1", "--settle-seconds", "2", "--max-seconds", "100",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 110)
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    assert "answers sent 30, accepted 30, refused 0" in text, text[-3000:]
    assert "stored answers 30, staff's final count 30, accepted 30: consistent" in text, text[-3000:]
    assert re.search(r"staff delay per change during the burst: p50 \d+ ms", text), text[-3000:]
    rates = r"idle \(baseline\) [\d.]+ (?:KiB|B)/s, burst with results shown [\d.]+ (?:KiB|B)/s"
    assert re.search(rates, text), text[-3000:]


async def test_recording_benchmark_runs_and_writes_frames() -> None:
    """`bench.recording` at one short round: both windows measured, the recorder wrote the frames."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.recording", "--rounds", "1", "--window", "2", "--settle", "2",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 90)
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    assert re.search(r"ratio recording / not recording: \d+\.\d+", text), text[-3000:]
    assert re.search(r"recorder cost: -?\d+\.\d+ % of a core per recorded source", text), text[-3000:]
    written = re.search(r"written: (\d+) frames", text)
    assert written and int(written.group(1)) > 60, text[-3000:]


async def test_booth_benchmark_measures_each_path() -> None:
    """`bench.booth` at a few bursts: every path heard, its median and 95th percentile printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.booth", "--bursts", "3", "--period", "0.4",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    for path in ("interpreter \\(direct\\)", "speaker viewer", "through the AV desk"):
        assert re.search(rf"^{path}\s+3\s+[\d.]+\s+[\d.]+\s+[\d.]+$", text, re.M), (path, text[-3000:])
    assert re.search(r"^interpreter median [\d.]+ ms: (within|over) the 300 ms target$", text, re.M), text


async def test_batches_benchmark_prints_each_batch_and_its_baseline() -> None:
    """`bench.batches` at small batches: the baseline and an arrival and a join row per size."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.batches", "--sizes", "1", "4", "--rounds", "1",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 90)
    text = output.decode()
    assert process.returncode == 0, text[-3000:]
    assert re.search(r"^baseline\s+1\s+200\s+[\d.]+\s+[\d.]+\s+\d+\s+-$", text, re.M), text[-3000:]
    rows = re.findall(r"^(arrivals|joins)\s+(\d+)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+\d+\s+[\d.]+x$", text, re.M)
    # 16 attendees: 16 batches of 1, 4 of 4, each counted once (a first round warms each size).
    assert rows == [
        ("arrivals", "1", "16"),
        ("joins", "1", "16"),
        ("arrivals", "4", "4"),
        ("joins", "4", "4"),
    ], text
