"""Races on PostgreSQL: many buyers at once never take more units than listed, every wallet moves by exactly what
its trades say; a cancellation racing purchases ends one way; two listings of the same units never both win."""
import random

import pytest
from sqlalchemy import func, select

from app.core.errors import Conflict, DomainError
from app.extensions import db
from app.investing.models import ACQUIRED_TRADE, Investment
from app.market import services as market
from app.market.models import Listing, Trade
from tests.concurrency import run_threads
from tests.market.support import fee_revenue, list_units, many_buyers, money, wallet

pytestmark = pytest.mark.usefixtures("postgres")




def _check_books(app, listing, seller, buyers, seller_before, revenue_before, sold_expected):
    db.session.expire_all()
    trades = db.session.scalars(select(Trade).where(Trade.listing_id == listing.id)).all()
    assert sum(t.units for t in trades) == sold_expected
    by_buyer: dict[int, int] = {}
    for t in trades:
        by_buyer[t.buyer_id] = by_buyer.get(t.buyer_id, 0) + t.amount + t.buyer_fee
    for buyer in buyers:
        assert wallet(buyer) == 100_000 - by_buyer.get(buyer.id, 0)
    assert wallet(seller) == seller_before + sum(t.amount - t.seller_fee for t in trades)
    assert fee_revenue() == revenue_before + sum(t.buyer_fee + t.seller_fee for t in trades)
    held = db.session.scalars(select(Investment).where(Investment.acquired_by == ACQUIRED_TRADE)).all()
    assert sorted((i.user_id, i.units) for i in held) == sorted((t.buyer_id, t.units) for t in trades)
    return trades


@pytest.mark.parametrize("most", [1, 3])
def test_fifty_buyers_for_ten_units(app, tradable, make_user, most):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 10, "95.00")
    buyers = many_buyers(make_user, 50)
    wanted = [random.Random(i).randint(1, most) for i in range(50)]
    seller_before, revenue_before = wallet(seller), fee_revenue()

    results = run_threads(app, 50, lambda i: market.buy(buyers[i], listing.id, wanted[i]).id)

    assert all(isinstance(r, (int, Conflict)) for r in results), results
    trades = _check_books(app, listing, seller, buyers, seller_before, revenue_before, 10)
    assert len(trades) == sum(isinstance(r, int) for r in results)
    done = db.session.get(Listing, listing.id)
    assert (done.status, done.units_remaining) == ("sold", 0)
    holding = db.session.get(Investment, inv.id)
    assert (holding.units, holding.units_listed) == (10, 0)


def test_seller_cancels_while_buyers_buy(app, tradable, make_user):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 10)
    buyers = many_buyers(make_user, 12)
    seller_before, revenue_before = wallet(seller), fee_revenue()

    def work(i):
        if i == 0:
            return market.cancel_listing(seller, listing.id, "changed my mind").status
        return market.buy(buyers[i - 1], listing.id, 1).units

    results = run_threads(app, 13, work)
    assert all(not isinstance(r, Exception) or isinstance(r, Conflict) for r in results), results
    db.session.expire_all()
    done = db.session.get(Listing, listing.id)
    sold = sum(t.units for t in db.session.scalars(select(Trade)))
    if results[0] == "cancelled":
        assert done.status == "cancelled" and done.units_remaining == 10 - sold
    else:
        assert done.status == "sold" and sold == 10
    assert db.session.get(Investment, inv.id).units_listed == 0
    _check_books(app, listing, seller, buyers, seller_before, revenue_before, sold)


def test_two_listings_of_the_same_units_never_both_win(app, tradable):
    seller, inv, _p = tradable
    results = run_threads(app, 6, lambda i: market.create_listing(seller, inv.id, 8, money("100.00")).id)
    won = [r for r in results if isinstance(r, int)]
    assert len(won) == 2  # 20 units: two listings of 8 fit, a third does not
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, int))
    db.session.expire_all()
    assert db.session.get(Investment, inv.id).units_listed == 16
    assert db.session.scalar(select(func.sum(Listing.units_remaining))) == 16


def test_the_same_purchase_sent_twice_at_once_settles_once(app, tradable, make_investor):
    seller, inv, _p = tradable
    listing = list_units(seller, inv, 10)
    buyer = make_investor()
    results = run_threads(app, 4, lambda i: market.buy(buyer, listing.id, 3, key="same-click").id)
    assert len({r for r in results if isinstance(r, int)}) == 1, results
    assert not [r for r in results if isinstance(r, DomainError)]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Trade.id))) == 1
    assert wallet(buyer) == 1_000_000 - 30_300
