"""Investing: committing wallet money to a property, paying installments, the return calendar, cancellations.

Services flush and never commit. This module is the domain's facade: callers in other layers import it, and it
re-exports what the use-case modules hold —
    invest.py            investing from the wallet (the terms, the documents acknowledged, the funding left)
    installments.py      paying installments, late fees, default
    return_calendar.py   the periods still to pay, the next return, the returns earned
    closing.py           refunds when a property is cancelled or an investment defaults
    descriptions.py      the investor's words for investing's ledger lines (returns, investments, refunds)
    accounts.py          the property's escrow and distributions accounts
    checks.py            investing's invariants for `flask ledger verify`
(the return distribution engine is app.investing.returns, declared distributions app.investing.declared).
"""
from __future__ import annotations

from sqlalchemy import func, select

from app.core.errors import NotFound
from app.extensions import db
from app.investing.accounts import distributions_account, escrow_account
from app.investing.checks import check_units_sold
from app.investing.closing import cancel_defaulted, cancel_property_investments
from app.investing.descriptions import describe_lines
from app.investing.holdings import split_two, transfer_units, units_in
from app.investing.installments import default_overdue, late_fee_for, pay_installments
from app.investing.invest import check_amount, first_installment, invest, offering_version, tell_funded
from app.investing.models import LIVE, Investment
from app.investing.return_calendar import (
    LIFETIME_HORIZON_YEARS,
    TOP_UP_WHEN_YEARS_LEFT,
    next_return,
    next_returns,
    returns_earned,
    top_up_lifetime_calendars,
    write_calendar,
)

__all__ = [
    "LIFETIME_HORIZON_YEARS", "TOP_UP_WHEN_YEARS_LEFT", "cancel_defaulted", "cancel_property_investments",
    "check_amount", "check_units_sold", "default_overdue", "describe_lines", "distributions_account", "escrow_account",
    "first_installment", "get_for_user", "has_investments", "invest", "late_fee_for", "live_investment_total",
    "next_return", "next_returns", "offering_version", "pay_installments", "returns_earned", "split_two",
    "tell_funded",
    "top_up_lifetime_calendars", "transfer_units", "units_in", "write_calendar",
]


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
    return db.session.execute(
        select(func.count(Investment.id)).where(Investment.property_id == property_id)).scalar_one() > 0
