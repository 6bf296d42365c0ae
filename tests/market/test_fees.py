"""Fees: half-even to the cent, never below the minimum finance set; quotes say every amount before a trade."""
import pytest

from app.core.errors import ValidationError
from app.market import services as market
from tests.market.support import list_units, money
from tests.support import set_setting


@pytest.mark.parametrize(("amount", "bps", "minimum", "expected"), [
    (10_050, 100, 0, 100),      # 100.50 x 1 % = 1.005 -> 1.00 (half to even)
    (10_150, 100, 0, 102),      # 101.50 x 1 % = 1.015 -> 1.02 (half to even)
    (12_345, 250, 0, 309),      # 3.08625 -> 3.09
    (10_000, 100, 500, 500),    # the minimum
    (0, 100, 500, 0),           # nothing traded, no fee
    (1_000_000, 0, 0, 0),
])
def test_fee_rounds_half_even_with_a_minimum(amount, bps, minimum, expected):
    assert market.fee(amount, bps, minimum) == expected


def test_a_quote_states_every_amount_with_the_listings_fee_terms(tradable):
    seller, inv, _p = tradable
    set_setting("market.buyer_fee_bps", 150)
    set_setting("market.seller_fee_bps", 50)
    set_setting("market.seller_fee_min", 300)
    listing = list_units(seller, inv, 10, "101.50")
    set_setting("market.buyer_fee_bps", 1_000)  # later changes do not touch an existing listing
    q = market.quote(listing, 3)
    assert (q.amount, q.buyer_fee, q.buyer_total) == (30_450, 457, 30_907)  # 456.75 -> 457
    assert (q.seller_fee, q.seller_net, q.nominal, q.currency) == (300, 30_150, 30_000, "USD")  # 152.25 < min


def test_price_band_is_a_share_of_nominal_value(tradable):
    seller, inv, _p = tradable
    assert market.price_band(10_000) == (5_000, 15_000)
    set_setting("market.price_band_low_bps", 9_000)
    set_setting("market.price_band_high_bps", 11_000)
    assert market.price_band(333) == (300, 366)  # 299.7 up, 366.3 down: both inside the band
    with pytest.raises(ValidationError) as refused:
        market.check_listable(seller, inv, 1, money("89.99"))
    assert "price_per_unit" in refused.value.errors


def test_listing_quote_uses_todays_fees(tradable):
    _seller, inv, _p = tradable
    q = market.listing_quote(inv, 4, money("100.00"))
    assert (q.amount, q.seller_fee, q.seller_net, q.buyer_fee) == (40_000, 400, 39_600, 400)
