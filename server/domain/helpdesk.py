"""The help desk: private threads between one attendee and the AV technicians and moderators of a session.

An attendee who cannot hear the floor, sees no picture or whose microphone fails opens a thread with a short
category, optional words, and the figures their page measures of its own link (round-trip time, loss,
bitrate, audio level, browser, channel, connection state), so that staff see the likely cause before
answering. Staff answer in the thread (free text, or a prepared answer sent in the attendee's page language)
and close it. Threads reach nobody else; the session record keeps them without the figures.

States: ``open`` (waiting for staff) -> ``answered`` (staff spoke last) -> ``open`` again when the attendee
writes, until staff close it (``closed``, final).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .captions import clean_caption
from .errors import Conflict, InvalidInput
from .model import iso
from .queue import UN_LANGUAGES
from .ratelimit import WindowRule


class HelpCategory(StrEnum):
    NO_SOUND = "no_sound"
    NO_PICTURE = "no_picture"
    MICROPHONE = "microphone"
    OTHER = "other"


class ThreadState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


# Words of one message; a longer text is refused, not cut (the attendee would not know what was lost).
HELP_TEXT_MAX_CHARS = 1000
# A thread is a conversation, not a chat room: past this many messages staff close it and a new one opens.
MAX_MESSAGES_PER_THREAD = 60
# One request at a time per attendee and session: a second waits until staff close the first.
MAX_OPEN_PER_PARTICIPANT = 1
# An attendee's opens and messages, per minute across their tabs and every process (server/limits.py).
HELP_WRITES = WindowRule(limit=8, seconds=60.0)

PAGE_LANGUAGES: tuple[str, ...] = UN_LANGUAGES

# What a staff member may send with one click, in each page language: the attendee gets the words of their
# page, the record keeps them as sent.
PREPARED_ANSWERS: dict[str, dict[str, str]] = {
    "looking": {
        "en": "We are looking into it. Please stay connected.",
        "fr": "Nous examinons le problème. Merci de rester connecté.",
        "es": "Estamos revisándolo. Por favor, permanezca conectado.",
        "ar": "نحن نتحقق من المشكلة. يرجى البقاء متصلاً.",
        "zh": "我们正在处理，请保持连接。",
        "ru": "Мы разбираемся. Пожалуйста, оставайтесь на связи.",
    },
    "check_channel": {
        "en": "Please check the channel you chose (floor or an interpretation) and your device's volume.",
        "fr": "Vérifiez le canal choisi (parquet ou interprétation) et le volume de votre appareil.",
        "es": "Compruebe el canal elegido (sala o interpretación) y el volumen de su dispositivo.",
        "ar": "يرجى التحقق من القناة المختارة (القاعة أو الترجمة الفورية) ومن مستوى صوت جهازك.",
        "zh": "请检查您选择的频道（现场原声或传译）以及设备音量。",
        "ru": "Проверьте выбранный канал (зал или перевод) и громкость вашего устройства.",
    },
    "reload": {
        "en": "Please reload the page; you will keep your place.",
        "fr": "Veuillez recharger la page ; vous garderez votre place.",
        "es": "Vuelva a cargar la página; conservará su lugar.",
        "ar": "يرجى إعادة تحميل الصفحة؛ ستحتفظ بمكانك.",
        "zh": "请重新加载页面，您的位置将会保留。",
        "ru": "Перезагрузите страницу; ваше место сохранится.",
    },
    "microphone": {
        "en": "Please allow the microphone in your browser and pick it in the device list.",
        "fr": "Autorisez le microphone dans votre navigateur et choisissez-le dans la liste des appareils.",
        "es": "Permita el micrófono en su navegador y elíjalo en la lista de dispositivos.",
        "ar": "يرجى السماح باستخدام الميكروفون في متصفحك واختياره من قائمة الأجهزة.",
        "zh": "请在浏览器中允许使用麦克风，并在设备列表中选择它。",
        "ru": "Разрешите доступ к микрофону в браузере и выберите его в списке устройств.",
    },
    "fixed": {
        "en": "The problem is fixed on our side. Tell us if it comes back.",
        "fr": "Le problème est réglé de notre côté. Dites-nous s'il revient.",
        "es": "El problema está resuelto por nuestra parte. Avísenos si vuelve a ocurrir.",
        "ar": "تم حل المشكلة من جانبنا. أخبرنا إذا تكررت.",
        "zh": "问题已在我们这边解决。如再次出现，请告诉我们。",
        "ru": "Проблема устранена с нашей стороны. Сообщите, если она повторится.",
    },
}

# The connection states a page reports (RTCPeerConnection.connectionState, or none when it has no link).
CONNECTION_STATES = frozenset({"none", "new", "connecting", "connected", "disconnected", "failed", "closed"})
CHANNELS = frozenset({"floor", *UN_LANGUAGES})


def check_category(value: object) -> HelpCategory:
    try:
        return HelpCategory(value if isinstance(value, str) else "")
    except ValueError:
        allowed = ", ".join(c.value for c in HelpCategory)
        raise InvalidInput(f"category must be one of: {allowed}", details={"field": "category"}) from None


def check_page_language(value: object) -> str:
    if not isinstance(value, str) or value not in PAGE_LANGUAGES:
        allowed = ", ".join(PAGE_LANGUAGES)
        raise InvalidInput(f"language must be one of: {allowed}", details={"field": "language"})
    return value


def clean_help_text(value: object, *, required: bool) -> str:
    """One message's words: the captions' cleaning (one line, no control or spoofing characters), at most
    HELP_TEXT_MAX_CHARS; empty only where words are optional (opening a thread with a category)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput("text is empty", details={"field": "text"})
        return ""
    return clean_caption(value, HELP_TEXT_MAX_CHARS)


