"""The `hemicycle` command: serve, migrate, import-agenda, links, revoke-link, reissue-link, report,
archive."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from aiohttp import web
from tqdm import tqdm

from . import __version__, logs
from .agenda import AgendaError, event_field, load_agenda
from .archive import Archive
from .db.engine import create_engine, migrate, migrate_blocking
from .db.store import Store
from .domain.errors import HemicycleError
from .domain.roles import ROLE_LABELS, Role
from .reports import CSV_PARTS, FORMATS, Reports, render
from .service import Hemicycle
from .settings import DEMO_SECRET_FILE, DEMO_URL_FILE, Settings, SettingsError
from .tokens import TokenService

# Connections waiting to be accepted. aiohttp's default, 128, is what a crowd overflows: when a process dies
# and its thousands of attendees reconnect to another at once (through the proxy), or a session opens, the
# kernel drops the handshakes beyond it and each retries a second or more later, or the proxy gives up on
# them (502). The kernel caps it at net.core.somaxconn (4,096 on current Linux).
LISTEN_BACKLOG = 4096

log = logging.getLogger("hemicycle")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hemicycle", description="Hybrid participation for meeting rooms.")
    parser.add_argument("--version", action="version", version=f"hemicycle {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database and start the server")
    serve.add_argument("--host", help="listen address (HEMICYCLE_HOST)")
    serve.add_argument("--port", type=int, help="listen port (HEMICYCLE_PORT)")
    serve.add_argument("--demo", action="store_true", help="seed the demo event and print every role's link")

    commands.add_parser("migrate", help="bring the database schema up to date")

    agenda = commands.add_parser("import-agenda", help="create or update sessions from a JSON or YAML file")
    agenda.add_argument("file", type=Path)
    agenda.add_argument("--event", help="event slug (required unless the file has an 'event' section)")
    agenda.add_argument("--title", help="event title, when the event is created")
    agenda.add_argument("--timezone", help="time zone for times without an offset (default Europe/Zurich)")

    links = commands.add_parser("links", help="print the role links of a session")
    links.add_argument("session", type=int, help="session id (shown by import-agenda and on the home page)")

    revoke = commands.add_parser(
        "revoke-link", help="withdraw one link: refused at once, its connections closed on every server"
    )
    revoke.add_argument("grant", type=int, help="the link's grant id (shown by `links`)")
    reissue = commands.add_parser(
        "reissue-link", help="withdraw one link and print a new one for the same person and role"
    )
    reissue.add_argument("grant", type=int, help="the link's grant id (shown by `links`)")

    report = commands.add_parser(
        "report",
        help="write a session's or a whole event's record (interventions, balance, questions, attendance)",
    )
    scope = report.add_mutually_exclusive_group(required=True)
    scope.add_argument("session", type=int, nargs="?", help="session id")
    scope.add_argument("--event", type=int, help="event id: every session of the event, and its balance")
    report.add_argument("--format", choices=FORMATS, default="html", help="file format (default html)")
    report.add_argument(
        "--part",
        choices=CSV_PARTS,
        default="figures",
        help="with --format csv: which table (default figures)",
    )
    report.add_argument("--out", type=Path, required=True, help="file to write ('-' for standard output)")

    archive = commands.add_parser(
        "archive",
        help="write a session's recordings, captions (WebVTT) and chapters (WebVTT and JSON) to a folder",
    )
    archive.add_argument("session", type=int, help="session id")
    archive.add_argument("--out", type=Path, required=True, help="folder to write into (created if missing)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    overrides["demo"] = bool(getattr(args, "demo", False))
    if args.command != "serve":
        overrides.update(_demo_directory(os.environ))
    try:
        settings = Settings.from_env(**overrides).resolved()
    except SettingsError as exc:
        print(f"hemicycle: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        if args.command == "serve":
            return _serve(settings)
        if args.command == "migrate":
            migrate_blocking(settings.database_url)
            print("database is up to date")
            return 0
        if args.command == "import-agenda":
            return asyncio.run(_import_agenda(settings, args.file, args.event, args.title, args.timezone))
        if args.command == "links":
            return asyncio.run(_links(settings, args.session))
        if args.command in ("revoke-link", "reissue-link"):
            return asyncio.run(_withdraw(settings, args.grant, reissue=args.command == "reissue-link"))
        if args.command == "report":
            return asyncio.run(_report(settings, args.session, args.event, args.format, args.part, args.out))
        if args.command == "archive":
            return asyncio.run(_archive(settings, args.session, args.out))
    except (AgendaError, HemicycleError, OSError) as exc:
        print(f"hemicycle: {exc}", file=sys.stderr)
        return 1
    return 2


def _demo_directory(env: Mapping[str, str]) -> dict[str, object]:
    """A command run against the data directory of ``serve --demo`` uses its secret and its address.

    Only when the environment names neither: a deployment's own settings always win.
    """
    if env.get("HEMICYCLE_SECRET", ""):
        return {}
    data_dir = Path(env.get("HEMICYCLE_DATA_DIR", "").strip() or "var")
    if not (data_dir / DEMO_SECRET_FILE).exists():
        return {}
    found: dict[str, object] = {"demo": True}
    recorded = data_dir / DEMO_URL_FILE
    explicit = env.get("HEMICYCLE_PUBLIC_URL", "").strip() or env.get("HEMICYCLE_PORT", "").strip()
    if recorded.exists() and not explicit:
        found["public_url"] = recorded.read_text().strip()
    return found


async def _open(settings: Settings) -> tuple[Hemicycle, object]:
    engine = create_engine(settings.database_url)
    await migrate(engine)
    return Hemicycle(settings, Store(engine), TokenService(settings.secret)), engine


async def _print_event_links(core: Hemicycle, event_id: int) -> None:
    event = await core.store.get_event(event_id)
    admin, expires = await core.admin_link(event)
    print(f"\n{event.title}\n  {ROLE_LABELS[Role.ADMIN]:<15} {admin}")
    sessions = await core.store.list_sessions(event.id)
    # The live session first: it is the one a newcomer should open.
    for session in sorted(sessions, key=lambda s: s.state.value != "live"):
        links, expires = await core.session_links(session, None)
        print(f"\n  Session {session.id} [{session.state.value}] {session.title}")
        for role, url in links.items():
            print(f"    {ROLE_LABELS[Role(role)]:<15} {url}")
    print(f"\nStaff links expire on {expires:%Y-%m-%d %H:%M} UTC. Open the attendee link to register.\n")


async def _report(
    settings: Settings, session_id: int | None, event_id: int | None, kind: str, part: str, out: Path
) -> int:
    """Write the record to a file, all or nothing: a temporary file beside it, renamed when complete."""
    if str(out) != "-":
        folder = out.parent if str(out.parent) else Path(".")
        if not folder.is_dir():
            raise OSError(f"cannot write {out}: there is no folder {folder}")
    core, engine = await _open(settings)
    try:
        reports = Reports(core)
        if event_id is not None:
            event = await core.store.get_event(event_id)
            sessions = await core.store.list_sessions(event.id)
            with tqdm(total=len(sessions), unit="session", desc=event.title[:40], file=sys.stderr) as bar:

                def advance(_session: object) -> None:
                    bar.update()

                record = await reports.event_record(event, progress=advance)
        else:
            assert session_id is not None
            record = await reports.session_record(await core.store.get_session(session_id))
        text = render(record, kind, part)
    finally:
        await engine.dispose()  # type: ignore[attr-defined]
    if str(out) == "-":
        sys.stdout.write(text)
        return 0
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8", newline="")
        os.replace(partial, out)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    print(f"wrote {out} ({len(text.encode()):,} bytes)", file=sys.stderr)
    return 0


async def _archive(settings: Settings, session_id: int, out: Path) -> int:
    """Every recording of the session into `out`, with a progress bar over the bytes copied."""
    if await asyncio.to_thread(lambda: out.exists() and not out.is_dir()):
        raise OSError(f"cannot write into {out}: it is a file")
    core, engine = await _open(settings)
    try:
        session = await core.store.get_session(session_id)
        archive = Archive(core)
        with tqdm(
            unit="B", unit_scale=True, unit_divisor=1024, desc=f"session {session.id}", file=sys.stderr
        ) as bar:

            def total(size: int) -> None:
                bar.reset(total=size)

            def advance(size: int) -> None:
                bar.update(size)

            written = await archive.export(session, out, progress=advance, total=total)
    finally:
        await engine.dispose()  # type: ignore[attr-defined]
    if not any(path.name == "manifest.json" for path in written):
        print(f"session {session.id} has no recording", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} files under {out}", file=sys.stderr)
    return 0


def _serve(settings: Settings) -> int:
    from .app import create_app
    from .collector import CollectorPacing
    from .demo import seed_demo
    from .keys import HUB_KEY

    async def prepare() -> None:
        core, engine = await _open(settings)
        try:
            if settings.demo:
                # Where this demo is served, for `hemicycle links` run later against the same directory.
                (settings.data_dir / DEMO_URL_FILE).write_text(settings.public_url + "\n")
                event = await seed_demo(core.store)
                await _print_event_links(core, event.id)
            else:
                for event in await core.store.list_events():
                    print(f"{event.title}: {settings.public_url}/ (role links: hemicycle links SESSION)")
        finally:
            await engine.dispose()  # type: ignore[attr-defined]

    asyncio.run(prepare())
    print(f"Hemicycle is running on {settings.public_url}/  (Ctrl+C to stop)", flush=True)
    app = create_app(settings)
    if settings.gc_freeze_seconds:
        # The collector's pacing is the process's, not the application's: only a serving process has it.
        CollectorPacing(
            settings.gc_freeze_seconds, settings.gc_reclaim_minutes * 60, idle=app[HUB_KEY].idle
        ).attach(app)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        backlog=LISTEN_BACKLOG,
        **logs.access_log(settings.access_log),
    )
    return 0


async def _import_agenda(
    settings: Settings, file: Path, slug: str | None, title: str | None, timezone: str | None
) -> int:
    agenda = load_agenda(file, timezone=timezone)
    # What the command line gives is checked as the file's event section is.
    slug = event_field("slug", slug, "--event") if slug else agenda.event.get("slug")
    title = event_field("title", title, "--title") if title else None
    if not slug:
        raise AgendaError(
            f"{file.name}: name the event with --event SLUG or an 'event: {{slug: ...}}' section"
        )
    core, engine = await _open(settings)
    try:
        event, created = await core.store.ensure_event(
            slug,
            title or agenda.event.get("title") or slug,
            venue=agenda.event.get("venue", ""),
            timezone=timezone or agenda.event.get("timezone", "Europe/Zurich"),
        )
        made, updated = await core.store.upsert_sessions(event.id, agenda.sessions)
        print(
            f"{'Created' if created else 'Updated'} event {event.slug} (id {event.id}): "
            f"{made} session(s) created, {updated} updated."
        )
        for session in await core.store.list_sessions(event.id):
            when = f"{session.starts_at:%Y-%m-%d %H:%M}Z"
            print(f"  {session.id:>4}  {when}  [{session.state.value}] {session.title}")
        return 0
    finally:
        await engine.dispose()  # type: ignore[attr-defined]


async def _links(settings: Settings, session_id: int) -> int:
    core, engine = await _open(settings)
    try:
        session = await core.store.get_session(session_id)
        event = await core.store.get_event(session.event_id)
        grants: dict[str, int] = {}
        links, expires = await core.session_links(session, None, grants)
        admin, _ = await core.admin_link(event)
        _, grants[Role.ADMIN.value] = await core.store.staff_grant(event.id, None, Role.ADMIN)
        print(f"{event.title}\nSession {session.id} [{session.state.value}] {session.title}")
        for role, url in [*links.items(), (Role.ADMIN.value, admin)]:
            grant = f"grant {grants[role]}" if role in grants else ""
            print(f"  {ROLE_LABELS[Role(role)]:<15} {grant:<11} {url}")
        print(f"Staff links expire on {expires:%Y-%m-%d %H:%M} UTC.")
        print("To withdraw one: hemicycle revoke-link GRANT (or reissue-link GRANT for a new one).")
        return 0
    finally:
        await engine.dispose()  # type: ignore[attr-defined]


async def _withdraw(settings: Settings, grant_id: int, *, reissue: bool) -> int:
    """The servers' standing watch closes the old link's connections within seconds: the revocation moved
    the event's standing version, whatever the state of Redis."""
    core, engine = await _open(settings)
    try:
        if not reissue:
            grant = await core.revoke_link(None, grant_id)
            print(f"Withdrew grant {grant.id} ({ROLE_LABELS[grant.role]}): its link no longer works.")
            return 0
        new, link, expires = await core.reissue_link(None, grant_id)
        print(f"Withdrew grant {grant_id}; the new link ({ROLE_LABELS[new.role]}, grant {new.id}):")
        print(f"  {link}")
        print(f"It expires on {expires:%Y-%m-%d %H:%M} UTC.")
        return 0
    finally:
        await engine.dispose()  # type: ignore[attr-defined]


if __name__ == "__main__":
    raise SystemExit(main())
