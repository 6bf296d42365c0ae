"""Bank-file batches: approved payouts exported together in one CSV bank file (written by `app.core.csvfile`, so
no cell runs as a formula), each payout in one batch only; the file downloaded again (an audited export); the batch
marked paid as a whole with one bank reference."""
from __future__ import annotations

import hashlib
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from app.core import audit
from app.core.csvfile import csv_text
from app.core.db import utcnow
from app.core.errors import Conflict, ValidationError
from app.core.money import Money
from app.core.states import transition
from app.extensions import db
from app.payouts.models import (
    BATCH_EXPORTED,
    BATCH_PAID,
    BATCH_TRANSITIONS,
    PAYOUT_APPROVED,
    Payout,
    PayoutBatch,
)
from app.payouts.requests import clean_bank_reference, log_event, mark_paid, require_staff

BANK_FILE_HEADER = ("payout_id", "beneficiary_name", "bank_name", "account_number", "iban", "routing_number", "bic",
                    "country", "amount", "currency", "reference")


def bank_file_rows(payouts: list[Payout]) -> list[tuple]:
    """One row per payout under BANK_FILE_HEADER (numbers in clear: the file goes to the bank)."""
    rows = []
    for p in payouts:
        m = p.method
        rows.append((p.id, m.holder_name, m.bank_name, m.account_number, m.iban or "", m.routing_number or "",
                     m.bic or "", m.country, Money(p.amount, p.currency).amount_str(), p.currency,
                     f"FREEHOLD PAYOUT {p.id}"))
    return rows


def bank_file(payouts: list[Payout]) -> str:
    return csv_text(BANK_FILE_HEADER, bank_file_rows(payouts))


def _sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def create_batch(payout_ids: list[int], *, actor) -> tuple[PayoutBatch, str]:
    """Put approved payouts into one bank file. Each payout goes into one batch only."""
    require_staff(actor)
    ids = sorted({int(i) for i in payout_ids})
    if not ids:
        raise ValidationError("select at least one approved payout")
    payouts = list(db.session.scalars(select(Payout).where(Payout.id.in_(ids)).order_by(Payout.id)
                                      .with_for_update()))
    problems = [f"#{i}: not found" for i in sorted(set(ids) - {p.id for p in payouts})]
    for p in payouts:
        if p.status != PAYOUT_APPROVED:
            problems.append(f"#{p.id}: {p.status}, not approved")
        elif p.batch_id is not None:
            problems.append(f"#{p.id}: already in batch #{p.batch_id}")
        elif p.user_id == actor.id:
            problems.append(f"#{p.id}: your own account")
    if problems:
        raise ValidationError("these payouts cannot go into a bank file", {"payouts": problems})
    currencies = {p.currency for p in payouts}
    if len(currencies) != 1:
        raise ValidationError("one bank file holds one currency")
    content = bank_file(payouts)
    batch = PayoutBatch(status=BATCH_EXPORTED, payout_count=len(payouts), total_amount=sum(p.amount for p in payouts),
                        currency=currencies.pop(), file_sha256=_sha256(content), created_by_id=actor.id)
    db.session.add(batch)
    db.session.flush()
    claimed = cast("CursorResult[Any]", db.session.execute(
        update(Payout).where(Payout.id.in_(ids), Payout.status == PAYOUT_APPROVED, Payout.batch_id.is_(None))
        .values(batch_id=batch.id).execution_options(synchronize_session=False))).rowcount
    if claimed != len(ids):
        raise Conflict("some payouts were changed meanwhile: try again")
    for p in payouts:
        db.session.refresh(p)
        log_event(p, "batched", p.status, p.status, actor_id=actor.id, detail={"batch": batch.id})
    audit.record("payouts.batch_exported", actor=actor, target=batch,
                 after={"payouts": ids, "total": batch.total_amount, "sha256": batch.file_sha256})
    return batch, content


def batch_file(batch: PayoutBatch, *, actor) -> list[tuple]:
    """The rows of the batch's bank file again, under BANK_FILE_HEADER (the same rows; downloading them is an
    export and audited with the file's SHA-256)."""
    require_staff(actor)
    rows = bank_file_rows(list(batch.payouts))
    audit.record("payouts.batch_downloaded", actor=actor, target=batch,
                 after={"sha256": _sha256(csv_text(BANK_FILE_HEADER, rows))})
    return rows


def mark_batch_paid(batch: PayoutBatch, *, actor, bank_reference: str | None) -> list[Payout]:
    """The bank executed the file: every payout of the batch still approved is paid with the one reference
    (a payout marked failed on its own meanwhile stays failed)."""
    require_staff(actor)
    reference = clean_bank_reference(bank_reference)
    transition(batch, BATCH_PAID, BATCH_TRANSITIONS, what=f"batch #{batch.id}",
               bank_reference=reference, paid_by_id=actor.id, paid_at=utcnow())
    paid = []
    for payout in batch.payouts:
        if payout.status == PAYOUT_APPROVED:
            paid.append(mark_paid(payout, actor=actor, bank_reference=reference))
    audit.record("payouts.batch_paid", actor=actor, target=batch,
                 after={"bank_reference": reference, "paid": [p.id for p in paid]})
    return paid
