"""Declared distributions: the exact split and its rule, days held, maker-checker, discard, paying once, and what
investors see."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from app.core.money import Money
from app.extensions import db
from app.investing import declared
from app.investing import services as investing
from app.investing.models import BASIS_DAYS, DistributionShare
from app.ledger.checks import verify
from app.ledger.models import JournalEntry
from app.ledger.services import balance_of
from app.notifications.models import Delivery, Notification
from tests.concurrency import run_threads


def usd(text):
    return Money.parse(text, "USD")


@pytest.fixture
def finance(make_user):
    return make_user(role="finance")


@pytest.fixture
def checker(make_user):
    return make_user(role="finance")


def _invest(user, p, amount):
    inv = investing.invest(user, p.id, usd(amount), acknowledged=True)
    db.session.commit()
    return inv


@pytest.fixture
def three_equal(make_investor, make_property, checker, fund_distributions):
    """Three equal investors; the property's distributions account funded with 1,000.00."""
    p = make_property(approver=checker)  # the checker approved its publication: no other finance user to tell
    users = [make_investor("5000.00") for _ in range(3)]
    invs = [_invest(u, p, "1000.00") for u in users]
    fund_distributions(p.id, 100_000)
    return p, users, invs


def _declare(p, finance, amount="100.00", **kw):
    values = dict(label="Rent this quarter", period_start=date.today() - timedelta(days=89),
                  period_end=date.today(), amount=amount)
    values.update(kw)
    d = declared.declare(p.id, actor=finance, **values)
    db.session.commit()
    return d


def test_three_equal_investors_split_100_as_33_34_33_33_33_33(three_equal, finance):
    p, _users, invs = three_equal
    d = _declare(p, finance)
    split = declared.split_of(d)
    assert [x.amount for x in split.lines] == [3_334, 3_333, 3_333]  # the earliest investment gets the cent
    assert [x.investment_id for x in split.lines] == [i.id for i in invs]
    assert sum(x.amount for x in split.lines) == d.amount == 10_000
    assert {x.weight for x in split.lines} == {100_000}
    assert "largest remainder" in declared.RESIDUE_RULE and "earlier investment" in declared.RESIDUE_RULE


def test_the_split_is_pro_rata_to_paid_amounts_and_exact(make_investor, make_property, finance):
    p = make_property()
    a, b, c = make_investor("9000.00"), make_investor("9000.00"), make_investor("9000.00")
    _invest(a, p, "1000.00")
    _invest(b, p, "2000.00")
    _invest(c, p, "4000.00")
    d = _declare(p, finance, amount="1000.01")
    amounts = [x.amount for x in declared.split_of(d).lines]
    # 100001 x 1/7, 2/7, 4/7 = 14285.857, 28571.714, 57143.428: floors 14285, 28571, 57143 (99999), two cents
    # left go to the largest remainders (.857, .714)
    assert amounts == [14_286, 28_572, 57_143] and sum(amounts) == 100_001


def test_days_held_weights_paid_amount_by_days_in_the_period(make_investor, make_property, finance):
    p = make_property()
    a, b = make_investor("5000.00"), make_investor("5000.00")
    ia, ib = _invest(a, p, "1000.00"), _invest(b, p, "1000.00")
    start = date.today() - timedelta(days=29)
    ia.invested_on = start - timedelta(days=100)  # held all 30 days
    ib.invested_on = start + timedelta(days=20)   # held the last 10 days
    db.session.commit()
    d = _declare(p, finance, amount="400.00", basis=BASIS_DAYS, period_start=start, period_end=date.today())
    split = declared.split_of(d)
    assert [(x.days, x.weight, x.amount) for x in split.lines] == [(30, 3_000_000, 30_000),
                                                                   (10, 1_000_000, 10_000)]
    # an investment made after the period is not in it
    late = make_investor("5000.00")
    il = _invest(late, p, "1000.00")
    il.invested_on = date.today() + timedelta(days=1)
    db.session.commit()
    assert len(declared.compute_split(p.id, 40_000, "USD", start, date.today(), BASIS_DAYS).lines) == 2


