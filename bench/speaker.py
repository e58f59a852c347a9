"""How long a remote speaker waits to be heard: from "Turn on my microphone" on the attendee's page to the AV
desk showing them live, in Chromium on loopback (fake camera and microphone), and where the time goes.

    python -m bench.speaker                      # 5 turns
    python -m bench.speaker --turns 10 --chromium /usr/bin/chromium

One process: Hemicycle in it (SQLite in a temporary directory, the demo event), a Chromium with the AV desk's
page (subscribed to the speaker source, as it is from the moment it connects) and, for each turn, a new
attendee who registers, raises a hand and is given the floor by a moderator (a Socket.IO client). Then the
bench clicks the attendee's "Turn on my microphone" and reads the clocks of both pages (the same machine, so
the same wall clock) at each step:

- **microphone**: getUserMedia resolved (the fake device: no prompt to wait for);
- **offer**: the offer set as the local description;
- **gathered**: ICE gathering done (or given up) and the offer sent to the relay;
- **answered**: the relay's answer set as the remote description;
- **connected**: the speaker's peer connection connected;
- **desk sound**: the AV desk's speaker track unmuted (the first packets arrived);
- **desk live**: the desk's "Live in the room" line shows the speaker (`data-state="live"`).

Each step is printed as milliseconds after the click, per turn, with the median. Nothing is asserted: the
figures are printed (bench/README.md records them). tests/test_media_browser.py prints the same total.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp import web
from playwright.async_api import Page, async_playwright

from server.app import create_app
from server.demo import seed_demo
from server.domain.roles import Role
from server.domain.sessions import SessionState
from server.keys import CORE_KEY
from server.settings import Settings

# Chromium with a synthetic camera and microphone and no permission prompt (the tests launch it the same way).
# --no-sandbox: run as root (CI), where Chromium's sandbox refuses to start. --disable-background-networking
# and the last three keep Chromium from calling Google's services, which a closed network refuses.
CHROMIUM_ARGS: list[str] = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Both pages note, on the page's wall clock (Date.now()), when each step happened: the script wraps the
# browser's RTCPeerConnection and getUserMedia before any page module runs.
PROBE = """(() => {
  const marks = (window.__marks = {});
  const mark = (name) => { if (!(name in marks)) marks[name] = Date.now(); };
  window.__mark = mark;
  const Peer = window.RTCPeerConnection;
  // Steps of a publishing connection (one that sends a track); the desk's viewing one notes its sound.
  window.RTCPeerConnection = class extends Peer {
    constructor(...args) {
      super(...args);
      this.addEventListener('icegatheringstatechange', () => {
        if (this.iceGatheringState === 'complete' && this.sending) mark('gathering complete');
      });
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'connected' && this.sending) mark('connected');
      });
      this.addEventListener('track', (event) => {
        if (event.track.kind !== 'audio') return;
        const heard = () => mark('desk sound');
        if (!event.track.muted) heard();
        event.track.addEventListener('unmute', heard);
      });
    }
    addTransceiver(what, ...rest) {
      if (typeof what !== 'string') this.sending = true;
      return super.addTransceiver(what, ...rest);
    }
    async setLocalDescription(...args) {
      const result = await super.setLocalDescription(...args);
      if (this.sending) mark('offer');
      return result;
    }
    async setRemoteDescription(...args) {
      const result = await super.setRemoteDescription(...args);
      if (this.sending) mark('answered');
      return result;
    }
  };
  const devices = navigator.mediaDevices;
  if (devices) {
    const getUserMedia = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (...args) => {
      const stream = await getUserMedia(...args);
      mark('microphone');
      return stream;
    };
  }
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === 'string' && data.includes('"media:publish"')) mark('offer sent');
    return send.call(this, data);
  };
})();"""

SPEAKER_STEPS = ("microphone", "offer", "gathering complete", "offer sent", "answered", "connected")
STEPS = (*SPEAKER_STEPS, "desk sound", "desk live")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def staff_token(app: web.Application, event_id: int, session_id: int, role: Role) -> str:
    core = app[CORE_KEY]
    person, grant = await core.store.staff_grant(event_id, session_id, role)
    token, _ = core.tokens.issue(
        grant_id=grant,
        participant_id=person.id,
        role=role,
        event_id=event_id,
        session_id=session_id,
        ttl=timedelta(hours=2),
    )
    return token


async def desk_live_at(desk: Page, name: str) -> None:
    """Note on the desk's clock when its "live" line shows `name` (a MutationObserver: no polling delay)."""
    await desk.evaluate(
        """(name) => {
          delete window.__marks['desk sound'];
          delete window.__marks['desk live'];
          const line = document.querySelector('[data-testid="av-live"]');
          const check = () => {
            if (line.dataset.state === 'live' && line.dataset.name === name) window.__mark('desk live');
          };
          new MutationObserver(check).observe(line, { attributes: true });
          check();
        }""",
        name,
    )


