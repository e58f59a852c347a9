"""Live polls: their kinds, how a poll and an answer are checked, the states a poll goes through, and the
tallies of its answers (in total, by stakeholder group and by region, with the report's privacy threshold).

A moderator prepares a poll (a draft, which can still be edited or deleted), opens it, closes it, and shows
or hides its results to the room. Attendees answer an open poll once; answering again replaces their answer
until the poll is closed. Polls are anonymous: an answer is only ever counted, never shown with its author.
Poll texts are kept as entered (cleaned of control characters only), in whatever language they were typed.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .captions import clean_caption
from .errors import Conflict, InvalidInput
from .model import iso
from .regions import region_of
from .report import fewer_than


class PollKind(StrEnum):
    SINGLE = "single"  # one option
    MULTIPLE = "multiple"  # one or more options
    RATING = "rating"  # 1 to 5
    TEXT = "text"  # a few words; the results are a word list with counts


class PollState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


QUESTION_MAX_CHARS = 300
OPTION_MAX_CHARS = 120
MIN_OPTIONS = 2
MAX_OPTIONS = 10
RATING_MIN = 1
RATING_MAX = 5
# A short-text answer: a word or a few, for a word list.
TEXT_MAX_CHARS = 80
MAX_POLLS_PER_SESSION = 50
# The word list's length in the total and in each group's tally: what a room display can show.
WORDS_SHOWN = 30
WORDS_SHOWN_PER_GROUP = 5
UNSPECIFIED = "unspecified"
# An attendee's answers, per participant across their tabs and processes: a few changes of mind at once,
# then one every two seconds.
ANSWER_WRITES_PER_SECOND = 0.5
ANSWER_WRITES_BURST = 5


def kind_of(value: object) -> PollKind:
    try:
        return PollKind(value if isinstance(value, str) else "")
    except ValueError:
        allowed = ", ".join(k.value for k in PollKind)
        raise InvalidInput(f"kind must be one of: {allowed}", details={"field": "kind"}) from None


def check_poll(kind: PollKind, question: object, options: object) -> tuple[str, tuple[str, ...]]:
    """The question and options of a poll as they will be stored: a choice poll has 2 to 10 distinct
    options, a rating or text poll none."""
    text = clean_caption(question, QUESTION_MAX_CHARS)
    if not isinstance(options, list | tuple) or not all(isinstance(o, str) for o in options):
        raise InvalidInput("options must be a list of texts", details={"field": "options"})
    if kind in (PollKind.RATING, PollKind.TEXT):
        if options:
            raise InvalidInput(f"a {kind.value} poll has no options", details={"field": "options"})
        return text, ()
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise InvalidInput(
            f"a choice poll has {MIN_OPTIONS} to {MAX_OPTIONS} options", details={"field": "options"}
        )
    cleaned = tuple(clean_caption(o, OPTION_MAX_CHARS) for o in options)
    if len({o.casefold() for o in cleaned}) != len(cleaned):
        raise InvalidInput("two options are the same", details={"field": "options"})
    return text, cleaned


@dataclass(frozen=True)
class Poll:
    id: int
    session_id: int
    position: int
    kind: PollKind
    question: str
    options: tuple[str, ...]
    state: PollState
    results_shown: bool
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "position": self.position,
            "kind": self.kind.value,
            "question": self.question,
            "options": list(self.options),
            "state": self.state.value,
            "results_shown": self.results_shown,
            "opened_at": iso(self.opened_at),
            "closed_at": iso(self.closed_at),
        }

    def require_draft(self) -> None:
        if self.state is not PollState.DRAFT:
            raise Conflict("only a draft poll can be changed or deleted", code="poll_not_draft")

    def opened(self) -> PollState:
        """The state `poll:open` moves to: only a draft opens (a closed poll stays closed, its results
        final)."""
        if self.state is not PollState.DRAFT:
            raise Conflict(f"the poll is {self.state.value}, not a draft", code="poll_not_draft")
        return PollState.OPEN

    def closed(self) -> PollState:
        if self.state is not PollState.OPEN:
            raise Conflict(f"the poll is {self.state.value}, not open", code="poll_not_open")
        return PollState.CLOSED

    def require_results(self) -> None:
        if self.state is PollState.DRAFT:
            raise Conflict("a draft poll has no results to show", code="poll_not_open")


@dataclass(frozen=True)
class Answer:
    """One attendee's answer to one poll, with the groups it is counted in (copied from their registration
    when they answered). ``choices``: the option indexes of a choice poll, or the rating."""

    poll_id: int
    participant_id: int
    choices: tuple[int, ...]
    text: str | None
    stakeholder_group: str | None
    country: str | None
    answered_at: datetime

    def own(self) -> dict[str, Any]:
        """What its author sees of their answer."""
        return {
            "poll_id": self.poll_id,
            "choices": list(self.choices),
            "text": self.text,
            "answered_at": iso(self.answered_at),
        }


def check_answer(
    poll: Poll, choices: object, rating: object, text: object
) -> tuple[tuple[int, ...], str | None]:
    """What is stored of an answer to `poll`: (choices, text). Only an open poll takes answers; each kind
    takes its own field, and only that one."""
    if poll.state is not PollState.OPEN:
        raise Conflict(f"the poll is {poll.state.value}: it takes no answers", code="poll_not_open")
    given = {
        name
        for name, value in (("choices", choices), ("rating", rating), ("text", text))
        if value is not None
    }
    wanted = {PollKind.SINGLE: "choices", PollKind.MULTIPLE: "choices", PollKind.RATING: "rating"}.get(
        poll.kind, "text"
    )
    if given != {wanted}:
        raise InvalidInput(f"a {poll.kind.value} poll is answered with {wanted}", details={"field": wanted})
    if poll.kind is PollKind.RATING:
        if isinstance(rating, bool) or not isinstance(rating, int) or not RATING_MIN <= rating <= RATING_MAX:
            raise InvalidInput(
                f"a rating is {RATING_MIN} to {RATING_MAX}",
                code="invalid_rating",
                details={"field": "rating"},
            )
        return (rating,), None
    if poll.kind is PollKind.TEXT:
        if not isinstance(text, str):
            raise InvalidInput("text must be text", details={"field": "text"})
        cleaned = clean_caption(text, max_length=len(text) + 1)
        if len(cleaned) > TEXT_MAX_CHARS:
            raise InvalidInput(
                f"an answer is at most {TEXT_MAX_CHARS} characters",
                code="answer_too_long",
                details={"field": "text"},
            )
        return (), cleaned
    if not isinstance(choices, list | tuple) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in choices
    ):
        raise InvalidInput("choices must be a list of option numbers", details={"field": "choices"})
    picked = tuple(sorted(set(choices)))
    if not picked or (poll.kind is PollKind.SINGLE and len(picked) != 1) or len(picked) != len(choices):
        raise InvalidInput(
            "choose one option" if poll.kind is PollKind.SINGLE else "choose one or more options, each once",
            details={"field": "choices"},
        )
    if any(not 0 <= c < len(poll.options) for c in picked):
        raise InvalidInput("there is no such option", code="unknown_option", details={"field": "choices"})
    return picked, None


# Punctuation around a word ("Yes!", «oui») does not make another word.
def _is_edge(char: str) -> bool:
    return unicodedata.category(char)[0] in "PSZ"


def normalize_word(text: str) -> str:
    """The form a short-text answer is counted under: NFKC, case folded, white space folded, surrounding
    punctuation dropped. 'Climate!', ' climate ' and 'CLIMATE' are one entry."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    start, end = 0, len(folded)
    while start < end and _is_edge(folded[start]):
        start += 1
    while end > start and _is_edge(folded[end - 1]):
        end -= 1
    return folded[start:end] or folded


