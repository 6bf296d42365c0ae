"""Shared pieces of the market's tests: balances, quick listings and many funded buyers."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.extensions import db
from app.kyc.models import KycForm
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, Account
from app.ledger.services import balance_of, platform_account, user_account
from app.market import services as market


def wallet(user) -> int:
    """The user's wallet balance in minor units, as committed."""
    db.session.expire_all()
    return balance_of(user.id).available.minor


def held(user) -> int:
    db.session.expire_all()
    return balance_of(user.id).held.minor


def fee_revenue() -> int:
    db.session.expire_all()
    return db.session.scalar(select(Account.balance).where(Account.kind == FEE_REVENUE)) or 0


def money(text: str, currency: str = "USD") -> Money:
    return Money.parse(text, currency)


def list_units(seller, investment, units: int, price: str = "100.00", *, days: int | None = None):
    """A committed listing of `units` of `investment` at `price` per unit."""
    expires = utcnow() + timedelta(days=days) if days is not None else None
    with unit_of_work():
        return market.create_listing(seller, investment.id, units, money(price), expires)


def many_buyers(make_user, count: int, balance: int = 100_000) -> list:
    """`count` verified investors with `balance` (minor units) each, quickly: one ledger entry funds them all from
    the gateway's clearing account, as their deposits would have; identity checks for investing are not asked in
    the test that uses them (every KYC form made optional for investing) — other tests cover them."""
    buyers = [make_user() for _ in range(count)]
    with unit_of_work():
        db.session.execute(update(KycForm).values(required_for_investing=False))
        clearing = platform_account(GATEWAY_CLEARING, "bank_transfer")
        ledger.post([(clearing, -balance * count), *[(user_account(b.id), balance) for b in buyers]],
                    key=f"test:fund:{buyers[0].id}", kind="deposit", memo="test deposits")
    return buyers
