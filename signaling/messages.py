"""What the server sends: a pydantic model for every server -> client event and every acknowledgement.

signaling/protocol.py types what a client may send; this module types what it gets back, so that the wire
contract is written once. `SERVER_EVENTS` maps each event the server emits to its payload's model and
`ACKS` each client event to the model of the `data` of its successful acknowledgement. signaling/schema.py
turns both into JSON Schema, the payload tables of docs/protocol.md and the JSDoc types of web/js/.

The models describe; they do not build. The payloads are still plain dicts made by the use cases (building
a model per broadcast would cost the hot path); `Contract` checks them against these models where every
emit and every acknowledgement passes (signaling/wsdirect.py), when `HEMICYCLE_CHECK_MESSAGES` is on.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

log = logging.getLogger(__name__)

# The wire contract's version, sent in `welcome`. The major number changes when a change would break a
# client built for the previous one (a field removed or retyped, an event renamed); adding a field or an
# event does not change it, since clients ignore what they do not know.
PROTOCOL_VERSION = 1


class Payload(BaseModel):
    """Strict and closed: a field the model does not name, or of another type, is a mismatch."""

    model_config = ConfigDict(extra="forbid", strict=True)


Int = StrictInt
Float = StrictFloat  # strict floats still take ints: JSON does not tell 1 from 1.0
Text = StrictStr
Bool = StrictBool
Timestamp = Annotated[StrictStr, Field(description="ISO 8601 in UTC, ending in Z")]
RoleName = Literal["admin", "moderator", "chair", "av", "captioner", "interpreter", "display", "attendee"]
SessionStateName = Literal["scheduled", "live", "ended"]
EntryType = Literal["statement", "question", "right_of_reply", "point_of_order"]
EntryStateName = Literal["queued", "speaking", "done", "removed", "withdrawn"]
Stage = Literal["none", "forwarded", "read", "answered"]
QuestionStateName = Literal["pending", "approved", "dismissed", "merged", "withdrawn"]
Counts = dict[str, StrictInt]


# -- the event and its sessions ------------------------------------------------------------------------


class Event(Payload):
    id: Int
    slug: Text
    title: Text
    venue: Text
    timezone: Text = Field(description="IANA time zone name")


class Session(Payload):
    id: Int
    event_id: Int
    ref: Text
    title: Text
    room: Text
    starts_at: Timestamp
    ends_at: Timestamp
    languages: list[Text]
    state: SessionStateName
    state_changed_at: Timestamp | None
    default_speaking_seconds: Int
    is_public: Bool


class Participant(Payload):
    """What other participants may see of someone: never gender or age band."""

    id: Int
    display_name: Text
    affiliation: Text
    stakeholder_group: Text | None
    country: Text | None
    role: RoleName


class Me(Participant):
    session_id: Int | None = Field(description="null: the grant covers every session of the event")
    grant_id: Int


class Actor(Payload):
    id: Int
    name: Text
    role: RoleName


class Summary(Payload):
    """The presence counts everyone sees."""

    session_id: Int
    total: Int
    by_role: Counts
    by_group: Counts = Field(description="attendees only")


class Person(Participant):
    connections: Int
    since: Timestamp


# -- the queue and the floor ---------------------------------------------------------------------------


class Entry(Payload):
    """A request to speak as anyone may see it."""

    id: Int
    participant_id: Int | None = Field(description="null for an in-room request")
    in_room: Bool
    display_name: Text
    affiliation: Text
    stakeholder_group: Text | None
    country: Text | None
    type: EntryType
    language: Text
    state: EntryStateName


class StaffEntry(Entry):
    position: Int
    requested_at: Timestamp
    granted_at: Timestamp | None
    ended_at: Timestamp | None
    limit_seconds: Int | None
    allowed_seconds: Int
    deadline: Timestamp | None
    spoken_seconds: Float
    overrun_seconds: Float
    end_reason: Literal["finished", "revoked", "time_up", "disconnected", "replaced"] | None = Field(
        description="`replaced`: the floor was given to the next person"
    )
    removed_reason: Text | None


class Timer(Payload):
    """Clients count down from `deadline`, correcting their clock by `server_time`."""

    granted_at: Timestamp
    deadline: Timestamp
    allowed_seconds: Int
    server_time: Timestamp
    remaining_seconds: Float
    phase: Literal["speaking", "ending", "over"] = Field(
        description="`ending` in the last fifth of the allowed time (at most 30 s), `over` past the deadline"
    )


class Floor(Payload):
    session_id: Int
    version: Int
    speaking: Entry | None
    timer: Timer | None
    next: list[Entry] = Field(description="the next two in line")
    length: Int
    server_time: Timestamp


class Line(Payload):
    session_id: Int
    version: Int
    order: list[Int] = Field(description="the queued entries' ids, in order")
    length: Int


class LastRequest(Payload):
    id: Int
    state: EntryStateName
    removed_reason: Text | None
    end_reason: Text | None


class MyStatement(Payload):
    kind: Literal["pdf", "text"] = Field(description="what its bytes are, as checked by the server")
    name: Text = Field(description="the file's name, cleaned, ending in .pdf or .txt")


class Mine(Payload):
    session_id: Int
    version: Int
    entry: Entry | None
    place: Int | None = Field(description="1-based place in line")
    last: LastRequest | None = Field(description="how their latest request ended, when none is active")
    length: Int
    timer: Timer | None = Field(description="while they hold the floor")
    statement: MyStatement | None = Field(
        description="the statement sent in advance with their active request (never its content), or null"
    )


class BalanceCounts(Payload):
    queue: Counts
    interventions: Counts
    speaking_seconds: Counts


class Balance(Payload):
    stakeholder_group: BalanceCounts
    gender: BalanceCounts
    youth: BalanceCounts
    region: BalanceCounts


Targets = dict[str, dict[str, StrictFloat]]


class Improvement(Payload):
    dimension: Text
    value: Text


class Suggestion(Payload):
    entry_id: Int
    display_name: Text
    improves: list[Improvement]


class QueueConfig(Payload):
    """The queue's settings as they are (`queue:settings` changes them)."""

    default_speaking_seconds: Int
    auto_end: Bool
    auto_end_grace_seconds: Int | None
    targets: Targets


