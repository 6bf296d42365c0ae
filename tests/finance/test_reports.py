"""Finance reports: each figure equals what the records and the ledger say, month by month, on PostgreSQL and
SQLite; ranges are checked; the account statement's opening balance plus its lines is its closing balance, which is
the ledger's balance."""
from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.extensions import db
from app.finance import account_statements, reports
from app.investing import services as investing
from app.investing.models import (
    DIST_PAID,
    DeclaredDistribution,
    DistributionShare,
    Installment,
    ReturnPayment,
)
from app.ledger import services as ledger
from app.ledger.models import ADJUSTMENTS, FEE_REVENUE, USER_WALLET, Account, JournalEntry, Posting
from app.payments.models import Deposit, Dispute
from app.payouts.models import Payout
from tests.finance.report_books import clock_at, mid_month, month_start, move, paid_payout, waiting_payout
from tests.payouts.helpers import usable_method
from tests.support import fund_distributions


def _key(moment: datetime) -> str:
    return f"{moment:%Y-%m}"


@pytest.fixture
def books(make_investor, make_property, finance, finance2, manager):
    """Three months of activity: deposits in each, payouts paid in two, one waiting 10 days and one today,
    investments in two months, scheduled returns and a declared distribution."""
    a, b = make_investor("5000.00"), make_investor("3000.00")
    deposits = list(db.session.scalars(select(Deposit).where(Deposit.user_id.in_((a.id, b.id)))
                                       .order_by(Deposit.id)))
    move(Deposit, deposits[0].id, completed_at=mid_month(2))
    move(Deposit, deposits[1].id, completed_at=mid_month(1))
    method_a, method_b = usable_method(a), usable_method(b)
    p1 = paid_payout(a, method_a, "100.00", finance=finance, finance2=finance2)
    p2 = paid_payout(b, method_b, "250.00", finance=finance, finance2=finance2)
    move(Payout, p1.id, decided_at=mid_month(1))
    old = waiting_payout(a, method_a, "40.00")
    move(Payout, old.id, created_at=utcnow() - timedelta(days=10))
    waiting_payout(b, method_b, "15.00")
    prop = make_property()
    inv_a = investing.invest(a, prop.id, Money.parse("1000.00", "USD"), acknowledged=True)
    db.session.commit()
    inv_b = investing.invest(b, prop.id, Money.parse("500.00", "USD"), acknowledged=True)
    db.session.commit()
    first = db.session.scalar(select(Installment).where(Installment.investment_id == inv_a.id))
    move(Installment, first.id, paid_at=mid_month(1))
    with unit_of_work():
        db.session.add(ReturnPayment(investment_id=inv_a.id, period_index=1, due_on=utcnow().date(), amount=1234,
                                     capital=0, paid_at=mid_month(1)))
        db.session.add(ReturnPayment(investment_id=inv_b.id, period_index=1, due_on=utcnow().date(), amount=5000,
                                     capital=4000, paid_at=utcnow()))
    fund_distributions(prop.id, 7777)
    with unit_of_work():
        entry = ledger.post([(investing.distributions_account(prop.id), -7777),
                             (ledger.user_account(a.id, USER_WALLET), 7777)], key="test-declared", memo="Q1",
                            kind="declared_distribution")
        declared = DeclaredDistribution(property_id=prop.id, label="Q1", period_start=date(2026, 1, 1),
                                        period_end=date(2026, 3, 31), amount=7777, currency="USD", status=DIST_PAID,
                                        created_by_id=finance.id, paid_at=mid_month(2), entry_id=entry.id)
        db.session.add(declared)
        db.session.flush()
        db.session.add(DistributionShare(distribution_id=declared.id, investment_id=inv_a.id, user_id=a.id,
                                         weight=1, amount=7777))
    return {"a": a, "b": b, "payouts": (p1, p2), "prop": prop, "investments": (inv_a, inv_b)}


def _months(n: int = 3) -> reports.Months:
    return reports.months(None, None, default=n)


