"""`Idempotency-Key` for API calls that move money: the same key with the same body answers the first response
again; the same key with another body is a 409; a key is claimed before the work starts, so two requests racing
with one key cannot both do it."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import wraps

from flask import current_app, jsonify, request
from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.api.auth import current_api_user
from app.core.db import IdMixin, UTCDateTime, discard, in_unit_of_work, unit_of_work, utcnow
from app.core.errors import Conflict, DomainError, ValidationError
from app.extensions import Model, db

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


def _fingerprint() -> str:
    body = request.get_json(silent=True)
    if body is None:
        body = {k: request.form.getlist(k) for k in sorted(request.form)}
    return hashlib.sha256(json.dumps({"path": request.path, "body": body}, sort_keys=True,
                                     default=str).encode()).hexdigest()


def idempotent(view):
    """Wrap a view that returns an envelope dict (smorest) for the current API user.

    Three units of work, in this order: the key is claimed (committed before the work starts, so a second request
    with it sees the claim); the view runs its own; the answer is stored with the key. A refusal (DomainError) is
    stored and replayed like an answer; any other error releases the key, so the same request may be tried again."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if not key:
            return view(*args, **kwargs)
        if len(key) > 200:
            raise ValidationError("the Idempotency-Key header is too long", {"Idempotency-Key": ["At most 200."]})
        if in_unit_of_work():
            raise RuntimeError("an idempotent view commits its claim first: it cannot run inside a unit of work")
        user = current_api_user()
        fingerprint = _fingerprint()
        existing = _claim_of(user.id, key)
        if existing is None:
            claim = IdempotencyKey(user_id=user.id, key=key, endpoint=request.path[:200], request_hash=fingerprint)
            try:
                with unit_of_work():
                    db.session.add(claim)
            except IntegrityError:  # the same key claimed meanwhile by a concurrent request
                existing = _claim_of(user.id, key)
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise Conflict("this Idempotency-Key was used with another request",
                               {"Idempotency-Key": ["Already used with a different body."]})
            if existing.status_code == IN_PROGRESS:
                raise Conflict("a request with this Idempotency-Key is still in progress")
            response = jsonify(existing.response)
            response.status_code = existing.status_code
            response.headers["Idempotent-Replayed"] = "true"
            return response
        claim_id = claim.id
        try:
            result = view(*args, **kwargs)
        except DomainError as exc:  # a refusal is an answer too: replay it
            discard()
            with unit_of_work():
                _store(claim_id, exc.status, {"status": "error", "message": exc.message, "errors": exc.errors})
            raise
        except Exception:
            discard()
            with unit_of_work():
                _release(claim_id)
            raise
        response = current_app.make_response(result)
        with unit_of_work():
            _store(claim_id, response.status_code, response.get_json())
        return response

    wrapped._api_idempotent = True  # the OpenAPI document lists its 409 (app.api.ErrorResponses)
    return wrapped


def _claim_of(user_id: int, key: str) -> IdempotencyKey | None:
    return db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                          IdempotencyKey.key == key))


def _store(claim_id: int, status_code: int, body: dict) -> None:
    row = db.session.get(IdempotencyKey, claim_id)
    if row is None:  # released only on an unexpected error, which never stores an answer
        raise RuntimeError(f"idempotency claim {claim_id} is gone")
    row.status_code, row.response = status_code, body


def _release(claim_id: int) -> None:
    row = db.session.get(IdempotencyKey, claim_id)
    if row is not None:
        db.session.delete(row)
