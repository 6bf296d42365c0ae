"""Investing: committing wallet money to a property. One investment is one unit of work: the investment row, its
installment plan, the ledger entry (wallet -> the property's escrow), the property's raised amount (a conditional
UPDATE that also locks the property row) and, once fully paid, its return calendar.

Lock order, everywhere: the property row first (record_funding), then ledger accounts in id order (ledger.post).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.auth.models import User
from app.auth.services import require_verified
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.money import Money
from app.extensions import db
from app.investing import clock, schedule
from app.investing.installments import pay_installment
from app.investing.models import DUE, LIVE, PAYING, Installment, Investment
from app.kyc import services as kyc
from app.notifications.services import notify
from app.properties import services as properties
from app.properties.models import ACTIVE as PROPERTY_ACTIVE
from app.properties.models import Property

offering_version = properties.offering_version  # the fingerprint investors acknowledge: the properties' rule


def first_installment(p, total: int) -> int:
    """What the investor pays today for a commitment of `total` (the whole amount unless in installments)."""
    terms = schedule.Terms.from_property(p)
    if (terms.installments_count or 1) <= 1:
        return total
    return schedule.installment_plan(total, terms, clock.today())[0].amount


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
    unit = p.unit_price or 1
    if amount % unit:
        raise ValidationError(f"this offering takes investments in whole units of {fmt(unit)} {cur}",
                              {"amount": [f"In whole units of {fmt(unit)} {cur}."]})
    count = p.installments_count or 1
    if count > 1 and amount < count:
        raise ValidationError("the amount is too small to split into installments",
                              {"amount": [f"At least {fmt(count)} {cur}."]})


def _check_open(p, now: datetime) -> None:
    if p.status != PROPERTY_ACTIVE:
        raise Conflict(f"this property is {p.status} and not open for investment")
    if p.funding_starts_at and now < p.funding_starts_at:
        raise Conflict(f"funding opens on {p.funding_starts_at:%d %B %Y}")
    if p.funding_ends_at and now >= p.funding_ends_at:
        raise Conflict(f"funding closed on {p.funding_ends_at:%d %B %Y}")


def invest(user, property_id: int, amount: Money, *, acknowledged: bool, documents_version: str | None = None,
           ip: str | None = None) -> Investment:
    """Commit `amount` (the whole investment; with installments the first one is paid now) from the wallet.

    403 without a verified e-mail and approved KYC; 409 when the property is not open or not enough funding is left;
    422 outside the terms, without acknowledging the documents, or when the wallet does not hold the payment."""
    require_verified(user)
    kyc.require_approved(user, kyc.INVEST)
    p = db.session.get(Property, property_id)
    if p is None or p.status == "draft":
        raise NotFound("no such property")
    if amount.currency != p.currency:
        raise ValidationError(f"this property is funded in {p.currency}", {"amount": [f"Use {p.currency}."]})
    if amount.minor <= 0:
        raise ValidationError("the amount must be positive", {"amount": ["Must be more than zero."]})
    now = clock.utcnow()
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
    first = db.session.scalars(select(Installment).where(Installment.investment_id == inv.id,
                                                         Installment.index == 1)).one()
    entry = pay_installment(inv, p, first, today=today, actor_id=user.id)
    inv.entry_id = entry.id
    db.session.flush()
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


def tell_funded(p) -> None:
    """The property reached its target: tell its investors and the staff who look after offerings."""
    investors = list(db.session.scalars(
        select(User).where(User.id.in_(select(Investment.user_id).where(Investment.property_id == p.id,
                                                                         Investment.status.in_(LIVE))))))
    if investors:
        notify(investors, "property_funded", link=f"/properties/{p.slug}", title=p.title)
    notify(None, "property_funded_staff", link=f"/admin/property/details/?id={p.id}", title=p.title,
           target=Money(p.target_amount, p.currency).amount_str(), currency=p.currency)
