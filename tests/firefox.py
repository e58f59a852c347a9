"""Firefox in tests: Debian's ``firefox-esr``, headless, with fake camera and microphone, driven through
Marionette (Firefox's own remote protocol, with Mozilla's ``marionette-driver`` client).

The client is blocking and the server under test runs on the test's event loop, so every call goes through
a thread. One ``Firefox`` is one browser with one tab and a throwaway profile."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from .helpers import die_with_parent

# Fake devices without a prompt; and nothing that calls out to Mozilla's services (updates, telemetry,
# captive portal and connectivity checks, safe browsing, remote settings, add-ons, codec plugins,
# studies, push, geolocation): CI's closed network would refuse them, and a test must not depend on them.
PREFS: dict[str, Any] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "app.normandy.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.server": "",
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    # Honoured by a release build only with MOZ_REMOTE_SETTINGS_DEVTOOLS set (see `launch`).
    "services.settings.server": "http://127.0.0.1:9/",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "media.gmp-manager.url": "http://127.0.0.1:9/",
    "media.gmp-manager.updateEnabled": False,
    "dom.push.connection.enabled": False,
    "geo.provider.network.url": "",
    "browser.region.network.url": "",
    "browser.search.update": False,
    "browser.newtabpage.enabled": False,
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.shell.checkDefaultBrowser": False,
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.firstRunURL": "",
    "startup.homepage_welcome_url": "about:blank",
    # Whatever else would go out goes to a closed local port instead, without a DNS lookup; pages on
    # localhost and WebRTC never use the proxy.
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.socks_remote_dns": True,
}

# The element whose data-testid is the script's first argument.
_BY_TESTID = 'document.querySelector(`[data-testid="${arguments[0]}"]`)'

# Script errors of the page, collected from the moment `goto` returns (read with `errors()`).
_CATCH_ERRORS = """
if (!window.__errors) {
  window.__errors = [];
  window.addEventListener('error', (e) => window.__errors.push(String(e.message)));
  window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)));
}
"""


class Firefox:
    """A headless Firefox with one tab; every method is a coroutine that waits for the browser."""

    def __init__(self, process: subprocess.Popen[bytes], client: Any, profile: Path) -> None:
        self._process = process
        self._client = client
        self._profile = profile

    @classmethod
    async def launch(cls, path: str, timeout: float = 60.0) -> Firefox:
        profile = Path(tempfile.mkdtemp(prefix="hemicycle-firefox-"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        prefs = {**PREFS, "marionette.port": port}
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())
        )
        # Its own process group, so that stopping it stops its content processes too.
        with (profile / "firefox.log").open("wb") as log:
            process = subprocess.Popen(
                [path, "--headless", "--marionette", "--no-remote", "--profile", str(profile)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
                env={**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1", "MOZ_REMOTE_SETTINGS_DEVTOOLS": "1"},
            )

        with warnings.catch_warnings():
            # Its dependencies (mozinfo, mozrunner) use deprecated standard modules; imported only here,
            # so that runs without Firefox do not load them.
            warnings.simplefilter("ignore", DeprecationWarning)
            from marionette_driver.marionette import Marionette

        def connect() -> Any:
            # Wait for the port here: marionette-driver's own wait leaks a socket per refused attempt.
            deadline = time.monotonic() + timeout
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.1)
            client = Marionette(host="127.0.0.1", port=port, startup_timeout=int(timeout))
            client.start_session()
            client.timeout.page_load = timeout
            return client

        try:
            client = await asyncio.to_thread(connect)
        except Exception as exc:
            _stop(process)
            tail = (profile / "firefox.log").read_text(errors="replace")[-2000:]
            shutil.rmtree(profile, ignore_errors=True)
            raise RuntimeError(f"Firefox did not start: {exc}\n{tail}") from None
        return cls(process, client, profile)

    async def close(self) -> None:
        # The browser is stopped below whatever state its session is in.
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._client.delete_session)
        await asyncio.to_thread(_stop, self._process)
        shutil.rmtree(self._profile, ignore_errors=True)

    async def resize(self, width: int, height: int) -> None:
        """Make the page's viewport ``width`` x ``height`` CSS pixels (the window around it may be larger)."""
        inner = await self.js("return [window.innerWidth, window.innerHeight];")
        rect = await asyncio.to_thread(lambda: self._client.window_rect)
        await asyncio.to_thread(
            self._client.set_window_rect,
            width=rect["width"] + width - inner[0],
            height=rect["height"] + height - inner[1],
        )

    async def goto(self, url: str) -> None:
        await asyncio.to_thread(self._client.navigate, url)
        await self.js(_CATCH_ERRORS)

    async def js(self, script: str, *args: Any) -> Any:
        """Run ``script`` as a function body in the page; ``arguments`` holds ``args``."""
        return await asyncio.to_thread(self._client.execute_script, script, script_args=list(args))

    async def wait_for(self, script: str, *args: Any, timeout: float = 20.0, what: str = "") -> Any:
        """Poll ``script`` (a function body) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(script, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"Firefox: timed out waiting for {what or script}")
            await asyncio.sleep(0.1)

    async def click(self, testid: str) -> None:
        """A real click (user activation, as a person's: needed to play sound)."""

        from marionette_driver.by import By

        def click() -> None:
            self._client.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').click()

        await asyncio.to_thread(click)

    async def fill(self, selector: str, value: str) -> None:
        """Set a form field's value as typing or picking would, with its input and change events."""
        await self.js(
            """const field = document.querySelector(arguments[0]);
            field.value = arguments[1];
            field.dispatchEvent(new Event('input', {bubbles: true}));
            field.dispatchEvent(new Event('change', {bubbles: true}));""",
            selector,
            value,
        )

    async def state(self, testid: str) -> str | None:
        state: str | None = await self.js(f"const n = {_BY_TESTID}; return n && n.dataset.state;", testid)
        return state

    async def wait_state(self, testid: str, state: str, timeout: float = 20.0) -> None:
        try:
            await self.wait_for(
                f"const n = {_BY_TESTID}; return !!n && n.dataset.state === arguments[1];",
                testid,
                state,
                timeout=timeout,
                what=f"{testid} to be {state}",
            )
        except AssertionError:
            text = await self.js(f"const n = {_BY_TESTID}; return n && n.textContent;", testid)
            now = await self.state(testid)
            raise AssertionError(f"Firefox: {testid} is {now!r} ({text!r}), not {state}") from None

    async def wait_connected(self) -> None:
        """Until the page says it is connected to the session."""
        state = "document.querySelector('[data-testid=\"connection-state\"]').textContent"
        await self.wait_for(f"return /connected/i.test({state})", what="the page to connect")

    async def errors(self) -> list[str]:
        found: list[str] = await self.js("return window.__errors || [];")
        return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop Firefox and the content processes it started (its own process group)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
