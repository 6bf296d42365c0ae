"""Examples of the market operations: units of Northgate Logistics Park (a unit's nominal value 1.00) changing
hands between investors, with 1 % fees on each side (1.00 at least)."""
from __future__ import annotations

from app.api.examples import money, page, success

# listings -----------------------------------------------------------------------------------------------------------
LISTING_REQUEST = {"investment_id": 26, "units": 400, "price_per_unit": "1.05",
                   "expires_at": "2027-01-03T12:00:00+00:00"}
LISTING = {
    "id": 2, "property_id": 4, "investment_id": 26, "mine": True, "units": 400, "units_remaining": 400,
    "unit_price": money("1.00"), "price_per_unit": money("1.05"), "status": "open",
    "expires_at": "2027-01-03T12:00:00+00:00", "seller_fee_bps": 100, "buyer_fee_bps": 100,
    "seller_fee_min": money("1.00"), "buyer_fee_min": money("1.00"), "created_at": "2026-12-04T10:02:17+00:00",
}
LISTING_CREATED = success(LISTING)
# as another investor sees it: the holding it comes from is the seller's to know
LISTING_SEEN = {**LISTING, "investment_id": None, "mine": False, "units_remaining": 250}
LISTINGS = page([LISTING_SEEN, {
    **LISTING_SEEN, "id": 1, "units": 300, "units_remaining": 300, "price_per_unit": money("0.98"),
    "expires_at": "2026-12-20T08:00:00+00:00", "created_at": "2026-11-20T08:00:00+00:00"}], total=2)
LISTING_ONE = success(LISTING_SEEN)
LISTING_CANCELLED = success({**LISTING, "units_remaining": 250, "status": "cancelled"})

# trades -------------------------------------------------------------------------------------------------------------
BUY_REQUEST = {"units": 100}
TRADE = {
    "id": 9, "listing_id": 2, "offer_id": None, "property_id": 4, "side": "buy", "investment_id": 155, "units": 100,
    "price_per_unit": money("1.05"), "amount": money("105.00"), "buyer_fee": money("1.05"),
    "seller_fee": money("1.05"), "total": money("106.05"), "settled_at": "2026-12-04T10:15:40+00:00",
}
BOUGHT = success(TRADE)
TRADES = page([TRADE, {
    **TRADE, "id": 10, "offer_id": 1, "side": "sell", "investment_id": 26, "units": 150,
    "price_per_unit": money("1.02"), "amount": money("153.00"), "buyer_fee": money("1.53"),
    "seller_fee": money("1.53"), "total": money("151.47"), "settled_at": "2026-12-04T11:30:05+00:00"}], total=2)

# offers -------------------------------------------------------------------------------------------------------------
OFFER_REQUEST = {"units": 150, "price_per_unit": "1.02", "expires_at": "2026-12-11T12:00:00+00:00",
                 "message": "Happy to take these at 1.02 a unit."}
OFFER = {
    "id": 1, "listing_id": 2, "property_id": 4, "side": "made", "units": 150, "price_per_unit": money("1.02"),
    "counter_price_per_unit": None, "buyer_fee": money("1.53"), "held": money("154.53"), "status": "open",
    "expires_at": "2026-12-11T12:00:00+00:00", "buyer_message": "Happy to take these at 1.02 a unit.",
    "seller_message": None, "trade_id": None, "created_at": "2026-12-04T10:20:03+00:00", "resolved_at": None,
}
OFFER_MADE = success(OFFER)
OFFERS = page([{**OFFER, "side": "received"}], total=1)
COUNTER_REQUEST = {"price_per_unit": "1.04", "message": "1.04 and they are yours."}
COUNTERED = success({**OFFER, "side": "received", "status": "countered", "counter_price_per_unit": money("1.04"),
                     "seller_message": "1.04 and they are yours."})
REPLY_REQUEST = {"message": "Thank you, agreed."}
DECLINE_REQUEST = {"message": "Thank you, but I will keep them for now."}
ACCEPTED = success({
    **OFFER, "side": "received", "held": money("0.00"), "status": "accepted", "seller_message": "Thank you, agreed.",
    "trade_id": 10, "resolved_at": "2026-12-04T11:30:05+00:00",
    "trade": {**TRADE, "id": 10, "offer_id": 1, "side": "sell", "investment_id": 26, "units": 150,
              "price_per_unit": money("1.02"), "amount": money("153.00"), "buyer_fee": money("1.53"),
              "seller_fee": money("1.53"), "total": money("151.47"), "settled_at": "2026-12-04T11:30:05+00:00"},
})
REJECTED = success({**OFFER, "side": "received", "held": money("0.00"), "status": "rejected",
                    "seller_message": "Thank you, but I will keep them for now.",
                    "resolved_at": "2026-12-04T11:02:44+00:00"})
WITHDRAWN = success({**OFFER, "held": money("0.00"), "status": "withdrawn", "resolved_at": "2026-12-04T10:48:19+00:00"})
