"""post_many, the bulk form of post: the same rules (checks, fingerprints, replays, balances), a fixed number of
statements whatever the number of entries, all or nothing."""
import pytest
from sqlalchemy import func, select

from app.core.errors import IdempotencyConflict, InsufficientFunds, ValidationError
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.ledger.models import ADJUSTMENTS, FEE_REVENUE, USER_WALLET, Account, JournalEntry
from app.ledger.services import BulkEntry
from tests.concurrency import run_threads


@pytest.fixture
def wallets(make_user, fund):
    users = [make_user() for _ in range(3)]
    fund(users[0], "10.00")
    return [ledger.user_account(u.id, USER_WALLET).id for u in users]


def _balance(account_id: int) -> int:
    return db.session.scalar(select(Account.balance).where(Account.id == account_id))


def _entries(wallets, funding, *, prefix="bulk", amounts=(100, 250, 75)):
    return [BulkEntry(key=f"{prefix}-{n}", kind="returns", memo=f"payment {n}",
                      lines=[(w, a), (funding, -a)]) for n, (w, a) in enumerate(zip(wallets, amounts), start=1)]


def test_post_many_writes_what_post_writes_with_identical_fingerprints(wallets):
    funding = ledger.platform_account(ADJUSTMENTS, ref="bulk").id
    fee = ledger.platform_account(FEE_REVENUE)
    lines = [(wallets[0], 120), (wallets[1], 80), (funding, -200)]
    [bulk_id] = ledger.post_many([BulkEntry(key="bulk-fp", kind="returns", lines=lines, memo="in bulk")])
    single = ledger.post([(db.session.get(Account, a), m) for a, m in reversed(lines)], key="single-fp",
                         kind="returns")
    db.session.commit()
    bulk = db.session.get(JournalEntry, bulk_id)
    assert bulk.fingerprint == single.fingerprint  # the same lines, in any order: the same fingerprint
    assert bulk.fingerprint == ledger._fingerprint("returns", [(p.account, p.amount) for p in bulk.postings], None)
    assert sorted((p.account_id, p.amount) for p in bulk.postings) == sorted(lines)
    assert bulk.kind == "returns" and bulk.memo == "in bulk" and bulk.idempotency_key == "bulk-fp"
    other = ledger.post([(db.session.get(Account, wallets[0]), -5), (fee, 5)], key="other-kind", kind="fee")
    assert other.fingerprint != bulk.fingerprint
    assert _balance(wallets[0]) == 1000 + 240 - 5 and _balance(wallets[1]) == 160 and _balance(funding) == -400
    report = verify()
    assert report.ok, report.violations


def test_entries_come_back_in_order_and_a_replay_moves_nothing(wallets):
    funding = ledger.platform_account(ADJUSTMENTS, ref="bulk").id
    ids = ledger.post_many(_entries(wallets, funding))
    db.session.commit()
    keys = [db.session.get(JournalEntry, i).idempotency_key for i in ids]
    assert keys == ["bulk-1", "bulk-2", "bulk-3"]
    assert ids == sorted(ids)
    before = {a: _balance(a) for a in [*wallets, funding]}
    again = ledger.post_many(_entries(wallets, funding) + _entries(wallets[:1], funding, prefix="more"))
    db.session.commit()
    assert again[:3] == ids and again[3] not in ids
    assert _balance(wallets[0]) == before[wallets[0]] + 100 and _balance(wallets[1]) == before[wallets[1]]
    assert verify().ok


def test_a_key_posted_with_other_lines_conflicts_and_nothing_of_the_call_stays(wallets):
    funding = ledger.platform_account(ADJUSTMENTS, ref="bulk").id
    ledger.post_many(_entries(wallets, funding))
    db.session.commit()
    fee = ledger.platform_account(FEE_REVENUE)
    kept = ledger.post([(db.session.get(Account, wallets[0]), -10), (fee, 10)], key="kept", kind="fee")
    with pytest.raises(IdempotencyConflict):
        ledger.post_many(_entries(wallets[:1], funding, prefix="new") + _entries(wallets, funding, amounts=(1, 2, 3)))
    db.session.commit()  # the caller's own work stays (the call ran in a savepoint)
    assert ledger.entry_by_key("kept").id == kept.id
    assert ledger.entry_by_key("new-1") is None
    assert _balance(wallets[0]) == 1000 + 100 - 10
    assert verify().ok


