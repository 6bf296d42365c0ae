"""The secondary market: GET/POST /market/listings, GET/DELETE /market/listings/{id}, POST
/market/listings/{id}/buy, POST /market/listings/{id}/offers, GET /market/offers, POST
/market/offers/{id}/accept|reject|withdraw|counter, GET /market/trades.

Every call that moves money or units (listing, buying, offering, accepting, countering) honours `Idempotency-Key`.
Listings are public to every signed-in investor (the market), but only their seller sees which holding they come
from and only the seller may cancel one (403 for anyone else). An offer is seen and acted on by its buyer and its
listing's seller only (404 for anyone else), like every other private object of the API."""
from __future__ import annotations

import hashlib

from flask import request
from flask_smorest import Blueprint
from sqlalchemy import func, select

from app.api.auth import current_api_user
from app.api.envelope import PageArgsSchema, envelope, ok, page_meta
from app.api.examples import market as ex
from app.api.idempotency import idempotent
from app.api.v1.market_schemas import (
    AcceptedOfferSchema,
    BuyRequestSchema,
    CounterRequestSchema,
    ListingArgsSchema,
    ListingRequestSchema,
    ListingSchema,
    OfferRequestSchema,
    OfferSchema,
    ReplyRequestSchema,
    TradeSchema,
    listing_data,
    offer_data,
    trade_data,
)
from app.core.db import unit_of_work
from app.core.errors import Forbidden
from app.core.money import Money
from app.extensions import db
from app.ledger.services import platform_currency
from app.market import services as market

URL = "/market"
blp = Blueprint("api_market", __name__, description="The secondary market: listings, offers and trades between "
                                                    "investors")

IDEMPOTENCY_HEADER = {"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"},
                      "description": "the same key with the same body answers the first answer again, once"}
TRADE_KEY_MAX = 100  # the longest key the market keeps for a trade
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _price(value: str) -> Money:
    return Money.parse(value, platform_currency())


def _page(rows: list, args: dict) -> tuple[list, dict]:
    start = (args["page"] - 1) * args["per_page"]
    return rows[start:start + args["per_page"]], page_meta(args["page"], args["per_page"], len(rows))


def _trade_key() -> str | None:
    """The trade's idempotency key from the request's Idempotency-Key (the service scopes it to the caller); a key
    longer than the market keeps goes by its digest."""
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if len(key) > TRADE_KEY_MAX:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key or None


# listings ----------------------------------------------------------------------------------------------------------
@blp.get("/listings")
@blp.arguments(ListingArgsSchema, location="query")
@blp.response(200, envelope(ListingSchema, many=True, paginated=True), example=ex.LISTINGS)
@blp.doc(security=SECURITY)
def listings(args):
    """Open listings, newest first (filter `property_id`); with `mine=true`, the caller's own listings in every
    status instead."""
    user = current_api_user()
    if args["mine"]:
        rows = [row for row in market.listings_of(user)
                if args["property_id"] is None or row.property_id == args["property_id"]]
        page, meta = _page(rows, args)
        return ok([listing_data(row, user) for row in page], meta=meta)
    query = market.open_listings(args["property_id"])
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.scalars(query.limit(args["per_page"]).offset((args["page"] - 1) * args["per_page"])).all()
    return ok([listing_data(row, user) for row in rows], meta=page_meta(args["page"], args["per_page"], total))


@blp.post("/listings")
@idempotent
@blp.arguments(ListingRequestSchema, example=ex.LISTING_REQUEST)
@blp.response(201, envelope(ListingSchema), example=ex.LISTING_CREATED)
@blp.alt_response(403, description="e-mail not verified or KYC not approved for withdrawing")
@blp.alt_response(404, description="no such holding of the caller's")
@blp.alt_response(409, description="trading halted, lock-up not over, units already listed, or the property does "
                                   "not allow resale")
