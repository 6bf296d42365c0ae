"""Retention of the accounts domain: sessions and API tokens long over, and old sign-in attempts, are deleted by
the nightly job (app/retention.py), each kind with one DELETE ... WHERE. Services flush and never commit."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import Delete, delete, or_

from app.auth.models import ApiToken, LoginAttempt, UserSession
from app.core.db import utcnow
from app.extensions import db


def _deleted(statement: Delete) -> int:
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete the sessions and API tokens that expired or were ended more than SESSIONS_KEPT / API_TOKENS_KEPT ago
    (a live one, or one just over, stays) and the sign-in attempts older than LOGIN_ATTEMPTS_KEPT. Returns the rows
    gone per kind."""
    now = now or utcnow()
    config = current_app.config
    sessions_before = now - config["SESSIONS_KEPT"]
    tokens_before = now - config["API_TOKENS_KEPT"]
    return {
        "sessions": _deleted(delete(UserSession).where(or_(
            UserSession.expires_at < sessions_before, UserSession.revoked_at < sessions_before))),
        "api_tokens": _deleted(delete(ApiToken).where(or_(
            ApiToken.expires_at < tokens_before, ApiToken.revoked_at < tokens_before))),
        "login_attempts": _deleted(delete(LoginAttempt).where(
            LoginAttempt.created_at < now - config["LOGIN_ATTEMPTS_KEPT"])),
    }
