"""What a crowd's gathered batches cost the server: the CPU of one batch of arrivals and one batch of joins.

    python -m bench.batches                                  # SQLite, batches of 1, 12 and 48: under a minute
    python -m bench.batches --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/<fresh database>

When thousands join at once, each process answers them in gathered batches (server/db/gathered.py): an
arrival batch reads their grants, holders, session and waiting-room decisions (Store.arrive); a join batch
records their connections and reads the welcome's snapshot (SnapshotStore.join). A join storm keeps the
process's core busy, so what a batch costs in CPU is what bounds how fast a crowd gets in (bench.fanout's
join storm measures the whole of it, clients included).

The script seeds a database as bench.fanout does (the demo event and N attendees), builds the stores as the
server does, and for each --sizes B calls `arrive` and then `join` for B attendees at once (`asyncio.gather`:
one batch each), --rounds times over the attendees; each join batch's connections leave again before the
next. The baseline, in the same run and on the same connection pool: a transaction of one `SELECT 1`. It
prints, per batch size, the median and p90 of a batch's CPU time (`time.process_time`), the CPU per
attendee, and the ratio of a batch's CPU to the baseline's. Not wall time: a crowd's batches start at
least 10 ms apart (server/db/gathered.py), and here they follow each other. It never asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.fanout import Options, prepare


@dataclass(frozen=True)
class Figures:
    """The CPU time of each batch (seconds)."""

    cpu: list[float]

    def row(self, label: str, size: int, baseline: float | None) -> str:
        cpu = statistics.median(self.cpu)
        p90 = sorted(self.cpu)[int(len(self.cpu) * 0.9)]
        ratio = f"{cpu / baseline:6.1f}x" if baseline else "      -"
        return (
            f"{label:<10} {size:>5} {len(self.cpu):>7} {cpu * 1e3:>9.2f} {p90 * 1e3:>8.2f} "
            f"{cpu / size * 1e6:>9.0f} {ratio}"
        )


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    cpu = time.process_time()
    result = await call()
    return time.process_time() - cpu, result


async def run(database_url: str | None, sizes: Sequence[int], rounds: int, data_dir: Path) -> None:
    from sqlalchemy import text

    from server.db.caption_store import CaptionStore
    from server.db.engine import create_engine
    from server.db.question_store import QuestionStore
    from server.db.queue_store import QueueStore
    from server.db.recording_store import RecordingStore
    from server.db.snapshot_store import SnapshotStore
    from server.db.store import Store
    from server.domain.captions import RECENT_LINES
    from server.domain.moderation import WaitingRoom
    from server.settings import Settings
    from server.tokens import TokenService

    count = max(sizes) * 4
    options = Options(
        sizes=[count], actions=0, workers=0, interval=0, load_seconds=0, load_at=0, hand_rate=0,
        concurrency=0, settle_seconds=0, database_url=database_url, redis_url=None, max_seconds=600,
        keep=False, details=False,
    )  # fmt: skip
    print(f"Preparing {count} attendees in {database_url or 'SQLite'} …", flush=True)
    fixture = await prepare(options, data_dir, count)
    engine = create_engine(fixture.database_url)
    try:
        store = Store(engine)
        settings = Settings()
        snapshots = SnapshotStore(
            store,
            QueueStore(store),
            QuestionStore(store),
            CaptionStore(store),
            RecordingStore(store),
            RECENT_LINES,
            per_participant=settings.connections_per_participant,
            live_within=timedelta(seconds=3 * settings.heartbeat_seconds),
        )
        instance = "bench-batches"
        await store.register_instance(instance, "localhost", 0)
        tokens = TokenService(fixture.secret)
        claims = [tokens.verify(token) for _, token in fixture.attendees]
        waiting_room = WaitingRoom("off")

        async def bare() -> None:
            async with store._tx() as tx:
                await tx.execute(text("SELECT 1"))

        for _ in range(20):  # warm: connections opened, statements compiled and prepared
            await bare()
        baseline = Figures([])
        for _ in range(200):
            cpu, _result = await timed(bare)
            baseline.cpu.append(cpu)
        base = statistics.median(baseline.cpu)

        print(
            "\nCPU of one gathered batch (ms; per attendee in us), against a transaction of one SELECT 1\n"
            f"{'batch':<10} {'size':>5} {'batches':>7} {'cpu p50':>9} {'cpu p90':>8} {'us each':>9} "
            f"{'vs base':>7}"
        )
        print(baseline.row("baseline", 1, None))
        joined = 0
        for size in sizes:
            arrivals, joins = Figures([]), Figures([])
            for turn in range(rounds + 1):  # the first round warms this size's statements, uncounted
                for start in range(0, count - size + 1, size):
                    crowd = claims[start : start + size]
                    cpu, answers = await timed(
                        lambda crowd=crowd: asyncio.gather(
                            *(
                                store.arrive(c.grant_id, c.participant_id, fixture.session_id, waiting_room)
                                for c in crowd
                            )
                        )
                    )
                    if turn:
                        arrivals.cpu.append(cpu)
                    sids = [f"bench-{joined + i}" for i in range(size)]
                    joined += size
                    cpu, _result = await timed(
                        lambda answers=answers, sids=sids: asyncio.gather(
                            *(
                                snapshots.join(instance, sid, arrival.principal, fixture.session_id)
                                for sid, arrival in zip(sids, answers, strict=True)
                            )
                        )
                    )
                    if turn:
                        joins.cpu.append(cpu)
                    await asyncio.gather(*(store.remove_presence(instance, sid) for sid in sids))
            print(arrivals.row("arrivals", size, base))
            print(joins.row("joins", size, base))
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a fresh database (default: SQLite in a temporary folder)")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1, 12, 48], help="attendees per batch (default 1 12 48)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds over the attendees per size (default 3)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hemicycle-batches-") as folder:
        asyncio.run(run(args.database_url, args.sizes, args.rounds, Path(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
