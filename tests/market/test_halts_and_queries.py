"""Trading halts (audited, released offers, both sides told), settlement from a hold, the market's figures and
what `flask ledger verify` checks of the market."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict, IllegalTransition, NotFound, ValidationError
from app.extensions import db
from app.investing.models import Investment
from app.ledger import services as ledger
from app.ledger.models import Hold
from app.market import services as market
from app.market.checks import check_market
from app.market.models import Offer
from app.notifications.models import Notification
from tests.market.support import fee_revenue, held, list_units, wallet


def _offer(listing, buyer, units, price):
    """A live offer with its hold, as making an offer leaves it."""
    q = market.quote(listing, units, price)
    with unit_of_work():
        hold = ledger.hold(buyer.id, q.buyer_total, key=f"test:offer:{buyer.id}:{listing.id}")
        offer = Offer(listing_id=listing.id, buyer_id=buyer.id, currency=listing.currency, units=units,
                      price_per_unit=price, buyer_fee=q.buyer_fee, held_amount=q.buyer_total, hold_id=hold.id,
                      status="open", expires_at=utcnow() + timedelta(days=7))
        db.session.add(offer)
    return offer, hold


def test_halt_releases_offers_and_tells_both_sides(tradable, make_investor, finance):
    seller, inv, p = tradable
    buyer = make_investor()
    listing = list_units(seller, inv, 5)
    offer, hold = _offer(listing, buyer, 2, 9_500)
    assert held(buyer) == 9_500 * 2 + 190
    with pytest.raises(ValidationError), unit_of_work():
        market.halt(finance, p.id, "  ")
    with unit_of_work():
        record = market.halt(finance, p.id, "Valuation under review")
    with pytest.raises(Conflict), unit_of_work():
        market.halt(finance, p.id, "again")
    db.session.expire_all()
    assert market.halt_in_force(p.id).id == record.id
    assert (db.session.get(Offer, offer.id).status, db.session.get(Hold, hold.id).status) == ("expired", "released")
    assert (held(buyer), wallet(buyer)) == (0, 1_000_000)
    told = set(db.session.scalars(select(Notification.user_id).where(Notification.event == "market.halted")))
    assert told == {seller.id, buyer.id}
    audit = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "market.halted"))
    assert (audit.actor_id, audit.reason) == (finance.id, "Valuation under review")
    with unit_of_work():
        market.resume(finance, p.id, "Valuation confirmed")
    assert market.halt_in_force(p.id) is None
    with pytest.raises(Conflict), unit_of_work():
        market.resume(finance, p.id, "again")
    with pytest.raises(NotFound), unit_of_work():
        market.halt(finance, 999, "no such property")


def test_cancelling_releases_live_offers_once(tradable, make_investor):
    seller, inv, _p = tradable
    buyer = make_investor()
    listing = list_units(seller, inv, 5)
    offer, _hold = _offer(listing, buyer, 1, 10_000)
    with unit_of_work():
        market.cancel_listing(seller, listing.id)
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status == "rejected"
    assert (held(buyer), wallet(buyer)) == (0, 1_000_000)
    assert check_market() == []


def test_settling_from_a_hold_returns_the_excess(tradable, make_investor):
    seller, inv, _p = tradable
    buyer = make_investor()
    listing = list_units(seller, inv, 5)
    offer, hold = _offer(listing, buyer, 2, 10_500)  # holds 210.00 + 2.10
    seller_before, revenue_before = wallet(seller), fee_revenue()
    with unit_of_work():
        db.session.execute(update(Offer).where(Offer.id == offer.id).values(status="accepted"))
        trade = market.settle_trade(listing, buyer=buyer, units=2, price_per_unit=10_000, key="test:accept:1",
                                    hold=db.session.get(Hold, hold.id), offer=offer)
    assert (trade.amount, trade.buyer_fee, trade.seller_fee, trade.offer_id) == (20_000, 200, 200, offer.id)
    assert (held(buyer), wallet(buyer)) == (0, 1_000_000 - 20_200)
    assert wallet(seller) == seller_before + 19_800 and fee_revenue() == revenue_before + 400
    assert db.session.get(Hold, hold.id).status == "settled"
    with pytest.raises(IllegalTransition), unit_of_work():  # a hold is resolved once
        ledger.release(db.session.get(Hold, hold.id), key="test:release")


def test_market_figures(tradable, make_investor):
    seller, inv, p = tradable
    listing = list_units(seller, inv, 5, "110.00")
    list_units(seller, inv, 5, "95.00")
    with unit_of_work():
        market.buy(make_investor(), listing.id, 2)
    stats = market.market_stats([p.id, 999])
    assert stats[p.id] == market.Stats(last_price=11_000, volume_30d_units=2, volume_30d_amount=22_000,
                                       open_listings=2, lowest_ask=9_500)
    assert stats[999].last_price is None and stats[999].open_listings == 0
    cheapest = db.session.scalars(market.open_listings(p.id, sort="price_asc")).all()
    assert [x.price_per_unit for x in cheapest] == [9_500, 11_000]
    assert db.session.scalars(market.open_listings(max_price=10_000)).all()[0].price_per_unit == 9_500
    with pytest.raises(ValidationError):
        market.open_listings(sort="sideways")


def test_verify_sees_units_reserved_without_a_listing(tradable):
    seller, inv, _p = tradable
    list_units(seller, inv, 5)
    assert check_market() == []
    with unit_of_work():
        db.session.execute(update(Investment).where(Investment.id == inv.id).values(units_listed=7))
    assert check_market() == [f"holding #{inv.id} reserves 7 units (of 20) but its open listings have 5 left"]
    with unit_of_work():
        db.session.execute(update(Investment).where(Investment.id == inv.id).values(units_listed=5))


def test_parties_only_see_their_trades(tradable, make_investor):
    seller, inv, _p = tradable
    buyer, stranger = make_investor(), make_investor()
    listing = list_units(seller, inv, 5)
    with unit_of_work():
        trade = market.buy(buyer, listing.id, 1)
    assert market.get_trade_for(buyer, trade.id).id == trade.id
    assert market.trade_side(trade, buyer) == "buy" and market.trade_side(trade, seller) == "sell"
    assert [t.id for t in market.trades_of(seller)] == [trade.id]
    with pytest.raises(NotFound):
        market.get_trade_for(stranger, trade.id)
    assert [x.id for x in market.listings_of(seller)] == [listing.id] and market.listings_of(buyer) == []


def test_settlement_itself_refuses_during_a_halt(tradable, make_investor, finance):
    seller, inv, p = tradable
    buyer = make_investor()
    listing = list_units(seller, inv, 5)
    with unit_of_work():
        market.halt(finance, p.id, "Valuation under review")
    with pytest.raises(Conflict, match="halted"), unit_of_work():  # a purchase checked before the halt
        market.settle_trade(listing, buyer=buyer, units=1, price_per_unit=listing.price_per_unit, key="test:late")
    assert wallet(buyer) == 1_000_000 and market.trades_of(buyer) == []


def test_a_hold_is_paid_out_only_in_full(tradable, make_investor):
    seller, inv, _p = tradable
    buyer = make_investor()
    listing = list_units(seller, inv, 5)
    _offer_made, hold = _offer(listing, buyer, 1, 10_000)  # 101.00 held
    seller_wallet = ledger.user_account(seller.id)
    for lines in ([(seller_wallet, 10_000)], [(seller_wallet, 10_100), (seller_wallet, 0)], []):
        with pytest.raises(ValidationError), unit_of_work():
            ledger.settle_split(db.session.get(Hold, hold.id), lines, key="test:split")
    assert held(buyer) == 10_100
    with unit_of_work():
        db.session.execute(update(Offer).values(status="withdrawn"))
        ledger.release(db.session.get(Hold, hold.id), key="test:split:release")
