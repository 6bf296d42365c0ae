"""Reconciliation: the gateways' completed payments matched to deposits; each difference recorded once for finance,
who resolve it with a note. Services flush and never commit."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.core import audit
from app.core.db import utcnow
from app.core.errors import IllegalTransition, ValidationError
from app.extensions import db
from app.payments.gateway_settings import GATEWAYS
from app.payments.gateways.registry import get_gateway
from app.payments.models import DEPOSIT_REFUNDED, DEPOSIT_SUCCEEDED, Deposit, ReconciliationItem


def reconcile(days: int = 3) -> int:
    """Match the gateways' completed payments to deposits; record each difference once for finance."""
    since = utcnow() - timedelta(days=days)
    found = 0
    reference: str | None  # one the gateway lists, then a credited deposit's own
    for name in GATEWAYS:
        gateway = get_gateway(name)
        if not gateway.automatic or not gateway.enabled():
            continue
        paid = {p.reference: p for p in gateway.list_paid(since)}
        credited = {d.gateway_reference: d for d in db.session.scalars(select(Deposit).where(
            Deposit.gateway == name, Deposit.status.in_((DEPOSIT_SUCCEEDED, DEPOSIT_REFUNDED)),
            Deposit.completed_at >= since))}
        for reference, payment in paid.items():
            deposit = credited.get(reference) or db.session.scalar(
                select(Deposit).where(Deposit.gateway == name, Deposit.gateway_reference == reference))
            if deposit is None or deposit.status not in (DEPOSIT_SUCCEEDED, DEPOSIT_REFUNDED):
                found += _record_item(name, reference, "paid_not_credited", deposit, payment.amount, None,
                                      payment.currency)
            elif payment.amount != deposit.amount + deposit.fee:
                found += _record_item(name, reference, "amount_mismatch", deposit, payment.amount,
                                      deposit.amount + deposit.fee, payment.currency)
        for reference, deposit in credited.items():
            if reference not in paid and deposit.status == DEPOSIT_SUCCEEDED:
                found += _record_item(name, reference, "credited_not_paid", deposit, None,
                                      deposit.amount + deposit.fee, deposit.currency)
    return found


def _record_item(provider, reference, kind, deposit, gateway_amount, ledger_amount, currency) -> int:
    exists = db.session.scalar(select(ReconciliationItem.id).where(
        ReconciliationItem.provider == provider, ReconciliationItem.reference == reference,
        ReconciliationItem.kind == kind))
    if exists is not None:
        return 0
    db.session.add(ReconciliationItem(provider=provider, reference=reference, kind=kind,
                                      deposit_id=deposit.id if deposit else None, gateway_amount=gateway_amount,
                                      ledger_amount=ledger_amount, currency=currency.upper()))
    db.session.flush()
    return 1


def resolve_item(item: ReconciliationItem, *, actor, note: str | None) -> None:
    if item.resolved_at is not None:
        raise IllegalTransition("already resolved")
    if not note or not note.strip():
        raise ValidationError("say how it was resolved", {"note": ["Required."]})
    item.resolved_at, item.resolved_by_id, item.resolution = utcnow(), actor.id, note.strip()
    db.session.flush()
    audit.record("reconciliation.resolve", actor=actor, target=item, after={"kind": item.kind,
                                                                          "reference": item.reference},
                 reason=note.strip())