def test_maker_checker_and_paying_posts_one_entry(three_equal, finance, checker, make_user):
    p, users, _invs = three_equal
    d = _declare(p, finance)
    # finance is told a declaration awaits approval (the declarer is not)
    pending = db.session.scalars(select(Notification).where(
        Notification.event == "declared_distribution_pending_staff")).all()
    assert [n.user_id for n in pending] == [checker.id]
    with pytest.raises(Forbidden):
        declared.approve(d, actor=finance)  # the one who declared it
    db.session.rollback()
    with pytest.raises(Forbidden):
        declared.approve(d, actor=users[0])  # an investor
    db.session.rollback()
    with pytest.raises(Forbidden):
        declared.approve(d, actor=make_user(role="support"))
    db.session.rollback()
    with pytest.raises(IllegalTransition):
        declared.pay(d, actor=finance)  # not approved yet
    db.session.rollback()

    preview = declared.split_of(d)
    declared.approve(d, actor=checker, fingerprint=preview.fingerprint)
    db.session.commit()
    assert d.status == "approved" and d.approved_by_id == checker.id
    assert db.session.scalar(select(func.count(DistributionShare.id))) == 3
    assert declared.split_of(d).frozen and declared.split_of(d).fingerprint == preview.fingerprint

    declared.pay(d, actor=finance)
    db.session.commit()
    assert d.status == "paid" and d.entry_id
    entry = db.session.get(JournalEntry, d.entry_id)
    assert entry.idempotency_key == f"declared:{d.id}" and len(entry.postings) == 4
    assert investing.distributions_account(p.id).balance == 100_000 - 10_000  # funded 1,000.00
    assert [balance_of(u.id).available.minor for u in users] == [400_000 + 3_334, 400_000 + 3_333,
                                                                 400_000 + 3_333]
    paid = db.session.scalars(select(Notification).where(Notification.event == "declared_distribution_paid")
                              .order_by(Notification.user_id)).all()
    # the stored record keeps the console's form; the investor's message reads the amount as they do
    assert [n.context["amount"] for n in paid] == ["USD 33.34", "USD 33.33", "USD 33.33"]
    email = db.session.scalars(select(Delivery).where(Delivery.notification_id == paid[0].id,
                                                      Delivery.channel == "email")).one()
    assert "$33.34" in email.body and "USD 33.34" not in email.body
    actions = db.session.scalars(select(AuditRecord.action).where(AuditRecord.target_type == "declared_distributions")
                                 .order_by(AuditRecord.id)).all()
    assert actions == ["distributions.declared", "distributions.approved", "distributions.paid"]
    report = verify()
    assert report.ok, report.violations


def test_paying_twice_pays_once(three_equal, finance, checker):
    p, users, _invs = three_equal
    d = _declare(p, finance)
    declared.approve(d, actor=checker)
    db.session.commit()
    declared.pay(d, actor=finance)
    db.session.commit()
    with pytest.raises(IllegalTransition):
        declared.pay(d, actor=checker)
    db.session.rollback()
    # a stale copy (a second tab that still shows "approved") is refused by the conditional update
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(d, "status", "approved")
    with pytest.raises(Conflict, match="paid now"):
        declared.pay(d, actor=checker)
    db.session.rollback()
    assert db.session.scalar(select(func.count(JournalEntry.id)).where(
        JournalEntry.kind == "declared_distribution")) == 1
    assert sum(balance_of(u.id).available.minor for u in users) == 3 * 400_000 + 10_000
    assert verify().ok


def test_a_split_that_changed_since_the_preview_is_not_approved(three_equal, finance, checker, make_investor):
    p, _users, _invs = three_equal
    d = _declare(p, finance)
    preview = declared.split_of(d)
    _invest(make_investor("5000.00"), p, "1000.00")  # a fourth investor arrives
    with pytest.raises(Conflict, match="changed since"):
        declared.approve(d, actor=checker, fingerprint=preview.fingerprint)
    db.session.rollback()
    fresh = declared.split_of(d)
    assert len(fresh.lines) == 4 and [x.amount for x in fresh.lines] == [2_500] * 4
    declared.approve(d, actor=checker, fingerprint=fresh.fingerprint)
    db.session.commit()


