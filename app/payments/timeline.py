"""What a deposit tells: its timeline (every state change, gateway event, ledger entry and staff decision), the
flags that put it in front of finance, and the notices that tell its investor the outcome once it is committed.
Services flush and never commit."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.core import audit
from app.core.db import enqueue_after_commit, utcnow
from app.core.errors import ValidationError
from app.core.money import Money
from app.extensions import db
from app.notifications import services as notifications
from app.payments.gateway_settings import GATEWAY_LABELS
from app.payments.models import Deposit, DepositEvent

_TIMELINE_BATCH = "freehold_deposit_timeline"
_NOTICE_BATCH = "freehold_deposit_notices"


def log(deposit: Deposit, kind: str, detail: dict | None = None, *, actor_id: int | None = None) -> None:
    """Add to the deposit's timeline (written with the rest of the unit of work)."""
    batch = db.session.info.get(_TIMELINE_BATCH)
    if batch is not None:
        batch.append({"deposit_id": deposit.id, "kind": kind, "detail": detail, "actor_id": actor_id,
                      "created_at": utcnow()})
        return
    db.session.add(DepositEvent(deposit_id=deposit.id, kind=kind, detail=detail, actor_id=actor_id))


@contextmanager
def timeline_batch() -> Iterator[None]:
    """Timeline rows logged inside are written together at the end, by one statement (a webhook logs three)."""
    rows = db.session.info[_TIMELINE_BATCH] = []
    try:
        yield
        if rows:  # executemany: SQLAlchemy sends them as one multi-row INSERT, its SQL compiled once
            db.session.connection().execute(DepositEvent.__table__.insert(), rows)
    finally:
        db.session.info.pop(_TIMELINE_BATCH, None)


def tell_investor(deposit: Deposit, event: str, **context) -> None:
    """Tell the investor, once the outcome is committed (its own task: rendering and delivery rows stay off the
    path that credits the money). Amounts travel as {amount, currency} and are written in the investor's language
    when the message is rendered."""
    money = Money(deposit.amount, deposit.currency)
    notice = (deposit.user_id, event, {"deposit_id": deposit.id, "amount": money.as_dict(),
                                       "gateway": GATEWAY_LABELS.get(deposit.gateway, deposit.gateway), **context})
    batch = db.session.info.get(_NOTICE_BATCH)
    if batch is not None:
        batch.append(notice)
        return
    enqueue_after_commit("payments.notify_outcome", *notice)


@contextmanager
def notices_batch() -> Iterator[None]:
    """Outcome notices given inside go out as one task once the unit of work commits (the drainer's batch):
    one message for the batch instead of one per deposit."""
    notices = db.session.info[_NOTICE_BATCH] = []
    try:
        yield
        if notices:
            enqueue_after_commit("payments.notify_outcomes", notices)
    finally:
        db.session.info.pop(_NOTICE_BATCH, None)


def flag(deposit: Deposit, reason: str) -> None:
    """Never credit what does not match: put it in front of finance instead."""
    if deposit.attention_reason == reason:
        return
    deposit.attention_reason = reason[:500]
    deposit.attention_at = utcnow()
    db.session.flush()
    log(deposit, "flagged", {"reason": reason})
    notifications.notify(None, "deposit_attention_staff", deposit_id=deposit.id, reason=reason,
                         amount=Money(deposit.amount, deposit.currency).display())


def resolve_attention(deposit: Deposit, *, actor, note: str | None) -> None:
    if not note or not note.strip():
        raise ValidationError("say how it was resolved", {"note": ["Required."]})
    log(deposit, "attention_resolved", {"note": note.strip(), "was": deposit.attention_reason}, actor_id=actor.id)
    audit.record("deposits.attention_resolved", actor=actor, target=deposit,
                 before={"reason": deposit.attention_reason}, reason=note.strip())
    deposit.attention_reason, deposit.attention_at = None, None
    db.session.flush()
