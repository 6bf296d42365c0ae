"""Server-side records of browser sessions: a fresh random id on every sign-in, idle and absolute timeouts,
revocation one by one or all at once."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, select, update

from app.auth.models import UserSession
from app.core.db import utcnow
from app.extensions import db

TOUCH_EVERY = timedelta(seconds=60)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def start(user, *, remember: bool = False, mfa_verified: bool = False, ip: str | None = None,
          user_agent: str | None = None) -> str:
    """Create a session record and return the raw id for the cookie (only its hash is stored)."""
    cfg = current_app.config
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = cfg["SESSION_REMEMBER_LIFETIME"] if remember else cfg["SESSION_ABSOLUTE_TIMEOUT"]
    db.session.add(UserSession(sid_hash=_hash(raw), user_id=user.id, created_at=now, last_seen_at=now,
                               expires_at=now + lifetime, remember=remember, mfa_verified=mfa_verified,
                               ip=ip, user_agent=(user_agent or "")[:300] or None))
    db.session.flush()
    return raw


def find_valid(raw: str | None) -> UserSession | None:
    """The live session for this raw id: not revoked, not past its absolute end, not idle too long."""
    if not raw or len(raw) > 100:
        return None
    record = db.session.scalar(select(UserSession).where(UserSession.sid_hash == _hash(raw)))
    if record is None or record.revoked_at is not None:
        return None
    now = utcnow()
    if record.expires_at <= now:
        return None
    if not record.remember and record.last_seen_at + current_app.config["SESSION_IDLE_TIMEOUT"] <= now:
        return None
    return record


def needs_touch(record: UserSession) -> bool:
    """Whether the last activity noted is a minute old (a write per request would be wasted)."""
    return utcnow() - record.last_seen_at >= TOUCH_EVERY


def touch(record: UserSession) -> bool:
    """Note activity (at most once a minute, to spare a write per request). True when it wrote."""
    now = utcnow()
    if now - record.last_seen_at < TOUCH_EVERY:
        return False
    record.last_seen_at = now
    db.session.flush()
    return True


def revoke(record: UserSession, reason: str) -> None:
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        record.revoked_reason = reason[:100]
        db.session.flush()


def revoke_all(user_id: int, reason: str, *, keep_id: int | None = None) -> int:
    """End every live session of the user (but `keep_id`). Returns how many ended."""
    stmt = (update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason[:100])
            .execution_options(synchronize_session=False))
    if keep_id is not None:
        stmt = stmt.where(UserSession.id != keep_id)
    count = cast("CursorResult[Any]", db.session.execute(stmt)).rowcount
    db.session.expire_all()
    return count


def live_for(user_id: int) -> list[UserSession]:
    now = utcnow()
    rows = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None),
                                  UserSession.expires_at > now)
        .order_by(UserSession.last_seen_at.desc())
    ).all()
    idle = current_app.config["SESSION_IDLE_TIMEOUT"]
    return [r for r in rows if r.remember or r.last_seen_at + idle > now]
