"""Closing an investment before its term: refunded in full when its property is cancelled, or refunded less the
late fees the terms state when finance cancels it after default. The calendar goes first (with the investment
locked, before any posting), then the refund, then the status."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from app.core import audit
from app.core.errors import Conflict, Forbidden, ValidationError
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.investing import clock
from app.investing.accounts import escrow_account
from app.investing.installments import default_overdue, late_fee_for
from app.investing.lifecycle import move
from app.investing.models import CANCELLED, DEFAULTED, DUE, LIVE, VOID, Installment, Investment
from app.investing.return_calendar import drop_calendars
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, USER_WALLET
from app.notifications.services import notify
from app.payments.services import relock_card_funds
from app.properties import services as properties
from app.properties.models import Property


def refund(inv: Investment, *, keep: int, key: str, memo: str, actor_id: int | None):
    """Return what is in escrow for `inv` to the wallet, keeping `keep` as fee revenue. Returns the entry or None."""
    held = inv.escrow_amount
    keep = min(keep, held)
    back = held - keep
    if held <= 0:
        return None
    lines = [(escrow_account(inv.property_id), -held)]
    if back:
        lines.append((ledger.user_account(inv.user_id, USER_WALLET), back))
    if keep:
        lines.append((ledger.platform_account(FEE_REVENUE), keep))
    entry = ledger.post(lines, key=key, kind="investment_refund", memo=memo, actor_id=actor_id)
    relock_card_funds(inv.user_id, back)  # held card money invested comes back inside its hold
    inv.refunded_amount = back
    inv.escrow_amount = 0
    return entry


def close(inv: Investment, target: str, reason: str) -> None:
    """Drop the calendar's future, void what is still due, and give the holding's units back to the offering
    (the property row is locked already: by the cancellation, or by the funding released after default)."""
    drop_calendars([inv.id])
    properties.record_units(inv.property_id, -inv.units)
    inv.units = 0
    inv.units_listed = 0
    db.session.execute(update(Installment).where(Installment.investment_id == inv.id, Installment.status == DUE)
                       .values(status=VOID).execution_options(synchronize_session=False))
    move(inv, target, closed_at=clock.utcnow(), close_reason=reason[:500])


def cancel_property_investments(p, *, actor, reason: str) -> list[Investment]:
    """The property was cancelled: refund every live investment in full through the ledger and tell the investors.
    Called by properties.services.cancel in the same unit of work."""
    invs = list(db.session.scalars(select(Investment).where(Investment.property_id == p.id,
                                                            Investment.status.in_(LIVE))
                                   .order_by(Investment.id).with_for_update()))
    drop_calendars([inv.id for inv in invs])
    for inv in invs:
        refunded = inv.escrow_amount
        refund(inv, keep=0, key=f"investment-refund:{inv.id}", memo=f"{p.title} cancelled: investment #{inv.id}"
                f" refunded", actor_id=actor.id if actor else None)
        close(inv, CANCELLED, reason)
        notify(inv.user, "investment_refunded", link=f"/portfolio/{inv.id}", title=p.title,
               amount=Money(refunded, inv.currency).amount_str(), currency=inv.currency, reason=reason)
    db.session.flush()
    return invs


def cancel_defaulted(inv: Investment, *, actor, reason: str | None) -> Investment:
    """Finance cancels an investment whose installments are unpaid past the default period: what was paid comes
    back minus the late fees the terms state for the overdue installments; the property's funding is released."""
    if not has_permission(actor, "investments.manage"):
        raise Forbidden("this needs the investments.manage permission")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why: the investor is told."]})
    overdue, _oldest = default_overdue(inv)
    if not overdue:
        raise Conflict("this investment is not in default")
    p = db.session.get_one(Property, inv.property_id)
    today = clock.today()
    fees = sum(late_fee_for(i, p, today) for i in inv.installments if i.status == DUE)
    before: dict[str, Any] = {"status": inv.status, "paid_amount": inv.paid_amount, "escrow_amount": inv.escrow_amount}
    properties.release_funding(p.id, inv.amount)
    refund(inv, keep=fees, key=f"investment-refund:{inv.id}",
            memo=f"{p.title}: investment #{inv.id} cancelled after default", actor_id=actor.id)
    close(inv, DEFAULTED, reason.strip())
    audit.record("investments.cancel_default", actor=actor, target=inv, before=before,
                 after={"status": inv.status, "refunded": inv.refunded_amount, "fees_kept": fees},
                 reason=reason.strip())
    notify(inv.user, "investment_defaulted", link=f"/portfolio/{inv.id}", title=p.title,
           refunded=Money(inv.refunded_amount, inv.currency).amount_str(),
           fees=Money(min(fees, before["escrow_amount"]), inv.currency).amount_str(), currency=inv.currency,
           reason=reason.strip())
    return inv
