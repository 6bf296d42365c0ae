"""Signed, expiring links for e-mail verification and password reset (itsdangerous)."""
from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

if TYPE_CHECKING:
    from app.auth.models import User

VERIFY_EMAIL = "verify-email"
RESET_PASSWORD = "reset-password"  # noqa: S105 - the name of a link's purpose, not a password
CHANGE_EMAIL = "change-email"
MAX_AGE = {VERIFY_EMAIL: 48 * 3600, RESET_PASSWORD: 3600, CHANGE_EMAIL: 24 * 3600}


class LinkError(Exception):
    def __init__(self, message: str, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"freehold.{purpose}")


def password_fingerprint(password_hash: str) -> str:
    """Binds a reset link to the current password: once it changes, the link is spent."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:20]


def make(purpose: str, payload: dict) -> str:
    return _serializer(purpose).dumps(payload)


def verification_token(user: User) -> str:
    """A new token that verifies the user's current address (its link is mailed, never stored readable). Each is
    different (`n`), even two issued within the same second."""
    return make(VERIFY_EMAIL, {"uid": user.id, "email": user.email, "n": secrets.token_urlsafe(6)})


def reset_token(user: User) -> str:
    """A new password reset token, spent once the password changes; each is different (`n`)."""
    return make(RESET_PASSWORD, {"uid": user.id, "pw": password_fingerprint(user.password_hash),
                                 "n": secrets.token_urlsafe(6)})


def read(purpose: str, token: str) -> dict:
    try:
        return _serializer(purpose).loads(token, max_age=MAX_AGE[purpose])
    except SignatureExpired:
        raise LinkError(_("This link has expired."), expired=True) from None
    except BadSignature:
        raise LinkError(_("This link is not valid.")) from None
