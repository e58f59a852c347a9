"""Typed, validated protocol messages: the one place that says what a client may send.

What the server sends back is typed in signaling/messages.py. docs/protocol.md describes the same events;
its payload tables are generated from both (signaling/schema.py), and tests/test_docs.py and
tests/test_schema.py keep them in step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from server.domain import queue as floor_limits
from server.domain.captions import CAPTION_MAX_CHARS
from server.domain.errors import InvalidInput
from server.domain.ids import MAX_ID

from . import messages

MAX_MESSAGE_BYTES = 64 * 1024
MAX_TOKEN_CHARS = 2048


class Message(BaseModel):
    """Strict: unknown fields and coerced types are refused rather than guessed at."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# Every record id a client sends: the one rule of server/domain/ids.py (1 to 2³¹ − 1, PostgreSQL's integer).
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


class ConnectAuth(Message):
    token: StrictStr = Field(min_length=1, max_length=MAX_TOKEN_CHARS)
    session_id: Id


class SetState(Message):
    state: Literal["scheduled", "live", "ended"]


class PresenceGet(Message):
    pass


Text = Annotated[StrictStr, Field(max_length=400)]
EntryId = Id
LimitSeconds = Annotated[
    StrictInt, Field(ge=floor_limits.MIN_SPEAKING_SECONDS, le=floor_limits.MAX_SPEAKING_SECONDS)
]
AddSeconds = Annotated[StrictInt, Field(ge=-floor_limits.MAX_ADD_SECONDS, le=floor_limits.MAX_ADD_SECONDS)]
GraceSeconds = Annotated[StrictInt, Field(ge=0, le=floor_limits.MAX_AUTO_END_GRACE_SECONDS)]
# A reason given for a moderation step. The bound here is on what is worth cleaning; the domain then collapses
# white space and refuses (invalid_input) more than MAX_REASON characters, the length the record keeps.
MAX_REASON_SENT = 400
_REASON_NOTE = f"at most {floor_limits.MAX_REASON} characters once white space is collapsed"
Reason = Annotated[StrictStr, Field(max_length=MAX_REASON_SENT, description=_REASON_NOTE)]
RequiredReason = Annotated[
    StrictStr,
    Field(max_length=MAX_REASON_SENT, description=f"required (with a letter or digit); {_REASON_NOTE}"),
]


class HandRaise(Message):
    type: Text = Field(description="statement, question, right_of_reply or point_of_order")
    language: Text = Field(
        description="the language they will speak: one of the session's (ar, zh, en, fr, ru, es by default)"
    )


class HandLower(Message):
    pass


class QueueGet(Message):
    pass


class QueueAddInRoom(Message):
    """Someone in the room, without a link, as floor staff describe them: the fields follow a registration's
    rules (display name 1–120 characters and affiliation at most 200 once white space is collapsed; gender
    and age band kept only with `consent_demographics`)."""

    display_name: Text
    affiliation: Text = ""
    stakeholder_group: Text
    country: Text | None = None
    consent_demographics: StrictBool = False
    gender: Text | None = None
    age_band: Text | None = None
    type: Text = "statement"
    language: Text


class QueueMove(Message):
    entry_id: EntryId
    to: Literal["up", "down", "top", "bottom"] | Annotated[StrictInt, Field(ge=0, le=100_000)] = Field(
        description="one place up or down, to the top or bottom, or to a 0-based place in line"
    )


class QueueRemove(Message):
    entry_id: EntryId
    reason: RequiredReason


class QueueLowerAll(Message):
    reason: Reason = ""


class FloorGrant(Message):
    entry_id: EntryId
    limit_seconds: LimitSeconds | None = None


class FloorEnd(Message):
    entry_id: EntryId
    revoke: StrictBool = False


class FloorTime(Message):
    entry_id: EntryId
    limit_seconds: LimitSeconds | None = None
    add_seconds: AddSeconds | None = None


class QueueSettings(Message):
    default_speaking_seconds: LimitSeconds | None = None
    auto_end: StrictBool | None = None
    auto_end_grace_seconds: GraceSeconds | None = None
    targets: dict[str, dict[str, float]] | None = Field(
        default=None,
        description="the wished-for shares of interventions by dimension and value, each from 0 to 1, "
        "adding up to at most 1 per dimension",
    )