def test_discard_a_draft_or_an_approved_one_never_a_paid_one(three_equal, finance, checker):
    p, _users, _invs = three_equal
    d = _declare(p, finance)
    with pytest.raises(ValidationError):
        declared.discard(d, actor=finance, reason=" ")
    declared.discard(d, actor=finance, reason="Wrong quarter")
    db.session.commit()
    assert d.status == "discarded"
    with pytest.raises(IllegalTransition):
        declared.approve(d, actor=checker)
    db.session.rollback()
    # the same label and period may be declared again once the first is discarded; not twice while live
    again = _declare(p, finance)
    with pytest.raises(Conflict, match="already declared"):
        _declare(p, finance)
    db.session.rollback()
    declared.approve(again, actor=checker)
    db.session.commit()
    declared.discard(again, actor=checker, reason="Rent not received")
    db.session.commit()
    third = _declare(p, finance)
    declared.approve(third, actor=checker)
    declared.pay(third, actor=finance)
    db.session.commit()
    with pytest.raises(IllegalTransition):
        declared.discard(third, actor=finance, reason="too late")
    db.session.rollback()
    assert verify().ok, verify().violations


def test_declaring_is_checked(make_property, make_investor, finance):
    p = make_property()
    with pytest.raises(Conflict, match="nobody"):
        _declare(p, finance)  # no investors
    db.session.rollback()
    _invest(make_investor("5000.00"), p, "1000.00")
    for bad in (dict(amount="0"), dict(amount="-5"), dict(amount="1.001"), dict(label=""),
                dict(period_end=date.today() - timedelta(days=90)), dict(basis="weird"), dict(period_start="not a date")):
        with pytest.raises(ValidationError):
            _declare(p, finance, **bad)
        db.session.rollback()
    with pytest.raises(Forbidden):
        declared.declare(p.id, label="x", period_start=date(2026, 1, 1), period_end=date(2026, 1, 2),
                         amount="10.00", actor=make_investor(""))


def test_investors_see_only_paid_distributions(three_equal, finance, checker, app):
    p, users, invs = three_equal
    paid = _declare(p, finance, label="Rent January")
    declared.approve(paid, actor=checker)
    declared.pay(paid, actor=finance)
    approved = _declare(p, finance, label="Rent February")
    declared.approve(approved, actor=checker)
    _declare(p, finance, label="Rent March")  # a draft
    discarded = _declare(p, finance, label="Rent April")
    declared.discard(discarded, actor=finance, reason="duplicate")
    db.session.commit()

    shares = declared.paid_shares_for(users[0].id)
    assert [(s.label, s.amount.display()) for s in shares] == [("Rent January", "USD 33.34")]
    assert declared.paid_shares_for(users[1].id, investment_id=invs[1].id)[0].amount.minor == 3_333
    assert declared.paid_shares_for(users[1].id, investment_id=invs[0].id) == []

    from flask import render_template

    with app.test_request_context():
        html = render_template("portal/portfolio/_declared.html", declared_shares=shares)
    assert "Rent January" in html and "$33.34" in html and "USD 33.34" not in html and "Rent February" not in html
    with app.test_request_context():
        empty = render_template("portal/portfolio/_declared.html", declared_shares=[])
    assert "No distributions" in empty


def test_an_investor_with_two_investments_gets_one_transfer(make_investor, make_property, finance, checker,
                                                            fund_distributions):
    p = make_property()
    fund_distributions(p.id, 9_000)
    a, b = make_investor("9000.00"), make_investor("9000.00")
    _invest(a, p, "1000.00")
    _invest(b, p, "1000.00")
    _invest(a, p, "1000.00")
    d = _declare(p, finance, amount="90.00")
    assert [x.amount for x in declared.split_of(d).lines] == [3_000, 3_000, 3_000]
    declared.approve(d, actor=checker)
    declared.pay(d, actor=finance)
    db.session.commit()
    entry = db.session.get(JournalEntry, d.entry_id)
    assert len(entry.postings) == 3  # the distributions account and two wallets
    assert declared.paid_shares_for(a.id)[0].amount.minor == 6_000
    assert verify().ok


