"""Signed, expiring links for e-mail verification and password reset (itsdangerous)."""
from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

VERIFY_EMAIL = "verify-email"
RESET_PASSWORD = "reset-password"  # noqa: S105 - the name of a link's purpose, not a password
MAX_AGE = {VERIFY_EMAIL: 48 * 3600, RESET_PASSWORD: 3600}


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


def read(purpose: str, token: str) -> dict:
    try:
        return _serializer(purpose).loads(token, max_age=MAX_AGE[purpose])
    except SignatureExpired:
        raise LinkError("This link has expired.", expired=True) from None
    except BadSignature:
        raise LinkError("This link is not valid.") from None
