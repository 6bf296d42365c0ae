"""Investing: committing wallet money to a property, paying installments, the return calendar, cancellations.

Services flush and never commit. One investment is one unit of work: the investment row, its installment plan,
the ledger entry (wallet -> the property's escrow), the property's raised amount (a conditional UPDATE that also
locks the property row) and, once fully paid, its return calendar.

Lock order, everywhere: the property row first (record_funding), then ledger accounts in id order (ledger.post).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, insert, select, union_all, update

from app.core.db import utcnow
from app.core.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InsufficientFunds,
    NotFound,
    ValidationError,
)
from app.core.money import Money
from app.extensions import db
from app.investing import schedule
from app.investing.models import (
    ACTIVE,
    CANCELLED,
    DEFAULTED,
    DUE,
    INVESTMENT_TRANSITIONS,
    LIVE,
    PAID,
    PAYING,
    VOID,
    Installment,
    Investment,
    ReturnPayment,
    ScheduledReturn,
)
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, PROPERTY_ESCROW, RETURNS_FUNDING, USER_WALLET
from app.properties.services import offering_version  # the fingerprint investors acknowledge; re-exported

LIFETIME_HORIZON_YEARS = 25  # lifetime return calendars are written this far ahead, topped up by the daily job
TOP_UP_WHEN_YEARS_LEFT = 5


# accounts ------------------------------------------------------------------------------------------------------------
def escrow_account(property_id: int):
    return ledger.platform_account(PROPERTY_ESCROW, ref=str(property_id))


def distributions_account(property_id: int):
    """The property operator's distributions account: returns are paid from it; below zero it shows what the
    operator owes the platform."""
    return ledger.platform_account(RETURNS_FUNDING, ref=str(property_id))


# reading ------------------------------------------------------------------------------------------------------------
def get_for_user(investment_id: int, user) -> Investment:
    """The caller's own investment; someone else's is indistinguishable from a missing one."""
    inv = db.session.get(Investment, investment_id)
    if inv is None or inv.user_id != user.id:
        raise NotFound("no such investment")
    return inv


def live_investment_total(property_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Investment.amount), 0)).where(
        Investment.property_id == property_id, Investment.status.in_(LIVE))) or 0


def has_investments(property_id: int) -> bool:
    return db.session.scalar(select(func.count(Investment.id)).where(Investment.property_id == property_id)) > 0


def _today() -> date:
    return utcnow().date()


def first_installment(p, total: int) -> int:
    """What the investor pays today for a commitment of `total` (the whole amount unless in installments)."""
    terms = schedule.Terms.from_property(p)
    if (terms.installments_count or 1) <= 1:
        return total
    return schedule.installment_plan(total, terms, _today())[0].amount


def check_amount(p, amount: int) -> None:
    """Refuse an amount outside the property's terms (422), with a message an investor understands."""
    cur = p.currency

    def fmt(minor):
        return Money(minor, cur).amount_str()

    if p.fixed_amount:
        if amount != p.fixed_amount:
            raise ValidationError(f"this offering takes exactly {fmt(p.fixed_amount)} {cur} per investment",
                                  {"amount": [f"Exactly {fmt(p.fixed_amount)} {cur}."]})
        return
    low, high = p.min_investment or 1, p.max_investment
    if amount < low:
        raise ValidationError(f"the minimum investment is {fmt(low)} {cur}",
                              {"amount": [f"At least {fmt(low)} {cur}."]})
    if high and amount > high:
        raise ValidationError(f"the maximum investment is {fmt(high)} {cur}",
                              {"amount": [f"At most {fmt(high)} {cur}."]})
    count = p.installments_count or 1
    if count > 1 and amount < count:
        raise ValidationError("the amount is too small to split into installments",
                              {"amount": [f"At least {fmt(count)} {cur}."]})


def _check_open(p, now: datetime) -> None:
    from app.properties.models import ACTIVE as PROPERTY_ACTIVE

    if p.status != PROPERTY_ACTIVE:
        raise Conflict(f"this property is {p.status} and not open for investment")
    if p.funding_starts_at and now < p.funding_starts_at:
        raise Conflict(f"funding opens on {p.funding_starts_at:%d %B %Y}")
    if p.funding_ends_at and now >= p.funding_ends_at:
        raise Conflict(f"funding closed on {p.funding_ends_at:%d %B %Y}")


