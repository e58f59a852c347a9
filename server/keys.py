"""Typed keys for what the application shares: no module-level globals.

The composition root (server/wiring.py) stores the use cases under these keys; the HTTP adapters read them.
Nothing here names an adapter: the Socket.IO side is seen only through the small `Realtime` interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from .archive import Archive
    from .captions import Captions
    from .desk import QuestionDesk
    from .floor import Floor
    from .limits import Limits
    from .media.service import MediaService
    from .moderation import ParticipantModeration
    from .recording.service import Recordings
    from .reports import Reports
    from .service import Hemicycle
    from .settings import Settings
    from .statements import Statements


class Realtime(Protocol):
    """What the HTTP side and the serving process ask of the real-time adapter (signaling.hub.Hub)."""

    def idle(self) -> bool:
        """No Socket.IO connection on this process."""
        ...

    async def dependencies(self) -> dict[str, bool]:
        """Whether the database, and Redis when configured, answer now."""
        ...


SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("settings")
CORE_KEY: web.AppKey[Hemicycle] = web.AppKey("core")
FLOOR_KEY: web.AppKey[Floor] = web.AppKey("floor")
DESK_KEY: web.AppKey[QuestionDesk] = web.AppKey("desk")
MODERATION_KEY: web.AppKey[ParticipantModeration] = web.AppKey("moderation")
CAPTIONS_KEY: web.AppKey[Captions] = web.AppKey("captions")
MEDIA_KEY: web.AppKey[MediaService] = web.AppKey("media")
LIMITS_KEY: web.AppKey[Limits] = web.AppKey("limits")
REPORTS_KEY: web.AppKey[Reports] = web.AppKey("reports")
RECORDINGS_KEY: web.AppKey[Recordings] = web.AppKey("recordings")
HUB_KEY: web.AppKey[Realtime] = web.AppKey("hub")
ARCHIVE_KEY: web.AppKey[Archive] = web.AppKey("archive")
STATEMENTS_KEY: web.AppKey[Statements] = web.AppKey("statements")
WEB_DIR_KEY: web.AppKey[Path] = web.AppKey("web_dir", Path)
