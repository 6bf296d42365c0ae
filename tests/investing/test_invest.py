"""Investing through the service: the rules an investor meets, and the ledger after each."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.errors import Conflict, Forbidden, InsufficientFunds, NotFound, ValidationError
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import ACTIVE, PAYING, Installment, Investment, ScheduledReturn
from app.ledger.checks import verify
from app.ledger.services import balance_of


def usd(text):
    return Money.parse(text, "USD")


def _invest(user, p, amount, **kw):
    inv = investing.invest(user, p.id, usd(amount), acknowledged=kw.pop("acknowledged", True), ip="203.0.113.9", **kw)
    db.session.commit()
    return inv


def test_an_investment_moves_wallet_money_to_escrow_and_writes_the_calendar(make_investor, make_property):
    user = make_investor("10000.00")
    p = make_property()
    inv = _invest(user, p, "2500.00")
    assert inv.status == ACTIVE and inv.paid_amount == inv.escrow_amount == 250_000
    assert balance_of(user.id).available.amount_str() == "7500.00"
    db.session.refresh(p)
    assert p.raised_amount == 250_000
    assert inv.acknowledged_ip == "203.0.113.9" and len(inv.documents_version) == 64
    rows = db.session.scalars(select(ScheduledReturn).where(ScheduledReturn.investment_id == inv.id)
                              .order_by(ScheduledReturn.period_index)).all()
    assert len(rows) == 8 and rows[-1].capital == 250_000 and rows[-1].last
    assert rows[0].due_on > p.funding_ends_at.date()
    # 8 % a year on 2,500.00, quarterly: 50.00 a period
    assert {r.amount for r in rows} == {5_000}
    assert investing.escrow_account(p.id).balance == 250_000
    assert verify().ok, verify().violations


@pytest.mark.parametrize("amount,error,field", [
    ("99.99", ValidationError, "amount"),        # below the minimum
    ("10000.01", ValidationError, "amount"),     # above the maximum
    ("20000.00", ValidationError, "amount"),
])
def test_amounts_outside_the_terms_are_refused_and_change_nothing(make_investor, make_property, amount, error,
                                                                  field):
    user = make_investor("50000.00")
    p = make_property()
    with pytest.raises(error) as raised:
        investing.invest(user, p.id, usd(amount), acknowledged=True)
    db.session.rollback()
    assert field in (raised.value.errors or {})
    assert db.session.scalar(select(func.count(Investment.id))) == 0
    assert balance_of(user.id).available.amount_str() == "50000.00"


def test_fixed_amount_offering_takes_exactly_its_amount(make_investor, make_property):
    user = make_investor("5000.00")
    p = make_property(min_investment=None, max_investment=None, fixed_amount=100_000, return_rate_bps=None,
                      return_fixed_amount=2_000)
    with pytest.raises(ValidationError):
        investing.invest(user, p.id, usd("999.00"), acknowledged=True)
    db.session.rollback()
    inv = _invest(user, p, "1000.00")
    assert inv.amount == 100_000


def test_without_acknowledging_the_documents_nothing_happens(make_investor, make_property):
    user = make_investor()
    p = make_property()
    with pytest.raises(ValidationError) as raised:
        investing.invest(user, p.id, usd("100.00"), acknowledged=False)
    assert "acknowledge" in raised.value.errors
    db.session.rollback()
    with pytest.raises(Conflict):  # the page showed other documents or terms
        investing.invest(user, p.id, usd("100.00"), acknowledged=True, documents_version="0" * 64)


def test_kyc_and_verified_email_are_required(make_user, fund, make_property):
    from app.kyc.demo import ensure_forms

    ensure_forms()  # identity and address forms required to invest
    p = make_property()
    unverified = make_user(verified=False)
    with pytest.raises(Forbidden):
        investing.invest(unverified, p.id, usd("100.00"), acknowledged=True)
    no_kyc = make_user(verified=True)
    fund(no_kyc, "1000.00")
    with pytest.raises(Forbidden) as raised:
        investing.invest(no_kyc, p.id, usd("100.00"), acknowledged=True)
    assert "identity" in raised.value.message.lower() or raised.value.errors


def test_more_than_the_wallet_holds_is_refused_without_a_trace(make_investor, make_property):
    user = make_investor("150.00")
    p = make_property()
    with pytest.raises(InsufficientFunds) as raised:
        investing.invest(user, p.id, usd("200.00"), acknowledged=True)
    db.session.rollback()
    assert "150.00" in raised.value.message
    db.session.refresh(p)
    assert p.raised_amount == 0 and db.session.scalar(select(func.count(Investment.id))) == 0


def test_more_than_remaining_funding_is_a_conflict_and_the_last_unit_funds_the_property(make_investor,
                                                                                        make_property,
                                                                                        outbox=None):
    a, b = make_investor("10000.00"), make_investor("10000.00")
    p = make_property(target_amount=500_000, max_investment=500_000)
    _invest(a, p, "3000.00")
    with pytest.raises(Conflict) as raised:
        investing.invest(b, p.id, usd("2500.00"), acknowledged=True)
    db.session.rollback()
    assert "2000.00" in raised.value.message
    _invest(b, p, "2000.00")
    db.session.refresh(p)
    assert p.status == "funded" and p.remaining_amount == 0
    with pytest.raises(Conflict):
        investing.invest(b, p.id, usd("100.00"), acknowledged=True)
    db.session.rollback()
    from app.notifications.models import Notification
    events = set(db.session.scalars(select(Notification.event)))
    assert {"property_funded", "property_funded_staff", "investment_confirmed"} <= events


def test_closed_window_and_draft_properties(make_investor, make_property):
    from app.core.db import utcnow

    user = make_investor()
    later = make_property(funding_starts_at=utcnow() + timedelta(days=2), funding_ends_at=utcnow() + timedelta(days=9))
    with pytest.raises(Conflict):
        investing.invest(user, later.id, usd("100.00"), acknowledged=True)
    draft = make_property(publish=False)
    with pytest.raises(NotFound):
        investing.invest(user, draft.id, usd("100.00"), acknowledged=True)


def test_installments_add_up_and_returns_wait_for_the_last_one(make_investor, make_property):
    user = make_investor("10000.00")
    p = make_property(installments_count=3, installment_interval=1, installment_unit="months", late_fee=2_500,
                      min_investment=75_000)
    inv = _invest(user, p, "1000.00")
    assert inv.status == PAYING and inv.paid_amount == 33_334
    assert [i.amount for i in inv.installments] == [33_334, 33_333, 33_333]
    assert sum(i.amount for i in inv.installments) == inv.amount
    assert db.session.scalar(select(func.count(ScheduledReturn.id))) == 0
    investing.pay_installments(user, inv.id)
    db.session.commit()
    assert inv.paid_amount == 66_667 and inv.status == PAYING
    investing.pay_installments(user, inv.id, all_remaining=True)
    db.session.commit()
    db.session.refresh(inv)
    assert inv.status == ACTIVE and inv.paid_amount == inv.amount == inv.escrow_amount
    assert inv.return_anchor == max(p.funding_ends_at.date(), inv.installments[-1].due_on)
    with pytest.raises(Conflict):
        investing.pay_installments(user, inv.id)
    db.session.rollback()
    assert verify().ok, verify().violations


def test_a_late_installment_carries_the_late_fee(make_investor, make_property):
    user = make_investor("10000.00")
    p = make_property(installments_count=2, installment_interval=1, installment_unit="months", late_fee=2_500,
                      min_investment=50_000)
    inv = _invest(user, p, "1000.00")
    second = inv.installments[1]
    second.due_on = date.today() - timedelta(days=10)
    db.session.commit()
    investing.pay_installments(user, inv.id)
    db.session.commit()
    db.session.refresh(second)
    assert second.late_fee == 2_500 and inv.fees_paid == 2_500
    assert balance_of(user.id).available.minor == 1_000_000 - 100_000 - 2_500
    assert verify().ok


def test_someone_elses_investment_is_not_found(make_investor, make_property):
    a, b = make_investor(), make_investor()
    p = make_property(installments_count=2, installment_interval=1, installment_unit="months")
    inv = _invest(a, p, "1000.00")
    with pytest.raises(NotFound):
        investing.pay_installments(b, inv.id)
    with pytest.raises(NotFound):
        investing.get_for_user(inv.id, b)


def test_cancelling_the_property_refunds_everyone_in_full(make_investor, make_property, manager):
    from app.properties import services as properties

    a, b = make_investor("10000.00"), make_investor("10000.00")
    p = make_property(installments_count=2, installment_interval=1, installment_unit="months")
    q = make_property()
    ia = _invest(a, p, "1000.00")
    ib = _invest(b, p, "3000.00")
    other = _invest(a, q, "500.00")
    properties.cancel(p, actor=manager, reason="Permit refused")
    db.session.commit()
    assert balance_of(a.id).available.amount_str() == "9500.00"
    assert balance_of(b.id).available.amount_str() == "10000.00"
    for inv in (ia, ib):
        db.session.refresh(inv)
        assert inv.status == "cancelled" and inv.escrow_amount == 0
        assert all(i.status in ("paid", "void") for i in inv.installments)
    assert db.session.scalar(select(func.count(ScheduledReturn.id)).where(
        ScheduledReturn.investment_id.in_([ia.id, ib.id]))) == 0
    db.session.refresh(other)
    assert other.status == ACTIVE
    assert investing.escrow_account(p.id).balance == 0
    assert verify().ok, verify().violations


def test_finance_cancels_a_defaulted_investment_keeping_the_stated_late_fees(make_investor, make_property,
                                                                             make_user):
    user = make_investor("10000.00")
    finance = make_user(role="finance")
    p = make_property(installments_count=3, installment_interval=1, installment_unit="months", late_fee=1_000,
                      min_investment=30_000)
    inv = _invest(user, p, "900.00")
    with pytest.raises(Conflict):  # not in default yet
        investing.cancel_defaulted(inv, actor=finance, reason="Unpaid")
    db.session.rollback()
    for inst in inv.installments[1:]:
        inst.due_on = date.today() - timedelta(days=45)
    db.session.commit()
    with pytest.raises(Forbidden):
        investing.cancel_defaulted(inv, actor=user, reason="x")
    investing.cancel_defaulted(inv, actor=finance, reason="Installments 2 and 3 unpaid for 45 days")
    db.session.commit()
    db.session.refresh(inv)
    db.session.refresh(p)
    assert inv.status == "defaulted" and inv.refunded_amount == 30_000 - 2_000
    assert p.raised_amount == 0
    assert balance_of(user.id).available.minor == 1_000_000 - 2_000
    assert all(i.status in ("paid", "void") for i in inv.installments)
    assert db.session.scalar(select(func.count(Installment.id)).where(Installment.status == "due")) == 0
    assert verify().ok, verify().violations
