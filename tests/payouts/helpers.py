"""Shared set-up for the payout tests: KYC approval, bank accounts past cooling-off, balances. The fixtures
(investor, method, finance, finance2, no_fee) are in tests/conftest.py."""
from __future__ import annotations

from sqlalchemy import select

from app.core.db import unit_of_work
from app.extensions import db
from app.ledger import services as ledger
from app.payouts.models import PayoutMethod
from tests.factories import PayoutMethodFactory

BANK = {"holder_name": "Test User", "bank_name": "First Test Bank", "account_number": "000123456789",
        "routing_number": "021000021", "country": "US"}


def approve_kyc(user, reviewer) -> None:
    from app.kyc.demo import approve_identity

    approve_identity(user, reviewer)
    db.session.commit()


def usable_method(user, **overrides) -> PayoutMethod:
    """A bank account added through the service, then aged past its cooling-off period."""
    with unit_of_work():
        return PayoutMethodFactory(user=user, **{**BANK, **overrides})


def balances(user) -> tuple[int, int]:
    db.session.expire_all()
    balance = ledger.balance_of(user.id)
    return balance.available.minor, balance.held.minor


def methods_of(user) -> list[PayoutMethod]:
    return list(db.session.scalars(select(PayoutMethod).where(PayoutMethod.user_id == user.id)))

