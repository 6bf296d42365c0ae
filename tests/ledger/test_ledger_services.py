"""Ledger services: balanced entries, idempotency, holds resolved once, reversals, and `verify`."""
import pytest
from sqlalchemy import select, text

from app.core.errors import (
    Conflict,
    IdempotencyConflict,
    IllegalTransition,
    InsufficientFunds,
    ValidationError,
)
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, USER_HELD, USER_WALLET, JournalEntry, Posting


@pytest.fixture
def investor_options():
    return {"kyc": False}  # the investor of these tests: 1,000.00 from a deposit, nothing else


def wallet_of(user):
    return ledger.user_account(user.id, USER_WALLET)


def test_new_user_has_wallet_and_held_accounts(make_user):
    user = make_user()
    assert wallet_of(user).balance == 0
    assert ledger.user_account(user.id, USER_HELD).balance == 0
    assert verify().ok


def test_deposit_credits_wallet_through_a_balanced_entry(investor):
    assert wallet_of(investor).balance == 100000
    clearing = ledger.platform_account(GATEWAY_CLEARING, "bank_transfer")
    assert clearing.balance == -100000
    report = verify()
    assert report.ok, report.violations
    assert report.entries == 1


def test_post_refuses_unbalanced_and_malformed_entries(investor):
    fee = ledger.platform_account(FEE_REVENUE)
    wallet = wallet_of(investor)
    for lines in ([(wallet, -100), (fee, 99)], [(wallet, -100)], [(wallet, 0), (fee, 0)],
                  [(wallet, -1.5), (fee, 1.5)], [(wallet, True), (fee, -1)]):
        with pytest.raises(ValidationError):
            ledger.post(lines, key="bad", kind="test")
    with pytest.raises(ValidationError):
        ledger.post([(wallet, -1), (fee, 1)], key="", kind="test")
    db.session.commit()
    assert wallet_of(investor).balance == 100000
    assert db.session.scalar(select(JournalEntry).where(JournalEntry.idempotency_key == "bad")) is None
    assert verify().ok


def test_wallet_never_goes_negative(investor):
    fee = ledger.platform_account(FEE_REVENUE)
    with pytest.raises(InsufficientFunds):
        ledger.post([(wallet_of(investor), -100001), (fee, 100001)], key="too-much", kind="fee")
    db.session.commit()
    assert wallet_of(investor).balance == 100000
    assert ledger.entry_by_key("too-much") is None
    ledger.post([(wallet_of(investor), -100000), (fee, 100000)], key="all-of-it", kind="fee")
    db.session.commit()
    assert wallet_of(investor).balance == 0
    assert verify().ok


def test_replayed_key_changes_nothing_and_other_lines_conflict(investor):
    fee = ledger.platform_account(FEE_REVENUE)
    first = ledger.post([(wallet_of(investor), -500), (fee, 500)], key="fee-1", kind="fee")
    db.session.commit()
    again = ledger.post([(wallet_of(investor), -500), (fee, 500)], key="fee-1", kind="fee")
    db.session.commit()
    assert again.id == first.id
    assert wallet_of(investor).balance == 99500
    with pytest.raises(IdempotencyConflict):
        ledger.post([(wallet_of(investor), -600), (fee, 600)], key="fee-1", kind="fee")
    db.session.rollback()
    assert wallet_of(investor).balance == 99500
    assert verify().ok


def test_failed_post_leaves_the_callers_transaction_usable(investor, make_user):
    """A refused post rolls back only itself (savepoint); earlier work in the same unit stays."""
    other = make_user()
    fee = ledger.platform_account(FEE_REVENUE)
    ledger.post([(wallet_of(investor), -100), (fee, 100)], key="ok-1", kind="fee")
    with pytest.raises(InsufficientFunds):
        ledger.post([(wallet_of(other), -1), (fee, 1)], key="nope", kind="fee")
    db.session.commit()
    assert ledger.entry_by_key("ok-1") is not None
    assert wallet_of(investor).balance == 99900
    assert verify().ok