# investing ------------------------------------------------------------------------------------------------------------
def invest(user, property_id: int, amount: Money, *, acknowledged: bool, documents_version: str | None = None,
           ip: str | None = None) -> Investment:
    """Commit `amount` (the whole investment; with installments the first one is paid now) from the wallet.

    403 without a verified e-mail and approved KYC; 409 when the property is not open or not enough funding is left;
    422 outside the terms, without acknowledging the documents, or when the wallet does not hold the payment."""
    from app.auth.services import require_verified
    from app.kyc import services as kyc
    from app.properties import services as properties
    from app.properties.models import Property

    require_verified(user)
    kyc.require_approved(user, kyc.INVEST)
    p = db.session.get(Property, property_id)
    if p is None or p.status == "draft":
        raise NotFound("no such property")
    if amount.currency != p.currency:
        raise ValidationError(f"this property is funded in {p.currency}", {"amount": [f"Use {p.currency}."]})
    if amount.minor <= 0:
        raise ValidationError("the amount must be positive", {"amount": ["Must be more than zero."]})
    now = utcnow()
    _check_open(p, now)
    check_amount(p, amount.minor)
    if not acknowledged:
        raise ValidationError("please confirm you have read the offering documents",
                              {"acknowledge": ["Confirm you have read the offering documents and terms."]})
    version = offering_version(p)
    if documents_version and documents_version != version:
        raise Conflict("the offering documents or terms changed since you opened the page: please review them again",
                       {"acknowledge": ["The documents changed: review them again."]})
    if amount.minor > p.remaining_amount:
        raise _not_enough_left(p)

    # the property row first: the conditional UPDATE serialises investments into one property
    try:
        properties.record_funding(p.id, amount.minor, actor=user)
    except Conflict:  # another investment took the room meanwhile: say what is left, in the investor's words
        _check_open(p, now)
        raise _not_enough_left(p) from None

    terms = schedule.Terms.from_property(p)
    today = now.date()
    inv = Investment(user_id=user.id, property_id=p.id, currency=p.currency, amount=amount.minor, paid_amount=0,
                     escrow_amount=0, fees_paid=0, status=PAYING, invested_on=today, documents_version=version,
                     acknowledged_at=now, acknowledged_ip=(ip or None) and ip[:64])
    db.session.add(inv)
    db.session.flush()
    plan = schedule.installment_plan(amount.minor, terms, today)
    db.session.add_all(Installment(investment_id=inv.id, index=i.index, due_on=i.due_on, amount=i.amount, status=DUE)
                       for i in plan)
    db.session.flush()
    first = db.session.scalar(select(Installment).where(Installment.investment_id == inv.id,
                                                        Installment.index == 1))
    entry = _pay_installment(inv, p, first, today=today, actor_id=user.id)
    inv.entry_id = entry.id
    db.session.flush()

    from app.notifications.services import notify

    notify(user, "investment_confirmed", link=f"/portfolio/{inv.id}", title=p.title,
           amount=Money(inv.amount, inv.currency).amount_str(), currency=inv.currency,
           paid=Money(inv.paid_amount, inv.currency).amount_str(),
           installments=len(plan))
    if p.status == "funded":
        tell_funded(p)
    return inv


def _not_enough_left(p) -> Conflict:
    left = Money(p.remaining_amount, p.currency)
    return Conflict(f"not enough funding left: {left.amount_str()} {p.currency} remains",
                    {"amount": [f"At most {left.amount_str()} {p.currency} remains."]})


def _insufficient(wallet_minor: int, needed: int, currency: str) -> InsufficientFunds:
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


