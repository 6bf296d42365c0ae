"""A property's distributions account pays only what was funded into it: the ledger refuses, alone or in bulk, a
posting that would take it below zero, and `flask ledger verify` reports one that is."""
import pytest
from sqlalchemy import func, select, text

from app.core.errors import InsufficientFunds
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.ledger.models import ADJUSTMENTS, OPERATOR_FUNDING, RETURNS_FUNDING, JournalEntry


def _funded(amount: int):
    account = ledger.platform_account(RETURNS_FUNDING, ref="7")
    operator = ledger.platform_account(OPERATOR_FUNDING)
    ledger.platform_account(ADJUSTMENTS)
    db.session.commit()
    if amount:
        ledger.post([(operator, -amount), (account, amount)], key="fund-7", kind="distribution_funding")
    db.session.commit()
    return account


def _entries() -> int:
    return db.session.scalar(select(func.count(JournalEntry.id))) or 0


def test_distributions_accounts_are_created_without_overdraft_and_operator_funding_with():
    assert ledger.platform_account(RETURNS_FUNDING, ref="7").allow_negative is False
    assert ledger.platform_account(OPERATOR_FUNDING).allow_negative is True


def test_post_refuses_to_take_a_distributions_account_below_zero(app):
    account = _funded(1_000)
    adjustments = ledger.platform_account(ADJUSTMENTS)
    with pytest.raises(InsufficientFunds, match=r"distributions account of property 7 holds USD 10\.00"):
        ledger.post([(account, -1_001), (adjustments, 1_001)], key="over", kind="returns")
    db.session.rollback()
    assert _entries() == 1
    db.session.refresh(account)
    assert account.balance == 1_000
    ledger.post([(account, -1_000), (adjustments, 1_000)], key="exact", kind="returns")  # down to zero is fine
    db.session.commit()
    assert account.balance == 0


def test_post_many_refuses_it_too_and_writes_nothing(app):
    account = _funded(500)
    adjustments = ledger.platform_account(ADJUSTMENTS).id
    batch = [ledger.BulkEntry(key=f"pay-{n}", kind="returns", lines=[(account.id, -200), (adjustments, 200)])
             for n in range(3)]
    with pytest.raises(InsufficientFunds, match="distributions account of property 7"):
        ledger.post_many(batch)
    db.session.rollback()
    assert _entries() == 1
    db.session.refresh(account)
    assert account.balance == 500
    assert len(ledger.post_many(batch[:2])) == 2
    db.session.commit()
    db.session.refresh(account)
    assert account.balance == 100


def test_the_check_constraint_holds_it_whatever_the_writer(app):
    account = _funded(0)
    with pytest.raises(Exception):  # noqa: B017 - the database's own refusal (IntegrityError)
        db.session.execute(text("UPDATE ledger_accounts SET balance = -1 WHERE id = :id"), {"id": account.id})
        db.session.flush()
    db.session.rollback()


@pytest.mark.ledger_tampered
def test_verify_names_a_negative_distributions_account(app):
    account = _funded(0)
    db.session.execute(text("UPDATE ledger_accounts SET allow_negative = :t, balance = -2500 WHERE id = :id"),
                       {"id": account.id, "t": True})
    db.session.commit()
    report = verify()
    assert "the distributions account of property 7 is negative: USD -25.00" in report.violations