def test_deposits_and_withdrawals_equal_the_records_month_by_month(books):
    r = _months()
    report = reports.deposits_withdrawals(r)
    want_in, want_out = defaultdict(int), defaultdict(int)
    for d in db.session.scalars(select(Deposit).where(Deposit.status == "succeeded")):
        if d.completed_at >= r.start:
            want_in[_key(d.completed_at)] += d.amount
    for p in db.session.scalars(select(Payout).where(Payout.status == "paid")):
        want_out[_key(p.decided_at)] += p.amount
    assert [row[0] for row in report.rows] == r.keys
    for row in report.rows:
        assert row[2] == Money(want_in[row[0]], "USD")
        assert row[4] == Money(want_out[row[0]], "USD")
        assert row[5] == Money(want_in[row[0]] - want_out[row[0]], "USD")
    by_month = {row[0]: row for row in report.rows}
    assert by_month[_key(mid_month(1))][4] == Money(10000, "USD")  # the 100.00 payout moved a month back
    assert by_month[_key(utcnow())][4] == Money(25000, "USD")
    assert by_month[_key(mid_month(2))][2] == Money(500000, "USD")
    assert report.totals[2] == Money(sum(want_in.values()), "USD")
    assert report.series[0][2] == [want_in[k] for k in r.keys]


def test_funds_raised_returns_paid_and_distributions(books):
    r = _months()
    raised = {row[0]: row for row in reports.funds_raised(r).rows}
    assert raised[_key(mid_month(1))][3].minor == books["investments"][0].paid_amount
    assert raised[_key(utcnow())][3].minor == books["investments"][1].paid_amount
    assert raised[_key(mid_month(2))][1] == 0
    paid = {row[0]: row for row in reports.returns_paid(r).rows}
    assert paid[_key(mid_month(1))][2] == Money(1234, "USD")
    assert (paid[_key(utcnow())][2], paid[_key(utcnow())][3]) == (Money(1000, "USD"), Money(4000, "USD"))
    assert paid[_key(mid_month(2))][5] == Money(7777, "USD")
    assert paid[_key(mid_month(2))][6] == Money(7777, "USD")


def test_fee_revenue_is_what_the_fee_account_received_by_source(books):
    r = _months()
    report = reports.fee_revenue(r)
    postings = db.session.execute(
        select(JournalEntry.kind, Posting.amount).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Account, Account.id == Posting.account_id).where(Account.kind == FEE_REVENUE)).all()
    want = defaultdict(int)
    for kind, amount in postings:
        want[reports.fee_source(kind)] += amount
    assert {row[0]: row[2].minor for row in report.rows} == dict(want)
    fees = sum(p.fee for p in books["payouts"])
    assert fees > 0 and dict(want)["Payout fees"] == fees
    revenue = db.session.scalar(select(Account.balance).where(Account.kind == FEE_REVENUE))
    assert report.totals[2].minor == revenue  # every fee of these books falls in the range


def test_payouts_waiting_by_age(books):
    report = reports.payouts_waiting()
    rows = {row[0]: row for row in report.rows}
    assert rows["Under 1 day"][1:] == [1, 0, Money(1500, "USD")]
    assert rows["7-14 days"][1:] == [1, 0, Money(4000, "USD")]
    assert report.totals[1] == 2


def test_receivables_and_disputes_open(make_investor):
    """Disputes not yet booked (no hold, nothing owed) count by their disputed amount; decided ones do not."""
    user = make_investor("20.00")
    with unit_of_work():
        for n, (status, amount) in enumerate((("open", 1234), ("open", 66), ("won", 5000), ("lost", 7000))):
            db.session.add(Dispute(provider="stripe", external_id=f"dp_{n}", user_id=user.id, amount=amount,
                                   currency="USD", status=status, attention_reason="payment not found"))
    rows = {row[0]: row[1:] for row in reports.open_items().rows}
    assert rows["Receivables open"] == [0, Money(0, "USD")]
    assert rows["Disputes open (amount disputed)"] == [2, Money(1300, "USD")]
    assert rows["Disputes open: held from wallets"] == [0, Money(0, "USD")]


def test_the_fee_revenue_of_entries_posted_in_earlier_months(make_investor, finance):
    """Entries posted with the clock set back land in their own month (by the entry's created_at)."""
    user = make_investor("100.00")
    for back, amount in ((2, 300), (1, 200)):
        with clock_at(mid_month(back)), unit_of_work():
            ledger.post([(ledger.user_account(user.id, USER_WALLET), -amount),
                         (ledger.platform_account(FEE_REVENUE), amount)], key=f"test-fee:{back}",
                        kind="payout_fee", memo="fee")
    assert {row[0]: row[2] for row in reports.fee_revenue(reports.months(
        _key(mid_month(2)), _key(mid_month(2)))).rows} == {"Payout fees": Money(300, "USD")}
    assert reports.fee_revenue(reports.months(_key(mid_month(1)), None)).totals[2] == Money(200, "USD")


