"""Real services for the test suite: PostgreSQL, Redis and Chromium, found on this machine or started for it.

Load with ``pytest_plugins = ["tests.services"]`` in ``tests/conftest.py`` (or ``pytest -p tests.services``).

Each service fixture looks, in order, at:

1. an explicit environment variable (if it is set but unusable, the test fails: a wrong setting is no reason
   to skip);
2. the service on its standard local port (PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379);
3. the server binaries on PATH, from which it starts a throwaway server in a temporary directory on a free
   port, and stops and deletes it at the end of the session;
4. otherwise the test is skipped with the reason, or fails when running under CI.

Environment variables (all optional):

``HEMICYCLE_TEST_POSTGRES_URL``
    PostgreSQL server to use, ``postgresql[+asyncpg]://user@host:port/db``; the role must be allowed to
    create databases.
``HEMICYCLE_TEST_REDIS_URL``
    Redis server to use, ``redis://host:port/0``.
``HEMICYCLE_CHROMIUM``
    Path of the Chromium (or Chrome) binary for browser tests.
``HEMICYCLE_NGINX``
    Path of the nginx binary for the load-balancer tests.
``HEMICYCLE_TEST_NO_PROBE=1``
    Do not look at the standard local ports: start throwaway servers instead. This is how the start-up
    path itself is tested.
``CI=true`` (or ``1``)
    A missing service fails the test instead of skipping it, and any skipped test fails the whole run, so
    CI never passes green while silently running less than the full suite.

Fixtures: ``postgres_url`` and ``redis_url`` (session), ``pg_database_url`` and ``fresh_redis_url`` (one per
test), ``chromium_path``, ``firefox_path``, ``gstreamer_python`` and ``nginx_path`` (session). They are
synchronous so that sync and async tests of any event-loop scope can use them; tests that use them are marked
``postgres``, ``redis``, ``browser``, ``firefox``, ``gstreamer`` or ``nginx`` automatically.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import getpass
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis
from playwright.async_api import Browser, async_playwright

# The flags for Playwright's chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS), shared
# with the speaker benchmark.
from bench.speaker import CHROMIUM_ARGS

from .firefox import Firefox
from .helpers import die_with_parent

START_TIMEOUT = 60.0
"""Seconds a throwaway server gets to accept connections."""

POSTGRES_PORT = 5432
REDIS_PORT = 6379
LOCALHOST = "127.0.0.1"

_T = TypeVar("_T")


class ServiceUnavailable(Exception):
    """A service could not be found or started; the message says why."""


# --------------------------------------------------------------------------------------------------------
# Environment and small helpers


def in_ci() -> bool:
    """True when CI is set to ``true`` or ``1`` (any case)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _probing_allowed() -> bool:
    return os.environ.get("HEMICYCLE_TEST_NO_PROBE", "").strip().lower() not in ("1", "true", "yes")


def _unavailable(service: str, reason: str) -> NoReturn:
    """Skip outside CI; under CI a missing service is a failure, never a quiet skip."""
    if in_ci():
        pytest.fail(f"{service} is required under CI but unavailable: {reason}", pytrace=False)
    pytest.skip(f"{service} unavailable: {reason}")


def _misconfigured(variable: str, reason: str) -> NoReturn:
    pytest.fail(f"{variable} is set but unusable: {reason}", pytrace=False)


