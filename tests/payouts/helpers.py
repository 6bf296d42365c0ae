"""Shared set-up for the payout tests: an investor with approved KYC and money, bank accounts past cooling-off."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.db import utcnow
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.payouts import services as payouts
from app.payouts.models import PayoutMethod

BANK = {"holder_name": "Test User", "bank_name": "First Test Bank", "account_number": "000123456789",
        "routing_number": "021000021", "country": "US"}


def approve_kyc(user, reviewer) -> None:
    from app.kyc.demo import approve_identity

    approve_identity(user, reviewer)
    db.session.commit()


def usable_method(user, **overrides) -> PayoutMethod:
    """A bank account added through the service, then aged past its cooling-off period."""
    method = payouts.add_bank_method(user.id, **{**BANK, **overrides})
    method.usable_from = utcnow() - timedelta(minutes=1)
    method.created_at = method.updated_at = utcnow() - timedelta(days=30)
    db.session.commit()
    return method


def balances(user) -> tuple[int, int]:
    db.session.expire_all()
    balance = ledger.balance_of(user.id)
    return balance.available.minor, balance.held.minor


def assert_ledger_ok() -> None:
    db.session.rollback()
    report = verify()
    assert report.ok, report.violations


def methods_of(user) -> list[PayoutMethod]:
    return list(db.session.scalars(select(PayoutMethod).where(PayoutMethod.user_id == user.id)))


@pytest.fixture
def no_fee(app, monkeypatch):
    monkeypatch.setitem(app.config, "PAYOUT_FEE_BPS", 0)
    monkeypatch.setitem(app.config, "PAYOUT_FEE_FIXED", "0.00")


@pytest.fixture
def reviewer(make_user):
    return make_user(role="compliance")


@pytest.fixture
def investor(make_user, fund, reviewer):
    user = make_user(first_name="Test", last_name="User")
    approve_kyc(user, reviewer)
    fund(user, "1000.00")
    return user


@pytest.fixture
def method(investor):
    return usable_method(investor)


@pytest.fixture
def finance(make_user):
    return make_user("fin1@example.com", role="finance")


@pytest.fixture
def finance2(make_user):
    return make_user("fin2@example.com", role="finance")


@pytest.fixture(autouse=True)
def ledger_verifies_after_each_test():
    """`flask ledger verify` (the same checks, payout holds included) passes after every scenario."""
    yield
    assert_ledger_ok()
