"""Tamper-evident audit trail: an append-only table, each record carrying the hash of the one before."""
from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Protocol

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import JSON, ForeignKey, RowMapping, String, Text, select, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model, db


class AuditRecord(IdMixin, Model):
    __tablename__ = "audit_log"

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(254), index=True)
    action: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    target_type: Mapped[str | None] = mapped_column(String(40), index=True)
    target_id: Mapped[str | None] = mapped_column(String(64), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)


GENESIS_HASH = "0" * 64
USER_AGENT_MAX = 300
# pg_advisory_xact_lock key that serialises appends to the chain ("FHAUDIT" in ASCII).
AUDIT_LOCK_KEY = 0x46484155444954
VERIFY_BATCH = 1000

# The fields a record's hash covers, in the order they are documented (the serialisation sorts keys anyway).
HASHED_FIELDS = ("prev_hash", "created_at", "actor_id", "actor_email", "action", "target_type", "target_id",
                 "before", "after", "reason", "ip", "user_agent")


def json_safe(value: Any) -> Any:
    """A copy of value made only of what JSON stores and gives back unchanged: dict keys become strings,
    tuples and sets lists, datetimes/dates ISO 8601, Decimals, UUIDs, Money and anything else strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [json_safe(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)  # Decimal, UUID, Money and the rest


def _canonical_time(value: datetime) -> str:
    """UTC with microseconds always written out: a value read back from SQLite (naive, tagged UTC) or from
    PostgreSQL (aware, in the session's time zone) serialises exactly as the one that was written."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def compute_hash(fields: Mapping[str, Any] | RowMapping) -> str:
    """sha256 hex of the canonical JSON of a record's hashed fields (fields: a mapping holding HASHED_FIELDS)."""
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload["created_at"] = _canonical_time(payload["created_at"])
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Client:
    """Who is at the other end of the current request: its address and user agent."""

    ip: str | None = None
    user_agent: str | None = None


def current_client() -> Client:
    """The client of the current request, or an empty one outside a request (a task, a command). Services read
    it from here for sign-in records, security notices and audit records, and never look at the request."""
    if not has_request_context():
        return Client()
    return Client(request.remote_addr, request.headers.get("User-Agent", "")[:USER_AGENT_MAX] or None)


class Target(Protocol):
    """What a record can be about: a mapped row, named by its table and its id."""

    __tablename__: str

    @property
    def id(self) -> object: ...


def _resolve_actor(actor: object) -> object:
    if actor is not None:
        return actor
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def _resolve_target(target: Target | tuple[str, object] | None) -> tuple[str | None, str | None]:
    if target is None:
        return None, None
    if isinstance(target, tuple):
        target_type, target_id = target
        return target_type, None if target_id is None else str(target_id)
    if getattr(target, "id", None) is None:
        db.session.flush()  # a new instance gets its id
    return target.__tablename__, str(target.id)


def _last_hash() -> str:
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    last = session.execute(select(AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1)).scalar()
    return last or GENESIS_HASH


def record(action: str, *, actor: object = None, target: Target | tuple[str, object] | None = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           reason: str | None = None) -> AuditRecord:
    """Append one record to the chain in the caller's transaction (flushes, never commits).

    actor: a User, or the signed-in user of the current request when None. target: a model instance, a
    (type, id) tuple or None. On PostgreSQL appends are serialised by a transaction-scoped advisory lock, held
    until the caller commits or rolls back (READ COMMITTED, the default, sees the previous append)."""
    if not action:
        raise ValueError("an audit record needs an action")
    actor = _resolve_actor(actor)
    target_type, target_id = _resolve_target(target)
    client = current_client()
    fields = {
        "actor_id": getattr(actor, "id", None),
        "actor_email": getattr(actor, "email", None),
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "before": json_safe(before),
        "after": json_safe(after),
        "reason": reason,
        "ip": client.ip,
        "user_agent": client.user_agent,
    }
    fields["prev_hash"] = _last_hash()
    # Set here, under the lock, so times follow the chain's order. A datetime carries microseconds at most, and
    # both SQLite (text) and PostgreSQL (timestamptz) store them exactly; _canonical_time always writes all six
    # digits in UTC, so the value read back hashes as the one written.
    fields["created_at"] = utcnow()
    entry = AuditRecord(**fields, hash=compute_hash(fields))
    db.session.add(entry)
    db.session.flush()
    return entry


def verify_chain() -> tuple[int, AuditRecord | None, str | None]:
    """Walk the chain in id order, recomputing every hash and checking every link.

    Returns (records checked, the first broken record or None, what is wrong with it or None). Rows are
    streamed in batches; a broken record is counted among those checked."""
    table = AuditRecord.__table__
    rows = db.session.execute(
        select(table).order_by(table.c.id).execution_options(yield_per=VERIFY_BATCH)
    ).mappings()
    checked = 0
    expected_prev, previous_id = GENESIS_HASH, None
    broken_id = problem = None
    try:
        for row in rows:
            checked += 1
            if compute_hash(row) != row["hash"]:
                broken_id, problem = row["id"], "its contents do not match its hash (the record was altered)"
            elif row["prev_hash"] != expected_prev:
                broken_id = row["id"]
                if previous_id is None:
                    problem = "it is the first record but its prev_hash is not the chain's start"
                else:
                    problem = (f"its prev_hash does not match the hash of record #{previous_id} (a record was "
                               "removed, inserted or reordered before it)")
            if broken_id is not None:
                break
            expected_prev, previous_id = row["hash"], row["id"]
    finally:
        rows.close()
    if broken_id is None:
        return checked, None, None
    return checked, db.session.get(AuditRecord, broken_id, populate_existing=True), problem