def prepared_answer(key: object, language: str) -> str:
    """A prepared answer's words in the attendee's page language."""
    texts = PREPARED_ANSWERS.get(key) if isinstance(key, str) else None
    if texts is None:
        allowed = ", ".join(PREPARED_ANSWERS)
        raise InvalidInput(f"answer must be one of: {allowed}", details={"field": "answer"})
    return texts[language]


# -- the figures a page attaches -------------------------------------------------------------------------


def _number(values: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = values.get(name)
    if value is None:
        return None
    # bool is an int in Python; JSON true is not a measure.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"figures.{name} must be a finite number", details={"field": f"figures.{name}"})
    if not low <= value <= high:
        raise InvalidInput(
            f"figures.{name} must be between {low:g} and {high:g}", details={"field": f"figures.{name}"}
        )
    return float(value)


def _word(
    values: dict[str, Any], name: str, max_chars: int, allowed: frozenset[str] | None = None
) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_chars or (allowed is not None and value not in allowed):
        raise InvalidInput(f"figures.{name} is not allowed", details={"field": f"figures.{name}"})
    text = "".join(char for char in value if char.isprintable())
    return text or None


@dataclass(frozen=True)
class Figures:
    """What the page measured of its own link when the thread opened, each figure optional and bounded."""

    rtt_ms: float | None = None
    loss_pct: float | None = None
    bitrate_kbps: float | None = None
    audio_level_dbov: float | None = None
    browser: str | None = None
    browser_version: str | None = None
    channel: str | None = None
    connection: str | None = None

    FIELDS = (
        "rtt_ms",
        "loss_pct",
        "bitrate_kbps",
        "audio_level_dbov",
        "browser",
        "browser_version",
        "channel",
        "connection",
    )

    @classmethod
    def check(cls, value: object) -> Figures:
        """The figures a client sent: an object of known names, numbers finite and within range, words short;
        anything else is refused (InvalidInput naming the figure), not cleaned up."""
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise InvalidInput("figures must be an object", details={"field": "figures"})
        unknown = sorted(str(k) for k in value if k not in cls.FIELDS)
        if unknown:
            raise InvalidInput(f"unknown figure {unknown[0][:40]!r}", details={"field": "figures"})
        return cls(
            rtt_ms=_number(value, "rtt_ms", 0, 60_000),
            loss_pct=_number(value, "loss_pct", 0, 100),
            bitrate_kbps=_number(value, "bitrate_kbps", 0, 1_000_000),
            audio_level_dbov=_number(value, "audio_level_dbov", -127, 0),
            browser=_word(value, "browser", 40),
            browser_version=_word(value, "browser_version", 24),
            channel=_word(value, "channel", 8, CHANNELS),
            connection=_word(value, "connection", 16, CONNECTION_STATES),
        )

    def public(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}


# -- a thread ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HelpMessage:
    """One message: from the attendee, or from staff (then `answer` names a prepared answer, if one)."""

    at: datetime
    author_id: int | None
    author_name: str
    author_role: str
    text: str
    answer: str | None = None

    @property
    def from_staff(self) -> bool:
        return self.author_role != "attendee"

    def public(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "from": "staff" if self.from_staff else "attendee",
            "by": {"id": self.author_id, "name": self.author_name, "role": self.author_role},
            "text": self.text,
            "answer": self.answer,
        }


@dataclass(frozen=True)
class HelpThread:
    """One attendee's request and its conversation, as stored."""

    id: int
    session_id: int
    participant_id: int | None
    participant_name: str
    category: HelpCategory
    language: str
    state: ThreadState
    opened_at: datetime
    figures: Figures
    messages: tuple[HelpMessage, ...] = ()
    closed_at: datetime | None = None
    closed_by_name: str | None = None
    answered_by: tuple[str, ...] = field(default=())

    def mine(self) -> dict[str, Any]:
        """What its attendee sees: the conversation (their figures are their own, but staff's business)."""
        return {
            "id": self.id,
            "session_id": self.session_id,
            "category": self.category.value,
            "language": self.language,
            "state": self.state.value,
            "opened_at": iso(self.opened_at),
            "closed_at": iso(self.closed_at),
            "messages": [message.public() for message in self.messages],
        }

    def staff(self) -> dict[str, Any]:
        """What the AV desk and moderators see: who asked, and the figures."""
        return {
            **self.mine(),
            "by": {"id": self.participant_id, "name": self.participant_name},
            "figures": self.figures.public(),
            "closed_by": self.closed_by_name,
        }

    def record(self) -> dict[str, Any]:
        """What the session record keeps: everything but the figures."""
        return {
            "id": self.id,
            "opened_by": self.participant_name,
            "category": self.category.value,
            "language": self.language,
            "state": self.state.value,
            "opened_at": iso(self.opened_at),
            "closed_at": iso(self.closed_at),
            "closed_by": self.closed_by_name,
            "answered_by": list(self.answered_by),
            "messages": [
                {
                    "at": iso(m.at),
                    "from": "staff" if m.from_staff else "attendee",
                    "by": m.author_name,
                    "text": m.text,
                }
                for m in self.messages
            ],
        }


# -- the rules --------------------------------------------------------------------------------------------


def may_open(open_threads: int) -> None:
    """One thread at a time per attendee: a second request waits for staff to close the first."""
    if open_threads >= MAX_OPEN_PER_PARTICIPANT:
        raise Conflict(
            "you already have an open help request: write in it, or wait until staff close it",
            code="help_already_open",
        )


def after_message(thread: HelpThread, from_staff: bool) -> ThreadState:
    """The state a new message leads to, or Conflict if the thread takes no more."""
    if thread.state is ThreadState.CLOSED:
        raise Conflict("this help request is closed", code="thread_closed")
    if len(thread.messages) >= MAX_MESSAGES_PER_THREAD:
        raise Conflict("this help request is full: staff will close it", code="thread_full")
    return ThreadState.ANSWERED if from_staff else ThreadState.OPEN


def may_close(thread: HelpThread) -> None:
    if thread.state is ThreadState.CLOSED:
        raise Conflict("this help request is already closed", code="thread_closed")


# -- the session record -----------------------------------------------------------------------------------


def help_counts(threads: list[HelpThread]) -> dict[str, int]:
    """Requests per category, in the categories' order, only those that have any."""
    found = {category.value: 0 for category in HelpCategory}
    for thread in threads:
        found[thread.category.value] += 1
    return {category: n for category, n in found.items() if n}


def help_rows(threads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The record's threads as a table: one row per message (a thread with none has one row of its own)."""
    rows: list[dict[str, Any]] = []
    for thread in threads:
        head = {
            "thread": thread["id"],
            "opened_by": thread["opened_by"],
            "category": thread["category"],
            "opened_at": thread["opened_at"],
            "closed_at": thread["closed_at"],
            "closed_by": thread["closed_by"],
            "answered_by": ", ".join(thread["answered_by"]),
        }
        for message in thread["messages"] or [None]:
            rows.append(
                {
                    **head,
                    "at": message and message["at"],
                    "from": message and message["from"],
                    "by": message and message["by"],
                    "text": message and message["text"],
                }
            )
    return rows