class Queue(Payload):
    """The floor staff's view: the whole queue, the floor, the record, balance and a suggestion."""

    session_id: Int
    version: Int
    queue: list[StaffEntry]
    speaking: StaffEntry | None
    timer: Timer | None
    record: list[StaffEntry] = Field(description="the last 50 interventions that had the floor")
    balance: Balance
    suggestion: Suggestion | None
    settings: QueueConfig
    server_time: Timestamp


# -- questions -----------------------------------------------------------------------------------------


class Asker(Payload):
    display_name: Text
    affiliation: Text
    stakeholder_group: Text | None
    country: Text | None


class StaffAsker(Asker):
    participant_id: Int


class PublicQuestion(Payload):
    id: Int
    text: Text
    to: Text
    asker: Asker = Field(description="display_name `Anonymous` and the rest empty when anonymous")
    anonymous: Bool
    votes: Int
    stage: Stage
    starred: Bool
    created_at: Timestamp
    read_at: Timestamp | None


class OwnQuestion(PublicQuestion):
    """The asker's own question, in any state, with their real name."""

    state: QuestionStateName
    dismiss_reason: Text | None
    merged_into: Int | None
    editable: Bool
    voted: Bool


class EditBy(Payload):
    id: Int | None
    role: Text


class Edit(Payload):
    at: Timestamp
    by: EditBy
    before: Text
    after: Text


class StaffQuestion(PublicQuestion):
    asker: StaffAsker
    late_votes: Int
    state: QuestionStateName
    approved_at: Timestamp | None
    dismissed_at: Timestamp | None
    dismiss_reason: Text | None
    merged_into: Int | None
    merged_from: list[Int]
    forwarded_at: Timestamp | None
    answered_at: Timestamp | None
    edits: list[Edit]


class Votes(Payload):
    """A question whose only change is its votes."""

    id: Int
    votes: Int


class StaffVotes(Votes):
    late_votes: Int


class QuestionCounts(Payload):
    asked: Int
    pending: Int
    approved: Int
    dismissed: Int
    merged: Int
    withdrawn: Int
    forwarded: Int
    read_aloud: Int
    answered: Int


class PublicQuestions(Payload):
    session_id: Int
    version: Int
    premoderated: Bool
    max_chars: Int
    questions: list[PublicQuestion] = Field(description="approved only")
    reading: PublicQuestion | None


class QuestionsChanged(Payload):
    session_id: Int
    version: Int
    premoderated: Bool
    questions: list[PublicQuestion | Votes]
    removed: list[Int] = Field(description="ids of questions no longer approved")
    reading_id: Int | None = Field(description="the question read aloud now: one of the approved questions")
    origin: Text = Field(description="the sending server process")
    previous: Int | None = Field(description="the version of that process's previous update of this event")