class QuestionPost(Message):
    text: Annotated[StrictStr, Field(max_length=4000)]
    to: Text = ""
    anonymous: StrictBool = False


class QuestionEdit(Message):
    question_id: EntryId
    text: Annotated[StrictStr, Field(max_length=4000)]


class QuestionRef(Message):
    question_id: EntryId


class QuestionModerate(Message):
    question_id: EntryId
    action: Literal["approve", "dismiss", "star", "unstar"]
    reason: Reason = Field(default="", description=f"required to dismiss; {_REASON_NOTE}")


class QuestionMerge(Message):
    question_id: EntryId = Field(description="the duplicate")
    into_id: EntryId = Field(description="the question it is folded into")


class QuestionRelay(Message):
    question_id: EntryId
    stage: Literal["forwarded", "read", "answered"]


class QuestionsGet(Message):
    pass


class QuestionsSettings(Message):
    premoderated: StrictBool


# -- media (server/media; handlers in signaling/media_events.py) ------------------------------------

MAX_SDP_CHARS = 60_000
ResourceId = Annotated[StrictStr, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Channel = Literal["floor", "ar", "zh", "en", "fr", "ru", "es"]
Sdp = Annotated[StrictStr, Field(min_length=1, max_length=MAX_SDP_CHARS)]


class MediaConfig(Message):
    pass


class MediaPublish(Message):
    source: Literal["room", "speaker", "greenroom", "channel", "sign"]
    channel: Channel | None = None
    sdp: Sdp


class MediaSubscribe(Message):
    source: Literal["room", "speaker", "greenroom", "sign"]
    channel: Channel | None = None
    audio_only: StrictBool = False
    participant_id: EntryId | None = None
    sdp: Sdp


class MediaChannel(Message):
    resource_id: ResourceId
    channel: Channel


class MediaIce(Message):
    resource_id: ResourceId
    candidate: Annotated[StrictStr, Field(max_length=1000)]
    sdp_mid: Annotated[StrictStr, Field(max_length=32)] | None = None
    sdp_mline_index: Annotated[StrictInt, Field(ge=0, le=8)] | None = None


class MediaStop(Message):
    resource_id: ResourceId


Measure = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]


class MediaHealth(Message):
    """A client's own measures of one of its resources (optional); staff get the health report back."""

    resource_id: ResourceId | None = None
    rtt_ms: Measure | None = None
    loss_pct: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    bitrate_kbps: Measure | None = None
    audio_level_dbov: Annotated[float, Field(ge=-127, le=0, allow_inf_nan=False)] | None = None


# Client -> server events and their payload models.
CLIENT_EVENTS: dict[str, type[Message]] = {
    "session:set_state": SetState,
    "presence:get": PresenceGet,
    "hand:raise": HandRaise,
    "hand:lower": HandLower,
    "queue:get": QueueGet,
    "queue:add_in_room": QueueAddInRoom,
    "queue:move": QueueMove,
    "queue:remove": QueueRemove,
    "queue:lower_all": QueueLowerAll,
    "queue:settings": QueueSettings,
    "floor:grant": FloorGrant,
    "floor:end": FloorEnd,
    "floor:time": FloorTime,
    "questions:get": QuestionsGet,
    "questions:settings": QuestionsSettings,
    "question:post": QuestionPost,
    "question:edit": QuestionEdit,
    "question:withdraw": QuestionRef,
    "question:vote": QuestionRef,
    "question:unvote": QuestionRef,
    "question:moderate": QuestionModerate,
    "question:merge": QuestionMerge,
    "question:relay": QuestionRelay,
    "media:config": MediaConfig,
    "media:publish": MediaPublish,
    "media:subscribe": MediaSubscribe,
    "media:channel": MediaChannel,
    "media:ice": MediaIce,
    "media:stop": MediaStop,
    "media:health": MediaHealth,
}

# What an attendee may do to the queue and to questions: limited per participant (all their tabs, on every
# process) as well as per connection.
QUEUE_WRITES = frozenset({"hand:raise", "hand:lower"})
QUESTION_WRITES = frozenset(
    {"question:post", "question:edit", "question:withdraw", "question:vote", "question:unvote"}
)

