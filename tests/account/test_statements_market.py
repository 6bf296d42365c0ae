"""A market trade in statements: one journal entry holds both parties' fees; each statement counts only its own
side's fee, and the buyer's holding costs what the buyer paid (price + fee)."""
from __future__ import annotations

from datetime import date

from app.account import statements
from app.account.statement_data import STEPS, StatementData
from app.core.db import unit_of_work
from app.market import services as market
from tests.account.statement_support import TODAY
from tests.api.market_helpers import close_funding, holding, listed, resale_property


def read(user_id: int) -> StatementData:
    data = StatementData(user_id, date(TODAY.year, 1, 1), TODAY, currency="USD")
    for step in STEPS:
        step(data)
    return data


def test_each_side_of_a_trade_pays_its_own_fee(investor, make_property, make_investor, monkeypatch):
    monkeypatch.setattr(statements, "enqueue_after_commit", lambda *a, **k: None)
    p = resale_property(make_property)
    inv = holding(investor, p, "500.00")
    close_funding(p)
    listing = listed(investor, inv, units=100, price="1.00")
    buyer = make_investor(email="buyer@example.com")
    with unit_of_work():
        trade = market.buy(buyer, listing.id, 100)
    assert trade.buyer_fee + trade.seller_fee > 0  # fees on both sides by default
    seller_view, buyer_view = read(investor.id), read(buyer.id)
    assert seller_view.fees == trade.seller_fee and buyer_view.fees == trade.buyer_fee
    assert [h.cost for h in buyer_view.holdings] == [trade.amount + trade.buyer_fee]
    for view in (seller_view, buyer_view):
        assert view.opening + view.money_in - view.money_out == view.closing
        assert [line.kind for line in view.lines].count("market_trade") == 1