class MyQuestions(Payload):
    session_id: Int
    version: Int
    questions: list[OwnQuestion]
    voted: list[Int]


class StaffQuestions(Payload):
    """Every question in every state, with askers and history (the staff's question desk)."""

    session_id: Int
    version: Int
    premoderated: Bool
    max_chars: Int
    questions: list[StaffQuestion]
    counts: QuestionCounts


class StaffQuestionsChanged(Payload):
    session_id: Int
    version: Int
    premoderated: Bool
    questions: list[StaffQuestion | StaffVotes]
    counts: QuestionCounts
    origin: Text
    previous: Int | None


# -- captions ------------------------------------------------------------------------------------------


class Captioner(Payload):
    id: Int | None
    name: Text


class CaptionLine(Payload):
    session_id: Int
    seq: Int = Field(
        description="1, 2, 3... per session, every language together, in the order stored, whichever process "
        "stored it"
    )
    language: Text
    text: Text
    at: Timestamp
    by: Captioner


class RecentCaptions(Payload):
    session_id: Int
    seq: Int = Field(description="the last line's, 0 before any")
    lines: list[CaptionLine]


# -- the help desk -------------------------------------------------------------------------------------

HelpCategoryName = Literal["no_sound", "no_picture", "microphone", "other"]
HelpStateName = Literal["open", "answered", "closed"]


class HelpAuthor(Payload):
    id: Int | None
    name: Text
    role: RoleName


class HelpMessageView(Payload):
    at: Timestamp
    from_: Literal["attendee", "staff"] = Field(alias="from")
    by: HelpAuthor
    text: Text
    answer: Text | None = Field(description="the prepared answer's key, or null for free text")


class HelpFiguresView(Payload):
    rtt_ms: Float | None
    loss_pct: Float | None
    bitrate_kbps: Float | None
    audio_level_dbov: Float | None
    browser: Text | None
    browser_version: Text | None
    channel: Text | None
    connection: Text | None


class HelpThreadMine(Payload):
    id: Int
    session_id: Int
    category: HelpCategoryName
    language: Text = Field(description="the attendee's page language: prepared answers come in it")
    state: HelpStateName
    opened_at: Timestamp
    closed_at: Timestamp | None
    messages: list[HelpMessageView]


class HelpAsker(Payload):
    id: Int | None
    name: Text


class HelpThreadStaff(HelpThreadMine):
    by: HelpAsker
    figures: HelpFiguresView
    closed_by: Text | None


# -- moderating participants ---------------------------------------------------------------------------


class PossiblyBanned(Payload):
    ban_id: Int
    match: Literal["browser", "address"]


class AdmissionFlags(Payload):
    possibly_banned: PossiblyBanned | None = None
    removed_before: Bool | None = None


class Muted(Payload):
    audio: Bool
    video: Bool


class Admission(Participant):
    state: Literal["waiting", "left", "admitted", "removed"]
    version: Int
    flags: AdmissionFlags
    reason: Text | None
    waiting_since: Timestamp | None
    decided_at: Timestamp | None
    muted: Muted


class Ban(Payload):
    id: Int
    participant: Participant
    reason: Text
    at: Timestamp
    by: Int | None = Field(description="participant id")


class Rules(Payload):
    stakeholder_groups: list[Text]
    affiliations: list[Text]


class ActionActor(Payload):
    id: Int | None
    name: Text | None
    role: Text = Field(description="a role, or `system` for an admission by a rule")


class Whom(Payload):
    id: Int | None
    name: Text | None


class ModerationAction(Payload):
    id: Int
    at: Timestamp
    actor: ActionActor
    action: Text
    target: Text
    whom: Whom
    reason: Text
    details: dict[str, Any]


class ModerationState(Payload):
    """The moderators' view of the participants; keep the one with the highest `version`."""

    session_id: Int
    version: Int
    waiting_room: Bool = Field(description="in effect")
    waiting_room_setting: Bool | None = Field(description="the session's own")
    rules: Rules
    waiting: list[Admission]
    removed: list[Admission]
    muted: list[Admission]
    bans: list[Ban] = Field(description="active, event-wide")
    audit: list[ModerationAction] = Field(description="the latest 50")


# -- media ---------------------------------------------------------------------------------------------


