"""Where the archive keeps recording files: the recordings directory (the default), another directory, or an
S3-compatible object store (through obstore, a typed client with no dependencies of its own).

The recorder always writes into the local recordings directory
(`<session>/<recording>/<track>-<segment>.webm`, relative paths stored in `recording_segments.path`). A
segment that is complete is then stored away by the archive (server/archive.py): copied under the same
relative key to the configured storage, its location kept in `stored_at` ("file:///..." or
"s3://bucket/key"), and the local copy removed. Files never leave their root: a key or a location that would
resolve outside it is refused.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlparse

from .domain.errors import Forbidden, NotFound

CHUNK = 256 * 1024


class OutsideRoot(Forbidden):
    """A path that names something outside the recordings directory or the storage's root."""

    code = "path_outside"


def safe_key(key: str) -> str:
    """A relative, normalised key (`12/3/floor-7.webm`): no absolute path, no `..`, no empty part."""
    parts = PurePosixPath(key).parts
    if not key or key.startswith("/") or "\\" in key or any(p in ("..", ".", "") for p in parts):
        raise OutsideRoot(f"the path {key[:80]!r} is outside the recordings directory")
    return "/".join(parts)


def inside(root: Path, key: str) -> Path:
    """The file `key` names under `root`, refused if it resolves (through links too) anywhere else."""
    base = root.resolve()
    target = (base / safe_key(key)).resolve()
    if not target.is_relative_to(base):
        raise OutsideRoot(f"the path {key[:80]!r} is outside the recordings directory")
    return target


async def _file_chunks(path: Path, first: int, last: int) -> AsyncIterator[bytes]:
    """Bytes first..last (inclusive) of a file, read off the event loop."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        await asyncio.to_thread(handle.seek, first)
        left = last - first + 1
        while left > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise NotFound("the recording file is missing", code="unknown_file") from None


class Storage(Protocol):
    """Where stored-away segments live. Locations are what `put` returned (kept in `stored_at`)."""

    name: str

    async def put(self, key: str, source: Path) -> str: ...

    async def size(self, location: str) -> int: ...

    def read(self, location: str, first: int, last: int) -> AsyncIterator[bytes]: ...

    async def delete(self, location: str) -> None: ...


class LocalFiles:
    """The recordings directory itself: segments stay where the recorder wrote them (`stored_at` NULL)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return inside(self.root, key)

    async def size(self, key: str) -> int:
        return _size(self.path(key))

    def read(self, key: str, first: int, last: int) -> AsyncIterator[bytes]:
        return _file_chunks(self.path(key), first, last)

    async def delete(self, key: str) -> None:
        path = self.path(key)
        await asyncio.to_thread(path.unlink, True)


class DirectoryStorage:
    """Another directory (a mounted volume, say): files copied there under their key, `file://` locations."""

    name = "directory"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, location: str) -> Path:
        parsed = urlparse(location)
        if parsed.scheme != "file":
            raise OutsideRoot("this location is not in the archive directory")
        path = Path(unquote(parsed.path)).resolve()
        if not path.is_relative_to(self.root):
            raise OutsideRoot("this location is outside the archive directory")
        return path

    async def put(self, key: str, source: Path) -> str:
        target = inside(self.root, key)

        def copy() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            shutil.copyfile(source, partial)
            os.replace(partial, target)

        await asyncio.to_thread(copy)
        return target.as_uri()

    async def size(self, location: str) -> int:
        return _size(self._path(location))

    def read(self, location: str, first: int, last: int) -> AsyncIterator[bytes]:
        return _file_chunks(self._path(location), first, last)

    async def delete(self, location: str) -> None:
        path = self._path(location)
        await asyncio.to_thread(path.unlink, True)


@dataclass(frozen=True)
class S3Options:
    """An S3-compatible store: the bucket, a key prefix, and how to reach it (an endpoint for MinIO...)."""

    bucket: str
    prefix: str
    endpoint: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = ""


class S3Storage:
    """Any S3-compatible object store (AWS S3, MinIO, Ceph, Garage...): `s3://bucket/prefix/key` locations."""

    name = "s3"

    def __init__(self, options: S3Options) -> None:
        from obstore.store import S3Store

        self.options = options
        config: dict[str, str | bool] = {"region": options.region}
        if options.endpoint:
            config["endpoint"] = options.endpoint
            # MinIO and most self-hosted stores take the bucket in the path, not in the host name.
            config["virtual_hosted_style_request"] = False
        if options.access_key_id:
            config["access_key_id"] = options.access_key_id
            config["secret_access_key"] = options.secret_access_key
        self._store = S3Store(
            options.bucket,
            client_options={"allow_http": options.endpoint.startswith("http://")},
            **config,  # type: ignore[arg-type]
        )

    def _key(self, location: str) -> str:
        parsed = urlparse(location)
        if parsed.scheme != "s3" or parsed.netloc != self.options.bucket:
            raise OutsideRoot("this location is not in the archive's bucket")
        key = safe_key(parsed.path.lstrip("/"))
        if self.options.prefix and not key.startswith(self.options.prefix + "/"):
            raise OutsideRoot("this location is outside the archive's prefix")
        return key

    async def put(self, key: str, source: Path) -> str:
        import obstore

        full = "/".join(p for p in (self.options.prefix, safe_key(key)) if p)
        await obstore.put_async(self._store, full, source)
        return f"s3://{self.options.bucket}/{full}"

    async def size(self, location: str) -> int:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            meta = await obstore.head_async(self._store, self._key(location))
        except NotFoundError:
            raise NotFound("the recording file is missing", code="unknown_file") from None
        return int(meta["size"])

    async def read(self, location: str, first: int, last: int) -> AsyncIterator[bytes]:
        import obstore

        key = self._key(location)
        position = first
        while position <= last:
            end = min(last + 1, position + 4 * CHUNK)
            data = await obstore.get_range_async(self._store, key, start=position, end=end)
            yield bytes(data)
            position = end

    async def delete(self, location: str) -> None:
        import obstore

        await obstore.delete_async(self._store, self._key(location))


def parse_storage(url: str) -> tuple[str, str, str]:
    """HEMICYCLE_ARCHIVE_STORAGE as (kind, root or bucket, prefix): "" or "local", a directory (`file:///...`
    or an absolute path), or `s3://bucket/prefix`. Raises ValueError with a message naming what is wrong."""
    text = url.strip()
    if text in ("", "local"):
        return "local", "", ""
    if text.startswith("s3://"):
        parsed = urlparse(text)
        if not parsed.netloc:
            raise ValueError("an s3:// location needs a bucket: s3://bucket/prefix")
        prefix = parsed.path.strip("/")
        if prefix:
            try:
                safe_key(prefix)
            except OutsideRoot:
                raise ValueError("the prefix must be a plain path (no '..', '.' or empty parts)") from None
        return "s3", parsed.netloc, prefix
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    if not text.startswith("/"):
        raise ValueError("give local, an absolute directory (file:///path or /path) or s3://bucket/prefix")
    return "directory", text, ""
