"""Typed, validated protocol messages: the one place that says what a client may send.

What the server sends back is typed in signaling/messages.py. docs/protocol.md describes the same events;
its payload tables are generated from both (signaling/schema.py), and tests/test_docs.py and
tests/test_schema.py keep them in step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from server.domain import queue as floor_limits
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


class HandRaise(Message):
    type: Text
    language: Text


class HandLower(Message):
    pass


class QueueGet(Message):
    pass


class QueueAddInRoom(Message):
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
    to: Literal["up", "down", "top", "bottom"] | Annotated[StrictInt, Field(ge=0, le=100_000)]


class QueueRemove(Message):
    entry_id: EntryId
    reason: Text


class QueueLowerAll(Message):
    reason: Text = ""


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
    targets: dict[str, dict[str, float]] | None = None


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
    reason: Text = ""


class QuestionMerge(Message):
    question_id: EntryId
    into_id: EntryId


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
    source: Literal["room", "speaker", "greenroom", "channel"]
    channel: Channel | None = None
    sdp: Sdp


class MediaSubscribe(Message):
    source: Literal["room", "speaker", "greenroom"]
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
    rules: dict[StrictStr, list[Annotated[StrictStr, Field(max_length=200)]]] | None = None


ParticipantId = Id
Version = Annotated[StrictInt, Field(ge=0)]


class ParticipantAdmit(Message):
    participant_id: ParticipantId
    version: Version


class ParticipantAdmitAll(Message):
    include_flagged: StrictBool = False


class ParticipantRemove(Message):
    participant_id: ParticipantId
    reason: Text
    version: Version | None = None


class ParticipantBan(Message):
    participant_id: ParticipantId
    reason: Text


class ParticipantUnban(Message):
    participant_id: ParticipantId
    reason: Text = ""


class ParticipantMute(Message):
    participant_id: ParticipantId
    audio: StrictBool | None = None
    video: StrictBool | None = None
    reason: Text = ""


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
    language: Annotated[StrictStr, Field(max_length=8)]
    # The cleaned line must fit in 500 characters; this only bounds what is worth cleaning.
    text: Annotated[StrictStr, Field(max_length=4000)]


class CaptionsGet(Message):
    pass


CAPTION_EVENTS: dict[str, type[Message]] = {
    "caption:post": CaptionPost,
    "captions:get": CaptionsGet,
}
CLIENT_EVENTS.update(CAPTION_EVENTS)


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


def json_schema() -> dict[str, Any]:
    """The payload of every client event as JSON Schema (2020-12), from the models `parse` checks with:
    served at /api/socketio-schema.json. The connection's ``auth`` is ConnectAuth."""
    events: dict[str, Any] = {}
    defs: dict[str, Any] = {}
    models: dict[str, type[Message]] = {**CLIENT_EVENTS, "connect (auth)": ConnectAuth}
    for name, model in models.items():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
        events[name] = {"$ref": f"#/$defs/{model.__name__}"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Hemicycle Socket.IO client events",
        "description": "Each property names a client event; its value is the payload's schema.",
        "type": "object",
        "properties": events,
        "$defs": defs,
        "x-server-events": list(SERVER_EVENTS),
    }