class Resource(Payload):
    resource_id: Text
    kind: Literal["publish", "view"]
    source: Text = Field(description="`room`, `speaker`, `greenroom:<participant id>` or `channel:<name>`")
    participant_id: Int
    channel: Text | None = None
    audio_only: Bool | None = None
    owner: Text | None = Field(default=None, description="the process that serves it, when another")


class Answered(Resource):
    sdp: Text = Field(description="the relay's SDP answer")


class IceServer(Payload):
    urls: list[Text]
    username: Text | None = None
    credential: Text | None = None


class KindHealth(Payload):
    codec: Text
    bitrate_kbps: Float
    packets: Int
    frames: Int
    audio_level_dbov: Float | None
    transit_p50_ms: Float | None


class SourceHealth(Payload):
    resource_id: Text
    participant_id: Int
    muted: Muted
    connection: Text
    rtt_ms: Float | None
    loss_pct: Float
    kinds: dict[str, KindHealth]
    viewers: Int
    dropped: Counts


class Link(Payload):
    source: Text
    edge: Text | None = Field(default=None, description="on the origin: the edge process it feeds")
    origin: Text | None = Field(default=None, description="on an edge: the process it pulls from")
    connection: Text


class ProcessLoad(Payload):
    process: Text
    streams: Int
    capacity: Int


class Health(Payload):
    session_id: Int
    sources: dict[str, SourceHealth]
    viewers: Counts
    process: Text | None = None
    tier: Literal["origin", "edge"] | None = None
    links: list[Link] | None = None
    processes: list[ProcessLoad] | None = None


class Recorded(Payload):
    """A non-staff `media:health` report, taken."""

    recorded: Bool


class HealthReply(RootModel[Health | Recorded]):
    """`Health` for staff, `Recorded` for anyone else."""


# -- server -> client events ---------------------------------------------------------------------------


RecordingStateName = Literal["recording", "stopped", "failed"]


class RecordingView(Payload):
    id: Int
    session_id: Int
    state: RecordingStateName = Field(description="failed: a fault (a full disk...) stopped it; see error")
    started_at: Timestamp
    started_by: Text = Field(description="the name of who started it")
    stopped_at: Timestamp | None
    stopped_by: Text | None = Field(description="who stopped it; null while running or when it failed")
    error: Text | None = Field(description="why it failed, for the AV desk and the moderator")


class RecordingChanged(Payload):
    recording: RecordingView


class RecordingReply(Payload):
    recording: RecordingView | None = Field(
        description="recording:get: null if the session was never recorded"
    )


class Welcome(Payload):
    protocol: Int = Field(description="the protocol's major version; a client for another one reloads")
    me: Me
    session: Session
    event: Event
    permissions: list[Text]
    presence: Summary
    floor: Floor
    mine: Mine
    questions: PublicQuestions
    my_questions: MyQuestions
    captions: RecentCaptions
    recording: RecordingView | None = Field(
        description="the session's last recording (running, stopped or failed); null if never recorded"
    )
    people: list[Person] | None = Field(default=None, description="staff only")
    queue: Queue | None = Field(default=None, description="staff only")
    moderation: StaffQuestions | None = Field(default=None, description="staff only")


class SessionChanged(Payload):
    session: Session
    by: Actor


class Roster(Payload):
    session_id: Int
    people: list[Person]


class Waiting(Payload):
    me: Me
    session: Session
    event: Event
    message: Text


class Admitted(Payload):
    session_id: Int


class Removed(Payload):
    session_id: Int
    reason: Text
    banned: Bool
    by: Actor | None


class MutedNotice(Payload):
    session_id: Int
    audio: Bool = Field(description="true: muted")
    video: Bool
    reason: Text
    by: Actor


class MediaStopped(Payload):
    resource_id: Text
    source: Text
    # A code, not a closed list: the relay has a few of its own (`stopped`, and between relays `edge_gone`,
    # `upstream_gone`), and a client treats any it does not know as "ended".
    reason: Text = Field(
        description="`floor_ended`, `session_ended`, `removed`, `replaced`, `codec_changed` (subscribe "
        "again), `connect_timeout`, `connection_failed`, `connection_closed`, `relay_closed`, or another code"
    )


class MediaChannels(Payload):
    session_id: Int
    on_air: list[Text] = Field(
        description='the interpretation channels on air, and "sign" while the sign-language channel is'
    )


