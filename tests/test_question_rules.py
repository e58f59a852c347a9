"""The questions' transition (server.domain.questions.decide), alone: examples of its rules, then properties
over random sequences of commands replayed as the store writes them. No database, no sockets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.errors import Conflict, Forbidden, HemicycleError, InvalidInput, NotFound
from server.domain.questions import (
    STAGE_ORDER,
    AdvanceStage,
    Asker,
    Author,
    Board,
    CastVote,
    Decide,
    Decided,
    Decision,
    EditText,
    Merge,
    Post,
    Question,
    QuestionCommand,
    QuestionState,
    SetReviewMode,
    Stage,
    Withdraw,
    decide,
)
from server.domain.roles import Permission, Role
from server.domain.sessions import SessionState

T0 = datetime(2026, 5, 27, 10, 0, tzinfo=UTC)
MODERATOR = Author(900, Role.MODERATOR)


class Desk:
    """Applies commands as the store does: a board of the questions the command reads, then the decision's
    writes, votes and edits replayed on every stored question."""

    def __init__(self, premoderated: bool = False) -> None:
        self.premoderated = premoderated
        self.questions: dict[int, Question] = {}
        self.now = T0

    def __call__(self, command: QuestionCommand) -> Decided:
        self.now += timedelta(seconds=5)
        board = Board(
            1, self.premoderated, {i: self.questions[i] for i in command.reads if i in self.questions}
        )
        decided = decide(board, command, self.now)
        if decided.added is not None:
            new = replace(decided.added, id=len(self.questions) + 1)
            self.questions[new.id] = new
            decided = replace(decided, added=new, result=new.id)
        for write in decided.writes:
            self.questions[write.question_id] = replace(self.questions[write.question_id], **write.values)
        for question_id, participant_id in decided.votes_removed:
            q = self.questions[question_id]
            self.questions[question_id] = replace(q, voters=q.voters - {participant_id})
        for question_id, participant_id in decided.votes_added:
            q = self.questions[question_id]
            assert participant_id not in q.voters, "a vote is stored once"
            self.questions[question_id] = replace(q, voters=q.voters | {participant_id})
        if decided.edit is not None:
            question_id, edit = decided.edit
            q = self.questions[question_id]
            self.questions[question_id] = replace(q, edits=(*q.edits, edit))
        if decided.premoderated is not None:
            self.premoderated = decided.premoderated
        return decided


def post(pid: int, text: str = "Why?") -> Post:
    return Post(Asker(pid, f"P{pid}", "", None, None), text, "", False)


def test_posting_follows_the_review_mode() -> None:
    desk = Desk(premoderated=True)
    assert desk.questions[desk(post(1)).result or 0].state is QuestionState.PENDING
    desk(SetReviewMode(False))
    shown = desk.questions[desk(post(2)).result or 0]
    assert shown.state is QuestionState.APPROVED and shown.approved_at is not None
    with pytest.raises(Conflict):
        desk(SetReviewMode(False))


def test_askers_edit_and_withdraw_their_own_pending_questions_only() -> None:
    desk = Desk(premoderated=True)
    desk(post(1))
    with pytest.raises(Forbidden):
        desk(EditText(Author(2, Role.ATTENDEE), 1, "Mine now"))
    desk(EditText(Author(1, Role.ATTENDEE), 1, "Why not?"))
    assert [e.after for e in desk.questions[1].edits] == ["Why not?"]
    with pytest.raises(Conflict):
        desk(EditText(Author(1, Role.ATTENDEE), 1, "Why not?"))  # unchanged
    desk(Decide(1, Decision.APPROVE))
    with pytest.raises(Conflict):
        desk(Withdraw(1, 1))  # approved: too late
    assert desk(EditText(MODERATOR, 1, "Why not, then?")).audit[0].action == "question.edit"
    with pytest.raises(NotFound):
        desk(Withdraw(1, 7))


def test_merge_moves_votes_and_the_askers_interest() -> None:
    desk = Desk()
    for pid in (1, 2):
        desk(post(pid))
    desk(CastVote(3, 1, True))
    desk(CastVote(1, 2, True))
    decided = desk(Merge(1, 2))
    assert desk.questions[1].state is QuestionState.MERGED and desk.questions[1].merged_into == 2
    assert desk.questions[2].voters == {1, 3}, "asker 1 had voted already; voter 3 moves"
    assert decided.content == {1, 2} and decided.merged is not None and decided.merged.id == 1
    with pytest.raises(InvalidInput):
        desk(Merge(2, 2))


def test_the_question_relay_goes_one_stage_at_a_time_and_who_may_move_it() -> None:
    desk = Desk()
    desk(post(1))
    with pytest.raises(Conflict):
        desk(AdvanceStage(1, Stage.READ))
    for stage in (Stage.FORWARDED, Stage.READ, Stage.ANSWERED):
        desk(AdvanceStage(1, stage))
    assert desk.questions[1].answered_at is not None
    assert AdvanceStage.permission_of(Stage.FORWARDED) is Permission.QUESTION_MODERATE
    assert AdvanceStage.permission_of(Stage.READ) is Permission.QUESTION_RELAY
    with pytest.raises(InvalidInput):
        AdvanceStage.parse("none")
    with pytest.raises(Conflict):
        Post.check_session(SessionState.ENDED, Post.permission)
    Decide.check_session(SessionState.ENDED, Decide.permission)  # moderating goes on after the end


# -- properties ----------------------------------------------------------------------------------

people = st.integers(min_value=1, max_value=5)
authors = st.one_of(st.just(MODERATOR), st.builds(Author, people, st.just(Role.ATTENDEE)))


def command_for(desk: Desk) -> st.SearchStrategy[QuestionCommand]:
    ids = st.sampled_from([*desk.questions, 99]) if desk.questions else st.just(99)
    return st.one_of(
        st.builds(post, people),
        st.builds(post, people),
        st.builds(EditText, authors, ids, st.sampled_from(["A?", "B?"])),
        st.builds(Withdraw, people, ids),
        st.builds(CastVote, people, ids, st.booleans()),
        st.builds(CastVote, people, ids, st.just(True)),
        st.builds(Decide, ids, st.sampled_from(list(Decision)), st.just("dup")),
        st.builds(Merge, ids, ids),
        st.builds(AdvanceStage, ids, st.sampled_from([Stage.FORWARDED, Stage.READ, Stage.ANSWERED])),
        st.builds(SetReviewMode, st.booleans()),
    )


def check_invariants(desk: Desk) -> None:
    for q in desk.questions.values():
        assert (
            q.participant_id not in q.voters
            or q.state is QuestionState.MERGED
            or any(d.merged_into == q.id for d in desk.questions.values())
        ), "no one votes for their own question (a merge may carry an asker's interest)"
        if q.stage is not Stage.NONE:
            assert q.state in (QuestionState.APPROVED, QuestionState.MERGED, QuestionState.DISMISSED)
        if q.state is QuestionState.MERGED:
            assert q.merged_into in desk.questions and q.merged_into != q.id
        if q.state is QuestionState.APPROVED:
            assert q.approved_at is not None
        stamps = {Stage.FORWARDED: q.forwarded_at, Stage.READ: q.read_at, Stage.ANSWERED: q.answered_at}
        reached = STAGE_ORDER.index(q.stage)
        for stage, at in stamps.items():
            assert (at is not None) == (STAGE_ORDER.index(stage) <= reached), "each stage passed in turn"


@settings(max_examples=100, deadline=None)
@given(st.data(), st.booleans(), st.integers(min_value=1, max_value=40))
def test_any_sequence_keeps_the_questions_consistent(data: st.DataObject, pre: bool, steps: int) -> None:
    desk = Desk(premoderated=pre)
    for _ in range(steps):
        command = data.draw(command_for(desk))
        before = (dict(desk.questions), desk.premoderated)
        try:
            decided = desk(command)
        except HemicycleError:
            assert (desk.questions, desk.premoderated) == before, "a refused command changes nothing"
            continue
        touched = {w.question_id for w in decided.writes} | {q for q, _ in decided.votes_added}
        assert touched <= decided.content | decided.votes, "every change reaches the broadcast"
        check_invariants(desk)