@blp.alt_response(422, description="units or price invalid, outside the price band, or the holding not fully paid")
@blp.doc(security=SECURITY, parameters=[IDEMPOTENCY_HEADER])
def create_listing(body):
    """List units of one of the caller's holdings at an asking price per unit, until `expires_at` (default: the
    market's listing period). The units are reserved until sold, cancelled or expired."""
    user = current_api_user()
    with unit_of_work():
        listing = market.create_listing(user, body["investment_id"], body["units"], _price(body["price_per_unit"]),
                                        body["expires_at"])
    return ok(listing_data(listing, user))


@blp.get("/listings/<int:listing_id>")
@blp.response(200, envelope(ListingSchema), example=ex.LISTING_ONE)
@blp.doc(security=SECURITY)
def listing(listing_id: int):
    """One listing, whoever listed it (the market is public to investors); `investment_id` for its seller only."""
    return ok(listing_data(market.get_listing(listing_id), current_api_user()))


@blp.delete("/listings/<int:listing_id>")
@blp.response(200, envelope(ListingSchema), example=ex.LISTING_CANCELLED)
@blp.alt_response(403, description="not the caller's listing")
@blp.alt_response(409, description="the listing is no longer open")
@blp.doc(security=SECURITY)
def cancel_listing(listing_id: int):
    """The seller cancels an open listing: its unsold units are freed and every live offer's hold is released."""
    user = current_api_user()
    if market.get_listing(listing_id).seller_id != user.id:
        raise Forbidden("only the seller can cancel a listing")
    with unit_of_work():
        cancelled = market.cancel_listing(user, listing_id)
    return ok(listing_data(cancelled, user))


@blp.post("/listings/<int:listing_id>/buy")
@idempotent
@blp.arguments(BuyRequestSchema, example=ex.BUY_REQUEST)
@blp.response(201, envelope(TradeSchema), example=ex.BOUGHT)
@blp.alt_response(403, description="e-mail not verified or KYC not approved for investing, or the caller's own "
                                   "listing")
@blp.alt_response(409, description="fewer units remain, the listing is not open, or trading is halted")
@blp.alt_response(422, description="units invalid, or more than the wallet holds")
@blp.doc(security=SECURITY, parameters=[IDEMPOTENCY_HEADER])
def buy(body, listing_id: int):
    """Buy `units` at the asking price: the wallet pays units x price + the buyer's fee and the units move to a new
    holding of the caller, at once. With `Idempotency-Key`, a retry answers the same trade and pays once."""
    user = current_api_user()
    with unit_of_work():
        trade = market.buy(user, listing_id, body["units"], key=_trade_key(), ip=request.remote_addr)
    return ok(trade_data(trade, "buy"))


@blp.post("/listings/<int:listing_id>/offers")
@idempotent
@blp.arguments(OfferRequestSchema, example=ex.OFFER_REQUEST)
@blp.response(201, envelope(OfferSchema), example=ex.OFFER_MADE)
@blp.alt_response(403, description="e-mail not verified or KYC not approved for investing, or the caller's own "
                                   "listing")
@blp.alt_response(409, description="fewer units remain, the listing is not open, or trading is halted")
@blp.alt_response(422, description="units, price or expiry invalid, or more than the wallet holds")
@blp.doc(security=SECURITY, parameters=[IDEMPOTENCY_HEADER])
def make_offer(body, listing_id: int):
    """Offer a price per unit for some units of a listing: units x price + the buyer's fee is held from the wallet
    until the seller accepts (the trade settles from the hold), rejects or counters, or the offer lapses."""
    user = current_api_user()
    with unit_of_work():
        offer = market.make_offer(user, listing_id, body["units"], _price(body["price_per_unit"]),
                                  expires_at=body["expires_at"], message=body["message"])
    return ok(offer_data(offer, user))