async def one_turn(
    browser: Any,
    url: str,
    event_id: int,
    session_id: int,
    moderator: socketio.AsyncClient,
    desk: Page,
    turn: int,
) -> dict[str, float]:
    name = f"Bench speaker {turn}"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/api/events/{event_id}/participants",
            json={
                "display_name": name,
                "affiliation": "Bench",
                "stakeholder_group": "civil_society",
                "country": "KE",
            },
        ) as response,
    ):
        token = (await response.json())["token"]
    context = await browser.new_context()
    await context.add_init_script(PROBE)
    page = await context.new_page()
    try:
        await page.goto(f"{url}/s/{session_id}#token={token}")
        await page.get_by_test_id("raise-hand").wait_for(state="visible", timeout=20_000)
        await page.get_by_label("Language you will speak").select_option("en")
        await page.get_by_test_id("raise-hand").click()
        await page.get_by_test_id("lower-hand").wait_for(state="visible", timeout=10_000)
        queue = (await moderator.call("queue:get", {}))["data"]["queue"]["queue"]
        entry = next(e for e in queue if e["display_name"] == name)
        granted = await moderator.call("floor:grant", {"entry_id": entry["id"]})
        assert granted["ok"], granted
        await page.get_by_test_id("media-speak").wait_for(state="visible", timeout=10_000)
        await desk_live_at(desk, name)
        await page.evaluate("() => { for (const step in window.__marks) delete window.__marks[step]; }")
        clicked = await page.evaluate(
            """() => {
              const at = Date.now();
              document.querySelector('[data-testid="media-speak"]').click();
              return at;
            }"""
        )
        await desk.wait_for_function("() => 'desk live' in window.__marks", timeout=30_000)
        marks: dict[str, float] = {
            **await page.evaluate("() => window.__marks"),
            **await desk.evaluate(
                "() => ({'desk sound': window.__marks['desk sound'],"
                " 'desk live': window.__marks['desk live']})"
            ),
        }
        await moderator.call("floor:end", {"entry_id": entry["id"]})
        return {step: marks[step] - clicked for step in STEPS if marks.get(step) is not None}
    finally:
        await context.close()


async def run(opts: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="hemicycle-speaker-bench-"))
    settings = Settings(
        secret="bench-" + "x" * 40,
        data_dir=data_dir,
        waiting_room="off",
        registrations_per_address=10_000,
        registrations_per_browser=10_000,
        log_level="WARNING",
    )
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    moderator = socketio.AsyncClient()
    try:
        core = app[CORE_KEY]
        event = await seed_demo(core.store)
        live = next(s.id for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
        av_token = await staff_token(app, event.id, live, Role.AV)
        moderator_token = await staff_token(app, event.id, live, Role.MODERATOR)
        await moderator.connect(
            url, auth={"token": moderator_token, "session_id": live}, transports=["websocket"]
        )
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=opts.chromium, args=CHROMIUM_ARGS)
            desk_context = await browser.new_context()
            await desk_context.add_init_script(PROBE)
            desk = await desk_context.new_page()
            await desk.goto(f"{url}/s/{live}/av#token={av_token}")
            await desk.get_by_test_id("av-speaker-state").wait_for(state="attached", timeout=20_000)
            await desk.wait_for_function(
                "() => document.querySelector('[data-testid=connection-state]').dataset.state === 'connected'"
            )
            turns = []
            for turn in range(opts.turns):
                turns.append(await one_turn(browser, url, event.id, live, moderator, desk, turn))
                print(
                    f"turn {turn + 1}: "
                    + ", ".join(f"{s} {turns[-1][s]:.0f}" for s in STEPS if s in turns[-1])
                )
            await browser.close()
        print()
        print(
            f"{'step (ms after the click)':<28}"
            + "".join(f"{'#' + str(i + 1):>7}" for i in range(len(turns)))
            + f"{'median':>8}"
        )
        for step in STEPS:
            values = [t.get(step) for t in turns]
            known = [v for v in values if v is not None]
            cells = "".join(f"{v:>7.0f}" if v is not None else f"{'—':>7}" for v in values)
            median = f"{statistics.median(known):>8.0f}" if known else f"{'—':>8}"
            print(f"{step:<28}{cells}{median}")
        return 0
    finally:
        if moderator.connected:
            await moderator.disconnect()
        await runner.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=5, help="speakers measured, one after another")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    opts = parser.parse_args(argv)
    if not opts.chromium:
        parser.error("no Chromium found: give --chromium")
    started = time.monotonic()
    code = asyncio.run(run(opts))
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
