"""Card money inside its hold is not spent on the market (so it cannot leave through an accomplice): a purchase or
an offer above what is withdrawable is a 422 that writes nothing; after the hold it goes through. A seller who
invested held card money gets the proceeds back inside the hold."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.db import unit_of_work
from app.core.errors import InsufficientFunds
from app.extensions import db
from app.ledger.models import Hold
from app.market import services as market
from app.market.models import Listing, Offer, Trade
from app.payments import card_funds
from tests.market.support import held, list_units, money, wallet
from tests.payments.card_support import card_deposit, move_clock


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(model.id))) or 0


def _withdrawable(user) -> int:
    db.session.expire_all()
    return card_funds.withdrawable(user.id).now.minor


def test_a_purchase_with_card_money_inside_the_hold_is_refused(tradable, make_investor, monkeypatch):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 5)
    buyer = make_investor("150.00")  # a bank transfer
    card_deposit(buyer, "1000.00")
    start, seller_start = wallet(buyer), wallet(seller)
    with pytest.raises(InsufficientFunds) as refused, unit_of_work():
        market.buy(buyer, listing.id, 2)  # 200.00 + 2.00 fee
    assert refused.value.status == 422
    assert str(refused.value).startswith("You can spend USD 150.00 on the market now; USD 1,000.00 more from ")
    assert "(card deposits are held for 7 days)" in str(refused.value)
    assert (wallet(buyer), wallet(seller), _count(Trade)) == (start, seller_start, 0)  # nothing written
    assert db.session.get(Listing, listing.id).units_remaining == 5
    with unit_of_work():
        market.buy(buyer, listing.id, 1)  # 101.00 of bank money: fine
    assert _count(Trade) == 1 and _withdrawable(buyer) == 4_900
    move_clock(monkeypatch, 7.01)
    with unit_of_work():
        market.buy(buyer, listing.id, 4)
    assert _count(Trade) == 2


def test_an_offer_with_card_money_inside_the_hold_is_refused(tradable, make_investor, monkeypatch):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 5)
    buyer = make_investor(None)
    card_deposit(buyer, "2000.00", "paypal")
    with pytest.raises(InsufficientFunds, match=r"You can spend USD 0\.00 on the market now") as refused, \
            unit_of_work():
        market.make_offer(buyer, listing.id, 3, money("95.00"))
    assert "price_per_unit" in refused.value.errors
    assert (_count(Offer), _count(Hold), held(buyer), wallet(buyer)) == (0, 0, 0, 200_000)
    move_clock(monkeypatch, 8)
    with unit_of_work():
        offer = market.make_offer(buyer, listing.id, 3, money("95.00"))
    assert offer.status == "open" and held(buyer) == offer.held_amount


def test_a_dearer_counter_back_is_held_only_from_what_is_withdrawable(tradable, make_investor):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 5)
    buyer = make_investor("300.00")
    with unit_of_work():
        offer = market.make_offer(buyer, listing.id, 2, money("95.00"))  # 190.00 + 1.90 held
    with unit_of_work():
        market.counter_offer(seller, offer.id, money("110.00"))
    card_deposit(buyer, "500.00")
    with pytest.raises(InsufficientFunds, match="on the market now"), unit_of_work():
        market.counter_offer(buyer, offer.id, money("149.00"))  # 298.00 + 2.98: more than the 300.00 not held back
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status == "countered" and held(buyer) == 19_190
    with unit_of_work():
        market.counter_offer(buyer, offer.id, money("100.00"))
    assert held(buyer) == 20_200


def test_proceeds_of_a_holding_bought_with_held_card_money_stay_inside_the_hold(make_tradable, make_investor):
    seller = make_investor(None)
    card_deposit(seller, "2000.00")
    seller, inv, _p = make_tradable(seller=seller)  # 2,000.00 of card money invested: no longer held
    assert _withdrawable(seller) == 0 and card_funds.held_minor(seller.id) == 0
    listing = list_units(seller, inv, 10)
    with unit_of_work():
        market.buy(make_investor(), listing.id, 10)  # an accomplice pays 1,000.00 + fee
    net = wallet(seller)
    assert net == 99_000  # 1,000.00 less the seller's 1 % fee
    assert card_funds.held_minor(seller.id) == net and _withdrawable(seller) == 0
    [lock] = card_funds.locks_of(seller.id)
    assert (lock.remaining, lock.invested) == (net, 200_000 - net)
