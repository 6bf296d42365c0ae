"""Field encryption at rest with MultiFernet: the newest key encrypts, every listed key decrypts."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

_cache: dict[str, MultiFernet] = {}


def fernet() -> MultiFernet:
    keys = current_app.config["FIELD_ENCRYPTION_KEYS"]
    if not keys:
        raise RuntimeError("FIELD_ENCRYPTION_KEYS is not set")
    if keys not in _cache:
        _cache[keys] = MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
    return _cache[keys]


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("a field could not be decrypted with any key in FIELD_ENCRYPTION_KEYS") from exc


def rotate(token: str) -> str:
    """Re-encrypt under the newest key."""
    return fernet().rotate(token.encode()).decode()


class EncryptedString(TypeDecorator):
    """A text column stored encrypted; Python sees the plain value."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)
