"""API bearer tokens: only a hash is stored; each expires, and can be revoked one by one or all at once.

A staff member's token is a staff token: it lives STAFF_API_TOKEN_TTL_HOURS, acts with the permissions of the
user's roles as they are at each request, and stops working as soon as the user is no longer staff or has no 2FA
(a block, a role change and a 2FA change revoke it outright: app.auth.security_changes)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, select, update

from app.auth.models import ApiToken, User
from app.core.db import utcnow
from app.extensions import db


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def staff_token_ttl() -> timedelta:
    return timedelta(hours=float(current_app.config.get("STAFF_API_TOKEN_TTL_HOURS") or 8))


def issue_token(user: User, *, name: str = "api") -> tuple[str, ApiToken]:
    """A new token; a staff member's is a staff token (the caller has checked their second factor)."""
    raw = secrets.token_urlsafe(32)
    staff = user.is_staff
    ttl = staff_token_ttl() if staff else current_app.config["API_TOKEN_TTL"]
    token = ApiToken(user_id=user.id, token_hash=_token_hash(raw), name=name[:100], staff=staff,
                     expires_at=utcnow() + ttl)
    db.session.add(token)
    db.session.flush()
    return raw, token


def token_for(raw: str, *, now: datetime | None = None) -> ApiToken | None:
    """The valid token for this raw bearer value, or None (unknown, expired, revoked, or its user blocked; a staff
    token whose user is no longer staff or has 2FA off; a token that is not a staff token held by staff)."""
    if not raw or len(raw) > 200:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(raw)))
    if token is None or not token.is_valid(now or utcnow()) or not token.user.is_active:
        return None
    if token.staff != token.user.is_staff or (token.staff and not token.user.totp_enabled):
        return None
    return token


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()


def revoke_all_tokens(user_id: int) -> int:
    return cast("CursorResult[Any]", db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False))).rowcount
