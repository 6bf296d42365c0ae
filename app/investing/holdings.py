"""Units of a holding, and moving them to another investor when a market trade settles.

A holding owns whole units of its offering's unit price: `paid_amount // unit_price`; a remainder of an older
investment that is not a whole unit stays with its holder. A trade of `units` moves their nominal value
(units x unit price) from the seller's holding to a new holding of the buyer, in the trade's transaction:

- the seller's amount, paid amount and units fall by it; the escrow still held for the holding moves in proportion
  (rounded down for the buyer, so both stay within what they paid); a holding left with nothing is `sold`;
- **returns follow the units**: whoever holds them at 00:00 UTC on a period's due date receives that whole period.
  Periods due on or before the trade date (paid, or waiting for funding) stay with the seller. Every later period
  of the calendar is split between the two holdings in proportion to the nominal value each holds, exactly to the
  cent: each side gets its exact share rounded down, and the cent left over (at most one) goes to the larger
  remainder, to the seller when the remainders are equal. Capital repayments split the same way. A holding whose
  last period (or capital) is due and unpaid has reached the end of its term and is not traded.

Lifetime calendars topped up later (return_calendar.top_up_lifetime_calendars) write each holding's new periods on
its own nominal value: the two sides may then differ from the unsplit holding's period by up to two cents (see
docs/domains/investing.md, "Units, and returns that follow them").
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, insert, select, update

from app.core.errors import Conflict, ValidationError
from app.extensions import db
from app.investing.models import ACQUIRED_TRADE, ACTIVE, SOLD, Investment, ScheduledReturn


def units_in(paid_amount: int, unit_price: int) -> int:
    """Whole units of `unit_price` in `paid_amount` (rounded down)."""
    if unit_price <= 0:
        raise ValueError("a unit price is positive")
    return max(paid_amount, 0) // unit_price


def split_two(total: int, part: int, whole: int) -> tuple[int, int]:
    """Split `total` into (the share of `part`, the share of the rest) of `whole`, exactly: shares rounded down,
    the leftover cent to the larger remainder, to the rest (the seller) when the remainders are equal."""
    if whole <= 0 or part < 0 or part > whole:
        raise ValueError("part must lie within a positive whole")
    moved, moved_rem = divmod(total * part, whole)
    kept, kept_rem = divmod(total * (whole - part), whole)
    if moved + kept < total:  # one cent left over
        if moved_rem > kept_rem:
            moved += 1
        else:
            kept += 1
    return moved, kept


def transfer_units(seller_inv: Investment, *, buyer_id: int, units: int, unit_price: int, cost: int,
                   on: date, at: datetime, documents_version: str, ip: str | None, entry_id: int | None
                   ) -> Investment:
    """Move `units` of `seller_inv` (locked by the caller, fully paid, with the units reserved for the trade in
    `units_listed`) to a new active holding of `buyer_id`; split the calendar's periods due after `on`. `cost` is
    what the buyer paid (price + fee). Returns the buyer's new investment. Flushes, never commits."""
    if units <= 0:
        raise ValidationError("a trade moves at least one unit")
    if seller_inv.status != ACTIVE:
        raise Conflict(f"holding #{seller_inv.id} is {seller_inv.status} and cannot be traded")
    if units > seller_inv.units_listed or units > seller_inv.units:
        raise Conflict(f"holding #{seller_inv.id} has fewer listed units than {units}")
    nominal = units * unit_price
    before_paid = seller_inv.paid_amount
    if nominal > before_paid:
        raise Conflict(f"holding #{seller_inv.id} does not hold {units} units")
    ended = db.session.scalar(select(ScheduledReturn.id).where(
        ScheduledReturn.investment_id == seller_inv.id, ScheduledReturn.due_on <= on,
        (ScheduledReturn.capital > 0) | ScheduledReturn.last).limit(1))
    if ended is not None:  # its term is over: the capital comes back to the seller at the next run
        raise Conflict(f"holding #{seller_inv.id} has reached the end of its term and cannot be traded")
    moved_escrow = seller_inv.escrow_amount * nominal // before_paid

    buyer_inv = Investment(
        user_id=buyer_id, property_id=seller_inv.property_id, currency=seller_inv.currency, amount=nominal,
        paid_amount=nominal, escrow_amount=moved_escrow, fees_paid=0, status=ACTIVE, invested_on=on,
        return_anchor=seller_inv.return_anchor, documents_version=documents_version, acknowledged_at=at,
        acknowledged_ip=(ip or None) and ip[:64], entry_id=entry_id, units=units, units_listed=0,
        acquired_by=ACQUIRED_TRADE, cost_amount=cost)
    db.session.add(buyer_inv)
    db.session.flush()

    left = before_paid - nominal
    db.session.execute(
        update(Investment).where(Investment.id == seller_inv.id).values(
            amount=Investment.amount - nominal, paid_amount=Investment.paid_amount - nominal,
            escrow_amount=Investment.escrow_amount - moved_escrow, units=Investment.units - units,
            units_listed=Investment.units_listed - units, status=SOLD if left == 0 else ACTIVE,
            closed_at=at if left == 0 else None, close_reason="every unit sold on the market" if left == 0 else None,
            updated_at=at)
        .execution_options(synchronize_session=False))
    _split_calendar(seller_inv, buyer_inv, nominal, before_paid, on)
    db.session.refresh(seller_inv)
    return buyer_inv


def _split_calendar(seller_inv: Investment, buyer_inv: Investment, nominal: int, whole: int, on: date) -> None:
    rows = db.session.execute(
        select(ScheduledReturn.id, ScheduledReturn.period_index, ScheduledReturn.due_on, ScheduledReturn.amount,
               ScheduledReturn.capital, ScheduledReturn.last)
        .where(ScheduledReturn.investment_id == seller_inv.id, ScheduledReturn.due_on > on)
        .order_by(ScheduledReturn.period_index)).all()
    if not rows:
        return
    buyer_rows, seller_updates = [], []
    for row in rows:
        amount_moved, amount_kept = split_two(row.amount, nominal, whole)
        capital_moved, capital_kept = split_two(row.capital, nominal, whole)
        buyer_rows.append({"investment_id": buyer_inv.id, "property_id": buyer_inv.property_id,
                           "user_id": buyer_inv.user_id, "period_index": row.period_index, "due_on": row.due_on,
                           "amount": amount_moved, "capital": capital_moved, "last": row.last})
        seller_updates.append((row.id, amount_kept, capital_kept))
    db.session.execute(insert(ScheduledReturn), buyer_rows)
    if nominal == whole:  # the seller keeps nothing of the later periods
        db.session.execute(delete(ScheduledReturn).where(ScheduledReturn.id.in_([r[0] for r in seller_updates]))
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(update(ScheduledReturn), [
            {"id": rid, "amount": amount, "capital": capital} for rid, amount, capital in seller_updates])
    db.session.flush()