# Server -> client events: their payload models are in signaling/messages.py.
SERVER_EVENTS: tuple[str, ...] = tuple(messages.SERVER_EVENTS)


# -- moderating participants (issue 6) -----------------------------------------------------------------


class ModerationGet(Message):
    pass


class ModerationSettings(Message):
    waiting_room: StrictBool | None = None
    rules: dict[StrictStr, list[Annotated[StrictStr, Field(max_length=200)]]] | None = Field(
        default=None,
        description="who is let in at once: `stakeholder_groups` and `affiliations`, each a list",
    )


ParticipantId = Id
Version = Annotated[StrictInt, Field(ge=0)]


_VERSION_NOTE = (
    "the version of the person's admission the decision was taken on (stale_participant if it moved)"
)


class ParticipantAdmit(Message):
    participant_id: ParticipantId
    version: Version = Field(description=_VERSION_NOTE)


class ParticipantAdmitAll(Message):
    include_flagged: StrictBool = False


class ParticipantRemove(Message):
    participant_id: ParticipantId
    reason: RequiredReason
    version: Version | None = Field(default=None, description=_VERSION_NOTE)


class ParticipantBan(Message):
    participant_id: ParticipantId
    reason: RequiredReason


class ParticipantUnban(Message):
    participant_id: ParticipantId
    reason: Reason = ""


class ParticipantMute(Message):
    """At least one of `audio` and `video`: true mutes, false unmutes."""

    participant_id: ParticipantId
    audio: StrictBool | None = None
    video: StrictBool | None = None
    reason: Reason = ""


MODERATION_EVENTS: dict[str, type[Message]] = {
    "moderation:get": ModerationGet,
    "moderation:settings": ModerationSettings,
    "participant:admit": ParticipantAdmit,
    "participant:admit_all": ParticipantAdmitAll,
    "participant:remove": ParticipantRemove,
    "participant:ban": ParticipantBan,
    "participant:unban": ParticipantUnban,
    "participant:mute": ParticipantMute,
}
CLIENT_EVENTS.update(MODERATION_EVENTS)


# -- live captions (issue 7) ---------------------------------------------------------------------------


class CaptionPost(Message):
    language: Annotated[StrictStr, Field(max_length=8)] = Field(
        description="floor, or one of the session's languages (any UN language when it lists none)"
    )
    # This only bounds what is worth cleaning; the cleaned line must fit in CAPTION_MAX_CHARS.
    text: Annotated[StrictStr, Field(max_length=4000)] = Field(
        description=f"at most {CAPTION_MAX_CHARS} characters once cleaned"
    )


class CaptionsGet(Message):
    pass


CAPTION_EVENTS: dict[str, type[Message]] = {
    "caption:post": CaptionPost,
    "captions:get": CaptionsGet,
}
CLIENT_EVENTS.update(CAPTION_EVENTS)


# -- the help desk (issue 24) --------------------------------------------------------------------------

# Bounds on what is worth checking: the domain (server/domain/helpdesk.py) refuses a text over 1,000
# characters once cleaned, a figure out of range, an unknown category or prepared answer, each with its field.
HelpText = Annotated[StrictStr, Field(max_length=4000)]
HelpWord = Annotated[StrictStr, Field(max_length=32)]
HelpFigure = Annotated[float, Field(allow_inf_nan=False)]


class HelpFigures(Message):
    """What the page measured of its own link; every figure optional."""

    rtt_ms: HelpFigure | None = None
    loss_pct: HelpFigure | None = None
    bitrate_kbps: HelpFigure | None = None
    audio_level_dbov: HelpFigure | None = None
    browser: Annotated[StrictStr, Field(max_length=40)] | None = None
    browser_version: Annotated[StrictStr, Field(max_length=24)] | None = None
    channel: Annotated[StrictStr, Field(max_length=8)] | None = None
    connection: Annotated[StrictStr, Field(max_length=16)] | None = None


class HelpOpen(Message):
    category: HelpWord
    language: HelpWord
    text: HelpText = ""
    figures: HelpFigures | None = None


