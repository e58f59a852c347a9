"""Session and event records: read everything a report needs, then write it as JSON, CSV or HTML.

The figures come from server.domain.report; this module gathers their inputs from the stores and shapes
the three formats. The HTML report is one self-contained page (its CSS inline, charts as inline SVG, no
script) that prints cleanly to PDF; the web page /s/{id}/report shows the same document.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .db.booth_store import BoothStore
from .db.caption_store import CaptionStore
from .db.help_store import HelpStore
from .db.poll_store import PollStore
from .db.question_store import QuestionStore
from .db.queue_store import QueueStore
from .db.statement_store import StatementStore
from .domain import report
from .domain.balance import Targets
from .domain.booths import Notice, Turn, intervention_booths
from .domain.captions import FLOOR, LANGUAGE_NAMES, CaptionLine
from .domain.captions import counts as caption_counts
from .domain.errors import Forbidden, InvalidInput
from .domain.helpdesk import HelpThread, help_counts, help_rows
from .domain.model import EventInfo, Principal, SessionInfo, iso
from .domain.participants import GROUP_LABELS
from .domain.queue import Entry
from .domain.roles import Permission
from .polls import record_rows as poll_rows
from .report_words import Words
from .service import Hemicycle
from .webfiles import WEB_DIR

FORMATS = ("json", "csv", "html")
# "polls": live polls (issue 24), their results in long form; "help": the help desk's requests, no figures.
CSV_PARTS = ("figures", "interventions", "attendance", "audit", "transcript", "help", "polls")
TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLESHEET = WEB_DIR / "css" / "report.css"
AUDIT_LIMIT = 10_000

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class SessionInputs:
    """Everything a session record is computed from, read from the stores at one time."""

    session: SessionInfo
    entries: list[Entry]
    targets: dict[str, dict[str, float]]
    questions: list[Any]
    visits: list[report.Visit]
    audit: list[dict[str, Any]]
    captions: list[CaptionLine]
    help: list[HelpThread]
    timezone: str  # the event's: the record's times read like the consoles'
    # Live polls (issue 24): every poll that was opened, with its results (server/polls.py).
    polls: list[dict[str, Any]] = field(default_factory=list)
    # Interpretation booths (issue 21): who was on air in which booth when, and the "slow down" notices.
    booth_turns: list[Turn] = field(default_factory=list)
    booth_notices: list[Notice] = field(default_factory=list)
    # Statements sent in advance (issue 21): request id -> what was sent (pdf or text); never their text.
    statements: dict[int, str] = field(default_factory=dict)


class Reports:
    """The session and event records (interventions, balance, questions, attendance, moderation log), read
    from the stores for an allowed caller. Built once by the composition root; called by the HTTP report
    views (server/api.py)."""

    def __init__(self, core: Hemicycle) -> None:
        self.core = core
        self.queue = QueueStore(core.store)
        self.questions = QuestionStore(core.store)
        self.captions = CaptionStore(core.store)
        self.help = HelpStore(core.store)
        self.polls = PollStore(core.store)
        self.booths = BoothStore(core.store)
        self.statements = StatementStore(core.store)

    # -- access ---------------------------------------------------------------------------------

    async def session_for(self, principal: Principal, session_id: int) -> SessionInfo:
        return await self.core.session_for(principal, session_id, Permission.REPORT_VIEW)

    async def event_for(self, principal: Principal, event_id: int) -> EventInfo:
        """A whole event's report is for that event's administrators."""
        event = await self.core.store.get_event(event_id)
        principal.require(Permission.EVENT_MANAGE)
        if principal.event_id != event.id:
            raise Forbidden("this link is for another event", code="wrong_event")
        return event

    # -- records --------------------------------------------------------------------------------

    async def _inputs(self, session: SessionInfo) -> SessionInputs:
        entries = await self.queue.history(session.id)
        state = await self.queue.state(session.id)
        questions = await self.questions.state(session.id)
        turns, notices = await self.booths.record(session.id)
        return SessionInputs(
            session=session,
            entries=entries,
            targets=state.targets or Targets().shares,
            questions=list(questions.questions),
            visits=await self.core.store.visits(session.id),
            audit=list(reversed(await self.core.store.audit_log(session.id, limit=AUDIT_LIMIT))),
            captions=await self.captions.transcript(session.id),
            help=await self.help.threads(session.id),
            timezone=(await self.core.store.get_event(session.event_id)).timezone,
            polls=poll_rows(await self.polls.state(session.id), self.core.settings.report_min_group),
            booth_turns=turns,
            booth_notices=notices,
            statements={s.entry_id: s.kind.value for s in await self.statements.list(session.id)},
        )

    async def session_record(self, session: SessionInfo) -> dict[str, Any]:
        inputs = await self._inputs(session)
        return self._session_record(inputs)

    def _session_record(self, inputs: SessionInputs) -> dict[str, Any]:
        now = self.core.store.clock()
        session = inputs.session
        threshold = self.core.settings.report_min_group
        return {
            "kind": "session",
            "generated_at": iso(now),
            "timezone": inputs.timezone,
            "session": session.public(),
            "requests": report.requests(inputs.entries),
            "interventions": self._interventions(inputs, now),
            # Which requests came with a statement in advance, spoken or not (the booths' reading).
            "statements": {"requests": sorted(inputs.statements), "count": len(inputs.statements)},
            "balance": report.balance(inputs.entries, inputs.targets, now, threshold),
            "questions": {
                "funnel": report.question_funnel(inputs.questions),
                "items": [_question_row(q) for q in inputs.questions],
            },
            "attendance": report.attendance(inputs.visits, now),
            "audit": inputs.audit,
            "transcript": {
                "counts": caption_counts(inputs.captions),
                "lines": [_caption_row(line) for line in inputs.captions],
            },
            # The help desk's threads, without the figures their pages sent (server/domain/helpdesk.py).
            "help": {
                "counts": help_counts(inputs.help),
                "threads": [thread.record() for thread in inputs.help],
            },
            "polls": inputs.polls,
        }

    @staticmethod
    def _interventions(inputs: SessionInputs, now: datetime) -> list[dict[str, Any]]:
        """Each intervention, with its booths (who was on air, the handovers and "slow down" notices) and what
        was sent in advance (pdf or text)."""
        rows = report.interventions(inputs.entries, inputs.session.default_speaking_seconds, now)
        spans = [(e.id, e.granted_at, e.ended_at) for e in inputs.entries if e.granted_at is not None]
        booths = intervention_booths(spans, inputs.booth_turns, inputs.booth_notices, now)
        for row in rows:
            row.update(booths.get(row["id"], {"booths": {}, "slow_down": 0}))
            row["statement"] = inputs.statements.get(row["id"])
        return rows

    async def event_record(
        self, event: EventInfo, progress: Callable[[SessionInfo], None] | None = None
    ) -> dict[str, Any]:
        """Every session's record, and the event's balance and funnel over all of them."""
        now = self.core.store.clock()
        threshold = self.core.settings.report_min_group
        sessions = []
        entries: list[Entry] = []
        questions: list[Any] = []
        targets: dict[str, dict[str, float]] = Targets().shares
        for session in await self.core.store.list_sessions(event.id):
            inputs = await self._inputs(session)
            record = self._session_record(inputs)
            sessions.append(record)
            entries += inputs.entries
            questions += inputs.questions
            if progress is not None:
                progress(session)
        return {
            "kind": "event",
            "generated_at": iso(now),
            "timezone": event.timezone,
            "event": event.public(),
            "requests": report.requests(entries),
            "balance": report.balance(entries, targets, now, threshold),
            "questions": {"funnel": report.question_funnel(questions)},
            "sessions": sessions,
            "polls": _event_polls(sessions),
        }


def _event_polls(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The event's polls at a glance: each session's, with how many answered (the results are in the
    session's record)."""
    return [
        {
            "session": _scope(rec),
            "poll_id": p["id"],
            "kind": p["kind"],
            "question": p["question"],
            "state": p["state"],
            "respondents": p["results"]["total"]["respondents"],
        }
        for rec in sessions
        for p in rec.get("polls", [])
    ]


