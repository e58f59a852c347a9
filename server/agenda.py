"""Reading an agenda file (JSON or YAML): a list of sessions, checked with the line of every error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .db.store import SessionDraft
from .domain.errors import HemicycleError
from .domain.participants import clean_text

UN_LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")
SESSION_FIELDS = {
    "ref",
    "title",
    "room",
    "starts_at",
    "ends_at",
    "languages",
    "default_speaking_seconds",
    "public",
}
EVENT_FIELDS = {"slug", "title", "venue", "timezone"}


class AgendaError(ValueError):
    """A problem in the agenda file; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Agenda:
    """An agenda file, read and checked: the event's fields and its sessions, ready to be stored."""

    event: dict[str, str]
    sessions: list[SessionDraft]


# An agenda is a few hundred sessions of a few lines each: far below these, which bound what a file can cost.
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 8
# Dates an agenda may name: anything else is a typo (year 0001, 9999) that would only break things later.
FIRST_YEAR, LAST_YEAR = 2000, 2100
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class _Refused(yaml.MarkedYAMLError):
    """What the loader refuses to build, at the line it found it."""


class _Loader(yaml.SafeLoader):
    """A safe loader that keeps each mapping's line, so errors can point at it.

    It refuses anchors and aliases (an agenda needs neither, and a few lines of aliases expand to gigabytes:
    the "billion laughs") and nesting deeper than an agenda has, before anything is built.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(None, None, "anchors and aliases (& and *) are not allowed", event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_agenda(path: Path, *, timezone: str | None = None) -> Agenda:
    """Parse and check an agenda. JSON is read as YAML (a superset), which gives line numbers for both.

    The file is a list of sessions, or a mapping with `event` (slug, title, venue, timezone) and `sessions`.
    """
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise AgendaError(f"{path.name}: cannot read the file ({exc})") from None
    return parse_agenda(raw, path.name, timezone=timezone)


def parse_agenda(raw: bytes, name: str, *, timezone: str | None = None) -> Agenda:
    """An agenda from the bytes of a file (read from disk, or uploaded on the administrator's page)."""
    if len(raw) > MAX_FILE_BYTES:
        raise AgendaError(f"{name}: the file is over {MAX_FILE_BYTES // 1024} KiB: not an agenda")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgendaError(f"{name}: cannot read the file ({exc})") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except _Refused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise AgendaError(f"{name}, line {line}: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise AgendaError(f"{name}, line {line}: not valid JSON or YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise AgendaError(f"{name}: not valid JSON or YAML ({exc})") from None
    except (RecursionError, MemoryError):  # bounded above; kept as a clear refusal all the same
        raise AgendaError(f"{name}: too large or too deeply nested to be an agenda") from None
    event: dict[str, str] = {}
    if isinstance(data, dict):
        line = data.pop("__line__", 1)
        unknown = set(data) - {"event", "sessions"}
        if unknown:
            raise AgendaError(
                f"{name}, line {line}: unknown key {sorted(unknown)[0]!r} (expected event, sessions)"
            )
        raw_event = data.get("event") or {}
        if not isinstance(raw_event, dict):
            raise AgendaError(f"{name}, line {line}: 'event' must be a mapping")
        event_line = raw_event.pop("__line__", line)
        unknown = set(raw_event) - EVENT_FIELDS
        if unknown:
            raise AgendaError(f"{name}, line {event_line}: unknown event field {sorted(unknown)[0]!r}")
        event = {k: event_field(k, v, f"{name}, line {event_line}") for k, v in raw_event.items()}
        data = data.get("sessions")
    if not isinstance(data, list) or not data:
        raise AgendaError(f"{name}: expected a non-empty list of sessions")
    zone_name = timezone or event.get("timezone") or "Europe/Zurich"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AgendaError(f"{name}: unknown time zone {zone_name!r}") from None
    drafts: list[SessionDraft] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise AgendaError(f"{name}: session {index} must be a mapping")
        line = item.pop("__line__", "?")
        where = f"{name}, line {line} (session {index})"
        draft = session_draft(item, where, zone, index)
        if draft.ref in seen:
            raise AgendaError(
                f"{where}: field 'ref': {draft.ref!r} is used twice (first at session {seen[draft.ref]})"
            )
        seen[draft.ref] = index
        drafts.append(draft)
    return Agenda(event=event, sessions=drafts)


def session_draft(item: dict[str, Any], where: str, zone: ZoneInfo, index: int) -> SessionDraft:
    """One session of an agenda (or of the organiser's form), checked: `where` names it in errors."""
    unknown = set(item) - SESSION_FIELDS
    if unknown:
        raise AgendaError(f"{where}: unknown field {sorted(unknown)[0]!r}")

    def text(field: str, max_length: int, required: bool = True) -> str:
        try:
            return clean_text(item.get(field), field, max_length=max_length, required=required)
        except HemicycleError as exc:
            raise AgendaError(f"{where}: field {field!r}: {exc.message}") from None

    title = text("title", 300)
    room = text("room", 200, required=False)
    if isinstance(item.get("ref"), int) and not isinstance(item.get("ref"), bool):
        item["ref"] = str(item["ref"])
    ref = text("ref", 64, required=False) or f"session-{index}"
    starts_at = _moment(item.get("starts_at"), "starts_at", where, zone)
    ends_at = _moment(item.get("ends_at"), "ends_at", where, zone)
    if ends_at <= starts_at:
        raise AgendaError(f"{where}: field 'ends_at': must be after starts_at")
    languages = item.get("languages", ["en"])
    if (
        not isinstance(languages, list)
        or not languages
        or any(lang not in UN_LANGUAGES for lang in languages)
    ):
        raise AgendaError(f"{where}: field 'languages': a list of {', '.join(UN_LANGUAGES)}")
    seconds = item.get("default_speaking_seconds", 180)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 15 <= seconds <= 3600:
        raise AgendaError(f"{where}: field 'default_speaking_seconds': a whole number from 15 to 3600")
    public = item.get("public", True)
    if not isinstance(public, bool):
        raise AgendaError(f"{where}: field 'public': true or false")
    return SessionDraft(
        ref=ref,
        title=title,
        room=room,
        starts_at=starts_at,
        ends_at=ends_at,
        languages=tuple(dict.fromkeys(languages)),
        default_speaking_seconds=seconds,
        is_public=public,
    )


def _moment(value: Any, field: str, where: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 date-time; without an offset it is read in the event's time zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise AgendaError(f"{where}: field {field!r}: {value!r} is not an ISO 8601 date-time") from None
    else:
        raise AgendaError(f"{where}: field {field!r}: required, as an ISO 8601 date-time")
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise AgendaError(f"{where}: field {field!r}: the year must be from {FIRST_YEAR} to {LAST_YEAR}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def event_field(field: str, value: object, where: str) -> str:
    """One field of the event (from the file, or given on the command line), checked as the sessions are:
    text without control or direction-changing characters, within the column's length."""
    if field == "slug":
        if not isinstance(value, str) or not SLUG.fullmatch(value):
            raise AgendaError(
                f"{where}: field 'slug': 1 to 64 letters, digits, '-', '_' or '.', "
                "starting with a letter or digit"
            )
        return value
    if field == "timezone":
        if not isinstance(value, str) or len(value) > 64:
            raise AgendaError(f"{where}: field 'timezone': a time zone name such as Europe/Zurich")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise AgendaError(f"{where}: field 'timezone': unknown time zone {value[:64]!r}") from None
        return value
    try:
        return clean_text(value, field, max_length=200, required=field == "title")
    except HemicycleError as exc:
        raise AgendaError(f"{where}: field {field!r}: {exc.message}") from None
