"""Use cases of live polls: a moderator prepares, opens, closes and shows polls; attendees answer; staff
read live results, and everyone else the results the moderator shows. Check, store, notify."""

from __future__ import annotations

from typing import Any, Protocol

from .db.poll_store import PollsState, PollStore
from .domain.model import Principal
from .domain.polls import Answer, Poll, PollState, check_poll, kind_of, results
from .domain.roles import Permission
from .service import Hemicycle


class PollNotifier(Protocol):
    """What the transport does once a change is stored: staff get every change; the room (attendees and
    the room display) only those it can see (`public`: a poll opened, closed or shown, or an answer to a
    poll whose results are shown)."""

    def polls_changed(self, session_id: int, public: bool) -> None: ...


class _NoNotifier:
    def polls_changed(self, session_id: int, public: bool) -> None:
        return None


class Polls:
    """Live polls of every session: each change is checked (server/domain/polls.py), stored
    (server/db/poll_store.py), then told to its ``notifier`` (signaling/poll_events.py). Built once by the
    composition root (server/wiring.py)."""

    def __init__(self, core: Hemicycle) -> None:
        self.core = core
        self.store = PollStore(core.store)
        self.notifier: PollNotifier = _NoNotifier()
        # The views of each session's latest state, built once per version: a crowd joining at once, or a
        # broadcast to staff and to the room, tallies the answers once.
        self._views: dict[tuple[int, str], tuple[int, dict[str, Any]]] = {}

    @property
    def threshold(self) -> int:
        return self.core.settings.report_min_group

    async def create(
        self, principal: Principal, session_id: int, kind: object, question: object, options: object
    ) -> Poll:
        await self.core.session_for(principal, session_id, Permission.POLL_MANAGE)
        checked = kind_of(kind)
        text, choices = check_poll(checked, question, options)
        poll = await self.store.create(session_id, checked, text, choices)
        self.notifier.polls_changed(session_id, False)
        return poll

    async def edit(
        self,
        principal: Principal,
        session_id: int,
        poll_id: int,
        kind: object,
        question: object,
        options: object,
    ) -> Poll:
        await self.core.session_for(principal, session_id, Permission.POLL_MANAGE)
        checked = kind_of(kind)
        text, choices = check_poll(checked, question, options)
        poll = await self.store.edit(session_id, poll_id, checked, text, choices)
        self.notifier.polls_changed(session_id, False)
        return poll

    async def delete(self, principal: Principal, session_id: int, poll_id: int) -> Poll:
        await self.core.session_for(principal, session_id, Permission.POLL_MANAGE)
        poll = await self.store.delete(session_id, poll_id)
        self.notifier.polls_changed(session_id, False)
        return poll

    async def open(self, principal: Principal, session_id: int, poll_id: int) -> Poll:
        return await self._move(principal, session_id, poll_id, PollState.OPEN)

    async def close(self, principal: Principal, session_id: int, poll_id: int) -> Poll:
        return await self._move(principal, session_id, poll_id, PollState.CLOSED)

    async def _move(self, principal: Principal, session_id: int, poll_id: int, target: PollState) -> Poll:
        await self.core.session_for(principal, session_id, Permission.POLL_MANAGE)
        poll = await self.store.set_state(session_id, poll_id, target)
        self.notifier.polls_changed(session_id, True)
        return poll

    async def show(self, principal: Principal, session_id: int, poll_id: int, shown: bool) -> Poll:
        await self.core.session_for(principal, session_id, Permission.POLL_MANAGE)
        poll = await self.store.show(session_id, poll_id, shown)
        self.notifier.polls_changed(session_id, True)
        return poll

    async def answer(
        self,
        principal: Principal,
        session_id: int,
        poll_id: int,
        choices: object,
        rating: object,
        text: object,
    ) -> Answer:
        """An attendee's answer; answering again replaces it until the poll is closed."""
        await self.core.session_for(principal, session_id, Permission.POLL_ANSWER)
        poll, answer = await self.store.answer(principal, session_id, poll_id, choices, rating, text)
        self.notifier.polls_changed(session_id, poll.results_shown)
        return answer

    async def state(self, session_id: int) -> PollsState:
        return await self.store.state(session_id)

    # -- views -----------------------------------------------------------------------------------

    def _cached(self, state: PollsState, which: str, build: Any) -> dict[str, Any]:
        key = (state.session_id, which)
        known = self._views.get(key)
        if known is not None and known[0] == state.version:
            return known[1]
        view: dict[str, Any] = build(state)
        if known is None or known[0] < state.version:
            self._views[key] = (state.version, view)
        return view

    def staff_view(self, state: PollsState) -> dict[str, Any]:
        """Every poll, drafts included, each with its live results: counts only, never who answered what."""
        return self._cached(state, "staff", self._staff_view)

    def public_view(self, state: PollsState) -> dict[str, Any]:
        """What attendees and the room display see: polls that have been opened, with their results only
        while the moderator shows them."""
        return self._cached(state, "public", self._public_view)

    def _staff_view(self, state: PollsState) -> dict[str, Any]:
        return {
            "session_id": state.session_id,
            "version": state.version,
            "polls": [
                {**p.public(), "results": results(p, state.answers.get(p.id, ()), self.threshold)}
                for p in state.polls
            ],
        }

    def _public_view(self, state: PollsState) -> dict[str, Any]:
        return {
            "session_id": state.session_id,
            "version": state.version,
            "polls": [
                {
                    **p.public(),
                    "results": results(p, state.answers.get(p.id, ()), self.threshold)
                    if p.results_shown
                    else None,
                }
                for p in state.polls
                if p.state is not PollState.DRAFT
            ],
        }

    @staticmethod
    def mine_view(state: PollsState, participant_id: int) -> list[dict[str, Any]]:
        """A participant's own answers, so that their page shows what they chose."""
        return [a.own() for a in state.by_participant.get(participant_id, ())]

    async def record(self, session_id: int) -> list[dict[str, Any]]:
        """Every poll that was opened, with its final (or current) results, for the session record."""
        state = await self.state(session_id)
        return record_rows(state, self.threshold)


def record_rows(state: PollsState, threshold: int) -> list[dict[str, Any]]:
    return [
        {**p.public(), "results": results(p, state.answers.get(p.id, ()), threshold)}
        for p in state.polls
        if p.state is not PollState.DRAFT
    ]
