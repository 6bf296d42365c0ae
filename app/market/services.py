"""The market's facade: every caller (portal, API, console, tasks, CLI) imports this module only.

    fees.py        fees, quotes and the price band
    rules.py       who may list or buy what, and when
    listings.py    listing units, cancelling, expiry
    settlement.py  one trade, one transaction (settle_trade)
    buying.py      buying outright
    offers.py      prefunded offers
    halts.py       trading halts
    queries.py     reading the market
    surveillance.py  flags on settled trades and their review
Services flush and never commit; amounts are integer minor units, prices per unit `Money` at the edges."""
from __future__ import annotations

from app.market.buying import buy
from app.market.descriptions import describe_lines as describe_market_lines
from app.market.fees import Quote, fee, fee_terms, listing_quote, price_band, quote
from app.market.halts import halt, resume
from app.market.listings import cancel_listing, create_listing, expire_listings
from app.market.offers import (
    MESSAGE_MAX,
    accept_offer,
    clean_message,
    counter_offer,
    expire_offers,
    make_offer,
    reject_offer,
    release_live_offers,
    withdraw_offer,
)
from app.market.queries import (
    Stats,
    get_listing,
    get_offer_for,
    get_trade_for,
    listings_of,
    market_stats,
    offers_of,
    open_listings,
    trade_side,
    trades_of,
)
from app.market.rules import check_buyer, check_listable, halt_in_force, lockup_ends_on
from app.market.settlement import settle_trade, trade_by_key
from app.market.surveillance import flag_trade, review_flag

__all__ = [
    "MESSAGE_MAX",
    "Quote",
    "Stats",
    "accept_offer",
    "buy",
    "cancel_listing",
    "check_buyer",
    "check_listable",
    "clean_message",
    "counter_offer",
    "create_listing",
    "describe_market_lines",
    "expire_listings",
    "expire_offers",
    "fee",
    "fee_terms",
    "flag_trade",
    "get_listing",
    "get_offer_for",
    "get_trade_for",
    "halt",
    "halt_in_force",
    "listing_quote",
    "listings_of",
    "lockup_ends_on",
    "make_offer",
    "market_stats",
    "offers_of",
    "open_listings",
    "price_band",
    "quote",
    "reject_offer",
    "release_live_offers",
    "resume",
    "review_flag",
    "settle_trade",
    "trade_by_key",
    "trade_side",
    "trades_of",
    "withdraw_offer",
]