def _run_coroutine(coro: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
    """Run a coroutine on a private event loop in a worker thread and return its result.

    A worker thread, because asyncio.run on the main thread would replace the event loop that
    pytest-asyncio manages there, and may be called while that loop is running.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hemicycle-services") as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coro, timeout)).result()


def _wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds have passed; return whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(port: int, host: str = LOCALHOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _read_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(eq=False)  # pluggy keeps plugins in sets: they must stay hashable
class _Tracker:
    """Plugin state: what the fixtures used, and which tests were skipped (reported under CI)."""

    services: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    redis_db_indexes: Iterator[int] = field(default_factory=lambda: itertools.cycle(range(1, 16)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # An xfail is reported as "skipped" with a wasxfail attribute: it ran, and is not a skip.
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append((report.nodeid, _skip_reason(report.longrepr)))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self.skipped.append((report.nodeid or "(collection)", _skip_reason(report.longrepr)))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Runs inside the terminal reporter's wrapper, before its summary, and pytest exits with
        # session.exitstatus as it stands after this hook.
        unfailed = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        if in_ci() and self.skipped and session.exitstatus in unfailed:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.services:
            terminalreporter.write_line(f"hemicycle test services: {line}")
        if in_ci() and self.skipped:
            terminalreporter.section(
                f"CI=true: {len(self.skipped)} skipped test(s) fail this run", sep="!", red=True, bold=True
            )
            for nodeid, reason in self.skipped:
                terminalreporter.write_line(f"SKIPPED {nodeid}: {reason}", red=True)
            terminalreporter.write_line(
                "Under CI every test must run: install or start what is missing (.ci/run does) "
                "or remove the skip.",
                red=True,
                bold=True,
            )


def _skip_reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


_TRACKER = pytest.StashKey[_Tracker]()


def pytest_configure(config: pytest.Config) -> None:
    """Register the skip tracker."""
    tracker = _Tracker()
    config.stash[_TRACKER] = tracker
    config.pluginmanager.register(tracker, "hemicycle-services-tracker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the services they use, so ``-m "not browser"`` and the like work."""
    by_fixture = {
        "postgres_url": "postgres",
        "redis_url": "redis",
        "chromium_path": "browser",
        "gstreamer_python": "gstreamer",
        "firefox_path": "firefox",
        "nginx_path": "nginx",
    }
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture_name, marker in by_fixture.items():
            if fixture_name in names:
                item.add_marker(marker)


# --------------------------------------------------------------------------------------------------------
# PostgreSQL


def _asyncpg_dsn(url: str) -> str:
    """asyncpg wants the plain libpq scheme."""
    return "postgresql://" + url.split("://", 1)[1]


def _sqlalchemy_pg_url(url: str) -> str:
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


async def _check_postgres(url: str) -> str:
    """Connect, and make sure the role may create databases; return the server version."""
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        allowed = await conn.fetchval(
            "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
        if not allowed:
            raise ServiceUnavailable("the role may not create databases (needs CREATEDB)")
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def _create_database(maintenance_url: str, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(maintenance_url), timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(maintenance_url: str, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(maintenance_url), timeout=10)
    try:
        # A server process of the test may still hold connections; they must go first.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        force = " WITH (FORCE)" if conn.get_server_version().major >= 13 else ""
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"{force}')
    finally:
        await conn.close()


def _probe_local_postgres() -> tuple[str, str] | None:
    """The server on 127.0.0.1:5432 with trust auth, as (url, version), or None."""
    if not _port_open(POSTGRES_PORT):
        return None
    users = ["postgres"]
    if (me := getpass.getuser()) not in users:
        users.append(me)
    for user in users:
        url = f"postgresql+asyncpg://{user}@{LOCALHOST}:{POSTGRES_PORT}/test"
        try:
            version = _run_coroutine(_check_postgres(url), timeout=15)
        except Exception:
            continue
        return url, version
    return None


def _postgres_bindir() -> Path | None:
    """A directory holding initdb and postgres of one release: PATH first, then Debian's, newest first."""
    candidates: list[Path] = []
    for tool in ("initdb", "pg_ctl", "postgres"):
        if found := shutil.which(tool):
            # Debian links /usr/bin or /usr/local/bin entries into the versioned directory.
            candidates.append(Path(found).resolve().parent)

    def version(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for directory in candidates:
        if all(os.access(directory / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return directory
    return None


def _unprivileged_user() -> tuple[int, int] | None:
    """(uid, gid) of an account that may run PostgreSQL when we are root (initdb refuses root)."""
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    return None


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temporary directory, reachable on 127.0.0.1:``port``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="hemicycle-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "postgres.log"
        self.port = 0
        # initdb and postgres refuse to run as root.
        self._owner = _unprivileged_user() if os.geteuid() == 0 else None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Superuser URL of the ``test`` database."""
        return f"postgresql+asyncpg://postgres@{LOCALHOST}:{self.port}/test"

    def _as_owner(self) -> dict[str, Any]:
        if self._owner is None:
            return {}
        return {"user": self._owner[0], "group": self._owner[1], "extra_groups": []}

    def start(self) -> str:
        """Create the cluster, start it and create the ``test`` database; return its URL."""
        if os.geteuid() == 0 and self._owner is None:
            raise ServiceUnavailable("running as root, and there is no postgres or nobody account to run as")
        self.sockets.mkdir()
        if self._owner:
            for path in (self.root, self.sockets):
                os.chown(path, *self._owner)
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        done = subprocess.run(
            [*initdb, "-E", "UTF8", "--no-locale", "--no-sync"],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
            **self._as_owner(),
        )
        if done.returncode != 0:
            raise ServiceUnavailable(f"initdb failed: {(done.stderr or done.stdout).strip()}")
        for _attempt in range(3):  # another process may take the free port before the postmaster binds it
            self.port = free_port()
            if self._launch():
                break
        else:
            raise ServiceUnavailable(f"postgres did not start:\n{_read_tail(self.log)}")
        _run_coroutine(_create_database(_with_path(self.url, "/postgres"), "test"))
        return self.url

    def _launch(self) -> bool:
        """Start the postmaster on ``self.port``; True once it accepts connections."""
        settings = {
            "listen_addresses": LOCALHOST,
            "unix_socket_directories": str(self.sockets),
            "max_connections": "200",
            # Durability buys nothing for a cluster deleted at the end of the run.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                [
                    *(str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)),
                    *(arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")),
                ],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session, so a Ctrl-C meant for pytest leaves the shutdown to the teardown;
                # SIGQUIT on pytest's death is PostgreSQL's immediate shutdown.
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGQUIT),
                **self._as_owner(),
            )
        self._process = process
        maintenance = _with_path(self.url, "/postgres")
        _wait_until(lambda: process.poll() is not None or _connects(maintenance), START_TIMEOUT, 0.1)
        if process.poll() is None and _connects(maintenance):
            return True
        self._terminate()
        return False

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        # SIGINT is PostgreSQL's fast shutdown; SIGQUIT its immediate one.
        for sig, grace in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
            if process.poll() is not None:
                return
            process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)

    def stop(self) -> None:
        """Stop the server and delete its directory; safe to call twice."""
        self._terminate()
        shutil.rmtree(self.root, ignore_errors=True)


def _connects(url: str) -> bool:
    async def attempt() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=2)
        await conn.close()

    try:
        _run_coroutine(attempt(), timeout=5)
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """``postgresql+asyncpg://`` URL of a PostgreSQL server whose role may create databases."""
    tracker = request.config.stash[_TRACKER]
    explicit = os.environ.get("HEMICYCLE_TEST_POSTGRES_URL", "").strip()
    if explicit:
        if not explicit.startswith(("postgresql://", "postgresql+asyncpg://", "postgres://")):
            _misconfigured("HEMICYCLE_TEST_POSTGRES_URL", "it must start with postgresql://")
        url = _sqlalchemy_pg_url(explicit)
        try:
            version = _run_coroutine(_check_postgres(url), timeout=20)
        except Exception as exc:
            _misconfigured("HEMICYCLE_TEST_POSTGRES_URL", f"{type(exc).__name__}: {exc}")
        tracker.services.append(f"PostgreSQL {version} from HEMICYCLE_TEST_POSTGRES_URL")
        yield url
        return
    if _probing_allowed() and (found := _probe_local_postgres()):
        url, version = found
        tracker.services.append(f"PostgreSQL {version} already running on {LOCALHOST}:{POSTGRES_PORT}")
        yield url
        return
    bindir = _postgres_bindir()
    if bindir is None:
        _unavailable(
            "PostgreSQL",
            f"nothing usable on {LOCALHOST}:{POSTGRES_PORT}, and no initdb/postgres on PATH or under "
            "/usr/lib/postgresql/*/bin (install Debian's postgresql, or set HEMICYCLE_TEST_POSTGRES_URL)",
        )
    cluster = PostgresCluster(bindir)
    atexit.register(cluster.stop)  # in case the session dies before fixture teardown
    try:
        url = cluster.start()
    except Exception as exc:
        cluster.stop()
        _unavailable("PostgreSQL", f"could not start a throwaway cluster from {bindir}: {exc}")
    tracker.services.append(f"PostgreSQL throwaway cluster from {bindir} on {LOCALHOST}:{cluster.port}")
    try:
        yield url
    finally:
        cluster.stop()


@contextlib.contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """Create a uniquely named empty database on the server of ``server_url``; drop it on exit.

    Connections still open to it on exit (a server under test, say) are terminated first.
    """
    name = f"hemicycle_test_{uuid.uuid4().hex[:12]}"
    _run_coroutine(_create_database(server_url, name))
    try:
        yield _with_path(server_url, f"/{name}")
    finally:
        _run_coroutine(_drop_database(server_url, name))


@pytest.fixture
def pg_database_url(postgres_url: str) -> Iterator[str]:
    """``postgresql+asyncpg://`` URL of a new, empty database for this test alone; dropped afterwards."""
    with temporary_database(postgres_url) as url:
        yield url


# --------------------------------------------------------------------------------------------------------
# Redis


def _redis_ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _with_redis_db(url: str, index: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":  # the path is the socket; the database goes in the query
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(index))]
        return urlunsplit(parts._replace(query=urlencode(query)))
    return urlunsplit(parts._replace(path=f"/{index}"))


def _flushdb(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    try:
        client.flushdb()
    finally:
        client.close()


class RedisServer:
    """A throwaway redis-server on 127.0.0.1:``port`` that keeps nothing on disk."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="hemicycle-redis-"))
        self.log = self.root / "redis.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """URL of database 0."""
        return f"redis://{LOCALHOST}:{self.port}/0"

    def start(self) -> str:
        """Start the server and wait until it answers PING; return its URL."""
        last_error = ""
        for _attempt in range(3):  # another process may take the free port before redis binds it
            self.port = free_port()
            if self._launch():
                return self.url
            last_error = _read_tail(self.log)
            self._terminate()
        raise ServiceUnavailable(f"redis-server did not start:\n{last_error}")

    def _launch(self) -> bool:
        """Start redis-server on ``self.port``; True once it answers PING."""
        settings = {
            "port": self.port,
            "bind": LOCALHOST,
            # Nothing on disk: the data lives as long as the test session.
            "save": "",
            "appendonly": "no",
            "dir": self.root,
            "logfile": self.log,
            "daemonize": "no",
        }
        process = subprocess.Popen(
            [
                self.binary,
                *(arg for name, value in settings.items() for arg in (f"--{name}", str(value))),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session, so a Ctrl-C meant for pytest leaves the shutdown to the teardown.
            start_new_session=True,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        self._process = process
        return self._wait_ready(process)

    def kill(self) -> None:
        """Stop the server as a crash would (SIGKILL); restart() brings it back on the same port."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        """Start the server again on its port, after kill()."""
        if not self._launch():
            raise ServiceUnavailable(f"redis-server did not restart:\n{_read_tail(self.log)}")

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> bool:
        url = self.url
        _wait_until(lambda: process.poll() is not None or _redis_ping(url), START_TIMEOUT)
        return process.poll() is None and _redis_ping(url)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server and delete its directory; safe to call twice."""
        self._terminate()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """``redis://`` URL of a Redis server (database 0; tests should prefer ``fresh_redis_url``)."""
    tracker = request.config.stash[_TRACKER]
    explicit = os.environ.get("HEMICYCLE_TEST_REDIS_URL", "").strip()
    if explicit:
        if not explicit.startswith(("redis://", "rediss://", "unix://")):
            _misconfigured("HEMICYCLE_TEST_REDIS_URL", "it must start with redis://, rediss:// or unix://")
        if not _redis_ping(explicit):
            _misconfigured("HEMICYCLE_TEST_REDIS_URL", f"no answer to PING at {explicit}")
        tracker.services.append("Redis from HEMICYCLE_TEST_REDIS_URL")
        yield explicit
        return
    local = f"redis://{LOCALHOST}:{REDIS_PORT}/0"
    if _probing_allowed() and _port_open(REDIS_PORT) and _redis_ping(local):
        tracker.services.append(f"Redis already running on {LOCALHOST}:{REDIS_PORT}")
        yield local
        return
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable(
            "Redis",
            f"nothing answers on {LOCALHOST}:{REDIS_PORT} and redis-server is not on PATH "
            "(install Debian's redis-server, or set HEMICYCLE_TEST_REDIS_URL)",
        )
    server = RedisServer(binary)
    atexit.register(server.stop)
    try:
        url = server.start()
    except Exception as exc:
        server.stop()
        _unavailable("Redis", f"could not start {binary}: {exc}")
    tracker.services.append(f"Redis throwaway server {binary} on {LOCALHOST}:{server.port}")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def fresh_redis_url(request: pytest.FixtureRequest, redis_url: str) -> Iterator[str]:
    """URL of an empty Redis database for this test, flushed before and after.

    Tests take databases 1 to 15 in turn. Pub/sub channels are shared by all databases of a server, so
    tests that publish should still use channel names of their own.
    """
    url = _with_redis_db(redis_url, next(request.config.stash[_TRACKER].redis_db_indexes))
    try:
        _flushdb(url)
    except redis.ResponseError:  # a server configured with a single database
        url = redis_url
        _flushdb(url)
    try:
        yield url
    finally:
        _flushdb(url)


# --------------------------------------------------------------------------------------------------------
# Chromium


@pytest.fixture(scope="session")
def chromium_path(request: pytest.FixtureRequest) -> str:
    """Path of a Chromium binary; launch it with ``CHROMIUM_ARGS``."""
    tracker = request.config.stash[_TRACKER]
    explicit = os.environ.get("HEMICYCLE_CHROMIUM", "").strip()
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            _misconfigured("HEMICYCLE_CHROMIUM", f"{explicit!r} is not an executable file")
        tracker.services.append(f"Chromium {found} from HEMICYCLE_CHROMIUM")
        return found
    candidates = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
    for candidate in candidates:
        if found := shutil.which(candidate):
            tracker.services.append(f"Chromium {found}")
            return found
    _unavailable(
        "Chromium",
        f"none of {', '.join(candidates)} found (apt-get install chromium, or set HEMICYCLE_CHROMIUM)",
    )


# --------------------------------------------------------------------------------------------------------
# Firefox


@pytest.fixture(scope="session")
def firefox_path(request: pytest.FixtureRequest) -> str:
    """Path of Firefox ESR (HEMICYCLE_FIREFOX, else Debian's /usr/bin/firefox-esr); see tests/firefox.py."""
    tracker = request.config.stash[_TRACKER]
    explicit = os.environ.get("HEMICYCLE_FIREFOX", "").strip()
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            _misconfigured("HEMICYCLE_FIREFOX", f"{explicit!r} is not an executable file")
        tracker.services.append(f"Firefox {found} from HEMICYCLE_FIREFOX")
        return found
    default = "/usr/bin/firefox-esr"
    if os.access(default, os.X_OK):
        tracker.services.append(f"Firefox {default}")
        return default
    _unavailable("Firefox", f"{default} not found (apt-get install firefox-esr, or set HEMICYCLE_FIREFOX)")


@pytest.fixture
async def firefox(firefox_path: str) -> AsyncIterator[Firefox]:
    """Firefox ESR, headless, with fake camera and microphone, one tab (see tests/firefox.py)."""
    browser = await Firefox.launch(firefox_path)
    try:
        yield browser
    finally:
        await browser.close()


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, with fake camera and microphone (see tests/services.py)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


# --------------------------------------------------------------------------------------------------------
# GStreamer: a WebRTC stack of its own (webrtcbin), driven from a system Python that has PyGObject

GSTREAMER_PACKAGES = (
    "python3-gi gir1.2-gst-plugins-bad-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice"
)
_GSTREAMER_PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0'); "
    "gi.require_version('GstSdp', '1.0'); from gi.repository import Gst, GstWebRTC, GstSdp; Gst.init(None); "
    "missing = [e for e in ('webrtcbin', 'nicesrc', 'vp8enc', 'x264enc', 'opusenc', 'rtpvp8pay', "
    "'rtph264pay', 'rtpopuspay', 'videotestsrc', 'audiotestsrc') if Gst.ElementFactory.find(e) is None]; "
    "print(' '.join(missing))"
)


@pytest.fixture(scope="session")
def gstreamer_python(request: pytest.FixtureRequest) -> str:
    """A Python interpreter that runs tests/gst_publisher.py: PyGObject with GStreamer's WebRTC elements.

    Debian's python3-gi serves the system Python, not a virtual environment's: HEMICYCLE_GST_PYTHON names
    another interpreter.
    """
    tracker = request.config.stash[_TRACKER]
    explicit = os.environ.get("HEMICYCLE_GST_PYTHON", "").strip()
    candidates = (explicit,) if explicit else ("/usr/bin/python3", "python3")
    reasons = []
    for candidate in candidates:
        found = shutil.which(candidate)
        if found is None:
            reasons.append(f"{candidate}: not found")
            continue
        try:
            probe = subprocess.run(
                [found, "-c", _GSTREAMER_PROBE], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{found}: {exc}")
            continue
        if probe.returncode == 0 and not probe.stdout.strip():
            tracker.services.append(f"GStreamer webrtcbin through {found}")
            return found
        missing = probe.stdout.strip() or probe.stderr.strip().splitlines()[-1:]
        reasons.append(f"{found}: missing {missing}")
    if explicit:
        _misconfigured("HEMICYCLE_GST_PYTHON", "; ".join(reasons))
    _unavailable("GStreamer", f"{'; '.join(reasons)} (apt-get install {GSTREAMER_PACKAGES})")


# --------------------------------------------------------------------------------------------------------
# nginx


@pytest.fixture(scope="session")
def nginx_path(request: pytest.FixtureRequest) -> str:
    """Path of an nginx binary (Debian's lives in /usr/sbin, often not on a user's PATH)."""
    tracker = request.config.stash[_TRACKER]
    explicit = os.environ.get("HEMICYCLE_NGINX", "").strip()
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            _misconfigured("HEMICYCLE_NGINX", f"{explicit!r} is not an executable file")
        tracker.services.append(f"nginx {found} from HEMICYCLE_NGINX")
        return found
    candidates = ("nginx", "/usr/sbin/nginx")
    for candidate in candidates:
        if found := shutil.which(candidate):
            tracker.services.append(f"nginx {found}")
            return found
    _unavailable(
        "nginx",
        f"none of {', '.join(candidates)} found (apt-get install nginx, or set HEMICYCLE_NGINX)",
    )