def poll_listing(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every poll's results in long form: one row per poll, breakdown (total, stakeholder group, region),
    group and answer (an option, a rating, a word, or `respondents`); a group too small shows "fewer than
    N" in place of its figures."""
    rows: list[dict[str, Any]] = []
    for p in rec.get("polls", []):
        base = {"poll": p["id"], "kind": p["kind"], "question": p["question"], "state": p["state"]}
        results = p["results"]
        scopes = [("total", "all", results["total"], None)]
        scopes += [("stakeholder_group", g["name"], g["tally"], g["suppressed"]) for g in results["by_group"]]
        scopes += [("region", g["name"], g["tally"], g["suppressed"]) for g in results["by_region"]]
        for breakdown, group, tallied, suppressed in scopes:
            where = {**base, "breakdown": breakdown, "group": group}
            if tallied is None:
                rows.append({**where, "answer": "respondents", "count": suppressed})
                continue
            rows.append({**where, "answer": "respondents", "count": tallied["respondents"]})
            for answer, n in _answers(p, tallied):
                rows.append({**where, "answer": answer, "count": n})
    return rows


def _answers(poll: dict[str, Any], tallied: dict[str, Any]) -> list[tuple[Any, Any]]:
    if poll["kind"] == "text":
        return [(w["word"], w["count"]) for w in tallied["words"]]
    if poll["kind"] == "rating":
        return [(rating, n) for rating, n in enumerate(tallied["counts"], start=1)]
    return list(zip(poll["options"], tallied["counts"], strict=True))


def _caption_row(line: CaptionLine) -> dict[str, Any]:
    """A caption line in the record: when, in which language, what, and who captioned it."""
    return {
        "seq": line.seq,
        "at": iso(line.at),
        "language": line.language,
        "text": line.text,
        "captioner": line.captioner_name,
    }


def _question_row(q: Any) -> dict[str, Any]:
    """A question in the record: the asker's name only when they did not ask anonymously."""
    return {
        "id": q.id,
        "text": q.text,
        "to": q.addressed_to,
        "asker": None if q.anonymous else q.display_name,
        "stakeholder_group": q.stakeholder_group,
        "state": q.state.value,
        "stage": q.stage.value,
        "votes": q.votes,
        "asked_at": iso(q.created_at),
        "approved_at": iso(q.approved_at),
        "forwarded_at": iso(q.forwarded_at),
        "read_at": iso(q.read_at),
        "answered_at": iso(q.answered_at),
    }


# -- formats -------------------------------------------------------------------------------------


def check_format(kind: str, part: str = "figures") -> None:
    if kind not in FORMATS:
        raise InvalidInput(f"format must be one of: {', '.join(FORMATS)}", details={"field": "format"})
    if part not in CSV_PARTS:
        raise InvalidInput(f"part must be one of: {', '.join(CSV_PARTS)}", details={"field": "part"})


def render(
    record: dict[str, Any],
    kind: str,
    part: str = "figures",
    *,
    standalone: bool = True,
    language: str | None = None,
) -> str:
    """The record in a format; HTML `standalone` carries its stylesheet, else links the site's; HTML is
    written in `language` (English by default)."""
    check_format(kind, part)
    if kind == "json":
        return json.dumps(record, ensure_ascii=False, indent=2)
    if kind == "csv":
        return to_csv(record, part)
    return to_html(record, standalone=standalone, language=language)


def _safe(value: Any) -> Any:
    """A cell a spreadsheet will not run: a leading =, +, - or @ is quoted as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return f"'{value}"
    return value


def to_csv(record: dict[str, Any], part: str = "figures") -> str:
    """One table: the figures in long form (section, dimension, value, measure, figure), or a list."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    sessions = record["sessions"] if record["kind"] == "event" else [record]
    if part == "figures":
        writer.writerow(["session", "section", "dimension", "value", "measure", "figure"])
        scopes = [("event", record)] if record["kind"] == "event" else []
        scopes += [(_scope(s), s) for s in sessions]
        for scope, rec in scopes:
            for row in _figure_rows(rec):
                writer.writerow([_safe(scope), *(_safe(c) for c in row)])
    else:
        rows = [(_scope(s), r) for s in sessions for r in _listing(s, part)]
        columns = list(rows[0][1]) if rows else []
        writer.writerow(["session", *columns])
        for scope, item in rows:
            writer.writerow([_safe(scope), *(_safe(_cell(item[c])) for c in columns)])
    return buffer.getvalue()


def _scope(rec: dict[str, Any]) -> str:
    return str(rec["session"]["ref"] or rec["session"]["id"])


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def _listing(rec: dict[str, Any], part: str) -> list[dict[str, Any]]:
    if part == "interventions":
        return list(rec["interventions"])
    if part == "audit":
        return [
            {
                "at": e["at"],
                "actor": e["actor"]["name"],
                "actor_role": e["actor"]["role"],
                "action": e["action"],
                "target": e["target"],
                "details": e["details"],
            }
            for e in rec["audit"]
        ]
    if part == "transcript":
        return list(rec["transcript"]["lines"])
    if part == "help":
        return help_rows(rec.get("help", {}).get("threads", []))
    if part == "polls":
        return poll_listing(rec)
    return list(rec["attendance"]["curve"])


def _figure_rows(rec: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for measure, figure in rec["requests"].items():
        rows.append(["requests", "", "", measure, figure])
    balance = rec["balance"]
    for dimension, values in balance["dimensions"].items():
        for v in values:
            for measure in ("interventions", "speaking_seconds", "share_of_interventions", "share_of_time"):
                figure = v["suppressed"] if v["suppressed"] else v[measure]
                rows.append(["balance", dimension, v["value"], measure, figure])
            if v["target"] is not None:
                rows.append(["balance", dimension, v["value"], "target", v["target"]])
    funnel = rec["questions"]["funnel"]
    for stage, n in funnel["total"].items():
        rows.append(["questions", "", "all", stage, n])
    for group, stages in funnel["by_stakeholder_group"].items():
        for stage, n in stages.items():
            rows.append(["questions", "stakeholder_group", group, stage, n])
    attendance = rec.get("attendance")
    if attendance:
        for measure in ("connections", "people", "attendees", "staff", "leaves", "peak_concurrent"):
            rows.append(["attendance", "", "", measure, attendance[measure]])
        for group, n in attendance["by_stakeholder_group"].items():
            rows.append(["attendance", "stakeholder_group", group, "attendees", n])
        for country, n in attendance["by_country"].items():
            rows.append(["attendance", "country", country, "attendees", n])
    for language, n in rec.get("transcript", {}).get("counts", {}).items():
        rows.append(["captions", "language", language, "lines", n])
    for category, n in rec.get("help", {}).get("counts", {}).items():
        rows.append(["help", "category", category, "requests", n])
    for p in rec.get("polls", []) if rec.get("kind") == "session" else []:
        rows.append(["polls", "poll", p["id"], "respondents", p["results"]["total"]["respondents"]])
    return rows


def to_html(record: dict[str, Any], *, standalone: bool = True, language: str | None = None) -> str:
    """The report as one printable page; `standalone` inlines its stylesheet (a file saved to disk).

    In `language` (one of the interface's six; English otherwise). Times are the event's (as on the consoles,
    and said once in the header); codes are shown as words."""
    speech = Words(language)
    zone = _zone(record.get("timezone"))
    template = _templates.get_template("report.html")
    page: str = template.render(
        record=record,
        sessions=record["sessions"] if record["kind"] == "event" else [record],
        stylesheet=STYLESHEET.read_text(encoding="utf-8") if standalone else None,
        charts=Charts(zone),
        languages=_LANGUAGES,
        country=speech.country,
        generated=_when(record["generated_at"], zone),
        clock=lambda value: _clock(value, zone),
        words=_words,
        language=speech.language,
        direction=speech.direction,
        t=speech.t,
        tn=speech.tn,
        tr=speech.t,  # a code's words (from _words), which the catalogues hold as the pages' labels
        roles=_ROLES,
        actions=_ACTIONS,
        details=lambda entry: _audit_details(entry, speech),
        poll_answers=_answers,
        on_air=lambda turns, still: _on_air(turns, still, zone),
    )
    return page


def _on_air(turns: list[dict[str, Any]], still: str, zone: ZoneInfo) -> str:
    """Who was on air in one booth within an intervention, from when to when (`still`: a turn not ended)."""
    spans = [
        f"{turn['name']} ({_clock(turn['from'], zone)}–{_clock(turn['to'], zone) if turn['to'] else still})"
        for turn in turns
    ]
    return ", ".join(spans) or "—"


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo("UTC")
    except (ValueError, KeyError):  # an unknown name (zoneinfo raises ZoneInfoNotFoundError, a KeyError)
        return ZoneInfo("UTC")


def _local(value: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone)


def _when(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return ""
    return _local(value, zone).strftime(f"%Y-%m-%d %H:%M ({zone.key})")  # numbers: the same in every language


def _clock(value: str | None, zone: ZoneInfo) -> str:
    """A time of day in the event's time zone (the header names the zone)."""
    return _local(value, zone).strftime("%H:%M:%S") if value else ""


# Codes the record keeps as codes (stakeholder groups, regions, end reasons...), as the English words the
# pages use for them (js/labels.js), so the catalogues translate them alike.
_WORDS: dict[str, str] = {
    **{group.value: label for group, label in GROUP_LABELS.items()},
    "unspecified": "Not stated",
    "stakeholder_group": "Stakeholder group",
    "youth": "Youth (under 25)",  # the dimension and its value alike
    "not_youth": "25 or over",
    "another": "Another gender",
    "statement": "Statement",
    "question": "Question to the panel",
    "point_of_order": "Point of order",
    "right_of_reply": "Right of reply",
    "time_up": "Time up",
    "replaced": "Next speaker called",
    "forwarded": "Forwarded to the chair",
    "read": "Read aloud",
    "speaking": "Now speaking",  # a turn not ended yet
    # Live polls (issue 24): kinds, states and regions as the pages name them.
    "single_poll": "Single choice",
    "multiple_poll": "Multiple choice",
    "rating_poll": "Rating 1–5",
    "text_poll": "Short text",
    "poll_open": "Open",
    "poll_closed": "Closed",
    "africa": "Africa",
    "americas": "Americas",
    "asia": "Asia",
    "europe": "Europe",
    "oceania": "Oceania",
}


# Caption languages: the floor as the pages name it (js/caption-ui.js).
_LANGUAGES = {**LANGUAGE_NAMES, FLOOR: "Floor (as spoken in the room)"}

# The audit's roles, actions and detail fields in the pages' words (js/labels.js), for the moderation log.
_ROLES = {
    "admin": "Administrator",
    "moderator": "Moderator",
    "chair": "Chair",
    "av": "AV technician",
    "captioner": "Captioner",
    "interpreter": "Interpreter",
    "display": "Room display",
    "attendee": "Attendee",
}
_ACTIONS = {
    "session.set_state": "Session state changed",
    "grant.create": "Link issued",
    "grant.revoke": "Link revoked",
    "floor.grant": "Floor given",
    "floor.end": "Turn ended",
    "floor.revoke": "Floor taken back",
    "floor.set_time": "Speaking time changed",
    "queue.add_in_room": "Person in the room added to the list",
    "queue.lower_all": "All hands lowered",
    "queue.move": "Place in line changed",
    "queue.remove": "Request removed",
    "queue.settings": "List of speakers settings changed",
    "participant.admit": "Admitted",
    "participant.admit_all": "Everyone waiting admitted",
    "participant.remove": "Removed from the session",
    "participant.ban": "Banned from the event",
    "participant.unban": "Ban lifted",
    "participant.mute": "Muted or unmuted",
    "moderation.settings": "Admission settings changed",
    "question.edit": "Question edited",
    "question.approve": "Question approved",
    "question.dismiss": "Question dismissed",
    "question.star": "Question starred",
    "question.unstar": "Question unstarred",
    "question.merge": "Questions merged",
    "question.forwarded": "Question forwarded to the chair",
    "question.read": "Question read aloud",
    "question.answered": "Question answered",
    "questions.settings": "Question settings changed",
    "archive.set_access": "Archive access changed",
    "recording.expired": "Recording removed after its retention period",
    "statement.attach": "Statement attached",
}
_FIELDS = {
    "name": "Name",
    "reason": "Reason",
    "role": "Role",
    "rule": "Rule",
    "count": "Count",
    "audio": "Microphone",
    "video": "Camera",
    "limit_seconds": "Time allowed (seconds)",
    "add_seconds": "Time added (seconds)",
    "extra_seconds": "Extra time (seconds)",
    "language": "Language",
    "type": "Type",
    "before": "Before",
    "after": "After",
    "into": "Into",
    "flags": "Flags",
}


def _audit_details(entry: dict[str, Any], speech: Words) -> list[str]:
    """An audit entry's details in the reader's words, as the console's log shows them (js/pages/console.js):
    the fields' names, and the values that are codes (roles, types, languages, end reasons, states, mutes)."""
    action = str(entry.get("action", ""))
    details = entry.get("details")
    if not isinstance(details, dict):
        return [] if details in (None, "") else [_flat(details, speech)]
    if set(details) == {"from", "to"}:  # a state change reads best as a move
        if action == "session.set_state":
            return [f"{speech.t(_words(details['from']))} → {speech.t(_words(details['to']))}"]
        return [f"{_flat(details['from'], speech)} → {_flat(details['to'], speech)}"]
    return [
        speech.t(
            "{field}: {value}", field=_field(key, speech), value=_detail(action, str(key), value, speech)
        )
        for key, value in details.items()
        if value not in (None, "")
    ]


def _field(key: Any, speech: Words) -> str:
    return speech.t(_FIELDS.get(str(key), str(key)))


def _detail(action: str, key: str, value: Any, speech: Words) -> str:
    """One detail's value in words where it is a code; anything else as it was recorded."""
    if key in ("audio", "video"):
        return speech.t("muted") if value else speech.t("not muted")
    if key == "role":
        return speech.t(_ROLES.get(str(value), str(value)))
    if key == "type" or (key == "reason" and action in ("floor.end", "floor.revoke")):
        return speech.t(_words(value))
    if key == "language":
        return speech.t(LANGUAGE_NAMES.get(str(value), str(value)))
    return _flat(value, speech)


def _flat(value: Any, speech: Words) -> str:
    if isinstance(value, bool):
        return speech.t("yes") if value else speech.t("no")
    if isinstance(value, list):
        return ", ".join(_flat(item, speech) for item in value)
    if isinstance(value, dict):
        return ", ".join(
            speech.t(
                "{field}: {value}",
                field=_field(key, speech),
                value=speech.t("none") if item is None else _flat(item, speech),
            )
            for key, item in value.items()
        )
    return "" if value is None else str(value)


def _words(code: Any) -> str:
    """A code in words: a known one by its label, else with its underscores as spaces and a capital."""
    text = str(code)
    if text in _WORDS:
        return _WORDS[text]
    spaced = text.replace("_", " ")
    return spaced[:1].upper() + spaced[1:]


class Charts:
    """Geometry for the inline SVG charts; the template draws them."""

    width = 640
    bar_height = 22
    label_width = 190

    def __init__(self, zone: ZoneInfo | None = None) -> None:
        self.zone = zone or ZoneInfo("UTC")

    def bars(self, items: list[tuple[str, float | None]]) -> list[dict[str, Any]]:
        """Horizontal bars scaled to the largest value; a None value (suppressed) gets no bar."""
        largest = max((v for _, v in items if v), default=0) or 1
        span = self.width - self.label_width - 70
        return [
            {
                "label": label,
                "value": value,
                "y": index * (self.bar_height + 6),
                "length": 0 if not value else max(1, round(span * value / largest)),
            }
            for index, (label, value) in enumerate(items)
        ]

    def series(self, rows: list[dict[str, Any]], measure: str) -> list[tuple[str, float | None]]:
        return [(row["value"], row[measure]) for row in rows]

    def curve(self, points: list[dict[str, Any]], height: int = 160) -> dict[str, Any]:
        """The attendance curve as an SVG polyline, with its scale."""
        if not points:
            return {"points": "", "peak": 0, "height": height}
        peak = max(p["people"] for p in points) or 1
        step = (self.width - 60) / max(1, len(points) - 1)
        coords = " ".join(
            f"{50 + i * step:.1f},{height - 20 - (p['people'] / peak) * (height - 40):.1f}"
            for i, p in enumerate(points)
        )
        return {
            "points": coords,
            "peak": peak,
            "height": height,
            "first": _when(points[0]["at"], self.zone),
            "last": _when(points[-1]["at"], self.zone),
        }