def _pay_installment(inv: Investment, p, inst: Installment, *, today: date, actor_id: int | None):
    """Move one installment (and its late fee, if late) from the wallet to escrow (fee to fee revenue)."""
    if inst.status != DUE:
        raise IllegalTransition(f"installment {inst.index} is {inst.status}")
    fee = late_fee_for(inst, p, today)
    wallet = ledger.user_account(inv.user_id, USER_WALLET)
    lines = [(wallet, -(inst.amount + fee)), (escrow_account(p.id), inst.amount)]
    if fee:
        lines.append((ledger.platform_account(FEE_REVENUE), fee))
    kind = "investment" if inst.index == 1 else "installment"
    memo = (f"{p.title}: investment #{inv.id}" if len(inv.installments) <= 1 and inst.index == 1
            else f"{p.title}: investment #{inv.id}, installment {inst.index}")
    try:
        entry = ledger.post(lines, key=f"installment:{inst.id}", kind=kind, memo=memo + (" with late fee" if fee else ""),
                            actor_id=actor_id)
    except InsufficientFunds:
        raise _insufficient(wallet.balance, inst.amount + fee, inv.currency) from None
    claimed = db.session.execute(
        update(Installment).where(Installment.id == inst.id, Installment.status == DUE)
        .values(status=PAID, paid_at=utcnow(), entry_id=entry.id, late_fee=fee)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise Conflict(f"installment {inst.index} was paid meanwhile")
    db.session.refresh(inst)
    inv.paid_amount += inst.amount
    inv.escrow_amount += inst.amount
    inv.fees_paid += fee
    db.session.flush()
    if inv.paid_amount == inv.amount:
        _move(inv, ACTIVE)
        write_calendar(inv, p)
    return entry


def pay_installments(user, investment_id: int, *, all_remaining: bool = False) -> list[Installment]:
    """Pay the next due installment, or all remaining ones, from the wallet (late fees included)."""
    from app.auth.services import require_verified
    from app.properties.models import Property

    require_verified(user)
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
    today = _today()
    needed = sum(i.amount + late_fee_for(i, p, today) for i in chosen)
    wallet = ledger.user_account(inv.user_id, USER_WALLET)
    if wallet.balance < needed:
        raise _insufficient(wallet.balance, needed, inv.currency)
    for inst in chosen:
        _pay_installment(inv, p, inst, today=today, actor_id=user.id)
    return chosen


# the return calendar ---------------------------------------------------------------------------------------------------
def _calendar_limit(terms: schedule.Terms) -> int | None:
    if not terms.is_lifetime:
        return None
    if terms.return_frequency == "days":
        return max(1, LIFETIME_HORIZON_YEARS * 365 // terms.return_every_days)
    return LIFETIME_HORIZON_YEARS * 12 // schedule.MONTHS_PER_PERIOD[terms.return_frequency]


def write_calendar(inv: Investment, p, *, start_index: int = 1) -> int:
    """Write the investment's return calendar (ScheduledReturn rows) from its anchor; returns rows written."""
    terms = schedule.Terms.from_property(p)
    last_installment = max((i.due_on for i in inv.installments), default=None)
    if (terms.installments_count or 1) <= 1:
        last_installment = None
    closes = p.funding_ends_at.date() if p.funding_ends_at else None
    inv.return_anchor = schedule.return_anchor(closes, inv.invested_on, last_installment)
    limit = _calendar_limit(terms)
    rows = schedule.return_schedule(inv.amount, terms, inv.return_anchor, limit=limit)
    rows = [r for r in rows if r.index >= start_index]
    if rows:
        last_index = None if terms.is_lifetime else terms.return_periods
        db.session.execute(insert(ScheduledReturn), [
            {"investment_id": inv.id, "property_id": inv.property_id, "user_id": inv.user_id,
             "period_index": r.index, "due_on": r.due_on, "amount": r.amount, "capital": r.capital,
             "last": r.index == last_index} for r in rows])
    db.session.flush()
    return len(rows)


def top_up_lifetime_calendars(as_of: date | None = None) -> int:
    """Extend lifetime calendars that have fewer than TOP_UP_WHEN_YEARS_LEFT years ahead; returns rows written.
    A calendar's last period is the latest of the periods still to pay and those paid."""
    from app.properties.models import Property

    as_of = as_of or _today()
    horizon = as_of + timedelta(days=365 * TOP_UP_WHEN_YEARS_LEFT)
    periods = union_all(
        select(ScheduledReturn.investment_id, ScheduledReturn.period_index, ScheduledReturn.due_on),
        select(ReturnPayment.investment_id, ReturnPayment.period_index, ReturnPayment.due_on)).subquery()
    last = (select(periods.c.investment_id, func.max(periods.c.period_index).label("last_index"),
                   func.max(periods.c.due_on).label("last_due"))
            .group_by(periods.c.investment_id).subquery())
    rows = db.session.execute(
        select(Investment, Property, last.c.last_index)
        .join(Property, Property.id == Investment.property_id)
        .join(last, last.c.investment_id == Investment.id)
        .where(Investment.status == ACTIVE, Property.return_periods.is_(None), last.c.last_due < horizon)).all()
    written = 0
    for inv, p, last_index in rows:
        terms = schedule.Terms.from_property(p)
        extra = schedule.return_schedule(inv.amount, terms, inv.return_anchor,
                                         limit=last_index + (_calendar_limit(terms) or 0))
        new = [r for r in extra if r.index > last_index]
        if new:
            db.session.execute(insert(ScheduledReturn), [
                {"investment_id": inv.id, "property_id": inv.property_id, "user_id": inv.user_id,
                 "period_index": r.index, "due_on": r.due_on, "amount": r.amount, "capital": 0, "last": False}
                for r in new])
            written += len(new)
    db.session.flush()
    return written


def next_return(inv: Investment) -> ScheduledReturn | None:
    if inv.status != ACTIVE:
        return None
    return db.session.scalar(select(ScheduledReturn).where(ScheduledReturn.investment_id == inv.id)
                             .order_by(ScheduledReturn.period_index).limit(1))


def returns_earned(investment_ids: list[int]) -> dict[int, int]:
    """Returns paid per investment (capital excluded), in one query."""
    if not investment_ids:
        return {}
    rows = db.session.execute(select(ReturnPayment.investment_id, func.sum(ReturnPayment.amount))
                              .where(ReturnPayment.investment_id.in_(investment_ids))
                              .group_by(ReturnPayment.investment_id)).all()
    return {i: int(total or 0) for i, total in rows}


def next_returns(investment_ids: list[int]) -> dict[int, ScheduledReturn]:
    """The next unpaid period per investment, in one query."""
    if not investment_ids:
        return {}
    first = (select(ScheduledReturn.investment_id, func.min(ScheduledReturn.period_index).label("idx"))
             .where(ScheduledReturn.investment_id.in_(investment_ids))
             .group_by(ScheduledReturn.investment_id).subquery())
    rows = db.session.scalars(select(ScheduledReturn).join(
        first, (first.c.investment_id == ScheduledReturn.investment_id) & (first.c.idx == ScheduledReturn.period_index)))
    return {r.investment_id: r for r in rows}


# state -----------------------------------------------------------------------------------------------------------------
def _move(inv: Investment, target: str, **values) -> None:
    if target not in INVESTMENT_TRANSITIONS[inv.status]:
        raise IllegalTransition(f"a {inv.status} investment cannot become {target}")
    moved = db.session.execute(
        update(Investment).where(Investment.id == inv.id, Investment.status == inv.status)
        .values(status=target, updated_at=utcnow(), **values).execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        db.session.refresh(inv)
        raise IllegalTransition(f"the investment is {inv.status} now")
    db.session.refresh(inv)


def _refund(inv: Investment, *, keep: int, key: str, memo: str, actor_id: int | None):
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
    inv.refunded_amount = back
    inv.escrow_amount = 0
    return entry


def _drop_calendars(investment_ids: list[int]) -> None:
    """Delete the periods still to pay. Called with the investments locked and before any posting: a distribution
    batch holding some of those periods is waited for (they are then paid, and gone), and never waits for us."""
    if investment_ids:
        db.session.execute(delete(ScheduledReturn).where(ScheduledReturn.investment_id.in_(investment_ids))
                           .execution_options(synchronize_session=False))


def _close(inv: Investment, target: str, reason: str) -> None:
    _drop_calendars([inv.id])
    db.session.execute(update(Installment).where(Installment.investment_id == inv.id, Installment.status == DUE)
                       .values(status=VOID).execution_options(synchronize_session=False))
    _move(inv, target, closed_at=utcnow(), close_reason=reason[:500])


def cancel_property_investments(p, *, actor, reason: str) -> list[Investment]:
    """The property was cancelled: refund every live investment in full through the ledger and tell the investors.
    Called by properties.services.cancel in the same unit of work."""
    from app.notifications.services import notify

    invs = list(db.session.scalars(select(Investment).where(Investment.property_id == p.id,
                                                            Investment.status.in_(LIVE))
                                   .order_by(Investment.id).with_for_update()))
    _drop_calendars([inv.id for inv in invs])
    for inv in invs:
        refunded = inv.escrow_amount
        _refund(inv, keep=0, key=f"investment-refund:{inv.id}", memo=f"{p.title} cancelled: investment #{inv.id}"
                f" refunded", actor_id=actor.id if actor else None)
        _close(inv, CANCELLED, reason)
        notify(inv.user, "investment_refunded", link=f"/portfolio/{inv.id}", title=p.title,
               amount=Money(refunded, inv.currency).amount_str(), currency=inv.currency, reason=reason)
    db.session.flush()
    return invs


def default_overdue(inv: Investment) -> tuple[bool, date | None]:
    """Whether the investment's oldest unpaid installment is past the default period, and that date."""
    days = int(current_app.config.get("INSTALLMENT_DEFAULT_DAYS", 30))
    due = [i.due_on for i in inv.installments if i.status == DUE]
    if inv.status != PAYING or not due:
        return False, None
    oldest = min(due)
    return _today() > oldest + timedelta(days=days), oldest


def cancel_defaulted(inv: Investment, *, actor, reason: str) -> Investment:
    """Finance cancels an investment whose installments are unpaid past the default period: what was paid comes
    back minus the late fees the terms state for the overdue installments; the property's funding is released."""
    from app.core import audit
    from app.core.security import has_permission
    from app.notifications.services import notify
    from app.properties import services as properties
    from app.properties.models import Property

    if not has_permission(actor, "investments.manage"):
        raise Forbidden("this needs the investments.manage permission")
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why: the investor is told."]})
    overdue, oldest = default_overdue(inv)
    if not overdue:
        raise Conflict("this investment is not in default")
    p = db.session.get(Property, inv.property_id)
    today = _today()
    fees = sum(late_fee_for(i, p, today) for i in inv.installments if i.status == DUE)
    before = {"status": inv.status, "paid_amount": inv.paid_amount, "escrow_amount": inv.escrow_amount}
    properties.release_funding(p.id, inv.amount)
    _refund(inv, keep=fees, key=f"investment-refund:{inv.id}",
            memo=f"{p.title}: investment #{inv.id} cancelled after default", actor_id=actor.id)
    _close(inv, DEFAULTED, reason.strip())
    audit.record("investments.cancel_default", actor=actor, target=inv, before=before,
                 after={"status": inv.status, "refunded": inv.refunded_amount, "fees_kept": fees},
                 reason=reason.strip())
    notify(inv.user, "investment_defaulted", link=f"/portfolio/{inv.id}", title=p.title,
           refunded=Money(inv.refunded_amount, inv.currency).amount_str(),
           fees=Money(min(fees, before["escrow_amount"]), inv.currency).amount_str(), currency=inv.currency,
           reason=reason.strip())
    return inv


def tell_funded(p) -> None:
    """The property reached its target: tell its investors and the staff who look after offerings."""
    from app.auth.models import User
    from app.notifications.services import notify

    investors = list(db.session.scalars(
        select(User).where(User.id.in_(select(Investment.user_id).where(Investment.property_id == p.id,
                                                                         Investment.status.in_(LIVE))))))
    if investors:
        notify(investors, "property_funded", link=f"/properties/{p.slug}", title=p.title)
    notify(None, "property_funded_staff", link=f"/admin/property/details/?id={p.id}", title=p.title,
           target=Money(p.target_amount, p.currency).amount_str(), currency=p.currency)


# ledger checks -----------------------------------------------------------------------------------------------------------
def check_units_sold() -> list[str]:
    """Each property's raised amount (units sold) equals its investments that were not refunded (paying, active or
    completed), and its escrow holds exactly what they paid and has not been paid back."""
    from sqlalchemy import text

    rows = db.session.execute(text(
        """SELECT p.id, p.raised_amount, COALESCE(i.total, 0)
           FROM properties p LEFT JOIN (SELECT property_id, SUM(amount) AS total FROM investments
                                        WHERE status IN ('paying', 'active', 'completed') GROUP BY property_id) i
             ON i.property_id = p.id
           WHERE p.raised_amount <> COALESCE(i.total, 0) AND p.status <> 'cancelled'
           ORDER BY p.id""")).all()
    problems = [f"property #{pid} records {raised} raised but its investments (not refunded) total {total}"
                for pid, raised, total in rows]
    rows = db.session.execute(text(
        """SELECT a.ref, a.balance, COALESCE(i.total, 0)
           FROM ledger_accounts a LEFT JOIN (SELECT CAST(property_id AS VARCHAR(80)) AS ref,
                                                    SUM(escrow_amount) AS total
                                             FROM investments GROUP BY property_id) i ON i.ref = a.ref
           WHERE a.kind = 'property_escrow' AND a.balance <> COALESCE(i.total, 0) ORDER BY a.ref""")).all()
    problems += [f"escrow of property #{ref} holds {bal} but its investments have {total} in escrow"
                 for ref, bal, total in rows]
    return problems
