"""Paying for an investment: installments from the wallet (late fees once the grace period has passed), the
investment turning active (and its return calendar written) once fully paid, and default when one stays unpaid."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, select, update

from app.auth.services import require_verified
from app.core.errors import Conflict, IllegalTransition, InsufficientFunds, NotFound
from app.core.money import Money
from app.extensions import db
from app.investing import clock
from app.investing.accounts import escrow_account
from app.investing.holdings import units_in
from app.investing.lifecycle import move
from app.investing.models import ACTIVE, DUE, PAID, PAYING, Installment, Investment
from app.investing.return_calendar import write_calendar
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, USER_WALLET
from app.payments.services import consume_card_funds
from app.properties import services as properties
from app.properties.models import Property


def insufficient(wallet_minor: int, needed: int, currency: str) -> InsufficientFunds:
    have, need = Money(wallet_minor, currency), Money(needed, currency)
    error = InsufficientFunds(f"your wallet holds {have.amount_str()} {currency}; this needs "
                              f"{need.amount_str()} {currency}")
    error.errors = {"amount": [f"Your wallet holds {have.amount_str()} {currency}."]}
    return error


def late_fee_for(inst: Installment, p, today: date) -> int:
    """The late fee the terms state, once the due date plus the grace period has passed."""
    grace = int(current_app.config.get("INSTALLMENT_GRACE_DAYS", 3))
    if not p.late_fee or today <= inst.due_on + timedelta(days=grace):
        return 0
    return p.late_fee


def pay_installment(inv: Investment, p, inst: Installment, *, today: date, actor_id: int | None):
    """Move one installment (and its late fee, if late) from the wallet to escrow (fee to fee revenue)."""
    if inst.status != DUE:
        raise IllegalTransition(f"installment {inst.index} is {inst.status}")
    fee = late_fee_for(inst, p, today)
    wallet = ledger.user_account(inv.user_id, USER_WALLET)
    lines = [(wallet, -(inst.amount + fee)), (escrow_account(p.id), inst.amount)]
    if fee:
        lines.append((ledger.platform_account(FEE_REVENUE), fee))
    # the units this payment completes, counted on the property before the ledger locks its accounts (lock order:
    # the property row first)
    units = units_in(inv.paid_amount + inst.amount, p.unit_price)
    properties.record_units(p.id, units - inv.units)
    kind = "investment" if inst.index == 1 else "installment"
    memo = (f"{p.title}: investment #{inv.id}" if len(inv.installments) <= 1 and inst.index == 1
            else f"{p.title}: investment #{inv.id}, installment {inst.index}")
    try:
        entry = ledger.post(lines, key=f"installment:{inst.id}", kind=kind, memo=memo + (" with late fee" if fee else ""),
                            actor_id=actor_id)
    except InsufficientFunds:
        raise insufficient(wallet.balance, inst.amount + fee, inv.currency) from None
    consume_card_funds(inv.user_id, inst.amount + fee)  # invested card money is no longer inside the hold
    claimed = cast("CursorResult[Any]", db.session.execute(
        update(Installment).where(Installment.id == inst.id, Installment.status == DUE)
        .values(status=PAID, paid_at=clock.utcnow(), entry_id=entry.id, late_fee=fee)
        .execution_options(synchronize_session=False))).rowcount
    if claimed != 1:
        raise Conflict(f"installment {inst.index} was paid meanwhile")
    db.session.refresh(inst)
    inv.paid_amount += inst.amount
    inv.units = units
    inv.escrow_amount += inst.amount
    inv.fees_paid += fee
    db.session.flush()
    if inv.paid_amount == inv.amount:
        move(inv, ACTIVE)
        write_calendar(inv, p)
    return entry


def pay_installments(user, investment_id: int, *, all_remaining: bool = False) -> list[Installment]:
    """Pay the next due installment, or all remaining ones, from the wallet (late fees included)."""
    require_verified(user)
    # lock order as everywhere: the property row first (a payment counts its units there, a cancellation locks it
    # before the investments), then the investment, then the ledger accounts
    property_id = db.session.scalar(select(Investment.property_id).where(Investment.id == investment_id,
                                                                         Investment.user_id == user.id))
    if property_id is None:
        raise NotFound("no such investment")
    db.session.execute(select(Property.id).where(Property.id == property_id).with_for_update())
    inv = db.session.scalar(select(Investment).where(Investment.id == investment_id).with_for_update())
    if inv is None or inv.user_id != user.id:
        raise NotFound("no such investment")
    if inv.status != PAYING:
        raise Conflict(f"this investment is {inv.status}: nothing is due")
    p = db.session.get(Property, inv.property_id)
    due = [i for i in inv.installments if i.status == DUE]
    if not due:
        raise Conflict("nothing is due")
    chosen = due if all_remaining else due[:1]
    today = clock.today()
    needed = sum(i.amount + late_fee_for(i, p, today) for i in chosen)
    wallet = ledger.user_account(inv.user_id, USER_WALLET)
    if wallet.balance < needed:
        raise insufficient(wallet.balance, needed, inv.currency)
    for inst in chosen:
        pay_installment(inv, p, inst, today=today, actor_id=user.id)
    return chosen


def default_overdue(inv: Investment) -> tuple[bool, date | None]:
    """Whether the investment's oldest unpaid installment is past the default period, and that date."""
    days = int(current_app.config.get("INSTALLMENT_DEFAULT_DAYS", 30))
    due = [i.due_on for i in inv.installments if i.status == DUE]
    if inv.status != PAYING or not due:
        return False, None
    oldest = min(due)
    return clock.today() > oldest + timedelta(days=days), oldest
