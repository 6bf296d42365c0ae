"""PostgreSQL only: concurrent spending, concurrent replays, and the database's own guards."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.core.errors import InsufficientFunds
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.ledger.models import FEE_REVENUE, GATEWAY_CLEARING, USER_WALLET
from tests.concurrency import run_threads

pytestmark = pytest.mark.postgres


def test_fifty_threads_spending_from_one_wallet_never_overdraw(app, postgres, make_user, fund):
    user = make_user()
    fund(user, "10.00")  # 1,000 minor units
    user_id = user.id
    fee_id = ledger.platform_account(FEE_REVENUE).id
    db.session.commit()

    def spend(index):
        from app.ledger.models import Account

        wallet = ledger.user_account(user_id, USER_WALLET)
        fee = db.session.get(Account, fee_id)
        ledger.post([(wallet, -30), (fee, 30)], key=f"spend-{index}", kind="fee")
        return 30

    results = run_threads(app, 50, spend)
    spent = sum(r for r in results if isinstance(r, int))
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    unexpected = [r for r in results if not isinstance(r, (int, InsufficientFunds))]
    assert not unexpected, unexpected
    assert spent == 990 and len(refused) == 17  # 33 spends of 30 fit in 1,000
    db.session.expire_all()
    wallet = ledger.user_account(user_id, USER_WALLET)
    assert wallet.balance == 1000 - spent == 10
    fee_total = db.session.execute(text(
        "SELECT COALESCE(SUM(p.amount), 0) FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
        "WHERE e.kind = 'fee' AND p.account_id = :a"), {"a": fee_id}).scalar_one()
    assert fee_total == spent
    report = verify()
    assert report.ok, report.violations


def test_the_same_key_posted_by_twenty_threads_moves_money_once(app, postgres, make_user, fund):
    user = make_user()
    fund(user, "100.00")
    user_id = user.id
    db.session.commit()

    def spend(index):
        wallet = ledger.user_account(user_id, USER_WALLET)
        return ledger.post([(wallet, -2500), (ledger.platform_account(FEE_REVENUE), 2500)],
                           key="one-fee-only", kind="fee").id

    results = run_threads(app, 20, spend)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    db.session.expire_all()
    assert ledger.user_account(user_id, USER_WALLET).balance == 7500
    assert verify().ok


def test_holds_resolved_concurrently_resolve_once(app, postgres, make_user, fund):
    user = make_user()
    fund(user, "50.00")
    record = ledger.hold(user.id, 5000, key="race-hold")
    db.session.commit()
    hold_id = record.id

    def resolve(index):
        from app.ledger.models import Hold

        h = db.session.get(Hold, hold_id)
        if index % 2:
            return ledger.settle(h, key=f"settle-{index}").status
        return ledger.release(h, key=f"release-{index}").status

    results = run_threads(app, 10, resolve)
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1, results
    assert verify().ok


def _raw_entry(key: str) -> int:
    return db.session.execute(text(
        "INSERT INTO ledger_entries (kind, memo, idempotency_key, fingerprint, created_at) "
        "VALUES ('raw', '', :k, 'x', now()) RETURNING id"), {"k": key}).scalar_one()


def _raw_postings(rows: list[tuple[int, int, int]]) -> None:
    """One INSERT statement for all the rows (entry id, account id, amount)."""
    db.session.execute(text(
        "INSERT INTO ledger_postings (entry_id, account_id, amount) "
        "SELECT * FROM unnest(CAST(:e AS BIGINT[]), CAST(:a AS BIGINT[]), CAST(:m AS BIGINT[]))"),
        {"e": [r[0] for r in rows], "a": [r[1] for r in rows], "m": [r[2] for r in rows]})


def test_database_refuses_an_unbalanced_entry_as_it_is_written(postgres, make_user):
    user = make_user()
    wallet = ledger.user_account(user.id, USER_WALLET)
    entry = _raw_entry("raw-1")
    with pytest.raises(DBAPIError, match="does not balance"):
        _raw_postings([(entry, wallet.id, 500)])
    db.session.rollback()
    clearing = ledger.platform_account(GATEWAY_CLEARING, "raw")
    db.session.commit()
    entry = _raw_entry("raw-2")
    with pytest.raises(DBAPIError, match="does not balance"):
        _raw_postings([(entry, wallet.id, 500), (entry, clearing.id, -499)])
    db.session.rollback()
    assert ledger.entry_by_key("raw-1") is None and ledger.entry_by_key("raw-2") is None


def test_database_refuses_postings_added_to_an_entry_later_and_entries_without_postings(postgres, make_user):
    user = make_user()
    wallet = ledger.user_account(user.id, USER_WALLET)
    clearing = ledger.platform_account(GATEWAY_CLEARING, "raw")
    db.session.commit()
    first, second = _raw_entry("raw-3"), _raw_entry("raw-4")
    _raw_postings([(first, clearing.id, -700), (first, wallet.id, 700),  # two entries in one statement: fine
                   (second, clearing.id, -100), (second, wallet.id, 100)])
    db.session.execute(text("UPDATE ledger_accounts SET balance = balance + CASE WHEN id = :w THEN 800 ELSE -800 END "
                            "WHERE id IN (:w, :c)"), {"w": wallet.id, "c": clearing.id})
    db.session.commit()
    with pytest.raises(DBAPIError, match="written together"):  # each balanced, but the entry was closed
        _raw_postings([(first, clearing.id, -50), (first, wallet.id, 50)])
    db.session.rollback()
    _raw_entry("raw-5")  # an entry without postings
    with pytest.raises(DBAPIError, match="at least two"):
        db.session.commit()
    db.session.rollback()
    assert ledger.entry_by_key("raw-5") is None
    db.session.expire_all()
    assert ledger.user_account(user.id, USER_WALLET).balance == 800
    assert sum(p.amount for p in ledger.entry_by_key("raw-3").postings) == 0
    assert verify().ok


def test_database_refuses_editing_or_deleting_ledger_rows(postgres, make_user, fund):
    user = make_user()
    fund(user, "5.00")
    for statement in ("UPDATE ledger_postings SET amount = amount * 2", "DELETE FROM ledger_postings",
                      "UPDATE ledger_entries SET memo = 'edited'", "DELETE FROM ledger_entries"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    with pytest.raises(DBAPIError, match="balance_not_negative"):
        db.session.execute(text("UPDATE ledger_accounts SET balance = -1 WHERE kind = 'user_wallet'"))
    db.session.rollback()
    assert verify().ok


def test_database_refuses_references_to_missing_rows_and_deleting_referenced_ones(postgres, make_user, fund):
    """The bulk tables' references are checked per statement (not by foreign keys): a missing entry or account in
    any row of an INSERT fails it whole; an account, investment or run referred to cannot be deleted."""
    user = make_user()
    fund(user, "5.00")
    wallet = ledger.user_account(user.id, USER_WALLET)
    clearing = ledger.platform_account(GATEWAY_CLEARING, "raw")
    db.session.commit()
    entry = _raw_entry("raw-6")
    with pytest.raises(DBAPIError, match="missing account 999999"):
        _raw_postings([(entry, clearing.id, -100), (entry, 999_999, 100)])
    db.session.rollback()
    with pytest.raises(DBAPIError, match="missing entry 999999"):
        _raw_postings([(999_999, clearing.id, -100), (999_999, wallet.id, 100)])
    db.session.rollback()
    with pytest.raises(DBAPIError, match="missing investment 999999"):
        db.session.execute(text(
            "INSERT INTO return_payments (investment_id, period_index, due_on, amount, capital, paid_at) "
            "VALUES (999999, 1, CURRENT_DATE, 0, 0, now())"))
    db.session.rollback()
    with pytest.raises(DBAPIError, match="referred to"):
        db.session.execute(text("DELETE FROM ledger_accounts WHERE id = :w"), {"w": wallet.id})
    db.session.rollback()
    with pytest.raises(DBAPIError, match="referred to"):
        db.session.execute(text("UPDATE ledger_accounts SET id = 999999 WHERE id = :w"), {"w": wallet.id})
    db.session.rollback()
    assert ledger.entry_by_key("raw-6") is None
    assert verify().ok
