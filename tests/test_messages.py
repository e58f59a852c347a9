"""What the server sends matches signaling/messages.py: real clients through the main flows with every
message checked, and the check itself shown to catch a wrong payload."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.domain.roles import Role
from server.settings import Settings
from signaling import messages
from signaling.messages import ACKS, PROTOCOL_VERSION, SERVER_EVENTS, Contract, ContractError
from signaling.protocol import CLIENT_EVENTS

from .conftest import make_settings, run_app
from .helpers import Running

ROOT = Path(__file__).resolve().parent.parent

FLOOR = {
    "session_id": 1,
    "version": 3,
    "speaking": None,
    "timer": None,
    "next": [],
    "length": 0,
    "server_time": "2026-05-01T09:00:00Z",
}


def test_every_client_event_has_an_acknowledgement_model() -> None:
    assert set(ACKS) == set(CLIENT_EVENTS)


def test_every_event_the_server_emits_has_a_model() -> None:
    """Each `emit("<name>", ...)` in signaling/ names an event of the registry, and each of the registry's
    events is emitted somewhere: the registry is the list of what goes out."""
    emitted: set[str] = set()
    for path in (ROOT / "signaling").glob("*.py"):
        # Question deltas go through the hub's `_send_delta`, which adds who sent them.
        found = re.findall(r"""(?:\.emit|_send_delta)\(\s*["']([a-z:_]+)["']""", path.read_text())
        emitted |= set(found)
    assert emitted == set(SERVER_EVENTS)


def test_a_wrong_payload_is_caught() -> None:
    contract = Contract()
    contract.event("floor", FLOOR)
    with pytest.raises(ContractError, match="floor: length"):
        contract.event("floor", {**FLOOR, "length": "0"})
    with pytest.raises(ContractError, match="floor: extra"):
        contract.event("floor", {**FLOOR, "extra": 1})
    with pytest.raises(ContractError, match="server_time"):
        contract.event("floor", {key: value for key, value in FLOOR.items() if key != "server_time"})
    with pytest.raises(ContractError, match="not a server event"):
        contract.event("floor:changed", FLOOR)
    assert len(contract.mismatches) == 4


def test_a_wrong_acknowledgement_is_caught() -> None:
    contract = Contract()
    contract.ack("queue:lower_all", {"ok": True, "data": {"lowered": 2}})
    contract.ack("queue:lower_all", {"ok": False, "error": {"code": "forbidden", "message": "no"}})
    with pytest.raises(ContractError, match=r"queue:lower_all \(ack\): lowered"):
        contract.ack("queue:lower_all", {"ok": True, "data": {"lowered": True}})
    with pytest.raises(ContractError, match=r"\(refused\): error.message"):
        contract.ack("queue:lower_all", {"ok": False, "error": {"code": "forbidden"}})
    with pytest.raises(ContractError, match="ok"):
        contract.ack("queue:lower_all", {"data": {"lowered": 2}})
    assert len(contract.mismatches) == 3


def test_production_does_not_check(tmp_path: Path) -> None:
    assert Settings.from_env({}).check_messages is False
    assert Settings.from_env({"HEMICYCLE_CHECK_MESSAGES": "on"}).check_messages is True
    assert messages.PROTOCOL_VERSION == 1


async def test_main_flows_match_the_contract(tmp_path: Path) -> None:
    """Every message of the queue, the floor, questions, captions, the help desk, moderation, presence and
    media configuration, and errors, as real clients get them: `run_app` fails on any mismatch."""
    async for hemicycle in run_app(make_settings(tmp_path, check_messages=True)):
        contract = _contract(hemicycle)
        await _flows(hemicycle)
        assert not contract.mismatches
        # Booth changes and notices need an interpreter's microphone in the booth: tests/test_booths.py's
        # flows (with real aiortc publishers) check them against the same models.
        in_booth = {"booth:offer", "booth:take", "booth:cough", "booth:slow_down"}
        expected_events = set(SERVER_EVENTS) - {
            "media:stopped",
            "media:health",
            "media:channels",
            "booth:state",
            "booth:notice",
        }
        assert expected_events <= contract.seen, expected_events - contract.seen
        acked = {name.removesuffix(" (ack)") for name in contract.seen if name.endswith(" (ack)")}
        untried = {"media:publish", "media:subscribe", "media:channel", "media:ice", "media:stop", *in_booth}
        assert set(CLIENT_EVENTS) - untried <= acked, set(CLIENT_EVENTS) - untried - acked


def _contract(hemicycle: Running) -> Contract:
    hub: Any = hemicycle.core.notifier
    contract = hub.sio.contract
    assert isinstance(contract, Contract)
    return contract


async def _ok(client: Any, event: str, payload: Any = None) -> Any:
    reply = await client.call(event, payload)
    assert reply["ok"], (event, reply)
    return reply["data"]


async def _flows(hemicycle: Running) -> None:
    moderator = await hemicycle.join(await hemicycle.staff_token(Role.MODERATOR))
    chair = await hemicycle.join(await hemicycle.staff_token(Role.CHAIR))
    captioner = await hemicycle.join(await hemicycle.staff_token(Role.CAPTIONER))
    admin = await hemicycle.join(await hemicycle.staff_token(Role.ADMIN))
    asker_token = (await hemicycle.register(display_name="Amina Diallo"))["token"]
    asker = await hemicycle.join(asker_token)
    voter_reg = await hemicycle.register(display_name="Li Wei", stakeholder_group="civil_society")
    voter = await hemicycle.join(voter_reg["token"])
    assert asker.last("welcome")["protocol"] == PROTOCOL_VERSION
    await _ok(moderator, "presence:get")
    await _ok(asker, "presence:get")
    await moderator.wait_for("presence:people")

    # The queue and the floor.
    mine = await _ok(asker, "hand:raise", {"type": "statement", "language": "en"})
    await _ok(voter, "hand:raise", {"type": "question", "language": "en"})
    await _ok(voter, "hand:lower", {})
    await _ok(voter, "hand:raise", {"type": "right_of_reply", "language": "en"})
    in_room = await _ok(
        chair,
        "queue:add_in_room",
        {"display_name": "Delegate", "stakeholder_group": "government", "language": "en"},
    )
    await _ok(moderator, "queue:move", {"entry_id": in_room["entry"]["id"], "to": "top"})
    await _ok(moderator, "queue:remove", {"entry_id": in_room["entry"]["id"], "reason": "left the room"})
    await _ok(moderator, "queue:settings", {"auto_end": False, "default_speaking_seconds": 120})
    await _ok(moderator, "queue:get")
    await _ok(asker, "queue:get")
    entry_id = mine["entry"]["id"]
    await _ok(moderator, "floor:grant", {"entry_id": entry_id, "limit_seconds": 60})
    await _ok(moderator, "floor:time", {"entry_id": entry_id, "add_seconds": 30})
    refused = await asker.call("hand:lower", {})
    assert refused["error"]["code"] == "has_floor"
    await asker.wait_for("error", lambda e: e["event"] == "hand:lower")
    await _ok(asker, "floor:end", {"entry_id": entry_id})
    await _ok(moderator, "queue:lower_all", {"reason": "time is up"})
    await asker.wait_for("queue:mine", lambda m: m["last"] is not None)
    await voter.wait_for("queue:line")
    await moderator.wait_for("queue", lambda q: not q["queue"])

    # Questions: posted, approved, voted for, relayed, fixed, listed.
    posted = await _ok(asker, "question:post", {"text": "What about rural access?", "to": "the panel"})
    question_id = posted["question"]["id"]
    await _ok(asker, "question:edit", {"question_id": question_id, "text": "What about rural broadband?"})
    second = await _ok(voter, "question:post", {"text": "And schools?", "anonymous": True})
    await _ok(voter, "question:withdraw", {"question_id": second["question"]["id"]})
    duplicate = await _ok(voter, "question:post", {"text": "Rural broadband?"})
    await _ok(moderator, "question:moderate", {"question_id": question_id, "action": "approve"})
    await _ok(moderator, "question:moderate", {"question_id": question_id, "action": "star"})
    await _ok(
        moderator, "question:merge", {"question_id": duplicate["question"]["id"], "into_id": question_id}
    )
    # The duplicate's asker's interest moved to the target with the merge: a vote, taken back and given.
    await _ok(voter, "question:unvote", {"question_id": question_id})
    await _ok(voter, "question:vote", {"question_id": question_id})
    await _ok(
        moderator, "question:edit", {"question_id": question_id, "text": "What about rural broadband access?"}
    )
    await _ok(moderator, "question:relay", {"question_id": question_id, "stage": "forwarded"})
    await _ok(chair, "question:relay", {"question_id": question_id, "stage": "read"})
    await _ok(moderator, "questions:settings", {"premoderated": False})
    await _ok(moderator, "questions:get")
    await _ok(voter, "questions:get")
    await voter.wait_questions(lambda view: any(q["votes"] == 1 for q in view["questions"]))
    await moderator.wait_for("questions:staff_changed", lambda d: d["counts"]["read_aloud"] == 1)
    await asker.wait_for("questions:mine")

    # Captions.
    await _ok(captioner, "caption:post", {"language": "floor", "text": "Good morning, all."})
    await _ok(asker, "captions:get")
    await asker.wait_for("caption")

    # The help desk.
    opened = await _ok(
        voter,
        "help:open",
        {
            "category": "no_sound",
            "language": "fr",
            "text": "",
            "figures": {"rtt_ms": 80, "browser": "Chrome"},
        },
    )
    help_id = opened["thread"]["id"]
    await _ok(voter, "help:message", {"thread_id": help_id, "text": "Nothing on the floor channel"})
    await _ok(moderator, "help:reply", {"thread_id": help_id, "answer": "check_channel"})
    await _ok(moderator, "help:get")
    await _ok(voter, "help:get")
    await _ok(moderator, "help:close", {"thread_id": help_id})
    await voter.wait_for("help:mine", lambda thread: thread["state"] == "closed")
    await moderator.wait_for("help:staff", lambda thread: thread["state"] == "closed")
    # Live polls (issue 24): prepared, edited, one deleted, opened, answered, shown, closed.
    poll = (await _ok(moderator, "poll:create", {"kind": "single", "question": "Q", "options": ["a", "b"]}))[
        "poll"
    ]
    spare = (await _ok(moderator, "poll:create", {"kind": "text", "question": "Spare"}))["poll"]
    await _ok(moderator, "poll:delete", {"poll_id": spare["id"]})
    await _ok(moderator, "poll:edit", {"poll_id": poll["id"], "kind": "rating", "question": "How was it?"})
    await _ok(moderator, "poll:open", {"poll_id": poll["id"]})
    await _ok(voter, "poll:answer", {"poll_id": poll["id"], "rating": 4})
    await _ok(moderator, "poll:results", {"poll_id": poll["id"], "shown": True})
    await _ok(asker, "polls:get")
    await _ok(moderator, "polls:get")
    await asker.wait_for("polls:changed", lambda d: d["polls"] and d["polls"][0]["results"] is not None)
    await moderator.wait_for("polls:staff_changed")
    await _ok(moderator, "poll:close", {"poll_id": poll["id"]})

    # Recording (issue 22): started with nothing on air (it waits), read, stopped.
    await _ok(moderator, "recording:start")
    await asker.wait_for("recording", lambda d: d["recording"]["state"] == "recording")
    await _ok(asker, "recording:get")
    await _ok(moderator, "recording:stop")
    # Statements in advance (issue 21): attached over HTTP, told to the captioner, listed.
    asker_hand = await _ok(asker, "hand:raise", {"type": "statement", "language": "fr"})
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{hemicycle.url}/api/sessions/{hemicycle.live_session}/queue/{asker_hand['entry']['id']}/statement",
            data="Madame la Présidente,\n".encode(),
            headers={"Authorization": f"Bearer {asker_token}"},
        ) as response,
    ):
        assert response.status == 201, await response.text()
    await captioner.wait_for("statement:attached")
    await _ok(captioner, "statements:get")

    # Media: configuration and the health report (publishing is tests/test_media_signaling.py's).
    await _ok(asker, "media:config")
    await _ok(asker, "media:health", {})
    await _ok(moderator, "media:health", {})
    # Booths: the state and the floor as a booth sees it (changes: tests/test_booths.py).
    await _ok(chair, "booth:get")

    # Moderating participants: the waiting room, mute, remove, ban.
    await _ok(moderator, "moderation:get")
    await _ok(moderator, "moderation:settings", {"waiting_room": True})
    newcomer = hemicycle.client()
    await newcomer.connect(
        (await hemicycle.register(display_name="Newcomer"))["token"], hemicycle.live_session
    )
    waiting = await newcomer.wait_for("waiting")
    state = await moderator.wait_for(
        "moderation", lambda m: any(p["id"] == waiting["me"]["id"] for p in m["waiting"])
    )
    version = next(p["version"] for p in state["waiting"] if p["id"] == waiting["me"]["id"])
    await _ok(moderator, "participant:admit", {"participant_id": waiting["me"]["id"], "version": version})
    await newcomer.wait_for("moderation:admitted")
    await newcomer.wait_for("welcome")
    latecomer = hemicycle.client()
    await latecomer.connect(
        (await hemicycle.register(display_name="Latecomer"))["token"], hemicycle.live_session
    )
    await latecomer.wait_for("waiting")
    await _ok(moderator, "participant:admit_all", {})
    await latecomer.wait_for("welcome")
    voter_id = voter_reg["participant"]["id"]
    await _ok(moderator, "participant:mute", {"participant_id": voter_id, "audio": True, "reason": "noise"})
    await voter.wait_for("moderation:muted")
    await _ok(moderator, "participant:remove", {"participant_id": voter_id, "reason": "disruptive"})
    await voter.wait_for("moderation:removed")
    await _ok(moderator, "participant:ban", {"participant_id": voter_id, "reason": "disruptive"})
    await _ok(moderator, "participant:unban", {"participant_id": voter_id})
    await _ok(moderator, "moderation:settings", {"waiting_room": False})

    # The session's state, last: ending it ends what goes on in it.
    await _ok(admin, "session:set_state", {"state": "ended"})
    await asker.wait_for("session:state")
