"""`Idempotency-Key` for API calls that move money: the same key with the same body answers the first response
again; the same key with another body (or path) is a 409.

The key, the work and the answer are one unit of work. The key's row is inserted first (INSERT ... ON CONFLICT
DO NOTHING on the unique (user, key)), the view does its work in the same transaction, the answer (status code and
body) is written on the key's row, and everything commits once. A process that dies at any moment leaves either
nothing (the retry does the work) or the work with its answer (the retry replays it): never a key "in progress".

Two requests with one key at once: on PostgreSQL the second's INSERT waits on the unique index until the first
commits (then it finds the stored answer and replays it) or rolls back (then it does the work itself); on SQLite
the database's one writer serializes them the same way.

A refusal (any 4xx or 5xx) is not stored: its unit of work rolls back, key included, so nothing was done and the
same key may be sent again once the cause is fixed (a funded wallet, a verified address); it is then new work."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Response, current_app, jsonify, request
from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app.api.auth import current_api_user
from app.core.db import IdMixin, UTCDateTime, unit_of_work, utcnow
from app.core.errors import Conflict, ValidationError
from app.extensions import Model, db

# The status of a key whose answer is not written yet. Since the answer commits with the key, no committed row has
# it, except rows left by releases before this one (the claim committed on its own): those are refused, since
# whether their work was done is not known from here.
IN_PROGRESS = 0


class IdempotencyKey(IdMixin, Model):
    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_api_idempotency_keys_user_id_key"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(200), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(200), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False, default=IN_PROGRESS)
    response: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete the keys older than IDEMPOTENCY_KEYS_KEPT (a week): a client retries within minutes, so an older key
    only takes room (the nightly job, app/retention.py). Flushes, never commits. Returns the keys gone."""
    before = (now or utcnow()) - current_app.config["IDEMPOTENCY_KEYS_KEPT"]
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < before)
                                .execution_options(synchronize_session=False))
    return {"idempotency_keys": int(getattr(result, "rowcount", 0) or 0)}


class _Refused(Exception):
    """A view answered an error without raising: its unit of work rolls back all the same."""

    def __init__(self, response: Response):
        self.response = response


def _fingerprint() -> str:
    body = request.get_json(silent=True)
    if body is None:
        body = {k: request.form.getlist(k) for k in sorted(request.form)}
    return hashlib.sha256(json.dumps({"path": request.path, "body": body}, sort_keys=True,
                                     default=str).encode()).hexdigest()


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a view that returns an envelope (smorest) for the current API user: with an `Idempotency-Key`, the
    view runs inside this one unit of work (its own units join it) and its answer commits with the key."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if not key:
            return view(*args, **kwargs)
        if len(key) > 200:
            raise ValidationError("the Idempotency-Key header is too long", {"Idempotency-Key": ["At most 200."]})
        user = current_api_user()
        fingerprint = _fingerprint()
        try:
            with unit_of_work():
                claim_id = _claim(user.id, key, fingerprint)
                if claim_id is None:  # answered before (committed): replay it, or refuse another request
                    return _replay(user.id, key, fingerprint)
                response = current_app.make_response(view(*args, **kwargs))
                if response.status_code >= 400:
                    raise _Refused(response)
                _store(claim_id, response.status_code, response.get_json())
        except _Refused as refused:
            return refused.response
        return response

    wrapped._api_idempotent = True  # type: ignore[attr-defined]  # the OpenAPI document lists its 409
    return wrapped


def _claim(user_id: int, key: str, fingerprint: str) -> int | None:
    """Insert the key's row in the current transaction; None when a committed row has the key already. A row
    another transaction inserted and has not committed yet makes this wait for its outcome."""
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    table = IdempotencyKey.__table__
    statement = (insert(table).values(user_id=user_id, key=key, endpoint=request.path[:200],
                                      request_hash=fingerprint, status_code=IN_PROGRESS, created_at=utcnow())
                 .on_conflict_do_nothing(index_elements=["user_id", "key"]).returning(table.c.id))
    return db.session.execute(statement).scalar()


def _replay(user_id: int, key: str, fingerprint: str) -> Response:
    existing = db.session.scalars(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                               IdempotencyKey.key == key)
                                  .execution_options(populate_existing=True)).one()
    if existing.request_hash != fingerprint:
        raise Conflict("this Idempotency-Key was used with another request",
                       {"Idempotency-Key": ["Already used with a different body."]})
    if existing.status_code == IN_PROGRESS:
        raise Conflict("a request with this Idempotency-Key was interrupted before its answer was kept: look at "
                       "what it would have done, then send it again with a new key")
    response = jsonify(existing.response)
    response.status_code = existing.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _store(claim_id: int, status_code: int, body: dict | None) -> None:
    row = db.session.get(IdempotencyKey, claim_id)
    if row is None:  # inserted by this transaction a moment ago
        raise RuntimeError(f"idempotency key {claim_id} is gone")
    row.status_code, row.response = status_code, body
    db.session.flush()
