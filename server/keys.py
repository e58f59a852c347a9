"""Typed keys for what the application shares: no module-level globals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from signaling.hub import Hub

    from .reports import Reports
    from .service import Hemicycle
    from .settings import Settings

SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("settings")
CORE_KEY: web.AppKey[Hemicycle] = web.AppKey("core")
HUB_KEY: web.AppKey[Hub] = web.AppKey("hub")
REPORTS_KEY: web.AppKey[Reports] = web.AppKey("reports")
WEB_DIR_KEY: web.AppKey[Path] = web.AppKey("web_dir", Path)