class ErrorBody(Payload):
    code: Text
    message: Text
    details: dict[str, Any] | None = None


class ErrorEvent(ErrorBody):
    event: Text | None = Field(description="the event that failed; null for a frame that names none")


SERVER_EVENTS: dict[str, type[Payload]] = {
    "welcome": Welcome,
    "session:state": SessionChanged,
    "presence": Summary,
    "presence:people": Roster,
    "queue": Queue,
    "floor": Floor,
    "queue:line": Line,
    "queue:mine": Mine,
    "questions:staff_changed": StaffQuestionsChanged,
    "questions:changed": QuestionsChanged,
    "questions:mine": MyQuestions,
    "waiting": Waiting,
    "moderation": ModerationState,
    "moderation:admitted": Admitted,
    "moderation:removed": Removed,
    "moderation:muted": MutedNotice,
    "caption": CaptionLine,
    "media:stopped": MediaStopped,
    "media:health": Health,
    "media:channels": MediaChannels,
    "error": ErrorEvent,
}
# The help desk: a thread to its attendee (every tab), and to the session's staff with its figures.
SERVER_EVENTS.update({"help:mine": HelpThreadMine, "help:staff": HelpThreadStaff})


# -- acknowledgements: the `data` of `{"ok": true, "data": ...}` per client event ---------------------


class SessionReply(Payload):
    session: Session


class PresenceReply(Payload):
    presence: Summary
    people: list[Person] | None = Field(default=None, description="staff only")


class QueueReply(Payload):
    floor: Floor
    mine: Mine
    queue: Queue | None = Field(default=None, description="staff only")


class EntryReply(Payload):
    entry: Entry


class MovedReply(EntryReply):
    position: Int


class LoweredReply(Payload):
    lowered: Int


class SettingsReply(Payload):
    settings: QueueConfig


class EndedReply(EntryReply):
    end_reason: Text | None


class TimeReply(EntryReply):
    limit_seconds: Int | None
    extra_seconds: Int


class QuestionsReply(Payload):
    questions: PublicQuestions
    mine: MyQuestions
    moderation: StaffQuestions | None = Field(default=None, description="staff only")


class PremoderatedReply(Payload):
    premoderated: Bool


class OwnQuestionReply(Payload):
    question: OwnQuestion


class EditedReply(Payload):
    question: OwnQuestion | StaffQuestion = Field(description="the asker's view, or the staff's")


class VoteReply(Payload):
    question_id: Int
    votes: Int
    voted: Bool


class StaffQuestionReply(Payload):
    question: StaffQuestion


class ModerationReply(Payload):
    moderation: ModerationState


class ModerationSettingsReply(Payload):
    waiting_room: Bool
    rules: Rules
    admitted: list[Int]


class AdmissionReply(Payload):
    participant: Admission


class AdmittedReply(Payload):
    admitted: list[Int]


class BanReply(Payload):
    ban: Ban


class CaptionsReply(Payload):
    captions: RecentCaptions


class CaptionReply(Payload):
    caption: CaptionLine


class MediaConfigReply(Payload):
    ice_servers: list[IceServer]
    expires_at: Timestamp | None = Field(description="when the TURN credentials expire; null without TURN")
    channels: list[Text]
    on_air: list[Text] | None = Field(description="null when another process runs the relay")


class IceReply(Payload):
    resource_id: Text
    added: Bool


class StopReply(Payload):
    resource_id: Text
    stopped: Bool


class HelpMineReply(Payload):
    thread: HelpThreadMine


class HelpStaffReply(Payload):
    thread: HelpThreadStaff


class HelpThreadsReply(Payload):
    mine: list[HelpThreadMine] = Field(description="the caller's own threads, oldest first (attendees)")
    queue: list[HelpThreadStaff] | None = Field(
        default=None, description="the requests not yet closed, oldest first (AV technicians, moderators)"
    )


