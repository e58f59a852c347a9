"""The archive's S3-compatible storage, round trip against a local S3 server: moto's server mode (no MinIO
server is packaged for Debian or PyPI here). Finished segments are stored away, served back with Range
requests from the object store, refused outside the bucket's prefix, and deleted there when they expire."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import boto3
import pytest
from moto.server import ThreadedMotoServer

from server.archive import Archive
from server.db import models as m
from server.domain.roles import Role
from server.keys import ARCHIVE_KEY
from server.recording.paths import recordings_dir

from .archive_files import add_recording, add_segment
from .conftest import make_settings, run_app
from .helpers import free_port, mint

BUCKET = "hemicycle-archive"
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
KEYS = {"s3_access_key_id": "archive-test", "s3_secret_access_key": "archive-test-secret"}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEYS["s3_access_key_id"],
        aws_secret_access_key=KEYS["s3_secret_access_key"],
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


def objects(endpoint: str) -> dict[str, int]:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEYS["s3_access_key_id"],
        aws_secret_access_key=KEYS["s3_secret_access_key"],
    )
    listed = client.list_objects_v2(Bucket=BUCKET)
    return {item["Key"]: item["Size"] for item in listed.get("Contents", [])}


async def test_s3_round_trip(tmp_path: Path, s3_endpoint: str) -> None:
    clock = Clock()
    settings = make_settings(
        tmp_path,
        archive_storage=f"s3://{BUCKET}/recordings",
        s3_endpoint=s3_endpoint,
        archive_retention_days=1,
        **KEYS,
    )
    async for running in run_app(settings, clock=clock):
        core, sid = running.core, running.live_session
        files = recordings_dir(core.settings)
        rec = await add_recording(core, sid, START, START + timedelta(seconds=3))
        floor = await add_segment(core, files, sid, rec, "floor", START, START + timedelta(seconds=3))
        french = await add_segment(core, files, sid, rec, "fr", START, START + timedelta(seconds=3))
        originals = {
            segment: (files / f"{sid}/{rec}/{track}-{segment}.webm").read_bytes()
            for segment, track in ((floor, "floor"), (french, "fr"))
        }
        archive: Archive = running.server.app[ARCHIVE_KEY]
        assert await archive.store_away() == 2
        key = f"recordings/{sid}/{rec}/floor-{floor}.webm"
        assert objects(s3_endpoint) == {
            key: len(originals[floor]),
            f"recordings/{sid}/{rec}/fr-{french}.webm": len(originals[french]),
        }
        assert not (files / f"{sid}/{rec}/floor-{floor}.webm").exists(), "the local copy is removed"
        [first, _] = (await archive.rows.recordings(sid))[0].segments
        assert first.stored_at == f"s3://{BUCKET}/{key}"

        token = await mint(core, Role.MODERATOR, sid)
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{running.url}/api/sessions/{sid}/recordings/{rec}/segments/{floor}"
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(url) as response:
                assert response.status == 200 and await response.read() == originals[floor]
            async with http.get(url, headers={"Range": "bytes=1000-"}) as response:
                assert response.status == 206 and await response.read() == originals[floor][1000:]
            async with http.get(url, headers={"Range": f"bytes={len(originals[floor]) + 5}-"}) as response:
                assert response.status == 416

            # A location that is not in the archive's bucket and prefix is refused, not fetched.
            async with core.store._tx() as tx, tx.begin():
                row = await tx.get(m.RecordingSegment, french)
                assert row is not None
                row.stored_at = f"s3://{BUCKET}/elsewhere/{sid}/{rec}/fr-{french}.webm"
            async with http.get(
                f"{running.url}/api/sessions/{sid}/recordings/{rec}/segments/{french}"
            ) as response:
                assert response.status == 403 and (await response.json())["error"]["code"] == "path_outside"

        # Expired: removed from the object store too.
        clock.now = START + timedelta(days=1, seconds=3)
        async with core.store._tx() as tx, tx.begin():
            row = await tx.get(m.RecordingSegment, french)
            assert row is not None
            row.stored_at = f"s3://{BUCKET}/recordings/{sid}/{rec}/fr-{french}.webm"
        assert await archive.expire() == 1
        assert objects(s3_endpoint) == {}
