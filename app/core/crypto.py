"""Field encryption at rest with MultiFernet: the newest key encrypts, every listed key decrypts."""
from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from app.extensions import db

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


class EncryptedString(TypeDecorator[str]):
    """A text column stored encrypted; Python sees the plain value."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value)


def encrypted_columns() -> list[tuple[str, str]]:
    """(table, column) of every column stored with EncryptedString."""
    return [(table.name, column.name) for table in db.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, EncryptedString)]


def rotate_all(batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every encrypted field under the newest key (keyset batches; the caller commits).
    After it has run, older keys can be dropped from FIELD_ENCRYPTION_KEYS."""
    counts: dict[str, int] = {}
    for table, column in encrypted_columns():
        done, last_id = 0, 0
        while True:
            rows = db.session.execute(text(
                f"SELECT id, {column} FROM {table} WHERE id > :last AND {column} IS NOT NULL "  # noqa: S608 - names from the models, not input
                f"ORDER BY id LIMIT :n"), {"last": last_id, "n": batch_size}).all()
            if not rows:
                break
            db.session.execute(text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),  # noqa: S608 - model names
                               [{"id": row_id, "value": rotate(token)} for row_id, token in rows])
            done += len(rows)
            last_id = rows[-1][0]
        counts[f"{table}.{column}"] = done
    db.session.expire_all()
    return counts