ACKS: dict[str, type[BaseModel]] = {
    "session:set_state": SessionReply,
    "presence:get": PresenceReply,
    "queue:get": QueueReply,
    "hand:raise": Mine,
    "hand:lower": Mine,
    "queue:add_in_room": EntryReply,
    "queue:move": MovedReply,
    "queue:remove": EntryReply,
    "queue:lower_all": LoweredReply,
    "queue:settings": SettingsReply,
    "floor:grant": EntryReply,
    "floor:end": EndedReply,
    "floor:time": TimeReply,
    "questions:get": QuestionsReply,
    "questions:settings": PremoderatedReply,
    "question:post": OwnQuestionReply,
    "question:edit": EditedReply,
    "question:withdraw": OwnQuestionReply,
    "question:vote": VoteReply,
    "question:unvote": VoteReply,
    "question:moderate": StaffQuestionReply,
    "question:merge": StaffQuestionReply,
    "question:relay": StaffQuestionReply,
    "moderation:get": ModerationReply,
    "moderation:settings": ModerationSettingsReply,
    "participant:admit": AdmissionReply,
    "participant:admit_all": AdmittedReply,
    "participant:remove": AdmissionReply,
    "participant:ban": BanReply,
    "participant:unban": BanReply,
    "participant:mute": AdmissionReply,
    "captions:get": CaptionsReply,
    "caption:post": CaptionReply,
    "media:config": MediaConfigReply,
    "media:publish": Answered,
    "media:subscribe": Answered,
    "media:channel": Resource,
    "media:ice": IceReply,
    "media:stop": StopReply,
    "media:health": HealthReply,
}
ACKS.update(
    {
        "help:open": HelpMineReply,
        "help:message": HelpMineReply,
        "help:reply": HelpStaffReply,
        "help:close": HelpStaffReply,
        "help:get": HelpThreadsReply,
    }
)


# -- interpretation booths (issue 21) ------------------------------------------------------------------

BoothLanguage = Literal["ar", "zh", "en", "fr", "ru", "es"]


class BoothMemberView(Payload):
    participant_id: Int
    name: Text


class BoothView(Payload):
    language: BoothLanguage
    on_air: Int | None = Field(description="the participant whose voice the channel carries, or null")
    on_air_name: Text | None
    since: Timestamp | None = Field(description="when they went on air")
    offered: Bool = Field(description="the one on air offers the handover: a partner may take")
    silenced: Bool = Field(description="the one on air holds the cough key: the channel carries silence")
    members: list[BoothMemberView] = Field(description="interpreters publishing in the booth now")


class BoothChanged(BoothView):
    session_id: Int


class FloorSpeakerView(Payload):
    name: Text
    language: Text | None


class BoothFloor(Payload):
    session_id: Int
    speaker: FloorSpeakerView | None = Field(description="who holds the floor, or null")
    language: Text | None = Field(description="the floor's language now")
    next: list[FloorSpeakerView] = Field(description="the next two in line, with their languages")
    stay_off_air: BoothLanguage | None = Field(
        description="the booth of the floor's own language: it stays off air, its listeners hear the floor"
    )


class SlowDownNotice(Payload):
    session_id: Int
    language: BoothLanguage
    from_: Text = Field(alias="from", description="the interpreter who sent it")
    entry_id: Int = Field(description="the intervention it is about")
    speaker: Text
    at: Timestamp


class BoothsReply(Payload):
    booths: list[BoothView]
    mine: list[BoothLanguage] = Field(description="the booths the caller's link works in")
    sign: bool = Field(description="whether the caller's link may publish the sign-language channel")
    floor: BoothFloor


class BoothReply(Payload):
    booth: BoothView


SERVER_EVENTS.update({"booth:state": BoothChanged, "booth:floor": BoothFloor, "booth:notice": SlowDownNotice})
ACKS.update(
    {
        "booth:get": BoothsReply,
        "booth:offer": BoothReply,
        "booth:take": BoothReply,
        "booth:cough": BoothReply,
        "booth:slow_down": SlowDownNotice,
    }
)


class Ok(Payload):
    ok: Literal[True]
    data: dict[str, Any]


class Refused(Payload):
    ok: Literal[False]
    error: ErrorBody


# -- live polls (issue 24) -----------------------------------------------------------------------------

PollKindName = Literal["single", "multiple", "rating", "text"]
PollStateName = Literal["draft", "open", "closed"]


class Word(Payload):
    word: Text = Field(description="the answers' common form: case folded, outer punctuation dropped")
    count: Int


class Tally(Payload):
    respondents: Int
    counts: list[Int] = Field(description="per option (choice polls) or per rating 1..5; [] for text polls")
    average: Float | None = Field(description="rating polls; null otherwise or without answers")
    words: list[Word] = Field(description="text polls: the most given answers first")


class GroupTally(Payload):
    name: Text = Field(description="a stakeholder group or an M49 region; `unspecified` when none")
    suppressed: Text | None = Field(description='"fewer than N" for a group too small to show; then no tally')
    tally: Tally | None


