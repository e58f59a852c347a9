"""Hemicycle settings, read once from the environment.

Every variable is documented in the README's configuration table; a test keeps the two in step.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .archive_storage import parse_storage
from .domain.archive import MAX_RETENTION_DAYS

MIN_SECRET_LENGTH = 32
# Beside the demo database: its generated secret, and the address `serve --demo` last served on.
DEMO_SECRET_FILE = "demo-secret"
DEMO_URL_FILE = "demo-url"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


# name -> (default, description). The README's configuration table is checked against this.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "HEMICYCLE_HOST": ("127.0.0.1", "Address the server listens on."),
    "HEMICYCLE_PORT": ("8080", "TCP port the server listens on."),
    "HEMICYCLE_PUBLIC_URL": (
        "http://HOST:PORT",
        "Base URL printed in role links (set it behind a reverse proxy).",
    ),
    "HEMICYCLE_SECRET": (
        "(none)",
        "Key that signs role links and participant tokens, at least 32 characters. Required unless "
        "`--demo`, which keeps a generated one in the data directory.",
    ),
    "HEMICYCLE_DATA_DIR": ("./var", "Directory for the default SQLite database and the demo secret."),
    "HEMICYCLE_RECORDINGS_DIR": (
        "DATA_DIR/recordings",
        "Where session recordings are written (WebM/Matroska files, one per track and process; see "
        "docs/protocol.md, Recording). Every process that may run a session's relay needs it, writable.",
    ),
    "DATABASE_URL": (
        "sqlite+aiosqlite:///DATA_DIR/hemicycle.db",
        "SQLAlchemy URL; `postgresql+asyncpg://user@host/db` for PostgreSQL.",
    ),
    "REDIS_URL": (
        "(none)",
        "When set (`redis://host:6379/0`), Socket.IO fan-out goes through Redis so several processes "
        "serve one event, and the registration, hand, question and vote limits are counted there.",
    ),
    "HEMICYCLE_REDIS_CHANNEL": (
        "hemicycle",
        "The Redis pub/sub channel of this deployment. Channels are shared by every database number of a "
        "Redis server: two deployments on one Redis need different channels.",
    ),
    "HEMICYCLE_LINK_TTL_HOURS": ("168", "Lifetime of staff role links (moderator, chair, AV, ...)."),
    "HEMICYCLE_ATTENDEE_TTL_HOURS": ("720", "Lifetime of an attendee's participant token."),
    "HEMICYCLE_HEARTBEAT_SECONDS": (
        "5",
        "How often a process proves it is alive; presence held by a silent process expires after 3 beats.",
    ),
    "HEMICYCLE_EVENTS_PER_SECOND": (
        "10",
        "Sustained Socket.IO events an attendee may send per second, all their connections to one process "
        "together (staff: per connection); bursts up to 4x are allowed.",
    ),
    "HEMICYCLE_HTTP_READ_SECONDS": (
        "15",
        "How long a client may take to send a request's headers, and then its body, before the connection is "
        "closed (also how long an idle keep-alive connection stays open).",
    ),
    "HEMICYCLE_SEND_QUEUE_LIMIT": (
        "1000",
        "Messages waiting to be sent to one Socket.IO connection that does not read them; past this, the "
        "connection is dropped (and a warning logged) rather than kept with an ever longer backlog.",
    ),
    "HEMICYCLE_FLOOR_GRACE_SECONDS": (
        "30",
        "How long a remote speaker who loses their connection keeps the floor before it ends by itself.",
    ),
    "HEMICYCLE_WAITING_ROOM": (
        "public",
        "Which sessions make newly registered attendees wait for a moderator when the session has no setting "
        "of its own: `public`, `all` or `off`.",
    ),
    "HEMICYCLE_PROXY_HEADERS": (
        "off",
        "`on` behind a reverse proxy that appends the client's address to `X-Forwarded-For`: the last entry "
        "is then taken as the client address (used to limit registrations and refused Socket.IO connections "
        "per address, and to flag a registration from a banned person's address). A request or connection "
        "without it is logged once.",
    ),
    "HEMICYCLE_CONNECTS_PER_MINUTE": (
        "60",
        "Socket.IO connection attempts one token may make per minute, across all processes (in Redis when "
        "REDIS_URL is set); beyond, `connect_error` with `rate_limited` and `details.retry_after`. The page "
        "reconnects with a back-off and needs a handful; a client looping without one is refused cheaply.",
    ),
    "HEMICYCLE_REFUSED_CONNECTS_PER_ADDRESS": (
        "300",
        "Refused Socket.IO connection attempts (unknown, forged or expired tokens) one client address may "
        "make per minute; beyond, its next attempts are refused with `rate_limited` before any token is "
        "read. Accepted connections do not count, so a venue's shared address is not limited by its "
        "attendees.",
    ),
    "HEMICYCLE_CONNECTIONS_PER_PARTICIPANT": (
        "10",
        "Socket.IO connections one participant (one token) may hold open at once, on all the server's "
        "processes together: a person has a few tabs, not a thousand. The next is refused with "
        "`connect_error` `too_many_connections`.",
    ),
    "HEMICYCLE_REGISTRATIONS_PER_ADDRESS": (
        "500",
        "Registrations one client address may make per registration window, across all processes (in Redis "
        "when REDIS_URL is set). A venue's Wi-Fi puts hundreds of people behind one address: leave room for "
        "a full room registering within the window. Behind a reverse proxy set HEMICYCLE_PROXY_HEADERS, or "
        "every attendee counts as the proxy's address.",
    ),
    "HEMICYCLE_REGISTRATIONS_PER_BROWSER": (
        "5",
        "Registrations one browser (the page's `browser_id`) may make per registration window. Raise it if "
        "a help desk registers people on one shared computer.",
    ),
    "HEMICYCLE_REGISTRATION_WINDOW_MINUTES": (
        "10",
        "The window of the two registration limits; beyond them registration answers `429 rate_limited` with "
        "the seconds to wait.",
    ),
    "HEMICYCLE_QUESTION_MAX_CHARS": (
        "500",
        "Longest question an attendee may post, in characters (at most 2000).",
    ),
    "HEMICYCLE_REPORT_MIN_GROUP": (
        "5",
        "In reports, a gender or age group with fewer people than this shows no figures, only "
        '"fewer than N" (at least 2).',
    ),
    "HEMICYCLE_STATEMENT_MAX_BYTES": (
        "5242880",
        "The largest statement in advance (PDF or UTF-8 text) a speaker or moderator may attach to a "
        "request, in bytes (1024 to 67108864).",
    ),
    "HEMICYCLE_LOG_LEVEL": ("INFO", "Python logging level."),
    "HEMICYCLE_LOG_FORMAT": (
        "text",
        "`json` for one JSON object per line (time, level, logger, message, and session, participant and "
        "request_id when known), for a log collector; `text` for people. Tokens are redacted from both.",
    ),
    "HEMICYCLE_ACCESS_LOG": (
        "on",
        "One log line per HTTP request (logger `hemicycle.access`): `on` for all but the browser files "
        "under `/static/`, `all` for those too, `off` for none.",
    ),
    "HEMICYCLE_METRICS_TOKEN": (
        "(none)",
        "When set (at least 16 characters), `GET /metrics` serves Prometheus metrics to "
        "`Authorization: Bearer <this token>`; unset, `/metrics` answers 404.",
    ),
    "HEMICYCLE_INTERNAL_URL": (
        "http://HOST:PORT",
        "How the other Hemicycle processes reach this one, to hand it media offers for a session whose "
        "relay it owns.",
    ),
    "HEMICYCLE_STUN_URLS": (
        "(none)",
        "Comma-separated STUN URLs (`stun:stun.example.org:3478`) given to browsers and the relay. None by "
        "default: on a closed network an unreachable STUN server stalls every offer.",
    ),
    "HEMICYCLE_TURN_URLS": (
        "(none)",
        "Comma-separated TURN URLs (`turn:turn.example.org:3478?transport=udp,turns:...`); needs "
        "HEMICYCLE_TURN_SECRET.",
    ),
    "HEMICYCLE_TURN_SECRET": (
        "(none)",
        "The TURN server's shared secret (coturn's `static-auth-secret`): each participant gets time-limited "
        "credentials made with it.",
    ),
    "HEMICYCLE_TURN_TTL_SECONDS": ("21600", "Lifetime of the TURN credentials given to a participant."),
    "HEMICYCLE_CORS_ORIGINS": (
        "(none)",
        "Comma-separated origins (`https://player.example.org`) whose web pages may use WHIP and WHEP "
        "(the endpoints and their media resources) from the browser; `*` for any. None by default.",
    ),
    "HEMICYCLE_MEDIA_CONNECT_SECONDS": (
        "20",
        "How long an answered media offer has to connect before the relay frees what it set up for it.",
    ),
    "HEMICYCLE_MEDIA_MAX_VIEWERS": (
        "300",
        "Media streams this process forwards at most (its viewers, and its links to edge relays of other "
        "processes), 1 to 20000. A viewer arriving at a full process is served by the process with the most "
        "room (shared through Redis), or refused with `relay_full`. The default is measured: about 0.27 % "
        "of a core per viewer.",
    ),
    "HEMICYCLE_MEDIA_MAX_EDGES": (
        "40",
        "Edge relays a session's origin feeds itself, 1 to 10000; further edges pull from one of those (a "
        "second tier), so the origin's cost stops growing with the audience.",
    ),
    "HEMICYCLE_GC_FREEZE_SECONDS": (
        "2",
        "How often the server collects and then freezes the objects that survived, so the cycle collector's "
        "pauses stay short with thousands connected (`0`: Python's defaults).",
    ),
    "HEMICYCLE_GC_RECLAIM_MINUTES": (
        "360",
        "How often the server unfreezes and collects everything (one longer pause, logged), besides whenever "
        "it holds no connection, so that objects freed while frozen do not pile up.",
    ),
    "HEMICYCLE_CHECK_MESSAGES": (
        "off",
        "Check every Socket.IO message the server sends (events and acknowledgements) against the models of "
        "`signaling/messages.py`; a mismatch is logged and the send fails. For development and tests: it "
        "costs a validation per message.",
    ),
    # The archive (issue 22): where recordings are kept and for how long.
    "HEMICYCLE_ARCHIVE_STORAGE": (
        "local",
        "Where finished recording files are kept: `local` (the recordings directory), another directory "
        "(`file:///path` or `/path`) or an S3-compatible object store (`s3://bucket/prefix`, with the "
        "`HEMICYCLE_ARCHIVE_*` object-store settings).",
    ),
    "HEMICYCLE_ARCHIVE_RETENTION_DAYS": (
        "0",
        "Days a recording is kept after it stopped; then its files and rows are removed and the removal is "
        "written in the session's audit log. `0` keeps recordings forever.",
    ),
    "HEMICYCLE_ARCHIVE_ENDPOINT": (
        "(none)",
        "The object store's URL for an S3-compatible store other than AWS (`http://minio:9000`); path-style "
        "requests are used then.",
    ),
    "HEMICYCLE_ARCHIVE_REGION": ("us-east-1", "The object store's region."),
    "HEMICYCLE_ARCHIVE_ACCESS_KEY_ID": (
        "(none)",
        "The object store's access key; when unset, the usual `AWS_*` variables and instance roles are used.",
    ),
    "HEMICYCLE_ARCHIVE_SECRET_ACCESS_KEY": (
        "(none)",
        "The secret that goes with `HEMICYCLE_ARCHIVE_ACCESS_KEY_ID`.",
    ),
}


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _switch(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "off", "0", "false", "no"):
        return False
    if raw in ("on", "1", "true", "yes"):
        return True
    raise SettingsError(f"{name} must be on or off, not {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Everything the application needs to start; built from the environment or by tests."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    secret: str = ""
    data_dir: Path = field(default_factory=lambda: Path("var"))
    # Where recordings are written (issue 22); None: ``<data dir>/recordings``.
    recordings_dir: Path | None = None
    database_url: str = ""
    redis_url: str | None = None
    redis_channel: str = "hemicycle"
    link_ttl_hours: int = 168
    attendee_ttl_hours: int = 720
    heartbeat_seconds: float = 5.0
    events_per_second: int = 10
    http_read_seconds: float = 15.0
    send_queue_limit: int = 1000
    floor_grace_seconds: int = 30
    waiting_room: str = "public"
    proxy_headers: bool = False
    connects_per_minute: int = 60
    refused_connects_per_address: int = 300
    connections_per_participant: int = 10
    registrations_per_address: int = 500
    registrations_per_browser: int = 5
    registration_window_minutes: int = 10
    question_max_chars: int = 500
    report_min_group: int = 5
    statement_max_bytes: int = 5 * 1024 * 1024
    log_level: str = "INFO"
    log_format: str = "text"
    access_log: str = "on"
    internal_url: str = ""
    metrics_token: str = ""
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    turn_ttl_seconds: int = 21600
    cors_origins: tuple[str, ...] = ()
    media_connect_seconds: float = 20.0
    media_max_viewers: int = 300
    media_max_edges: int = 40
    gc_freeze_seconds: int = 2
    gc_reclaim_minutes: int = 360
    check_messages: bool = False
    archive_storage: str = "local"
    archive_retention_days: int = 0
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    demo: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("HEMICYCLE_DATA_DIR", "").strip() or "var")
        settings = cls(
            host=env.get("HEMICYCLE_HOST", "").strip() or "127.0.0.1",
            port=_int(env, "HEMICYCLE_PORT", 8080, minimum=0),
            public_url=env.get("HEMICYCLE_PUBLIC_URL", "").strip(),
            secret=env.get("HEMICYCLE_SECRET", ""),
            data_dir=data_dir,
            recordings_dir=Path(env["HEMICYCLE_RECORDINGS_DIR"].strip())
            if env.get("HEMICYCLE_RECORDINGS_DIR", "").strip()
            else None,
            database_url=env.get("DATABASE_URL", "").strip(),
            redis_url=env.get("REDIS_URL", "").strip() or None,
            redis_channel=env.get("HEMICYCLE_REDIS_CHANNEL", "").strip() or "hemicycle",
            link_ttl_hours=_int(env, "HEMICYCLE_LINK_TTL_HOURS", 168),
            attendee_ttl_hours=_int(env, "HEMICYCLE_ATTENDEE_TTL_HOURS", 720),
            heartbeat_seconds=float(_int(env, "HEMICYCLE_HEARTBEAT_SECONDS", 5)),
            events_per_second=_int(env, "HEMICYCLE_EVENTS_PER_SECOND", 10),
            http_read_seconds=float(_int(env, "HEMICYCLE_HTTP_READ_SECONDS", 15)),
            send_queue_limit=_int(env, "HEMICYCLE_SEND_QUEUE_LIMIT", 1000),
            floor_grace_seconds=_int(env, "HEMICYCLE_FLOOR_GRACE_SECONDS", 30),
            waiting_room=(env.get("HEMICYCLE_WAITING_ROOM", "").strip() or "public").lower(),
            proxy_headers=_switch(env, "HEMICYCLE_PROXY_HEADERS"),
            connects_per_minute=_int(env, "HEMICYCLE_CONNECTS_PER_MINUTE", 60),
            refused_connects_per_address=_int(env, "HEMICYCLE_REFUSED_CONNECTS_PER_ADDRESS", 300),
            connections_per_participant=_int(env, "HEMICYCLE_CONNECTIONS_PER_PARTICIPANT", 10),
            registrations_per_address=_int(env, "HEMICYCLE_REGISTRATIONS_PER_ADDRESS", 500),
            registrations_per_browser=_int(env, "HEMICYCLE_REGISTRATIONS_PER_BROWSER", 5),
            registration_window_minutes=_int(env, "HEMICYCLE_REGISTRATION_WINDOW_MINUTES", 10),
            question_max_chars=min(2000, _int(env, "HEMICYCLE_QUESTION_MAX_CHARS", 500)),
            report_min_group=_int(env, "HEMICYCLE_REPORT_MIN_GROUP", 5, minimum=2),
            statement_max_bytes=_int(env, "HEMICYCLE_STATEMENT_MAX_BYTES", 5 * 1024 * 1024, minimum=1024),
            log_level=(env.get("HEMICYCLE_LOG_LEVEL", "").strip() or "INFO").upper(),
            log_format=(env.get("HEMICYCLE_LOG_FORMAT", "").strip() or "text").lower(),
            access_log=(env.get("HEMICYCLE_ACCESS_LOG", "").strip() or "on").lower(),
            internal_url=env.get("HEMICYCLE_INTERNAL_URL", "").strip(),
            metrics_token=env.get("HEMICYCLE_METRICS_TOKEN", "").strip(),
            stun_urls=_urls(env, "HEMICYCLE_STUN_URLS"),
            turn_urls=_urls(env, "HEMICYCLE_TURN_URLS"),
            turn_secret=env.get("HEMICYCLE_TURN_SECRET", "").strip(),
            turn_ttl_seconds=_int(env, "HEMICYCLE_TURN_TTL_SECONDS", 21600, minimum=60),
            cors_origins=_origins(env, "HEMICYCLE_CORS_ORIGINS"),
            media_connect_seconds=float(_int(env, "HEMICYCLE_MEDIA_CONNECT_SECONDS", 20)),
            media_max_viewers=_int(env, "HEMICYCLE_MEDIA_MAX_VIEWERS", 300),
            media_max_edges=_int(env, "HEMICYCLE_MEDIA_MAX_EDGES", 40),
            gc_freeze_seconds=_int(env, "HEMICYCLE_GC_FREEZE_SECONDS", 2, minimum=0),
            gc_reclaim_minutes=_int(env, "HEMICYCLE_GC_RECLAIM_MINUTES", 360),
            check_messages=_switch(env, "HEMICYCLE_CHECK_MESSAGES"),
            archive_storage=env.get("HEMICYCLE_ARCHIVE_STORAGE", "").strip() or "local",
            archive_retention_days=_int(env, "HEMICYCLE_ARCHIVE_RETENTION_DAYS", 0, minimum=0),
            s3_endpoint=env.get("HEMICYCLE_ARCHIVE_ENDPOINT", "").strip(),
            s3_region=env.get("HEMICYCLE_ARCHIVE_REGION", "").strip() or "us-east-1",
            s3_access_key_id=env.get("HEMICYCLE_ARCHIVE_ACCESS_KEY_ID", "").strip(),
            s3_secret_access_key=env.get("HEMICYCLE_ARCHIVE_SECRET_ACCESS_KEY", ""),
        )
        return replace(settings, **overrides)  # type: ignore[arg-type]

    def resolved(self) -> Settings:
        """Fill derived values and check the whole; raise SettingsError with a clear message."""
        database_url = (
            self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'hemicycle.db').resolve()}"
        )
        if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise SettingsError(
                "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://, "
                f"not {database_url.split(':', 1)[0]!r}"
            )
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("REDIS_URL must start with redis://, rediss:// or unix://")
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", self.redis_channel):
            raise SettingsError(
                "HEMICYCLE_REDIS_CHANNEL takes letters, digits and _ . : - (at most 100 characters)"
            )
        if self.metrics_token and len(self.metrics_token) < 16:
            raise SettingsError("HEMICYCLE_METRICS_TOKEN must be at least 16 characters long")
        if self.log_format not in ("text", "json"):
            raise SettingsError("HEMICYCLE_LOG_FORMAT must be text or json")
        if self.access_log not in ("on", "all", "off"):
            raise SettingsError("HEMICYCLE_ACCESS_LOG must be on, all or off")
        if self.waiting_room not in ("public", "all", "off"):
            raise SettingsError("HEMICYCLE_WAITING_ROOM must be public, all or off")
        secret = self.secret
        if not secret:
            if not self.demo:
                raise SettingsError(
                    "HEMICYCLE_SECRET is not set. Set it to a random string of at least "
                    f"{MIN_SECRET_LENGTH} characters (for example: python3 -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'), or start with --demo to try Hemicycle out."
                )
            secret = _demo_secret(self.data_dir)
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(f"HEMICYCLE_SECRET must be at least {MIN_SECRET_LENGTH} characters long")
        public_url = (self.public_url or f"http://{_display_host(self.host)}:{self.port}").rstrip("/")
        internal_url = (self.internal_url or f"http://{_display_host(self.host)}:{self.port}").rstrip("/")
        if not internal_url.startswith(("http://", "https://")):
            raise SettingsError("HEMICYCLE_INTERNAL_URL must start with http:// or https://")
        for url in self.stun_urls:
            if not url.startswith(("stun:", "stuns:")):
                raise SettingsError(f"HEMICYCLE_STUN_URLS: {url!r} must start with stun: or stuns:")
        for url in self.turn_urls:
            if not url.startswith(("turn:", "turns:")):
                raise SettingsError(f"HEMICYCLE_TURN_URLS: {url!r} must start with turn: or turns:")
        if not 1 <= self.media_max_viewers <= 20000:
            raise SettingsError(
                f"HEMICYCLE_MEDIA_MAX_VIEWERS must be between 1 and 20000, not {self.media_max_viewers}"
            )
        if not 1 <= self.media_max_edges <= 10000:
            raise SettingsError(
                f"HEMICYCLE_MEDIA_MAX_EDGES must be between 1 and 10000, not {self.media_max_edges}"
            )
        try:
            parse_storage(self.archive_storage)
        except ValueError as exc:
            raise SettingsError(f"HEMICYCLE_ARCHIVE_STORAGE: {exc}") from None
        if not 0 <= self.archive_retention_days <= MAX_RETENTION_DAYS:
            raise SettingsError(
                "HEMICYCLE_ARCHIVE_RETENTION_DAYS must be between 0 (keep forever) and "
                f"{MAX_RETENTION_DAYS}, not {self.archive_retention_days}"
            )
        if self.s3_endpoint and not self.s3_endpoint.startswith(("http://", "https://")):
            raise SettingsError("HEMICYCLE_ARCHIVE_ENDPOINT must start with http:// or https://")
        if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
            raise SettingsError(
                "set both HEMICYCLE_ARCHIVE_ACCESS_KEY_ID and HEMICYCLE_ARCHIVE_SECRET_ACCESS_KEY, or neither"
            )
        if self.statement_max_bytes > 64 * 1024 * 1024:
            raise SettingsError(
                "HEMICYCLE_STATEMENT_MAX_BYTES may be at most 67108864 (64 MiB), "
                f"not {self.statement_max_bytes}"
            )
        if self.turn_urls and not self.turn_secret:
            raise SettingsError(
                "HEMICYCLE_TURN_URLS is set: set HEMICYCLE_TURN_SECRET, the TURN shared secret"
            )
        return replace(
            self,
            database_url=database_url,
            secret=secret,
            public_url=public_url,
            internal_url=internal_url,
        )


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Web origins as browsers send them in ``Origin``: scheme, host and port, no path."""
    origins = _urls(env, name)
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise SettingsError(f"{name}: {origin!r} is not an origin like https://player.example.org")
    return tuple(o.lower() for o in origins)


def _urls(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(url.strip() for url in env.get(name, "").split(",") if url.strip())


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "localhost"
    return f"[{host}]" if ":" in host else host


def _demo_secret(data_dir: Path) -> str:
    """A secret kept beside the demo database, so links printed before a restart still open."""
    path = data_dir / DEMO_SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value