class HelpMessage(Message):
    thread_id: Id
    text: HelpText


class HelpReply(Message):
    thread_id: Id
    text: HelpText | None = None
    answer: HelpWord | None = None


class HelpRef(Message):
    thread_id: Id


class HelpGet(Message):
    pass


HELP_EVENTS: dict[str, type[Message]] = {
    "help:open": HelpOpen,
    "help:message": HelpMessage,
    "help:reply": HelpReply,
    "help:close": HelpRef,
    "help:get": HelpGet,
}
CLIENT_EVENTS.update(HELP_EVENTS)
# What an attendee writes to the help desk: checked against their standing (removed, banned, link withdrawn)
# before it is handled, like hands and questions; counted per participant across processes by the use case.
HELP_WRITES = frozenset({"help:open", "help:message"})
# -- live polls (issue 24) -----------------------------------------------------------------------------

PollText = Annotated[StrictStr, Field(max_length=2000)]


class PollsGet(Message):
    pass


class PollCreate(Message):
    kind: Literal["single", "multiple", "rating", "text"]
    question: PollText
    options: Annotated[list[PollText], Field(max_length=20)] = []


class PollEdit(PollCreate):
    poll_id: Id


class PollRef(Message):
    poll_id: Id


class PollResults(Message):
    poll_id: Id
    shown: StrictBool


class PollAnswer(Message):
    """One field, by the poll's kind: `choices` (option numbers from 0), `rating` (1 to 5) or `text`."""

    poll_id: Id
    choices: Annotated[list[Annotated[StrictInt, Field(ge=-1000, le=1000)]], Field(max_length=20)] | None = (
        None
    )
    rating: Annotated[StrictInt, Field(ge=-1000, le=1000)] | None = None
    # Bounds what is worth cleaning; the answer itself must fit in 80 characters (server/domain/polls.py).
    text: Annotated[StrictStr, Field(max_length=20000)] | None = None


POLL_EVENTS: dict[str, type[Message]] = {
    "polls:get": PollsGet,
    "poll:create": PollCreate,
    "poll:edit": PollEdit,
    "poll:delete": PollRef,
    "poll:open": PollRef,
    "poll:close": PollRef,
    "poll:results": PollResults,
    "poll:answer": PollAnswer,
}
CLIENT_EVENTS.update(POLL_EVENTS)
# An attendee's answers: limited per participant across processes (signaling/hub.py).
POLL_WRITES = frozenset({"poll:answer"})


# -- recording (issue 22) ------------------------------------------------------------------------------


class RecordingControl(Message):
    pass


RECORDING_EVENTS: dict[str, type[Message]] = {
    "recording:start": RecordingControl,
    "recording:stop": RecordingControl,
    "recording:get": RecordingControl,
}
CLIENT_EVENTS.update(RECORDING_EVENTS)
# -- interpretation booths (issue 21) --------------------------------------------------------------------
# The language is checked by the booth rules (server/domain/booths.py: unknown_booth), not here, so that an
# unknown booth gets its own error code.
BoothName = Annotated[StrictStr, Field(max_length=16)]


class BoothGet(Message):
    pass


class BoothRef(Message):
    language: BoothName


class BoothCough(Message):
    language: BoothName
    on: StrictBool


BOOTH_EVENTS: dict[str, type[Message]] = {
    "booth:get": BoothGet,
    "booth:offer": BoothRef,
    "booth:take": BoothRef,
    "booth:cough": BoothCough,
    "booth:slow_down": BoothRef,
}
CLIENT_EVENTS.update(BOOTH_EVENTS)
# -- statements sent in advance (issue 21) -------------------------------------------------------------


class StatementsGet(Message):
    pass


STATEMENT_EVENTS: dict[str, type[Message]] = {"statements:get": StatementsGet}
CLIENT_EVENTS.update(STATEMENT_EVENTS)


M = TypeVar("M", bound=Message)


def parse(model: type[M], payload: Any) -> M:
    """Validate a payload; raise InvalidInput naming the first bad field."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidInput("the payload must be a JSON object", details={"field": None})
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidInput(f"{where or 'payload'}: {first['msg']}", details={"field": where}) from None