class PollResultsView(Payload):
    poll_id: Int
    total: Tally
    by_group: list[GroupTally]
    by_region: list[GroupTally]
    min_group: Int


class PollView(Payload):
    id: Int
    session_id: Int
    position: Int
    kind: PollKindName
    question: Text = Field(description="as the moderator typed it")
    options: list[Text]
    state: PollStateName
    results_shown: Bool
    opened_at: Timestamp | None
    closed_at: Timestamp | None


class PollWithResults(PollView):
    results: PollResultsView | None = Field(description="null to attendees until the moderator shows them")


class PollList(Payload):
    session_id: Int
    version: Int
    polls: list[PollWithResults]


class MyAnswer(Payload):
    poll_id: Int
    choices: list[Int]
    text: Text | None
    answered_at: Timestamp


class PollsReply(Payload):
    polls: PollList
    mine: list[MyAnswer]
    staff: PollList | None = Field(default=None, description="staff only: drafts too, and live results")


class PollReply(Payload):
    poll: PollView


class AnswerReply(Payload):
    answer: MyAnswer


SERVER_EVENTS.update({"polls:staff_changed": PollList, "polls:changed": PollList})
ACKS.update(
    {
        "polls:get": PollsReply,
        "poll:create": PollReply,
        "poll:edit": PollReply,
        "poll:delete": PollReply,
        "poll:open": PollReply,
        "poll:close": PollReply,
        "poll:results": PollReply,
        "poll:answer": AnswerReply,
    }
)


# -- statements sent in advance (issue 21) -------------------------------------------------------------


class StatementUploader(Payload):
    name: Text
    role: RoleName


class StatementView(Payload):
    id: Int
    session_id: Int
    entry_id: Int = Field(description="the request (queue entry) it belongs to")
    kind: Literal["pdf", "text"] = Field(description="what its bytes are, as checked by the server")
    name: Text = Field(description="the file's name, cleaned, ending in .pdf or .txt")
    size: Int = Field(description="in bytes")
    sha256: Text
    uploaded_at: Timestamp
    uploaded_by: StatementUploader
    speaker: Text = Field(description="the request's display name")


class StatementsReply(Payload):
    statements: list[StatementView] = Field(description="one per request that has one, by request id")
    max_bytes: Int = Field(description="the largest statement the server takes")


SERVER_EVENTS.update({"statement:attached": StatementView})
ACKS.update({"statements:get": StatementsReply})


# -- the check -----------------------------------------------------------------------------------------


class ContractError(AssertionError):
    """A payload the server was about to send does not match its model: a bug in the server or the model."""


class Contract:
    """Checks outgoing payloads against the models; off (None in SocketServer) unless asked for, so that a
    broadcast to thousands costs nothing more in production. Every mismatch is logged, kept in
    `mismatches` (tests read it) and raised, so that the emit fails where it was made."""

    def __init__(self) -> None:
        self.mismatches: list[str] = []
        # What was checked: event names, and "<client event> (ack)" for acknowledgements.
        self.seen: set[str] = set()

    def event(self, event: str, payload: Any) -> None:
        model = SERVER_EVENTS.get(event)
        if model is None:
            self._mismatch(f"{event!r} is not a server event of signaling/messages.py")
            return
        self._check(event, model.model_validate, payload)

    def ack(self, event: str, reply: Any) -> None:
        if isinstance(reply, dict) and reply.get("ok") is False:
            self._check(f"{event} (refused)", Refused.model_validate, reply)
            return
        self._check(f"{event} (ack)", Ok.model_validate, reply)
        model = ACKS.get(event)
        if model is None:
            self._mismatch(f"{event!r} has no acknowledgement model in signaling/messages.py")
            return
        self._check(f"{event} (ack)", model.model_validate, reply["data"])

    def _check(self, what: str, validate: Any, payload: Any) -> None:
        self.seen.add(what)
        try:
            validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            self._mismatch(f"{what}: {where}: {first['msg']} (got {first.get('input')!r:.200})")

    def _mismatch(self, message: str) -> None:
        self.mismatches.append(message)
        log.error("protocol mismatch: %s", message)
        raise ContractError(message)


SERVER_EVENTS.update({"recording": RecordingChanged})
ACKS.update(
    {
        "recording:start": RecordingReply,
        "recording:stop": RecordingReply,
        "recording:get": RecordingReply,
    }
)