def test_hold_then_settle_once(investor):
    record = ledger.hold(investor.id, 30000, key="payout:1:hold", memo="Payout #1")
    db.session.commit()
    balance = ledger.balance_of(investor.id)
    assert (balance.available.minor, balance.held.minor) == (70000, 30000)
    ledger.settle(record, key="payout:1:settle")
    db.session.commit()
    assert ledger.settle(record, key="payout:1:settle").status == "settled"  # replay
    with pytest.raises(IllegalTransition):
        ledger.release(record, key="payout:1:release")
    db.session.rollback()
    balance = ledger.balance_of(investor.id)
    assert (balance.available.minor, balance.held.minor) == (70000, 0)
    assert verify().ok


def test_hold_then_release_returns_the_money(investor):
    record = ledger.hold(investor.id, 25000, key="payout:2:hold")
    again = ledger.hold(investor.id, 25000, key="payout:2:hold")
    assert again.id == record.id
    ledger.release(record, key="payout:2:release", memo="Cancelled by investor")
    db.session.commit()
    with pytest.raises(IllegalTransition):
        ledger.settle(record, key="payout:2:settle")
    db.session.rollback()
    balance = ledger.balance_of(investor.id)
    assert (balance.available.minor, balance.held.minor) == (100000, 0)
    assert verify().ok


def test_hold_above_balance_is_refused(investor):
    with pytest.raises(InsufficientFunds):
        ledger.hold(investor.id, 100001, key="greedy")
    with pytest.raises(ValidationError):
        ledger.hold(investor.id, -5, key="negative")
    db.session.commit()
    assert ledger.balance_of(investor.id).available.minor == 100000


def test_reverse_once_with_a_reason(investor):
    fee = ledger.platform_account(FEE_REVENUE)
    entry = ledger.post([(wallet_of(investor), -700), (fee, 700)], key="fee-x", kind="fee")
    db.session.commit()
    with pytest.raises(ValidationError):
        ledger.reverse(entry, key="rev-1", memo=" ")
    reversal = ledger.reverse(entry, key="rev-1", memo="charged by mistake")
    db.session.commit()
    assert reversal.reverses_id == entry.id
    assert wallet_of(investor).balance == 100000
    assert ledger.reverse(entry, key="rev-1", memo="charged by mistake").id == reversal.id
    with pytest.raises(Conflict):
        ledger.reverse(entry, key="rev-2", memo="again")
    db.session.rollback()
    assert verify().ok


def test_reversal_that_would_overdraw_is_refused(investor):
    deposit_entry = db.session.scalar(select(JournalEntry).where(JournalEntry.kind == "deposit"))
    fee = ledger.platform_account(FEE_REVENUE)
    ledger.post([(wallet_of(investor), -100000), (fee, 100000)], key="spend-all", kind="fee")
    db.session.commit()
    with pytest.raises(InsufficientFunds):
        ledger.reverse(deposit_entry, key="rev-deposit", memo="chargeback")
    db.session.rollback()
    assert verify().ok


@pytest.mark.ledger_tampered
def test_verify_reports_each_kind_of_tampering(investor, is_postgres):
    assert verify().ok
    # a cached balance that no longer matches its postings
    db.session.execute(text("UPDATE ledger_accounts SET balance = balance + 1 WHERE kind = 'user_wallet'"))
    db.session.commit()
    report = verify()
    assert not report.ok
    assert any("caches balance" in v for v in report.violations)
    db.session.execute(text("UPDATE ledger_accounts SET balance = balance - 1 WHERE kind = 'user_wallet'"))
    db.session.commit()
    if not is_postgres:  # on PostgreSQL triggers refuse to edit postings at all (see test_database_guards)
        posting = db.session.scalar(select(Posting).order_by(Posting.id))
        db.session.execute(text("UPDATE ledger_postings SET amount = amount + 5 WHERE id = :id"), {"id": posting.id})
        db.session.commit()
        report = verify()
        assert any("does not balance" in v for v in report.violations)
        assert any("does not sum to zero" in v for v in report.violations)


def test_statement_lists_lines_newest_first(investor):
    fee = ledger.platform_account(FEE_REVENUE)
    for i in range(3):
        ledger.post([(wallet_of(investor), -(i + 1)), (fee, i + 1)], key=f"fee-{i}", kind="fee", memo=f"fee {i}")
    db.session.commit()
    lines, total = ledger.statement(investor.id, page=1, per_page=2)
    assert total == 4
    assert [line.memo for line in lines] == ["fee 2", "fee 1"]
    assert lines[0].amount.minor == -3
