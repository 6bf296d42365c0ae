"""Listing units: every precondition refused with a clear 4xx and nothing written; cancelling and expiry free the
units exactly once."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.auth.models import User
from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationError
from app.core.money import Money
from app.extensions import db
from app.investing.models import Installment, Investment
from app.kyc.models import KycForm
from app.market import services as market
from app.market.models import Listing
from app.notifications.models import Notification
from app.properties.models import Property
from tests.market.support import list_units, money


def _refused(user, inv, units, price="100.00", expires=None):
    with pytest.raises(DomainError) as refused, unit_of_work():
        market.create_listing(user, inv.id, units, money(price) if price == "100.00" else price, expires)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Listing.id))) == 0
    assert db.session.get(Investment, inv.id).units_listed == 0
    return refused.value


def test_listing_reserves_units_and_snapshots_terms(tradable):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 8, "120.00")
    db.session.expire_all()
    assert db.session.get(Investment, inv.id).units_listed == 8
    assert (listing.units, listing.units_remaining, listing.unit_price, listing.price_per_unit) == (8, 8, 10_000,
                                                                                                    12_000)
    assert (listing.seller_fee_bps, listing.buyer_fee_min, listing.status) == (100, 100, "open")
    assert timedelta(days=29) < listing.expires_at - utcnow() <= timedelta(days=30)
    assert db.session.scalar(select(Notification.event).where(Notification.user_id == seller.id,
                                                              Notification.event.like("market.%"))) == "market.listed"


@pytest.mark.parametrize(("units", "price"), [
    (0, 10_000), (-1, 10_000), (1.5, 10_000), (True, 10_000), ("2", 10_000), (10**12, 10_000),
    (2, 0), (2, -500), (2, 4_999), (2, 15_001), (2, 10**15), (2, "1.00"), (2, 100.0),
])
def test_bad_units_and_prices_are_refused(tradable, units, price):
    seller, inv, _p = tradable
    value = Money(price, "USD") if isinstance(price, int) else price
    error = _refused(seller, inv, units, value)
    assert isinstance(error, ValidationError)
    assert set(error.errors) & {"units", "price_per_unit"}


def test_price_in_another_currency_is_refused(tradable):
    seller, inv, _p = tradable
    error = _refused(seller, inv, 1, money("100.00", "EUR"))
    assert error.status == 422 and "price_per_unit" in error.errors


def test_expiry_must_be_in_the_next_year(tradable):
    seller, inv, _p = tradable
    assert _refused(seller, inv, 1, expires=utcnow() - timedelta(minutes=1)).errors == {
        "expires_at": ["Must be in the future."]}
    assert "expires_at" in _refused(seller, inv, 1, expires=utcnow() + timedelta(days=366)).errors


def test_someone_elses_holding_is_not_found(tradable, make_investor):
    _seller, inv, _p = tradable
    assert isinstance(_refused(make_investor(), inv, 1), NotFound)


def test_more_units_than_free_and_units_already_listed(tradable):
    seller, inv, _p = tradable
    assert _refused(seller, inv, 21).status == 409
    list_units(seller, inv, 15)
    with pytest.raises(Conflict) as refused, unit_of_work():
        market.create_listing(seller, inv.id, 6, money("100.00"))
    assert refused.value.errors == {"units": ["At most 5 units."]}
    list_units(seller, inv, 5)
    with pytest.raises(Conflict, match="all of its units are listed"), unit_of_work():
        market.create_listing(seller, inv.id, 1, money("100.00"))


@pytest.mark.parametrize(("change", "words"), [
    ({"resale_allowed": False}, "does not allow resale"),
    ({"resale_lockup_days": 1_000}, "lock-up"),
    ({"funding_ends_at": utcnow() + timedelta(days=3)}, "still open for funding"),
    ({"status": "completed"}, "completed"),
])
def test_property_must_be_tradable(tradable, change, words):
    seller, inv, p = tradable
    with unit_of_work():
        db.session.execute(update(Property).where(Property.id == p.id).values(**change))
    assert words in _refused(seller, inv, 1).message


def test_halted_property_cannot_be_listed(tradable, finance):
    seller, inv, p = tradable
    with unit_of_work():
        market.halt(finance, p.id, "Valuation under review")
    assert "halted" in _refused(seller, inv, 1).message


def test_unpaid_installments_block_listing(tradable):
    seller, inv, _p = tradable
    with unit_of_work():
        db.session.add(Installment(investment_id=inv.id, index=2, due_on=utcnow().date(), amount=100, status="due"))
    db.session.expire_all()
    assert "installments" in _refused(seller, db.session.get(Investment, inv.id), 1).message


def test_seller_needs_kyc_for_withdrawing(tradable):
    seller, inv, _p = tradable
    with unit_of_work():
        db.session.add(KycForm(name="Source of funds", required_for_withdrawing=True))
    error = _refused(seller, inv, 1)
    assert isinstance(error, Forbidden) and "kyc" in error.errors


def test_seller_needs_a_verified_email(tradable):
    seller, inv, _p = tradable
    with unit_of_work():
        db.session.execute(update(User).where(User.id == seller.id).values(email_verified=False))
    db.session.expire_all()
    error = _refused(db.session.get(User, seller.id), inv, 1)
    assert isinstance(error, Forbidden) and "email" in error.errors


def test_cancel_frees_the_unsold_units_once(tradable, make_investor):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 6)
    with pytest.raises(NotFound), unit_of_work():
        market.cancel_listing(make_investor(), listing.id)
    with unit_of_work():
        market.cancel_listing(seller, listing.id, "changed my mind")
    db.session.expire_all()
    assert db.session.get(Investment, inv.id).units_listed == 0
    done = db.session.get(Listing, listing.id)
    assert (done.status, done.close_reason) == ("cancelled", "changed my mind")
    with pytest.raises(Conflict), unit_of_work():
        market.cancel_listing(seller, listing.id)


def test_expiry_frees_units_and_tells_the_seller(tradable):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 4, days=1)
    with unit_of_work():
        assert market.expire_listings() == 0
    with unit_of_work():
        assert market.expire_listings(utcnow() + timedelta(days=2)) == 1
    with unit_of_work():
        assert market.expire_listings(utcnow() + timedelta(days=2)) == 0
    db.session.expire_all()
    assert db.session.get(Listing, listing.id).status == "expired"
    assert db.session.get(Investment, inv.id).units_listed == 0
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.event == "market.listing_expired")) == 1