@pytest.mark.parametrize("args", [("2026-13", None), ("26-01", None), ("2026-01", "2025-12"), ("x", "y"),
                                  ("1999-01", "1999-02"), ("2000-01", "2026-01"), ("２０２６-01", None),
                                  ("9999-12", "9999-12")])
def test_unreadable_month_ranges(args):
    with pytest.raises(reports.BadRange):
        reports.months(*args, today=date(2026, 12, 3))


def test_default_range_is_the_last_twelve_months():
    r = reports.months(None, None, today=date(2026, 12, 3))
    assert (r.first, r.last, len(r.keys)) == (date(2026, 1, 1), date(2026, 12, 1), 12)
    assert reports.months("2025-11", "2026-02").keys == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_the_statement_adds_up_and_ends_at_the_ledger_balance(make_investor):
    user = make_investor("100.00")
    adjustments = None
    for back, amount in ((3, 1000), (2, 2000), (2, -500), (1, 700)):
        with clock_at(mid_month(back)), unit_of_work():
            adjustments = ledger.platform_account(ADJUSTMENTS)
            ledger.post([(ledger.user_account(user.id, USER_WALLET), amount), (adjustments, -amount)],
                        key=f"test-adj:{back}:{amount}", kind="adjustment", memo=f"adjustment {amount}")
    wallet = db.session.scalar(select(Account).where(Account.user_id == user.id, Account.kind == USER_WALLET))
    first, last = month_start(2).date(), (month_start(1) - timedelta(days=1)).date()
    st = account_statements.statement(wallet, first, last)
    assert st.opening == 1000 and [line["amount"] for line in st.lines] == [2000, -500]
    assert st.closing == st.opening + sum(line["amount"] for line in st.lines) == 2500
    assert st.lines[-1]["balance"] == st.closing
    whole = account_statements.statement(wallet, month_start(3).date(), utcnow().date())
    assert whole.opening == 0 and whole.closing == wallet.balance == 10000 + 3200
    assert whole.closing == whole.opening + sum(line["amount"] for line in whole.lines)
    paged = [account_statements.statement(wallet, month_start(3).date(), utcnow().date(), page=n, page_size=2) for n in (0, 1, 2)]
    assert [p.page_opening for p in paged] == [0, 3000, 3200]  # the deposit of today comes last
    assert [line["balance"] for p in paged for line in p.lines] == [line["balance"] for line in whole.lines]
    assert account_statements.statement(wallet, first, last, page=99, page_size=1).page == 1  # held to the last page


@pytest.mark.parametrize("args", [("2026-02-30", None), ("2026-03-01", "2026-02-01"), ("yesterday", None),
                                  ("1990-01-01", "1990-02-01"), ("2000-01-01", "2026-01-01"),
                                  ("9999-12-30", "9999-12-31")])
def test_unreadable_statement_dates(args):
    with pytest.raises(reports.BadRange):
        account_statements.statement_range(*args, today=date(2026, 12, 3))


def test_reports_read_a_fixed_number_of_times(books, count_queries, make_investor):
    def reads() -> int:
        with count_queries() as statements:
            for key in reports.TITLES:
                reports.build(key, _months(12))  # open-items: receivables and disputes in one read
        return len(statements)

    few = reads()
    for _ in range(3):
        make_investor("10.00")
    db.session.expire_all()
    assert reads() == few


def test_month_buckets_use_utc(make_investor):
    user = make_investor("1.00")
    deposit = db.session.scalar(select(Deposit).where(Deposit.user_id == user.id))
    edge = month_start(1) - timedelta(microseconds=1)  # the last instant of two months ago
    move(Deposit, deposit.id, completed_at=edge)
    rows = {row[0]: row for row in reports.deposits_withdrawals(_months()).rows}
    assert rows[_key(edge)][2] == Money(100, "USD") and rows[_key(month_start(1))][2] == Money(0, "USD")
    assert edge.tzinfo is UTC
