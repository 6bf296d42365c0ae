"""Where two accounts signed in from: the addresses and browsers (user agents) their successful sign-ins and their
sessions share. Market surveillance asks it about a trade's buyer and seller; it only reads."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, union

from app.auth.models import LoginAttempt, UserSession
from app.extensions import db


@dataclass(frozen=True)
class SharedSignIns:
    ips: tuple[str, ...]  # addresses both accounts signed in from
    user_agents: tuple[str, ...]  # browsers (user agent strings) both accounts signed in with


def _seen(user_id: int, column: str, since: datetime):
    """The distinct non-empty values of `column` (ip or user_agent) over the user's successful sign-ins and
    sessions since `since`."""
    attempts = select(getattr(LoginAttempt, column).label("value")).where(
        LoginAttempt.user_id == user_id, LoginAttempt.success.is_(True), LoginAttempt.created_at >= since)
    sessions = select(getattr(UserSession, column).label("value")).where(
        UserSession.user_id == user_id, UserSession.last_seen_at >= since)
    return union(attempts, sessions).subquery()


def _shared(a_id: int, b_id: int, column: str, since: datetime) -> tuple[str, ...]:
    a, b = _seen(a_id, column, since), _seen(b_id, column, since)
    rows = db.session.scalars(select(a.c.value).join(b, a.c.value == b.c.value)
                              .where(a.c.value.is_not(None), a.c.value != "").order_by(a.c.value).limit(20))
    return tuple(rows)


def shared_sign_ins(a_id: int, b_id: int, *, since: datetime) -> SharedSignIns:
    """What the sign-ins of two accounts since `since` have in common (at most 20 values of each kind)."""
    if a_id == b_id:
        raise ValueError("two different accounts are compared")
    return SharedSignIns(_shared(a_id, b_id, "ip", since), _shared(a_id, b_id, "user_agent", since))
