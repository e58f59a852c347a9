"""The composition root: the use cases built once, their notifiers wired to the real-time adapter, and
everything the adapters read stored under typed keys (server/keys.py).

Dependencies point one way: domain <- use cases <- adapters <- this module (tests/test_imports.py checks it).
Only this module and the application factory (server/app.py) know every part.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from signaling.hub import Hub

from .archive import Archive
from .captions import Captions
from .db.snapshot_store import SnapshotStore
from .db.store import Store
from .desk import QuestionDesk
from .domain.captions import RECENT_LINES
from .floor import Floor
from .helpdesk import HelpDesk
from .keys import (
    ARCHIVE_KEY,
    CAPTIONS_KEY,
    CORE_KEY,
    DESK_KEY,
    FLOOR_KEY,
    HUB_KEY,
    LIMITS_KEY,
    MEDIA_KEY,
    MODERATION_KEY,
    RECORDINGS_KEY,
    REPORTS_KEY,
    SETTINGS_KEY,
    STATEMENTS_KEY,
)
from .limits import Limits
from .media.service import MediaService
from .moderation import ParticipantModeration
from .polls import Polls
from .recording.service import Recordings
from .reports import Reports
from .service import Hemicycle
from .settings import Settings
from .standing import StandingChecks
from .statements import Statements
from .tokens import TokenService
from .usecases import UseCases


def build_use_cases(settings: Settings, engine: AsyncEngine, clock: Callable[[], datetime]) -> UseCases:
    """Every use case of the process, each built once, and how they use one another."""
    core = Hemicycle(settings, Store(engine, clock), TokenService(settings.secret, clock))
    floor = Floor(core)
    media = MediaService(core, floor.state)
    # The relay follows the floor: a grant or an end reaches it at once.
    floor.listeners.append(media)
    moderation = ParticipantModeration(core, floor)
    # Moderation is enforced on media server-side: a mute or a removal decided here reaches this
    # process's relay at once, and the process that runs a session's relay re-reads the stored mutes
    # when someone publishes and on each reconcile (a decision taken on another process).
    moderation.attach_media(media)
    media.muted_in = moderation.muted_in
    # Media follows the waiting room too: WHIP, WHEP, ICE and media:* refuse whom the gate would hold.
    media.entry = moderation.require_admitted
    limits = Limits(settings)
    standing = StandingChecks(core.store)
    # The help desk (issue 24): someone removed, banned, still waiting or whose link was withdrawn cannot
    # ask, whatever the adapter; refused with their standing's code.
    help_desk = HelpDesk(core, limits)
    help_desk.entry = lambda principal, session: standing.check(principal, session.id)
    # A public archive (issue 22) is refused to whom the session's gate would refuse.
    archive = Archive(core)
    archive.entry = moderation.require_admitted
    archive.attendee_entry = moderation.require_attendee_admitted
    # Statements (issue 21): likewise, someone removed, banned or whose link was withdrawn attaches nothing.
    statements = Statements(core, limits)
    statements.entry = lambda principal, session: standing.check(principal, session.id)
    desk, captions, recordings = QuestionDesk(core), Captions(core), Recordings(core, media)
    return UseCases(
        core=core,
        floor=floor,
        desk=desk,
        standing=standing,
        moderation=moderation,
        captions=captions,
        media=media,
        reports=Reports(core),
        limits=limits,
        help=help_desk,
        polls=Polls(core),
        recordings=recordings,
        archive=archive,
        statements=statements,
        snapshots=SnapshotStore(
            core.store,
            floor.queue,
            desk.store,
            captions.store,
            recordings.store,
            RECENT_LINES,
            per_participant=settings.connections_per_participant,
            live_within=core.presence_ttl,
        ),
    )


def build_hub(use_cases: UseCases, settings: Settings) -> Hub:
    """The Socket.IO adapter over the use cases, and the use cases' notifiers pointed at it."""
    hub = Hub(use_cases, settings.redis_url, settings.redis_channel)
    use_cases.core.notifier = hub
    use_cases.media.notifier = hub.media
    use_cases.media.booths.notifier = hub.booths
    use_cases.moderation.notifier = hub.moderation
    use_cases.captions.notifier = hub.captions
    use_cases.help.notifier = hub.help
    use_cases.polls.notifier = hub.polls
    use_cases.recordings.notifier = hub.recording
    use_cases.statements.notifier = hub.statements
    return hub


def provide(app: web.Application, settings: Settings, use_cases: UseCases, hub: Hub) -> None:
    """What the HTTP adapters read, under its typed key."""
    app[SETTINGS_KEY] = settings
    app[CORE_KEY] = use_cases.core
    app[FLOOR_KEY] = use_cases.floor
    app[DESK_KEY] = use_cases.desk
    app[MODERATION_KEY] = use_cases.moderation
    app[CAPTIONS_KEY] = use_cases.captions
    app[MEDIA_KEY] = use_cases.media
    app[LIMITS_KEY] = use_cases.limits
    app[REPORTS_KEY] = use_cases.reports
    app[RECORDINGS_KEY] = use_cases.recordings
    app[ARCHIVE_KEY] = use_cases.archive
    app[STATEMENTS_KEY] = use_cases.statements
    app[HUB_KEY] = hub