def test_a_wallet_is_never_overdrawn_and_the_whole_call_is_refused(wallets):
    funding = ledger.platform_account(ADJUSTMENTS, ref="bulk").id
    fee = ledger.platform_account(FEE_REVENUE).id
    entries = [BulkEntry(key="fine", kind="fee", lines=[(wallets[0], -600), (fee, 600)]),
               BulkEntry(key="too-much", kind="fee", lines=[(wallets[0], -600), (fee, 600)]),
               BulkEntry(key="credit", kind="returns", lines=[(wallets[1], 5), (funding, -5)])]
    with pytest.raises(InsufficientFunds):
        ledger.post_many(entries)
    db.session.commit()
    assert db.session.scalar(select(func.count(JournalEntry.id)).where(
        JournalEntry.idempotency_key.in_(["fine", "too-much", "credit"]))) == 0
    assert _balance(wallets[0]) == 1000 and _balance(wallets[1]) == 0
    ledger.post_many(entries[:1] + entries[2:])
    db.session.commit()
    assert _balance(wallets[0]) == 400 and _balance(fee) == 600 and _balance(funding) == -5
    assert verify().ok


@pytest.mark.parametrize("lines", [
    [(1, 100), (2, -99)], [(1, 100)], [(1, 0), (2, 0)], [(1, 1.5), (2, -1.5)], [(1, True), (2, -1)],
    [(1, 100), (999_999, -100)], [(1, 10**16), (2, -10**16)],
], ids=["unbalanced", "one-line", "zero", "float", "bool", "missing-account", "too-large"])
def test_malformed_entries_are_refused_as_post_refuses_them(wallets, lines):
    funding = ledger.platform_account(ADJUSTMENTS, ref="bulk").id
    ids = {1: wallets[0], 2: funding}
    entry = BulkEntry(key="bad", kind="test", lines=[(ids.get(a, a), m) for a, m in lines])
    with pytest.raises(ValidationError):
        ledger.post_many([entry])
    db.session.rollback()
    assert ledger.entry_by_key("bad") is None


def test_each_currency_balances_on_its_own(wallets):
    euros = Account(code="adjustments:eur", kind="adjustments", name="Adjustments in EUR", ref="eur",
                    currency="EUR", balance=0, allow_negative=True)
    db.session.add(euros)
    db.session.commit()
    with pytest.raises(ValidationError, match="balance"):  # zero in all, but not in USD nor in EUR
        ledger.post_many([BulkEntry(key="two-currencies", kind="test", lines=[(wallets[1], 100), (euros.id, -100)])])
    db.session.rollback()
    assert ledger.entry_by_key("two-currencies") is None and _balance(wallets[1]) == 0


def test_keys_are_required_and_unique_within_a_call(wallets):
    funding = ledger.platform_account(ADJUSTMENTS, ref="bulk").id
    for keys in (["", "b"], ["x" * 201, "b"], ["same", "same"]):
        with pytest.raises(ValidationError):
            ledger.post_many([BulkEntry(key=k, kind="test", lines=[(wallets[1], 1), (funding, -1)]) for k in keys])
    assert ledger.post_many([]) == []
    assert verify().ok


def test_statements_do_not_grow_with_entries(wallets, make_user, count_queries):
    funding = ledger.platform_account(ADJUSTMENTS, ref="bulk").id
    more = [ledger.user_account(make_user().id, USER_WALLET).id for _ in range(20)]
    db.session.commit()
    with count_queries() as few:
        ledger.post_many(_entries(wallets[:1], funding, prefix="few"))
    with count_queries() as many:
        ledger.post_many([BulkEntry(key=f"many-{n}", kind="returns", lines=[(w, 7), (w2, 3), (funding, -10)])
                          for n, (w, w2) in enumerate(zip(more, reversed(more)))])
    assert len(many) == len(few), (few, many)
    db.session.commit()
    assert verify().ok


def test_the_same_keys_posted_by_ten_threads_move_money_once(app, postgres, wallets):
    funding = ledger.platform_account(ADJUSTMENTS, ref="bulk").id
    db.session.commit()

    def post(index):
        return tuple(ledger.post_many(_entries(wallets, funding)))

    results = run_threads(app, 10, post)
    assert all(isinstance(r, tuple) for r in results), results
    assert len(set(results)) == 1
    db.session.expire_all()
    assert _balance(wallets[1]) == 250 and _balance(funding) == -425
    assert verify().ok
