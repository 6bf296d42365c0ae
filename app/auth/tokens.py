"""API bearer tokens: only a hash is stored; each expires, and can be revoked one by one or all at once."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, select, update

from app.auth.models import ApiToken, User
from app.core.db import utcnow
from app.extensions import db


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(user: User, *, name: str = "api") -> tuple[str, ApiToken]:
    raw = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, token_hash=_token_hash(raw), name=name[:100],
                     expires_at=utcnow() + current_app.config["API_TOKEN_TTL"])
    db.session.add(token)
    db.session.flush()
    return raw, token


def token_for(raw: str, *, now: datetime | None = None) -> ApiToken | None:
    """The valid token for this raw bearer value, or None (unknown, expired, revoked, or its user blocked)."""
    if not raw or len(raw) > 200:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(raw)))
    if token is None or not token.is_valid(now or utcnow()) or not token.user.is_active:
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
