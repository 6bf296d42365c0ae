"""Market surveillance: each kind of flag is raised when it should be and not otherwise, once per trade and kind
however often the check runs; compliance is told of new flags and reviews them (clear or escalate, with a note)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.auth.models import UserSession
from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict, Forbidden, ValidationError
from app.extensions import db
from app.market import services as market
from app.market.models import SurveillanceFlag, Trade
from app.market.surveillance_tasks import surveil_trade
from app.notifications.models import Notification
from tests.concurrency import run_threads
from tests.market.trade_rows import holding, signed_in, trade_row


@pytest.fixture
def parties(make_investor, make_property):
    """A property open for funding, two investors holding units of it (seller, buyer) and their holdings."""
    p = make_property()
    seller, buyer = make_investor(), make_investor()
    return p, seller, buyer, holding(seller, p), holding(buyer, p)


def kinds_of(trade) -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(SurveillanceFlag.kind).where(SurveillanceFlag.trade_id == trade.id)))


def flag(trade) -> list[str]:
    with unit_of_work():
        return sorted(f.kind for f in market.flag_trade(db.session.get(Trade, trade.id)))


def test_a_plain_trade_raises_nothing(parties):
    p, seller, buyer, sold_from, _ = parties
    signed_in(seller, ip="198.51.100.1", agent="Firefox")
    signed_in(buyer, ip="198.51.100.2", agent="Safari")
    first = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, price=100,
                      settled_at=utcnow() - timedelta(days=2))
    second = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, price=115)
    assert flag(first) == [] and flag(second) == []


def test_a_shared_sign_in_address(parties):
    p, seller, buyer, sold_from, _ = parties
    signed_in(seller, ip="203.0.113.7", agent="Firefox")
    signed_in(buyer, ip="203.0.113.7", agent="Safari")
    trade = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from)
    assert flag(trade) == ["shared_ip"]
    assert "203.0.113.7" in db.session.scalar(select(SurveillanceFlag.detail).where(
        SurveillanceFlag.trade_id == trade.id))


def test_failed_and_old_sign_ins_do_not_count(parties):
    p, seller, buyer, sold_from, _ = parties
    signed_in(seller, ip="203.0.113.8", agent="Firefox")
    signed_in(buyer, ip="203.0.113.8", agent="Safari", success=False)  # someone tried the buyer's account
    signed_in(seller, ip="203.0.113.9", agent="Firefox")
    signed_in(buyer, ip="203.0.113.9", agent="Safari", days_ago=120)  # long before the trade
    assert flag(trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from)) == []


def test_a_shared_device_and_sessions_count(parties):
    p, seller, buyer, sold_from, _ = parties
    agent = "Mozilla/5.0 (Windows NT 10.0) Edge/141"
    signed_in(seller, ip="198.51.100.10", agent=agent)
    with unit_of_work():  # the buyer's browser session, no sign-in attempt on record
        db.session.add(UserSession(sid_hash="b" * 64, user_id=buyer.id, ip="198.51.100.11", user_agent=agent,
                                   expires_at=utcnow() + timedelta(days=1)))
    trade = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from)
    assert flag(trade) == ["shared_device"]


@pytest.mark.parametrize(("price", "flagged"), [(121, True), (120, False), (100, False), (80, False), (79, True),
                                                (300, True)])
def test_a_price_far_from_nominal(parties, price, flagged):
    p, seller, buyer, sold_from, _ = parties
    trade = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, price=price)
    assert flag(trade) == (["far_from_nominal"] if flagged else [])


def test_a_price_far_from_the_last_trade(parties, make_investor):
    p, seller, buyer, sold_from, _ = parties
    other = make_investor()
    trade_row(p, seller=seller, buyer=other, seller_investment=sold_from, price=90,
              settled_at=utcnow() - timedelta(days=3))
    trade_row(p, seller=seller, buyer=other, seller_investment=sold_from, price=100,
              settled_at=utcnow() - timedelta(days=1))
    near = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, price=119)
    assert flag(near) == []  # 19 % above the last trade (100), not the one before it
    far = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, price=119 + 119 * 21 // 100)
    assert flag(far) == ["far_from_last", "far_from_nominal"]
    detail = db.session.scalar(select(SurveillanceFlag.detail).where(SurveillanceFlag.trade_id == far.id,
                                                                     SurveillanceFlag.kind == "far_from_last"))
    assert f"trade #{near.id}" in detail


def test_the_last_trade_is_of_the_same_property(parties, make_property, make_investor):
    p, seller, buyer, sold_from, _ = parties
    elsewhere = make_property()
    other_holding = holding(seller, elsewhere)
    trade_row(elsewhere, seller=seller, buyer=make_investor(), seller_investment=other_holding, price=80,
              settled_at=utcnow() - timedelta(hours=2))
    assert flag(trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, price=110)) == []


def test_units_back_to_their_seller_within_30_days(parties):
    p, seller, buyer, sold_from, bought_from = parties
    trade_row(p, seller=buyer, buyer=seller, seller_investment=bought_from, settled_at=utcnow() - timedelta(days=29))
    back = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from)
    assert flag(back) == ["round_trip"]


def test_no_round_trip_after_30_days_the_same_way_or_elsewhere(parties, make_property):
    p, seller, buyer, sold_from, bought_from = parties
    trade_row(p, seller=buyer, buyer=seller, seller_investment=bought_from, settled_at=utcnow() - timedelta(days=31))
    trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, settled_at=utcnow() - timedelta(days=5))
    elsewhere = make_property()
    trade_row(elsewhere, seller=buyer, buyer=seller, seller_investment=holding(buyer, elsewhere),
              settled_at=utcnow() - timedelta(days=3))
    assert flag(trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from)) == []


def test_flags_are_raised_once_and_compliance_is_told_once(parties, make_user):
    p, seller, buyer, sold_from, _ = parties
    officer = make_user(role="compliance")
    signed_in(seller, ip="203.0.113.20")
    signed_in(buyer, ip="203.0.113.20")
    trade = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, price=150)
    assert sorted(surveil_trade(trade.id)) == ["far_from_nominal", "shared_device", "shared_ip"]
    assert surveil_trade(trade.id) == []  # a retried or duplicated task
    assert flag(trade) == []
    assert db.session.scalar(select(func.count(SurveillanceFlag.id))) == 3
    told = list(db.session.scalars(select(Notification).where(Notification.event == "market.flagged")))
    assert [n.user_id for n in told if n.user_id == officer.id] == [officer.id]
    assert told[0].context["trade_id"] == trade.id and told[0].context["count"] == 3
    assert {n.user_id for n in told} & {seller.id, buyer.id} == set()
    assert surveil_trade(10**9) == []  # no such trade: nothing to do


def test_runs_at_once_raise_each_flag_once(app, postgres, parties, make_user):
    p, seller, buyer, sold_from, _ = parties
    officer = make_user(role="compliance")
    trade = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, price=150)
    trade_id = trade.id  # read here: the test's session is not for the threads
    results = run_threads(app, 6, lambda i: surveil_trade(trade_id), commit=False)
    assert all(isinstance(r, list) for r in results), results
    assert sorted(kind for r in results for kind in r) == ["far_from_nominal"]
    assert kinds_of(trade) == {"far_from_nominal"}
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.event == "market.flagged", Notification.user_id == officer.id)) == 1


# review ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def open_flag(parties):
    p, seller, buyer, sold_from, _ = parties
    trade = trade_row(p, seller=seller, buyer=buyer, seller_investment=sold_from, price=200)
    flag(trade)
    return db.session.scalar(select(SurveillanceFlag).where(SurveillanceFlag.trade_id == trade.id))


def review(actor, flag_id, outcome, note):
    with unit_of_work():
        return market.review_flag(actor, flag_id, outcome, note)


def test_compliance_clears_a_flag_with_a_note(open_flag, make_user):
    officer = make_user(role="compliance")
    done = review(officer, open_flag.id, "clear", "  Known family transfer, documents on file.  ")
    assert (done.status, done.reviewed_by_id, done.review_note) == ("cleared", officer.id,
                                                                     "Known family transfer, documents on file.")
    trail = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "market.flag_cleared")).one()
    assert (trail.actor_id, trail.target_type, trail.target_id, trail.reason) == (
        officer.id, "market_flags", str(open_flag.id), done.review_note)
    assert trail.before == {"status": "open"} and trail.after["status"] == "cleared"
    with pytest.raises(Conflict):
        review(officer, open_flag.id, "escalate", "again")


def test_an_escalated_flag_is_cleared_later(open_flag, make_user):
    officer = make_user(role="compliance")
    assert review(officer, open_flag.id, "escalate", "Sent to the MLRO.").status == "escalated"
    assert review(make_user(role="admin"), open_flag.id, "clear", "MLRO closed the case.").status == "cleared"


@pytest.mark.parametrize(("outcome", "note"), [("clear", ""), ("clear", "   "), ("clear", None), ("approve", "x"),
                                               ("escalate", "x" * 2001)])
def test_a_review_needs_an_outcome_and_a_note(open_flag, make_user, outcome, note):
    with pytest.raises(ValidationError):
        review(make_user(role="compliance"), open_flag.id, outcome, note)
    db.session.expire_all()
    assert db.session.get(SurveillanceFlag, open_flag.id).status == "open"


def test_nobody_reviews_a_trade_they_are_party_to(parties, make_user):
    p, seller, _, sold_from, _ = parties
    officer = make_user(role="compliance")
    trade = trade_row(p, seller=seller, buyer=officer, seller_investment=sold_from, price=200)
    flag(trade)
    own = db.session.scalar(select(SurveillanceFlag).where(SurveillanceFlag.trade_id == trade.id))
    with pytest.raises(Forbidden):
        review(officer, own.id, "clear", "nothing to see")
    assert review(make_user(role="compliance"), own.id, "escalate", "A compliance officer bought.").status \
        == "escalated"


@pytest.mark.parametrize("role", ["support", "finance", "property_manager", "investor"])
def test_a_review_needs_the_surveillance_permission(open_flag, make_user, role):
    with pytest.raises(Forbidden):
        review(make_user(role=role), open_flag.id, "clear", "not mine to clear")
    db.session.expire_all()
    assert db.session.get(SurveillanceFlag, open_flag.id).status == "open"
