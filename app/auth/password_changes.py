"""Passwords after sign-up: a reset by e-mailed link, and a change by the signed-in user. Either ends every
other session and token and sends a security notice."""
from __future__ import annotations

import secrets

from app.auth import links, lockout, passwords, signals
from app.auth.accounts import user_by_email
from app.auth.models import USER_ACTIVE, User
from app.auth.security_changes import end_other_sessions, notify_security_change
from app.core import audit
from app.core.db import utcnow
from app.core.errors import ValidationError
from app.extensions import db


def request_password_reset(email: str) -> None:
    """Mail a reset link when the account exists and is active; say nothing either way."""
    user = user_by_email(email)
    if user is None or user.status != USER_ACTIVE:
        return
    token = links.make(links.RESET_PASSWORD, {"uid": user.id, "pw": links.password_fingerprint(user.password_hash)})
    signals.password_reset_requested.send(user, token=token)
    audit.record("auth.password_reset_requested", actor=user, target=user)


def user_for_reset(token: str) -> User:
    payload = links.read(links.RESET_PASSWORD, token)
    user = db.session.get(User, payload.get("uid"))
    if (user is None or user.status != USER_ACTIVE
            or not secrets.compare_digest(links.password_fingerprint(user.password_hash), payload.get("pw", ""))):
        raise links.LinkError("This link is not valid any more.")
    return user


def _set_password(user: User, new_password: str) -> None:
    passwords.check(new_password, email=user.email)
    if passwords.verify(user.password_hash, new_password):
        raise ValidationError("the password is not acceptable",
                              {"password": ["Choose a password different from the current one."]})
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utcnow()
    db.session.flush()


def reset_password(token: str, new_password: str) -> User:
    user = user_for_reset(token)
    _set_password(user, new_password)
    lockout.clear_all(user)
    ended = end_other_sessions(user, reason="password reset", keep_id=None)
    audit.record("auth.password_reset", actor=user, target=user, after={"sessions_ended": ended})
    notify_security_change(user, "Your password was reset.")
    return user


def change_password(user: User, current_password: str, new_password: str, *, keep_session_id: int | None) -> None:
    if not passwords.verify(user.password_hash, current_password):
        raise ValidationError("the current password is not correct",
                              {"current_password": ["The current password is not correct."]})
    _set_password(user, new_password)
    ended = end_other_sessions(user, reason="password changed", keep_id=keep_session_id)
    audit.record("auth.password_changed", actor=user, target=user, after={"sessions_ended": ended})
    notify_security_change(user, "Your password was changed.")
