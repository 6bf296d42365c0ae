"""Sign-in: the password check with lockout (app/auth/lockout.py: per account and source address, and a ceiling per
account), the record of every attempt, and the completed sign-in. The client's address and user agent come from
app.core.audit.current_client(), never from the request."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from app.auth import lockout, passwords
from app.auth.accounts import normalize_email, user_by_email
from app.auth.models import USER_BLOCKED, USER_CLOSED, LoginAttempt, User
from app.core import audit
from app.core.db import utcnow
from app.extensions import db


@dataclass
class SignIn:
    user: User | None
    ok: bool
    reason: str  # ok | needs_2fa | bad_credentials | locked | blocked

    @property
    def message(self) -> str:
        if self.reason == "locked":
            return str(_("Too many failed attempts: signing in to this account is locked for a while. Try again later "
                         "or reset your password."))
        return str(_("The e-mail address or password is not correct."))


def _record_attempt(email: str, user: User | None, *, success: bool, reason: str, channel: str) -> None:
    client = audit.current_client()
    db.session.add(LoginAttempt(user_id=user.id if user else None, email=normalize_email(email)[:254],
                                ip=client.ip, user_agent=client.user_agent, channel=channel, success=success,
                                reason=reason))
    db.session.flush()


def record_attempt(email: str, user: User | None, *, success: bool, reason: str, channel: str) -> None:
    """Record a sign-in attempt made by another first factor (a linked social identity, app/auth/social.py)."""
    _record_attempt(email, user, success=success, reason=reason, channel=channel)


def is_locked(user: User, now: datetime | None = None) -> bool:
    """Attempts on `user` from the caller's address are refused for now (its own lock or the account's)."""
    return lockout.is_locked(user, now)


def register_failure(user: User, *, email: str, reason: str, channel: str) -> None:
    """Record and count a failed password or code, per account and source address and for the account."""
    _record_attempt(email, user, success=False, reason=reason, channel=channel)
    lockout.count_failure(user)


def check_password(email: str, password: str, *, channel: str = "portal") -> SignIn:
    """First factor. Records the attempt; counts failures toward the lockout."""
    user = user_by_email(email)
    if user is not None and is_locked(user):
        passwords.verify(None, password)  # same cost as a real check
        _record_attempt(email, user, success=False, reason="locked", channel=channel)
        return SignIn(user, False, "locked")
    if not passwords.verify(user.password_hash if user else None, password):
        if user is None:
            _record_attempt(email, None, success=False, reason="unknown_email", channel=channel)
        else:
            register_failure(user, email=email, reason="bad_password", channel=channel)
            if is_locked(user):
                return SignIn(user, False, "locked")
        return SignIn(None, False, "bad_credentials")
    if user is None:  # verify() accepts no password without a hash
        raise RuntimeError("a password was accepted for no account")
    if user.status in (USER_BLOCKED, USER_CLOSED):  # a closed account answers as an unknown one: neutral
        _record_attempt(email, user, success=False, reason=user.status, channel=channel)
        return SignIn(None, False, "bad_credentials")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.totp_enabled:
        return SignIn(user, False, "needs_2fa")
    return SignIn(user, True, "ok")


def complete_sign_in(user: User, *, channel: str = "portal", method: str = "password") -> None:
    """Both factors passed: clear the caller's address's failure count, note the time, record and audit the
    sign-in. The account-wide count stays until its window ends: the owner signing in does not give an attacker
    elsewhere a fresh allowance."""
    lockout.clear_source(user)
    user.last_login_at = utcnow()
    db.session.flush()
    _record_attempt(user.email, user, success=True, reason="ok", channel=channel)
    audit.record("auth.login", actor=user, target=user, after={"channel": channel, "method": method})


def recent_sign_ins(user_id: int, limit: int = 20) -> Sequence[LoginAttempt]:
    return db.session.scalars(select(LoginAttempt).where(LoginAttempt.user_id == user_id)
                              .order_by(LoginAttempt.id.desc()).limit(limit)).all()