def tally(poll: Poll, answers: Iterable[Answer], words_shown: int = WORDS_SHOWN) -> dict[str, Any]:
    """The counts of a set of answers: per option (choice), per rating 1..5 with the average (rating), or
    the most given words with their counts (text, most frequent first, then alphabetical)."""
    answers = list(answers)
    result: dict[str, Any] = {"respondents": len(answers), "counts": [], "average": None, "words": []}
    if poll.kind is PollKind.TEXT:
        words = Counter(normalize_word(a.text) for a in answers if a.text)
        ranked = sorted(words.items(), key=lambda item: (-item[1], item[0]))[:words_shown]
        result["words"] = [{"word": word, "count": n} for word, n in ranked]
        return result
    size = RATING_MAX if poll.kind is PollKind.RATING else len(poll.options)
    offset = RATING_MIN if poll.kind is PollKind.RATING else 0
    counts = [0] * size
    for a in answers:
        for c in a.choices:
            counts[c - offset] += 1
    result["counts"] = counts
    if poll.kind is PollKind.RATING and answers:
        result["average"] = round(sum(a.choices[0] for a in answers) / len(answers), 2)
    return result


def _grouped(poll: Poll, answers: Sequence[Answer], key: str, threshold: int) -> list[dict[str, Any]]:
    groups: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        found = a.stakeholder_group if key == "group" else region_of(a.country)
        groups[str(found) if found else UNSPECIFIED].append(a)
    rows: list[dict[str, Any]] = []
    for name in sorted(groups, key=lambda g: (g == UNSPECIFIED, g)):
        members = groups[name]
        if len(members) < threshold:
            rows.append({"name": name, "suppressed": fewer_than(threshold), "tally": None})
        else:
            rows.append(
                {"name": name, "suppressed": None, "tally": tally(poll, members, WORDS_SHOWN_PER_GROUP)}
            )
    return rows


def results(poll: Poll, answers: Sequence[Answer], threshold: int) -> dict[str, Any]:
    """A poll's results: the total, and beside it the same by stakeholder group and by M49 region. A group
    of fewer than `threshold` respondents shows "fewer than N" and no figures (settings.report_min_group),
    so that a small group's answers cannot be told apart."""
    return {
        "poll_id": poll.id,
        "total": tally(poll, answers),
        "by_group": _grouped(poll, answers, "group", threshold),
        "by_region": _grouped(poll, answers, "region", threshold),
        "min_group": threshold,
    }