# offers ------------------------------------------------------------------------------------------------------------
@blp.get("/offers")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, envelope(OfferSchema, many=True, paginated=True), example=ex.OFFERS)
@blp.doc(security=SECURITY)
def offers(args):
    """The caller's offers, made (`side: made`) and received on the caller's listings (`side: received`)."""
    user = current_api_user()
    page, meta = _page(list(market.offers_of(user)), args)
    return ok([offer_data(row, user) for row in page], meta=meta)


@blp.post("/offers/<int:offer_id>/accept")
@idempotent
@blp.arguments(ReplyRequestSchema, example=ex.REPLY_REQUEST)
@blp.response(200, envelope(AcceptedOfferSchema), example=ex.ACCEPTED)
@blp.alt_response(403, description="not the side whose turn it is")
@blp.alt_response(409, description="the offer is no longer live, fewer units remain, or trading is halted")
@blp.alt_response(422, description="the counter costs more than the wallet holds")
@blp.doc(security=SECURITY, parameters=[IDEMPOTENCY_HEADER])
def accept(body, offer_id: int):
    """The seller accepts an open offer, or the buyer accepts the seller's counter: the trade settles at once from
    the money held."""
    user = current_api_user()
    with unit_of_work():
        trade = market.accept_offer(user, offer_id, message=body["message"])
    data = offer_data(market.get_offer_for(user, offer_id), user)
    return ok({**data, "trade": trade_data(trade, market.trade_side(trade, user))})


@blp.post("/offers/<int:offer_id>/reject")
@blp.arguments(ReplyRequestSchema, example=ex.DECLINE_REQUEST)
@blp.response(200, envelope(OfferSchema), example=ex.REJECTED)
@blp.alt_response(403, description="not the side whose turn it is")
@blp.alt_response(409, description="the offer is no longer live")
@blp.doc(security=SECURITY)
def reject(body, offer_id: int):
    """The seller rejects an open offer, or the buyer declines the seller's counter: the hold is released."""
    user = current_api_user()
    with unit_of_work():
        offer = market.reject_offer(user, offer_id, message=body["message"])
    return ok(offer_data(offer, user))


@blp.post("/offers/<int:offer_id>/withdraw")
@blp.response(200, envelope(OfferSchema), example=ex.WITHDRAWN)
@blp.alt_response(403, description="not the buyer")
@blp.alt_response(409, description="the offer is no longer live")
@blp.doc(security=SECURITY)
def withdraw(offer_id: int):
    """The buyer withdraws a live offer: the hold is released."""
    user = current_api_user()
    with unit_of_work():
        offer = market.withdraw_offer(user, offer_id)
    return ok(offer_data(offer, user))


@blp.post("/offers/<int:offer_id>/counter")
@idempotent
@blp.arguments(CounterRequestSchema, example=ex.COUNTER_REQUEST)
@blp.response(200, envelope(OfferSchema), example=ex.COUNTERED)
@blp.alt_response(403, description="not the side whose turn it is")
@blp.alt_response(409, description="the offer is no longer live")
@blp.alt_response(422, description="price invalid or outside the band, or more than the wallet holds")
@blp.doc(security=SECURITY, parameters=[IDEMPOTENCY_HEADER])
def counter(body, offer_id: int):
    """The seller counters an open offer with another price per unit; the buyer may counter a counter back (the
    hold follows the new price)."""
    user = current_api_user()
    with unit_of_work():
        offer = market.counter_offer(user, offer_id, _price(body["price_per_unit"]), message=body["message"])
    return ok(offer_data(offer, user))


# trades ------------------------------------------------------------------------------------------------------------
@blp.get("/trades")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, envelope(TradeSchema, many=True, paginated=True), example=ex.TRADES)
@blp.doc(security=SECURITY)
def trades(args):
    """The caller's trades, bought and sold, newest first."""
    user = current_api_user()
    page, meta = _page(list(market.trades_of(user)), args)
    return ok([trade_data(row, market.trade_side(row, user)) for row in page], meta=meta)
