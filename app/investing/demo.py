"""Demo offerings funded for real: the demo properties (app/properties/demo.py) with the investments of their
plans made through investing.invest by the demo investor and three co-investors, whose wallets are topped up by
completed bank transfers as they need. Offerings with a history invest as of days long past (`demo_clock`)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import partial

from sqlalchemy import func, select

from app.core.money import Money
from app.extensions import db
from app.investing import clock, funding, schedule
from app.investing import services as investing
from app.investing.models import LIVE, Investment, ScheduledReturn
from app.ledger.services import balance_of, platform_currency
from app.payments import services as payments
from app.payments.models import Deposit
from app.properties import demo as property_demo
from app.properties.models import Property


@contextmanager
def demo_clock(moment: datetime) -> Iterator[None]:
    """Demo data only: the property workflow and the investing services run as if it were `moment` (the ledger,
    the audit trail and notifications keep the real time)."""
    saved = clock.utcnow
    clock.utcnow = lambda: moment
    try:
        with property_demo.demo_clock(moment):
            yield
    finally:
        clock.utcnow = saved


def ensure_funds(user, needed: int) -> None:
    """Top the co-investor's wallet up by a completed bank transfer when it holds less than `needed`."""
    available = balance_of(user.id).available.minor
    if available >= needed:
        return
    top_up = -(-max(needed - available, 10_000_000) // 1_000_000) * 1_000_000  # 100,000.00 or more, in 10,000s
    count = db.session.scalar(select(func.count(Deposit.id)).where(Deposit.user_id == user.id)) or 0
    deposit = payments.create_deposit(user.id, Money(top_up, platform_currency()), "bank_transfer",
                                      reference=f"demo-seed-{user.id}-funding-{count + 1}")
    payments.complete_deposit(deposit)


def _invest_all(p: Property, plan: property_demo.Plan, *, investors: dict) -> None:
    for who, amount in plan:
        user = investors[who]
        money = Money.parse(amount, p.currency)
        if who != "investor":
            ensure_funds(user, investing.first_installment(p, money.minor))
        investing.invest(user, p.id, money, acknowledged=True, documents_version=investing.offering_version(p),
                         ip="127.0.0.1")


def seed_properties(manager, approver, investors: dict | None = None) -> None:
    """The demo properties, each published and funded by the investments of its plan. `investors` maps "investor"
    and 1, 2, 3 to users who may invest (verified, KYC approved); without it the properties stay unfunded."""
    invest = partial(_invest_all, investors=investors) if investors else None
    property_demo.seed_properties(manager, approver, invest=invest, clock=demo_clock)


FUNDED_MONTHS_AHEAD = 24


def distributions_needed(p: Property, today: date) -> int:
    """What the property's distributions account must hold to pay every return due to date and the next
    FUNDED_MONTHS_AHEAD months of periods at its current holdings: the calendar rows still to pay up to then, and
    for a live investment without a calendar yet (its funding window still open) that many months of its terms."""
    horizon = schedule.add_months(today, FUNDED_MONTHS_AHEAD)
    calendared = db.session.scalar(select(func.coalesce(func.sum(ScheduledReturn.amount), 0)).where(
        ScheduledReturn.property_id == p.id, ScheduledReturn.due_on <= horizon)) or 0
    terms = schedule.Terms.from_property(p)
    if terms.return_frequency == "days":
        periods = FUNDED_MONTHS_AHEAD * 365 // 12 // terms.every_days
    else:
        periods = FUNDED_MONTHS_AHEAD // schedule.MONTHS_PER_PERIOD[terms.return_frequency]
    if terms.return_periods is not None:
        periods = min(periods, terms.return_periods)
    has_calendar = select(ScheduledReturn.investment_id).where(ScheduledReturn.property_id == p.id)
    uncalendared = db.session.scalars(select(Investment.amount).where(
        Investment.property_id == p.id, Investment.status.in_(LIVE), Investment.id.notin_(has_calendar)))
    return int(calendared) + sum(schedule.promised_total(amount, terms, periods) for amount in uncalendared)


def fund_distributions(proposer, approver) -> None:
    """Fund each demo property's distributions account through the four-eyes workflow (one proposes, the other
    approves) with what it lacks of distributions_needed. Idempotent: a funded account needs nothing more."""
    today = clock.utcnow().date()
    properties = db.session.scalars(select(Property).where(Property.id.in_(select(Investment.property_id)))
                                    .order_by(Property.id))
    for p in properties:
        if p.status in funding.UNFUNDABLE:
            continue
        missing = distributions_needed(p, today) - funding.distributions_balance(p.id)
        if missing <= 0:
            continue
        count = len(funding.fundings_for(p.id))
        f = funding.propose(p.id, amount=missing, bank_reference=f"DEMO-OPERATOR-{p.id}-{count + 1}",
                            note=f"Returns due to date and the next {FUNDED_MONTHS_AHEAD} months", actor=proposer)
        funding.approve(f, actor=approver)
