"""Domain rules with no transport and no database: roles, life cycle, registration, rate limits, tokens."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.domain.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from server.domain.model import ParticipantInfo, PresenceSnapshot, PresentPerson, Principal, SessionInfo
from server.domain.participants import AgeBand, Registration, clean_name, clean_text
from server.domain.ratelimit import FloodGuard, TokenBucket
from server.domain.roles import ROLE_PERMISSIONS, Permission, Role, can, require
from server.domain.sessions import SessionState, check_transition
from server.tokens import TokenService

NOW = datetime(2026, 5, 27, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_every_role_has_permissions_and_only_floor_staff_change_state() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    changers = {role for role in Role if can(role, Permission.SESSION_SET_STATE)}
    assert changers == {Role.ADMIN, Role.MODERATOR, Role.CHAIR}
    assert {role for role in Role if can(role, Permission.LINKS_ISSUE)} == {Role.ADMIN}
    assert {role for role in Role if can(role, Permission.ROSTER_VIEW)} == {
        Role.ADMIN,
        Role.MODERATOR,
        Role.CHAIR,
        Role.AV,
        Role.CAPTIONER,
        Role.INTERPRETER,
    }
    with pytest.raises(Forbidden, match="attendee"):
        require(Role.ATTENDEE, Permission.SESSION_SET_STATE)


def test_only_attendees_raise_hands_ask_and_vote() -> None:
    # Staff links are not registrations: their hands and votes would count in the balance as nobody.
    for permission in (Permission.QUEUE_RAISE, Permission.QUESTION_ASK):
        assert {role for role in Role if can(role, permission)} == {Role.ATTENDEE}
        with pytest.raises(Forbidden) as refused:
            require(Role.ADMIN, permission)
        assert refused.value.message.endswith("only attendees may"), refused.value.message
        assert refused.value.code == "forbidden"


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        (SessionState.SCHEDULED, SessionState.LIVE, True),
        (SessionState.SCHEDULED, SessionState.ENDED, True),
        (SessionState.LIVE, SessionState.ENDED, True),
        (SessionState.ENDED, SessionState.LIVE, True),
        (SessionState.LIVE, SessionState.SCHEDULED, False),
        (SessionState.ENDED, SessionState.SCHEDULED, False),
        (SessionState.LIVE, SessionState.LIVE, False),
    ],
)
def test_session_transitions(current: SessionState, target: SessionState, ok: bool) -> None:
    if ok:
        check_transition(current, target)
    else:
        with pytest.raises(Conflict):
            check_transition(current, target)


def _session(session_id: int = 1, event_id: int = 1) -> SessionInfo:
    return SessionInfo(
        session_id, event_id, "r", "t", "room", NOW, NOW, ("en",), SessionState.LIVE, None, 180, True
    )


def _principal(role: Role, session_id: int | None, event_id: int = 1) -> Principal:
    person = ParticipantInfo(1, event_id, "X", "", None, None, role)
    return Principal(person, 1, role, event_id, session_id)


def test_principal_scope() -> None:
    _principal(Role.ATTENDEE, None).enter(_session(5))
    _principal(Role.MODERATOR, 5).enter(_session(5))
    with pytest.raises(Forbidden) as wrong:
        _principal(Role.MODERATOR, 4).enter(_session(5))
    assert wrong.value.code == "wrong_session"
    with pytest.raises(Forbidden):
        _principal(Role.ADMIN, None, event_id=2).enter(_session(5, event_id=1))


def test_registration_cleans_and_checks() -> None:
    r = Registration("  Nguyễn   Văn An ", "ITU", "academic_technical", "vn")  # type: ignore[arg-type]
    assert r.display_name == "Nguyễn Văn An" and r.country == "VN"
    # NFC: a decomposed é becomes one code point.
    assert clean_text("Ele\u0301onore", "n", max_length=10) == "Eléonore"
    # Joiners used in Arabic-script and Indic names are kept.
    assert clean_text("می\u200cخواهم", "n", max_length=20) == "می\u200cخواهم"
    with pytest.raises(InvalidInput):
        clean_text("!!!", "n", max_length=10)
    with pytest.raises(InvalidInput, match="consent"):
        Registration("A", "B", "government", "CH", gender="man")  # type: ignore[arg-type]
    with_consent = Registration("A", "B", "government", "CH", True, "man", "under_25")  # type: ignore[arg-type]
    assert with_consent.age_band is AgeBand.UNDER_25 and with_consent.age_band.is_youth


def test_names_must_be_visible() -> None:
    # Category-based: any format, private-use, unassigned or separator character, not only a listed few.
    for char in (
        "\u200b",
        "\u200e",
        "\u200f",
        "\u202a",
        "\u202e",
        "\u2060",
        "\u2064",
        "\u2066",
        "\u2069",
        "\ufeff",
        "\u00ad",
        "\u061c",
        "\U000e0041",
        "\ue000",
        "\u3164",
        "\u2800",
        "\u17b5",
    ):
        with pytest.raises(InvalidInput, match=f"U\\+{ord(char):04X}") as refused:
            clean_name(f"Ana{char}Lima", "display_name", max_length=50)
        assert refused.value.details == {"field": "display_name"}
    for only_fillers in ("\u3164", "\u115f \u1160", "\uffa0\u3164", "\u2800"):
        with pytest.raises(InvalidInput):
            clean_name(only_fillers, "display_name", max_length=50)
    # Joiners between letters (Persian, Arabic, Devanagari) and inside an emoji sequence stay; elsewhere not.
    for name in ("مهدی\u200cزاده", "لا\u200dله", "क्\u200dष", "Ana \U0001f469\u200d\U0001f4bb"):
        assert clean_name(name, "display_name", max_length=50) == name
    for name in ("\u200cمهدی", "مهدی\u200c", "Ana\u200c \u200cLima", "Ana\u200c1"):
        with pytest.raises(InvalidInput):
            clean_name(name, "display_name", max_length=50)
    # Names in every script are still welcome, and free text keeps its lighter rule.
    for name in ("محمد بن علي", "王小明", "Наталья", "Nguyễn Văn An", "ગુજરાતી", "ᏣᎳᎩ"):
        assert clean_name(name, "display_name", max_length=50) == name
    assert clean_text("soft\u00adhyphen", "text", max_length=50) == "soft\u00adhyphen"


def test_presence_summary_and_roster() -> None:
    def person(pid: int, role: Role, name: str, group: str | None) -> PresentPerson:
        return PresentPerson(ParticipantInfo(pid, 1, name, "", group, "CH", role), role, 1, NOW)

    snapshot = PresenceSnapshot(
        1,
        (
            person(1, Role.ATTENDEE, "zed", "government"),
            person(2, Role.ATTENDEE, "Amy", "civil_society"),
            person(3, Role.MODERATOR, "Mod", None),
            person(4, Role.ATTENDEE, "bob", "government"),
        ),
    )
    assert snapshot.summary() == {
        "session_id": 1,
        "total": 4,
        "by_role": {"attendee": 3, "moderator": 1},
        "by_group": {"civil_society": 1, "government": 2},
    }
    assert [p["display_name"] for p in snapshot.roster()] == ["Mod", "Amy", "bob", "zed"]


def test_token_bucket_and_flood_guard() -> None:
    bucket = TokenBucket(rate=2, burst=4)
    assert [bucket.take(0.0) for _ in range(5)] == [True, True, True, True, False]
    assert bucket.take(0.5) is True  # one token back after half a second
    assert bucket.take(0.5) is False
    guard = FloodGuard(per_second=1)
    verdicts = [guard.check(0.0) for _ in range(25)]
    assert verdicts[:4] == ["ok"] * 4
    assert verdicts[4:20] == ["limited"] * 16
    assert verdicts[20] == "flood"


def test_tokens_expire_by_the_clock_and_refuse_tampering() -> None:
    clock = FakeClock()
    tokens = TokenService("s" * 40, clock)
    token, expires = tokens.issue(
        grant_id=3, participant_id=7, role=Role.CHAIR, event_id=1, session_id=2, ttl=timedelta(hours=1)
    )
    assert expires == NOW + timedelta(hours=1)
    claims = tokens.verify(token)
    assert (claims.grant_id, claims.participant_id, claims.role, claims.session_id) == (3, 7, Role.CHAIR, 2)
    clock.now = NOW + timedelta(minutes=59)
    tokens.verify(token)
    clock.now = NOW + timedelta(hours=1)
    with pytest.raises(Unauthenticated) as expired:
        tokens.verify(token)
    assert expired.value.code == "token_expired"
    with pytest.raises(Unauthenticated) as other:
        TokenService("o" * 40, clock).verify(token)
    assert other.value.code == "token_invalid"
    for bad in (None, "", 5, "a.b.c", "x" * 3000):
        with pytest.raises(Unauthenticated):
            tokens.verify(bad)


def test_domain_imports_no_transport() -> None:
    """The rules stay plain Python: no aiohttp, socketio, aiortc or SQLAlchemy under server/domain."""
    forbidden = {"aiohttp", "socketio", "engineio", "aiortc", "sqlalchemy", "redis", "signaling"}
    domain = Path(__file__).resolve().parent.parent / "server" / "domain"
    for path in domain.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
