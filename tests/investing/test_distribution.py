"""The return distribution engine: what a run pays, what it posts, what it leaves, and how it fails."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app.core.db import utcnow
from app.extensions import db
from app.investing import returns
from app.investing.models import (
    ACTIVE,
    COMPLETED,
    FAILED,
    PAYING,
    RUNNING,
    SUCCEEDED,
    DistributionRun,
    Investment,
    ReturnPayment,
    ScheduledReturn,
)
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.ledger.models import ADJUSTMENTS, PROPERTY_ESCROW, RETURNS_FUNDING, Account, JournalEntry

TODAY = returns.today()
COLLECTED_ON = TODAY  # tests/conftest.py reads this module again if the date changes during a run


def periods(n, *, amount=1_000, first=None, capital=0, last=True, every=30):
    """n periods, the first due `first` (default n*every days ago), then every `every` days; capital with the last."""
    first = first or TODAY - timedelta(days=n * every)
    return [(first + timedelta(days=every * k), amount, capital if k == n - 1 else 0, last and k == n - 1)
            for k in range(n)]


def book(p, user, *, amount=100_000, schedule=(), status=ACTIVE):
    """An investment written directly (escrow funded through the ledger) with the given return calendar."""
    inv = Investment(user_id=user.id, property_id=p.id, currency="USD", amount=amount, paid_amount=amount,
                     escrow_amount=amount, fees_paid=0, status=status, invested_on=TODAY - timedelta(days=400),
                     return_anchor=TODAY - timedelta(days=400), documents_version="v1", acknowledged_at=utcnow(),
                     units=amount // p.unit_price)
    db.session.add(inv)
    db.session.flush()
    ledger.post([(ledger.platform_account(ADJUSTMENTS), -amount),
                 (ledger.platform_account(PROPERTY_ESCROW, ref=str(p.id)), amount)],
                key=f"test-escrow:{inv.id}", kind="test_escrow", memo="test escrow")
    db.session.execute(text("UPDATE properties SET raised_amount = raised_amount + :a, units_sold = units_sold + :u "
                            "WHERE id = :p"), {"a": amount, "u": inv.units, "p": p.id})
    if schedule:
        db.session.execute(ScheduledReturn.__table__.insert(), [
            {"investment_id": inv.id, "property_id": p.id, "user_id": user.id, "period_index": k,
             "due_on": due, "amount": amt, "capital": cap, "last": last}
            for k, (due, amt, cap, last) in enumerate(schedule, start=1)])
    db.session.commit()
    return inv


def wallet(user_id) -> int:
    return db.session.scalar(select(Account.balance).where(Account.user_id == user_id, Account.kind == "user_wallet"))


def account(kind, property_id) -> int | None:
    return db.session.scalar(select(Account.balance).where(Account.code == f"{kind}:{property_id}"))


def paid_once() -> dict:
    """(investment, period) -> number of payments."""
    rows = db.session.execute(select(ReturnPayment.investment_id, ReturnPayment.period_index, func.count())
                              .group_by(ReturnPayment.investment_id, ReturnPayment.period_index)).all()
    return {(i, k): n for i, k, n in rows}


def assert_consistent():
    """Every payment once; a paid period is off the calendar; a payment has an entry exactly when it moved money;
    no distributions account below zero; balances and the ledger verify."""
    db.session.expire_all()
    funding_accounts_never_negative()
    counts = paid_once()
    assert all(n == 1 for n in counts.values()), counts
    left = set(db.session.execute(select(ScheduledReturn.investment_id, ScheduledReturn.period_index)).all())
    assert not left & set(counts)
    for payment in db.session.scalars(select(ReturnPayment)):
        assert (payment.entry_id is not None) == (payment.amount + payment.capital > 0)
    report = verify()
    assert report.ok, report.violations


def funding_accounts_never_negative():
    rows = db.session.execute(select(Account.code, Account.balance).where(Account.kind == RETURNS_FUNDING)).all()
    assert all(balance >= 0 for _, balance in rows), rows


@pytest.fixture
def setup(make_property, make_user, fund_distributions):
    """Two properties, three investors: due, missed, future, paid, paying and a finished term; both properties'
    distributions accounts funded for what is due (p1: 7,000, p2: 500) and a little more on p1."""
    p1, p2 = make_property(), make_property()
    a, b, c = make_user(), make_user(), make_user()
    invs = {
        "a1": book(p1, a, schedule=[*periods(3, amount=1000), (TODAY + timedelta(days=30), 1000, 0, False)]),
        "b1": book(p1, b, amount=200_000, schedule=periods(2, amount=2_000)),
        "c2": book(p2, c, amount=50_000, schedule=periods(1, amount=500, capital=50_000)),
        "paying": book(p2, c, amount=10_000, status=PAYING, schedule=periods(2, amount=99)),
    }
    fund_distributions(p1.id, 7_250)
    fund_distributions(p2.id, 500)
    return {"p1": p1, "p2": p2, "a": a, "b": b, "c": c, **invs}


def test_a_run_pays_every_due_period_once_and_posts_it(setup):
    s = setup
    run = returns.distribute(trigger="cli")
    assert run.status == SUCCEEDED and run.error is None
    # a1: 3 due (one in the future stays), b1: 2 due, c2: 1 due with the capital; the paying investment waits
    assert run.payments == 6 and run.total == 3 * 1_000 + 2 * 2_000 + 500 and run.capital == 50_000
    assert run.batches == 1 and run.finished_at is not None and run.duration_ms >= 0
    assert wallet(s["a"].id) == 3_000 and wallet(s["b"].id) == 4_000 and wallet(s["c"].id) == 50_500
    assert account(RETURNS_FUNDING, s["p1"].id) == 250  # funded 7,250: 7,000 paid
    assert account(RETURNS_FUNDING, s["p2"].id) == 0
    assert account(PROPERTY_ESCROW, s["p2"].id) == 60_000 - 50_000
    unpaid = db.session.scalars(select(ScheduledReturn).order_by(ScheduledReturn.id)).all()
    assert [(r.investment_id, r.period_index) for r in unpaid] == [
        (s["a1"].id, 4), (s["paying"].id, 1), (s["paying"].id, 2)]
    payments = db.session.scalars(select(ReturnPayment)).all()
    assert {p.run_id for p in payments} == {run.id}
    assert all(p.due_on <= TODAY for p in payments)
    assert_consistent()


def test_finished_terms_complete_the_investment_and_take_the_capital_out_of_escrow(setup):
    s = setup
    returns.distribute()
    db.session.expire_all()
    c2 = db.session.get(Investment, s["c2"].id)
    assert c2.status == COMPLETED and c2.escrow_amount == 0 and c2.closed_at is not None
    b1 = db.session.get(Investment, s["b1"].id)  # its last period was paid, with no capital back
    assert b1.status == COMPLETED and b1.escrow_amount == 200_000
    assert db.session.get(Investment, s["a1"].id).status == ACTIVE  # a period still to come


def test_a_second_run_pays_nothing(setup):
    first = returns.distribute()
    balances = dict(db.session.execute(select(Account.code, Account.balance)).all())
    entries = db.session.scalar(select(func.count(JournalEntry.id)))
    second = returns.distribute()
    assert second.status == SUCCEEDED and second.payments == 0 and second.total == 0 and second.id != first.id
    assert dict(db.session.execute(select(Account.code, Account.balance)).all()) == balances
    assert db.session.scalar(select(func.count(JournalEntry.id))) == entries
    assert_consistent()


def test_entries_hold_payments_of_one_property_and_balance(setup, make_user, monkeypatch):
    monkeypatch.setattr(returns.engine, "ENTRY_SIZE", 2)
    returns.distribute()
    entries = db.session.scalars(select(JournalEntry).where(JournalEntry.kind == "returns")).all()
    assert entries
    for entry in entries:
        assert sum(p.amount for p in entry.postings) == 0
        wallets = [p for p in entry.postings if p.account.kind == "user_wallet"]
        platform = {p.account.ref for p in entry.postings if p.account.kind != "user_wallet"}
        assert 1 <= len(wallets) <= 2 and len(platform) == 1
        assert entry.idempotency_key.startswith("returns:") and "Returns run #" in entry.memo
        lines = [(p.account, p.amount) for p in entry.postings]
        assert entry.fingerprint == ledger._fingerprint("returns", lines, None)
    payments = db.session.scalars(select(ReturnPayment)).all()
    for payment in payments:  # each payment points at the entry that credited its investor
        entry = db.session.get(JournalEntry, payment.entry_id)
        investor = db.session.get(Investment, payment.investment_id).user_id
        assert any(p.account.user_id == investor and p.amount == payment.amount + payment.capital
                   for p in entry.postings)


def test_small_batches_commit_one_by_one(setup):
    run = returns.distribute(batch_size=2)
    assert run.status == SUCCEEDED and run.payments == 6 and run.batches == 3  # 6 due periods of active investments
    assert_consistent()


def test_a_failure_between_batches_keeps_what_was_committed_and_the_next_run_pays_the_rest(setup):
    def fail(batch_no):
        if batch_no == 2:
            raise RuntimeError("worker lost")

    run = returns.distribute(batch_size=2, after_batch=fail)
    assert run.status == FAILED and "worker lost" in run.error and run.finished_at is not None
    assert run.batches == 2 and 0 < run.payments < 6
    assert_consistent()
    again = returns.distribute(batch_size=2)
    assert again.status == SUCCEEDED and run.payments + again.payments == 6
    assert again.total + run.total == 7_500
    assert_consistent()


def test_a_failure_inside_a_batch_rolls_that_batch_back(setup, monkeypatch):
    dialect = type(returns.dialect())  # the batch is paid by the server on PostgreSQL, by Python on SQLite
    original = dialect.pay_batch
    calls = {"n": 0}

    def flaky(self, accounts, run, batch_no, ids, now):
        calls["n"] += 1
        done = original(self, accounts, run, batch_no, ids, now)
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return done

    monkeypatch.setattr(dialect, "pay_batch", flaky)
    run = returns.distribute(batch_size=3)
    assert run.status == FAILED and "disk full" in run.error and run.batches == 1
    assert_consistent()
    monkeypatch.setattr(dialect, "pay_batch", original)
    assert returns.distribute().payments == 6 - run.payments
    assert_consistent()


def test_a_period_already_paid_elsewhere_leaves_the_calendar_and_is_not_paid_again(setup, fund_distributions):
    s = setup
    returns.distribute()
    fund_distributions(s["p1"].id, 1_000)  # the reappearing period is funded: only the payment row stops it
    paid = db.session.scalar(select(ReturnPayment).where(ReturnPayment.investment_id == s["a1"].id,
                                                         ReturnPayment.period_index == 1))
    # the calendar shows the period again, but its payment exists
    db.session.execute(ScheduledReturn.__table__.insert(), [
        {"investment_id": s["a1"].id, "property_id": s["p1"].id, "user_id": s["a"].id, "period_index": 1,
         "due_on": paid.due_on, "amount": paid.amount, "capital": 0, "last": False}])
    db.session.commit()
    before = wallet(s["a"].id)
    run = returns.distribute()
    assert run.status == SUCCEEDED and run.payments == 0
    assert wallet(s["a"].id) == before
    assert db.session.scalar(select(func.count()).select_from(ScheduledReturn).where(
        ScheduledReturn.investment_id == s["a1"].id, ScheduledReturn.period_index == 1)) == 0
    assert_consistent()


def test_zero_periods_are_paid_without_moving_money(make_property, make_user):
    p, u = make_property(), make_user()
    inv = book(p, u, schedule=periods(2, amount=0))
    entries = db.session.scalar(select(func.count(JournalEntry.id)))
    run = returns.distribute()
    assert run.status == SUCCEEDED and run.payments == 0
    assert db.session.scalar(select(func.count()).select_from(ScheduledReturn)) == 0
    paid = db.session.scalars(select(ReturnPayment).order_by(ReturnPayment.period_index)).all()
    assert [(r.period_index, r.amount, r.entry_id) for r in paid] == [(1, 0, None), (2, 0, None)]
    assert db.session.scalar(select(func.count(JournalEntry.id))) == entries
    db.session.refresh(inv)
    assert inv.status == COMPLETED
    assert_consistent()


def test_a_user_without_a_wallet_gets_one(make_property, make_user, fund_distributions):
    p, u = make_property(), make_user()
    fund_distributions(p.id, 700)
    book(p, u, schedule=periods(1, amount=700, last=False))
    db.session.execute(text("DELETE FROM ledger_accounts WHERE user_id = :u"), {"u": u.id})
    db.session.commit()
    assert returns.distribute().payments == 1
    assert wallet(u.id) == 700
    assert_consistent()


def test_the_future_is_refused_and_the_past_is_honoured(setup):
    from app.core.errors import ValidationError

    with pytest.raises(ValidationError):
        returns.distribute(TODAY + timedelta(days=1))
    early = returns.distribute(TODAY - timedelta(days=45))  # only periods due by then
    assert early.status == SUCCEEDED and 0 < early.payments < 6 and early.as_of == TODAY - timedelta(days=45)
    assert returns.distribute().payments == 6 - early.payments
    assert_consistent()


def test_the_dry_run_previews_per_property_and_writes_nothing(setup, count_queries):
    s = setup
    with count_queries() as queries:
        lines = returns.preview(TODAY)
    assert not [q for q in queries if q.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    by_id = {line.property_id: line for line in lines}
    assert set(by_id) == {s["p1"].id, s["p2"].id}
    p1 = by_id[s["p1"].id]
    assert (p1.investors, p1.payments, p1.periods, p1.returns, p1.capital) == (2, 5, 5, 7_000, 0)
    p2 = by_id[s["p2"].id]
    assert (p2.investors, p2.payments, p2.returns, p2.capital, p2.total) == (1, 1, 500, 50_000, 50_500)
    assert p1.funding_balance == 7_250 and p1.funding_after == 250 and p1.waiting_periods == 0 and p1.to_fund == 0
    future = {x.property_id: x for x in returns.preview(TODAY + timedelta(days=40))}
    # a preview may look ahead; a run may not. The period due in 30 days is not covered (1,000 > 250): it waits
    f1 = future[s["p1"].id]
    assert f1.payments == 5 and f1.waiting_periods == 1 and f1.waiting_returns == 1_000 and f1.to_fund == 750
    assert db.session.scalar(select(func.count(ReturnPayment.id))) == 0
    returns.distribute()
    assert returns.preview(TODAY) == []


def test_shortfalls_list_the_unfunded_due_periods_per_property(make_property, make_user, fund_distributions):
    p1, p2, p3 = make_property(), make_property(), make_property()
    a, b = make_user(), make_user()
    book(p1, a, schedule=periods(3, amount=1_000))
    book(p1, b, schedule=periods(3, amount=500))
    book(p2, a, schedule=periods(2, amount=300))
    book(p3, b, schedule=periods(1, amount=100, last=False))
    fund_distributions(p1.id, 2_000)  # covers the first period (1,500) only
    fund_distributions(p3.id, 100)
    assert [(x.property_id, x.periods, x.needed, x.balance, x.to_fund) for x in returns.shortfalls()] == [
        (p1.id, 2, 3_000, 2_000, 2_500), (p2.id, 2, 600, 0, 600)]
    returns.distribute()
    found = returns.shortfalls()
    first_due = TODAY - timedelta(days=90)
    assert [(x.property_id, x.periods, x.oldest_due, x.needed, x.balance, x.to_fund) for x in found] == [
        (p1.id, 2, first_due + timedelta(days=30), 3_000, 500, 2_500),
        (p2.id, 2, TODAY - timedelta(days=60), 600, 0, 600)]
    assert found[0].title == p1.title and found[0].account_code == f"returns_funding:{p1.id}"
    assert found[0].fund_url == f"/admin/distribution-funding/propose?property_id={p1.id}"
    assert_consistent()


def test_statements_per_batch_do_not_grow_with_rows(make_property, make_user, count_queries, fund_distributions,
                                                    monkeypatch):
    # the run alone: the notices are sent after it by tasks of their own (eager here), one notify() per investor
    monkeypatch.setattr("app.investing.returns.engine._send_notices", lambda: None)
    p = make_property(target_amount=100_000_000)
    fund_distributions(p.id, 1_000_000)
    users = [make_user() for _ in range(3)]
    book(p, users[0], schedule=periods(2))
    returns.distribute()  # the property's accounts exist from now on
    book(p, users[0], schedule=periods(2))
    with count_queries() as few:
        assert returns.distribute().payments == 2
    for u in users:
        book(p, u, schedule=periods(12, every=10))
    with count_queries() as many:
        assert returns.distribute().payments == 36
    assert len(many) == len(few), (len(few), len(many))
    assert_consistent()


def test_a_run_left_running_is_marked_failed_by_the_next(setup, is_postgres):
    stale = DistributionRun(as_of=TODAY, trigger="beat", status=RUNNING, payments=0, total=0, capital=0, batches=0,
                            started_at=utcnow() - (timedelta(minutes=1) if is_postgres else timedelta(hours=3)))
    db.session.add(stale)
    db.session.commit()
    run = returns.distribute()
    assert run.status == SUCCEEDED
    db.session.refresh(stale)
    assert stale.status == FAILED and "interrupted" in stale.error


def test_recent_runs_newest_first(setup):
    first = returns.distribute()
    second = returns.distribute()
    assert [r.id for r in returns.recent_runs()] == [second.id, first.id]
    assert "payment(s)" in returns.summary(first) and "succeeded" in returns.summary(first)


def test_investments_made_through_the_service_are_paid_to_the_end(make_investor, make_property, kyc_open,
                                                                   fund_distributions):
    """The whole path: invest through the service, let the calendar come due, pay it all, capital included."""
    from app.core.money import Money
    from app.investing import services as investing

    user = make_investor("10000.00")
    p = make_property(return_periods=4, funding_ends_at=utcnow() + timedelta(days=1))
    inv = investing.invest(user, p.id, Money.parse("2000.00", "USD"), acknowledged=True, ip="203.0.113.9")
    db.session.commit()
    fund_distributions(p.id, 1_000_000)
    # the calendar comes due: move it two years back
    db.session.execute(text("UPDATE return_schedule SET due_on = due_on - 730 WHERE investment_id = :i")
                       if db.engine.dialect.name == "postgresql" else
                       text("UPDATE return_schedule SET due_on = date(due_on, '-730 days') WHERE investment_id = :i"),
                       {"i": inv.id})
    db.session.commit()
    before = wallet(user.id)
    run = returns.distribute()
    assert run.status == SUCCEEDED and run.payments == 4 and run.capital == 200_000
    assert wallet(user.id) == before + run.total + 200_000
    db.session.refresh(inv)
    assert inv.status == COMPLETED and inv.escrow_amount == 0
    assert investing.returns_earned([inv.id]) == {inv.id: run.total}
    assert investing.next_return(inv) is None
    assert_consistent()


# paying only what is funded -----------------------------------------------------------------------------------------
@pytest.fixture
def two_periods(make_property, make_user):
    """One property, two investors due on the same days (two periods: 1,500 then 1,500), a third investor whose
    only period falls between them is smaller (300): the periods are grouped by due date."""
    p = make_property()
    a, b, c = make_user(), make_user(), make_user()
    first = TODAY - timedelta(days=60)
    book(p, a, schedule=periods(2, amount=1_000, first=first))
    book(p, b, schedule=periods(2, amount=500, first=first))
    book(p, c, schedule=[(first + timedelta(days=10), 300, 0, True)])
    return {"p": p, "a": a, "b": b, "c": c}


def test_an_unfunded_property_pays_nothing_and_waits(two_periods):
    s = two_periods
    run = returns.distribute()
    assert run.status == SUCCEEDED and run.payments == 0 and run.total == 0
    assert wallet(s["a"].id) == wallet(s["b"].id) == wallet(s["c"].id) == 0
    assert db.session.scalar(select(func.count(ScheduledReturn.id))) == 5  # every due period still owed
    assert [(x.periods, x.needed, x.to_fund) for x in returns.shortfalls()] == [(3, 3_300, 3_300)]
    assert_consistent()


def test_a_partly_funded_property_pays_the_oldest_periods_it_covers_whole(two_periods, fund_distributions):
    s = two_periods
    fund_distributions(s["p"].id, 1_700)  # the first period (1,500) fits; the 300 one after it does not fit too
    run = returns.distribute()
    assert run.payments == 2 and run.total == 1_500
    assert wallet(s["a"].id) == 1_000 and wallet(s["b"].id) == 500
    # 200 is left: the 300 period waits, and so does the last one (1,500) behind it
    assert wallet(s["c"].id) == 0
    assert account(RETURNS_FUNDING, s["p"].id) == 200
    fund_distributions(s["p"].id, 100)  # 300: the second period (300) is covered now, the third (1,500) is not
    run = returns.distribute()
    assert run.payments == 1 and wallet(s["c"].id) == 300 and account(RETURNS_FUNDING, s["p"].id) == 0
    fund_distributions(s["p"].id, 1_499)  # one short of the last period: nobody of it is paid
    assert returns.distribute().payments == 0
    assert wallet(s["a"].id) == 1_000 and wallet(s["b"].id) == 500
    fund_distributions(s["p"].id, 1)
    run = returns.distribute()
    assert run.payments == 2 and wallet(s["a"].id) == 2_000 and wallet(s["b"].id) == 1_000
    assert returns.shortfalls() == [] and account(RETURNS_FUNDING, s["p"].id) == 0
    assert_consistent()


def test_a_period_is_never_split_between_its_investors(two_periods, fund_distributions):
    s = two_periods
    fund_distributions(s["p"].id, 1_200)  # enough for investor a's 1,000 of the first period, not for b's 500 too
    assert returns.distribute().payments == 0
    assert wallet(s["a"].id) == 0 and wallet(s["b"].id) == 0
    assert account(RETURNS_FUNDING, s["p"].id) == 1_200
    assert_consistent()


def test_capital_back_is_paid_from_escrow_while_the_return_waits(make_property, make_user, fund_distributions):
    p, u = make_property(), make_user()
    inv = book(p, u, amount=50_000, schedule=periods(2, amount=400, capital=50_000))
    run = returns.distribute()
    assert run.payments == 0 and run.capital == 50_000
    assert wallet(u.id) == 50_000 and account(PROPERTY_ESCROW, p.id) == 0
    db.session.refresh(inv)
    assert inv.status == ACTIVE and inv.escrow_amount == 0  # its returns are still owed
    fund_distributions(p.id, 800)
    run = returns.distribute()
    assert run.payments == 2 and run.total == 800 and run.capital == 0
    assert wallet(u.id) == 50_800
    db.session.refresh(inv)
    assert inv.status == COMPLETED
    assert returns.distribute().capital == 0  # the capital is paid once
    assert_consistent()


def test_due_periods_survive_a_cancellation_and_are_paid_to_the_holder_later(make_property, make_user, manager,
                                                                            fund_distributions):
    from app.investing.models import CANCELLED
    from app.properties import services as properties

    p, u = make_property(), make_user()
    inv = book(p, u, amount=40_000, schedule=[*periods(2, amount=600, last=False),
                                             (TODAY + timedelta(days=30), 600, 40_000, True)])
    properties.cancel(p, actor=manager, reason="Planning permission refused")
    db.session.commit()
    db.session.refresh(inv)
    assert inv.status == CANCELLED and inv.refunded_amount == 40_000
    left = db.session.execute(select(ScheduledReturn.due_on, ScheduledReturn.capital, ScheduledReturn.last,
                                     ScheduledReturn.user_id)).all()
    assert len(left) == 2 and all(due <= TODAY and cap == 0 and not last and uid == u.id
                                  for due, cap, last, uid in left)  # the future period went with the refund
    assert returns.distribute().payments == 0  # not funded yet
    fund_distributions(p.id, 1_200)
    run = returns.distribute()
    assert run.payments == 2 and run.total == 1_200 and run.capital == 0
    assert wallet(u.id) == 40_000 + 1_200
    db.session.refresh(inv)
    assert inv.status == CANCELLED
    assert_consistent()


def test_closing_keeps_the_due_rows_of_an_earning_investment_only(make_property, make_user):
    """An investment still being paid for never earned a return: closing it drops its whole calendar. An earning
    one keeps the rows already due (without capital or last flag) and loses the future ones."""
    from app.investing.return_calendar import drop_calendars

    p, u = make_property(), make_user()
    earning = book(p, u, schedule=[*periods(2, amount=100, last=False), (TODAY + timedelta(days=5), 100, 9, True)])
    paying = book(p, u, status=PAYING, schedule=periods(2, amount=100, capital=5, last=True))
    drop_calendars([earning.id, paying.id])
    db.session.commit()
    rows = db.session.execute(select(ScheduledReturn.investment_id, ScheduledReturn.due_on, ScheduledReturn.capital,
                                     ScheduledReturn.last)).all()
    assert len(rows) == 2 and all(i == earning.id and due <= TODAY and cap == 0 and not last
                                  for i, due, cap, last in rows)


def test_a_run_is_timed_and_its_payments_counted_in_the_metrics(setup):
    from prometheus_client import REGISTRY

    def sample(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    runs = sample("freehold_distribution_run_duration_seconds_count", status=SUCCEEDED)
    paid = sample("freehold_distribution_payments_total")
    run = returns.distribute()
    assert run.payments == 6
    assert sample("freehold_distribution_run_duration_seconds_count", status=SUCCEEDED) == runs + 1
    assert sample("freehold_distribution_payments_total") == paid + 6
    returns.distribute()  # a second run pays nothing more
    assert sample("freehold_distribution_payments_total") == paid + 6
    assert sample("freehold_distribution_run_duration_seconds_count", status=SUCCEEDED) == runs + 2
