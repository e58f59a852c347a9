"""Questions over real sockets: post, vote, moderate, merge, relay to the chair, export, and refusals."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from server.db import models
from server.domain.roles import Role

from .conftest import make_settings, run_app
from .helpers import Client, Running


async def attendee(running: Running, name: str = "Amina Diallo", **fields: Any) -> Client:
    return await running.join((await running.register(display_name=name, **fields))["token"])


async def staff(running: Running, role: Role) -> Client:
    return await running.join(await running.staff_token(role))


async def count(running: Running, table: Any) -> int:
    async with running.core.store.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def test_premoderated_question_reaches_the_room(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    chair = await staff(hemicycle, Role.CHAIR)
    display = await staff(hemicycle, Role.DISPLAY)
    asker = await attendee(hemicycle, "Nadia Haddad", stakeholder_group="civil_society", country="LB")
    other = await attendee(hemicycle, "Other")

    posted = await asker.call(
        "question:post", {"text": "  How will the\nWSIS  action lines be measured? ", "to": "the panel"}
    )
    assert posted["ok"], posted
    question = posted["data"]["question"]
    assert (
        question["state"] == "pending" and question["text"] == "How will the WSIS action lines be measured?"
    )
    qid = question["id"]

    pending = await moderator.wait_moderation(lambda v: any(q["id"] == qid for q in v["questions"]))
    assert pending["counts"]["asked"] == 1 and pending["counts"]["pending"] == 1
    assert not other.received("questions:changed"), "pending stays hidden, even its id"
    await asker.wait_for(
        "questions:mine", lambda v: v["questions"] and v["questions"][0]["state"] == "pending"
    )

    assert (await moderator.call("question:moderate", {"question_id": qid, "action": "approve"}))["ok"]
    public = await other.wait_questions(lambda v: bool(v["questions"]))
    assert public["questions"][0]["asker"]["display_name"] == "Nadia Haddad"
    assert public["questions"][0]["asker"]["stakeholder_group"] == "civil_society"

    vote = await other.call("question:vote", {"question_id": qid})
    assert vote["data"] == {"question_id": qid, "votes": 1, "voted": True}
    assert (await other.call("question:vote", {"question_id": qid}))["error"]["code"] == "already_voted"
    assert (await asker.call("question:vote", {"question_id": qid}))["error"]["code"] == "own_question"
    await other.wait_for("questions:mine", lambda v: v["voted"] == [qid])

    for stage, who in (("forwarded", moderator), ("read", chair), ("answered", chair)):
        reply = await who.call("question:relay", {"question_id": qid, "stage": stage})
        assert reply["ok"], (stage, reply)
        if stage == "read":
            shown = await display.wait_questions(lambda v: v["reading"] is not None)
            assert (
                shown["reading"]["text"].startswith("How will") and shown["reading"]["asker"]["display_name"]
            )
    final = await moderator.wait_moderation(lambda v: v["counts"]["answered"] == 1)
    assert final["counts"] == {
        "asked": 1,
        "pending": 0,
        "approved": 1,
        "dismissed": 0,
        "merged": 0,
        "withdrawn": 0,
        "forwarded": 1,
        "read_aloud": 1,
        "answered": 1,
    }
    staff_view = final["questions"][0]
    assert staff_view["forwarded_at"] and staff_view["read_at"] and staff_view["answered_at"]
    audit = [e["action"] for e in await hemicycle.core.store.audit_log(hemicycle.live_session)]
    for action in ("question.approve", "question.forwarded", "question.read", "question.answered"):
        assert action in audit


async def test_anonymous_edit_withdraw_dismiss_star(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    asker = await attendee(hemicycle, "Shy Person")
    watcher = await attendee(hemicycle, "Watcher")
    qid = (await asker.call("question:post", {"text": "Anonymous one", "anonymous": True}))["data"][
        "question"
    ]["id"]
    edited = await asker.call("question:edit", {"question_id": qid, "text": "Anonymous question"})
    assert edited["ok"] and edited["data"]["question"]["text"] == "Anonymous question"
    assert (await watcher.call("question:edit", {"question_id": qid, "text": "hijack"}))["error"][
        "code"
    ] == "not_yours"

    await moderator.call("question:moderate", {"question_id": qid, "action": "approve"})
    public = await watcher.wait_questions(lambda v: bool(v["questions"]))
    assert public["questions"][0]["asker"] == {
        "display_name": "Anonymous",
        "affiliation": "",
        "stakeholder_group": None,
        "country": None,
    }
    staff_view = await moderator.wait_moderation(lambda v: v["questions"][0]["state"] == "approved")
    assert staff_view["questions"][0]["asker"]["display_name"] == "Shy Person", "moderators always see who"
    assert (await asker.call("question:edit", {"question_id": qid, "text": "late"}))["error"][
        "code"
    ] == "not_pending"

    fixed = await moderator.call("question:edit", {"question_id": qid, "text": "Anonymous question, fixed"})
    assert fixed["ok"]
    assert [e["before"] for e in fixed["data"]["question"]["edits"]] == [
        "Anonymous one",
        "Anonymous question",
    ]
    assert (await moderator.call("question:moderate", {"question_id": qid, "action": "star"}))["ok"]
    assert (await moderator.call("question:moderate", {"question_id": qid, "action": "star"}))["error"][
        "code"
    ] == "no_change"

    second = (await asker.call("question:post", {"text": "Second thought"}))["data"]["question"]["id"]
    assert (await asker.call("question:withdraw", {"question_id": second}))["ok"]
    third = (await asker.call("question:post", {"text": "Off topic"}))["data"]["question"]["id"]
    no_reason = await moderator.call("question:moderate", {"question_id": third, "action": "dismiss"})
    assert no_reason["error"]["code"] == "invalid_input"
    dismissed = await moderator.call(
        "question:moderate", {"question_id": third, "action": "dismiss", "reason": "Off topic"}
    )
    assert dismissed["data"]["question"]["dismiss_reason"] == "Off topic"
    mine = await asker.wait_for(
        "questions:mine",
        lambda v: len(v["questions"]) == 3 and any(q["state"] == "dismissed" for q in v["questions"]),
    )
    assert {q["state"] for q in mine["questions"]} == {"approved", "withdrawn", "dismissed"}
    assert (await watcher.call("question:vote", {"question_id": third}))["error"]["code"] == "not_approved"


async def test_merge_combines_votes_and_askers(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    a, b, c, d = [await attendee(hemicycle, name) for name in ("A", "B", "C", "D")]
    original = (await a.call("question:post", {"text": "What about funding?"}))["data"]["question"]["id"]
    duplicate = (await b.call("question:post", {"text": "Funding?"}))["data"]["question"]["id"]
    for qid in (original, duplicate):
        await moderator.call("question:moderate", {"question_id": qid, "action": "approve"})
    await c.call("question:vote", {"question_id": original})
    await c.call("question:vote", {"question_id": duplicate})
    await d.call("question:vote", {"question_id": duplicate})
    merged = await moderator.call("question:merge", {"question_id": duplicate, "into_id": original})
    assert merged["ok"], merged
    # C counted once, D moved over, B's own interest counted.
    assert merged["data"]["question"]["votes"] == 3 and merged["data"]["question"]["merged_from"] == [
        duplicate
    ]
    # The broadcast after the merge: an earlier one, before the duplicate was approved, had one question too.
    public = await d.wait_questions(
        lambda v: [q["id"] for q in v["questions"]] == [original] and v["questions"][0]["votes"] == 3
    )
    assert public["questions"][0]["text"] == "What about funding?"
    again = await moderator.call("question:merge", {"question_id": duplicate, "into_id": original})
    assert again["error"]["code"] == "stale_question"
    assert (await moderator.call("question:merge", {"question_id": original, "into_id": original}))["error"][
        "code"
    ] == "invalid_input"


async def test_postmoderation_and_refusals(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    chair = await staff(hemicycle, Role.CHAIR)
    asker = await attendee(hemicycle, "Asker")
    assert (await chair.call("questions:settings", {"premoderated": False}))["error"]["code"] == "forbidden"
    assert (await moderator.call("questions:settings", {"premoderated": False}))["ok"]
    live = await asker.call("question:post", {"text": "Straight to the room?"})
    assert live["data"]["question"]["state"] == "approved"
    qid = live["data"]["question"]["id"]
    before = (await count(hemicycle, models.Question), await count(hemicycle, models.QuestionVote))
    cases = [
        (asker, "question:post", {"text": ""}, "invalid_input"),
        (asker, "question:post", {"text": "x" * 501}, "invalid_input"),
        (asker, "question:post", {"text": "bad\x00byte"}, "invalid_input"),
        (asker, "question:post", {"text": 42}, "invalid_input"),
        (asker, "question:post", {"text": "ok", "to": "y" * 200}, "invalid_input"),
        (asker, "question:post", b"\x00\x01", "invalid_input"),
        (asker, "question:vote", {"question_id": 999_999}, "unknown_question"),
        (asker, "question:moderate", {"question_id": qid, "action": "dismiss", "reason": "x"}, "forbidden"),
        (asker, "question:relay", {"question_id": qid, "stage": "forwarded"}, "forbidden"),
        (asker, "question:merge", {"question_id": qid, "into_id": qid}, "forbidden"),
        (chair, "question:relay", {"question_id": qid, "stage": "forwarded"}, "forbidden"),
        (chair, "question:moderate", {"question_id": qid, "action": "star"}, "forbidden"),
        (moderator, "question:relay", {"question_id": qid, "stage": "answered"}, "invalid_stage"),
        (moderator, "question:relay", {"question_id": qid, "stage": "none"}, "invalid_input"),
        (moderator, "question:moderate", {"question_id": qid, "action": "approve"}, "stale_question"),
        (moderator, "question:moderate", {"question_id": qid, "action": "delete"}, "invalid_input"),
        (moderator, "question:post", {"text": "staff do not ask"}, "forbidden"),
    ]
    for client, event, payload, code in cases:
        reply = await client.call(event, payload)
        assert reply["ok"] is False and reply["error"]["code"] == code, (event, payload, reply)
    assert (await count(hemicycle, models.Question), await count(hemicycle, models.QuestionVote)) == before


async def test_markup_stays_text_and_six_languages(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    asker = await attendee(hemicycle, "<script>alert(1)</script>")
    texts = [
        "<img src=x onerror=alert(1)>",
        "ما هي الخطوات التالية؟",
        "下一步是什么？",
        "Какие следующие шаги?",
        "¿Cuáles son los próximos pasos?",
        "Quelles sont les prochaines étapes ?",
    ]
    for text in texts:
        assert (await asker.call("question:post", {"text": text}))["ok"]
    view = await moderator.wait_moderation(lambda v: len(v["questions"]) == 6)
    assert [q["text"] for q in view["questions"]] == texts
    assert view["questions"][0]["asker"]["display_name"] == "<script>alert(1)</script>"


async def test_export_csv_and_json(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    asker = await attendee(hemicycle, "Exporter")
    qid = (await asker.call("question:post", {"text": "=SUM(A1:A9) is a formula", "anonymous": True}))[
        "data"
    ]["question"]["id"]
    await moderator.call("question:moderate", {"question_id": qid, "action": "approve"})
    token = await hemicycle.staff_token(Role.MODERATOR)
    url = f"{hemicycle.url}/api/sessions/{hemicycle.live_session}/questions"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get(url, params={"format": "json"}) as response:
            body = await response.json()
            assert response.status == 200
        async with http.get(url, params={"format": "csv"}) as response:
            text = await response.text()
            assert response.headers["Content-Type"].startswith("text/csv")
        async with http.get(url, params={"format": "xml"}) as response:
            assert response.status == 422
    assert body["counts"]["approved"] == 1
    row = body["questions"][0]
    assert row["asker"] == "Anonymous" and row["state"] == "approved" and row["approved_at"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["text"] == "'=SUM(A1:A9) is a formula", "a formula is neutralised for spreadsheets"
    attendee_token = (await hemicycle.register())["token"]
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {attendee_token}"}) as http,
        http.get(url) as response,
    ):
        assert response.status == 403


async def test_five_hundred_concurrent_posts_and_votes(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    assert (await moderator.call("questions:settings", {"premoderated": False}))["ok"]
    tokens = [(await hemicycle.register(display_name=f"P{i:03d}"))["token"] for i in range(100)]
    clients = await hemicycle.join_many(tokens)
    posts = await asyncio.gather(
        *(
            c.call("question:post", {"text": f"Question {i} from {n}"}, timeout=60)
            for i, c in enumerate(clients)
            for n in range(2)
        )
    )
    assert all(p["ok"] for p in posts)
    ids = [p["data"]["question"]["id"] for p in posts]
    assert len(set(ids)) == 200
    # Each participant votes for three questions of others: 300 votes at once.
    votes = []
    for index, client in enumerate(clients):
        for step in (1, 2, 3):
            votes.append(
                client.call("question:vote", {"question_id": ids[(2 * index + 2 * step) % 200]}, timeout=60)
            )
    results = await asyncio.gather(*votes)
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]][:3]
    assert await count(hemicycle, models.Question) == 200
    assert await count(hemicycle, models.QuestionVote) == 300
    view = await moderator.wait_moderation(
        lambda v: sum(q["votes"] for q in v["questions"]) == 300, timeout=20
    )
    assert len(view["questions"]) == 200


async def test_questions_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url)
    async for first in run_app(settings):
        moderator = await staff(first, Role.MODERATOR)
        asker = await attendee(first, "Persistent")
        voter = await attendee(first, "Voter")
        qid = (await asker.call("question:post", {"text": "Will this last?"}))["data"]["question"]["id"]
        await moderator.call("question:moderate", {"question_id": qid, "action": "approve"})
        await voter.call("question:vote", {"question_id": qid})
        await moderator.call("question:relay", {"question_id": qid, "stage": "forwarded"})
    async for second in run_app(settings):
        chair = await staff(second, Role.CHAIR)
        view = chair.last("welcome")["moderation"]
        assert view["questions"][0]["stage"] == "forwarded" and view["questions"][0]["votes"] == 1


async def test_a_withdrawn_link_stops_posting_voting_and_hands_at_once(hemicycle: Running) -> None:
    moderator = await staff(hemicycle, Role.MODERATOR)
    assert (await moderator.call("questions:settings", {"premoderated": False}))["ok"]
    author = await attendee(hemicycle, "Author")
    qid = (await author.call("question:post", {"text": "Before"}))["data"]["question"]["id"]
    registered = await hemicycle.register(display_name="Disruptor")
    disruptor = await hemicycle.join(registered["token"])
    principal, _ = await hemicycle.core.authenticate(registered["token"])
    await hemicycle.core.store.revoke_grant(None, principal.grant_id)
    before = (
        await count(hemicycle, models.Question),
        await count(hemicycle, models.QuestionVote),
        await count(hemicycle, models.Intervention),
    )
    reply = await disruptor.call("question:vote", {"question_id": qid})
    assert reply["error"]["code"] == "token_revoked"
    assert (
        await count(hemicycle, models.Question),
        await count(hemicycle, models.QuestionVote),
        await count(hemicycle, models.Intervention),
    ) == before
    assert not disruptor.sio.connected or await _disconnected(disruptor)
    refusal = await hemicycle.client().try_connect(
        {"token": registered["token"], "session_id": hemicycle.live_session}
    )
    assert refusal["data"]["code"] == "token_revoked"


async def _disconnected(client: Client) -> bool:
    for _ in range(100):
        if not client.sio.connected:
            return True
        await asyncio.sleep(0.05)
    return False