def test_concurrent_pay_pays_once(app, postgres, three_equal, finance, checker):
    p, users, _invs = three_equal
    d = _declare(p, finance)
    declared.approve(d, actor=checker)
    db.session.commit()
    ids = (d.id, finance.id)

    def pay(index):
        from app.auth.models import User

        return declared.pay(declared.get(ids[0]), actor=db.session.get(User, ids[1])).status

    results = run_threads(app, 8, pay)
    assert results.count("paid") == 1, results
    assert all(isinstance(r, Conflict) for r in results if r != "paid"), results
    db.session.expire_all()
    assert sum(balance_of(u.id).available.minor for u in users) == 3 * 400_000 + 10_000
    assert verify().ok


def test_concurrent_approvals_approve_once(app, postgres, three_equal, finance, make_user):
    p, _users, _invs = three_equal
    d = _declare(p, finance)
    checkers = [make_user(role="finance").id for _ in range(4)]
    did = d.id

    def approve(index):
        from app.auth.models import User

        return declared.approve(declared.get(did), actor=db.session.get(User, checkers[index])).status

    results = run_threads(app, 4, approve)
    assert results.count("approved") == 1, results
    db.session.expire_all()
    assert db.session.scalar(select(func.count(DistributionShare.id))) == 3


def test_a_declared_distribution_waits_for_funding_then_a_run_pays_it_whole(make_investor, make_property, finance,
                                                                            checker, fund_distributions):
    from app.investing.tasks import distribute_returns
    from tests.investing.test_distribution import funding_accounts_never_negative

    p = make_property()
    a, b = make_investor("9000.00"), make_investor("9000.00")
    _invest(a, p, "1000.00")
    _invest(b, p, "1000.00")
    older = _declare(p, finance, amount="60.00")
    newer = _declare(p, finance, amount="10.00", label="Parking")
    for d in (older, newer):
        declared.approve(d, actor=checker)
    db.session.commit()
    fund_distributions(p.id, 5_000)  # 50.00: not enough for the older one (60.00)
    declared.pay(older, actor=finance)
    declared.pay(newer, actor=finance)  # it would fit, but the older one waits ahead of it
    db.session.commit()
    assert older.status == newer.status == "approved" and older.entry_id is None
    assert declared.waiting(older) and declared.waiting(newer)
    assert investing.distributions_account(p.id).balance == 5_000
    assert declared.paid_shares_for(a.id) == []
    distribute_returns()  # a run with nothing funded to pay still pays nothing of them
    db.session.expire_all()
    assert declared.get(older.id).status == "approved"
    fund_distributions(p.id, 2_000)  # 70.00: both fit now
    assert distribute_returns()["declared_paid"] == 2
    db.session.expire_all()
    assert declared.get(older.id).status == declared.get(newer.id).status == "paid"
    assert investing.distributions_account(p.id).balance == 0
    assert sum(x.amount.minor for x in declared.paid_shares_for(a.id)) == 3_500
    assert distribute_returns()["declared_paid"] == 0  # idempotent
    funding_accounts_never_negative()
    assert verify().ok


def test_a_declared_distribution_waits_behind_due_return_periods(make_investor, make_property, finance, checker,
                                                                 fund_distributions):
    from app.investing.models import ScheduledReturn

    p = make_property()
    a = make_investor("9000.00")
    inv = _invest(a, p, "1000.00")
    db.session.execute(ScheduledReturn.__table__.insert(), [
        {"investment_id": inv.id, "property_id": p.id, "user_id": a.id, "period_index": 99,
         "due_on": date.today() - timedelta(days=1), "amount": 4_000, "capital": 0, "last": False}])
    db.session.commit()
    d = _declare(p, finance, amount="20.00")
    declared.approve(d, actor=checker)
    fund_distributions(p.id, 5_000)  # 40.00 of it is owed to the due return period first
    declared.pay(d, actor=finance)
    db.session.commit()
    assert d.status == "approved" and declared.waiting(d)
    assert verify().ok
