"""The market's request and answer schemas (app/api/v1/market.py), and how listings, offers and trades are shown
to the caller: a listing's `investment_id` to its seller only, an offer to its two parties, a trade with the
caller's side.

Prices are per unit: `price_per_unit` in a request is a decimal string in major units of the platform currency,
like every amount; `units` is a JSON integer (a string, a float, a boolean, zero, a negative or more than 10**9 is
a 422 on that field)."""
from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as SchemaError

from app.api.envelope import PageArgsSchema
from app.api.fields import AmountField, MoneyField
from app.core.money import Money
from app.market.models import LISTING_STATUSES, MESSAGE_MAX, OFFER_STATUSES

MAX_UNITS = 10**9


class UnitsField(fields.Field):
    """A count of whole units: a JSON integer from 1 to 10**9, nothing else (no string, float or boolean)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError("Must be a whole number of units (a JSON integer).")
        if value < 1:
            raise SchemaError("Must be at least 1 unit.")
        if value > MAX_UNITS:
            raise SchemaError(f"Must be at most {MAX_UNITS} units.")
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


def _units(description: str) -> UnitsField:
    return UnitsField(required=True, metadata={"type": "integer", "minimum": 1, "maximum": MAX_UNITS,
                                               "example": 10, "description": description})


def _price(description: str) -> AmountField:
    return AmountField(required=True, metadata={"description": description + ': a decimal string in major units, '
                                                "e.g. \"1.05\"; no number, sign, zero or more decimals than the "
                                                "currency has"})


def _expiry() -> fields.AwareDateTime:
    return fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC, metadata={
        "description": "when it lapses (ISO 8601; UTC when no offset is given); default: the market's setting"})


def _message() -> fields.String:
    return fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MESSAGE_MAX), metadata={
        "description": f"a short note to the other side, plain text (at most {MESSAGE_MAX} characters)"})


# requests ----------------------------------------------------------------------------------------------------------
class ListingArgsSchema(PageArgsSchema):
    property_id = fields.Integer(load_default=None, strict=False, validate=validate.Range(min=1),
                                 metadata={"description": "only this property's listings"})
    mine = fields.Boolean(load_default=False, metadata={
        "description": "the caller's own listings, in every status, instead of the open market"})


class ListingRequestSchema(Schema):
    investment_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                                   metadata={"description": "the caller's holding the units come from"})
    units = _units("how many of the holding's units to offer for sale")
    price_per_unit = _price("the asking price of one unit")
    expires_at = _expiry()


class BuyRequestSchema(Schema):
    units = _units("how many units to buy at the asking price")


class OfferRequestSchema(Schema):
    units = _units("how many units the offer is for")
    price_per_unit = _price("the price offered for one unit")
    expires_at = _expiry()
    message = _message()


class CounterRequestSchema(Schema):
    price_per_unit = _price("the price per unit proposed instead")
    message = _message()


class ReplyRequestSchema(Schema):
    message = _message()


# answers -----------------------------------------------------------------------------------------------------------
class ListingSchema(Schema):
    id = fields.Integer()
    property_id = fields.Integer()
    investment_id = fields.Integer(allow_none=True, metadata={
        "description": "the holding the units come from: shown to the seller only, null for everyone else"})
    mine = fields.Boolean(metadata={"description": "the caller is the seller"})
    units = fields.Integer()
    units_remaining = fields.Integer()
    unit_price = MoneyField(metadata={"description": "the nominal value of one unit: returns and capital are paid on "
                                                     "units x unit price, whatever price a buyer paid"})
    price_per_unit = MoneyField(metadata={"description": "the asking price of one unit"})
    status = fields.String(metadata={"enum": list(LISTING_STATUSES)})
    expires_at = fields.DateTime()
    seller_fee_bps = fields.Integer(metadata={"description": "the seller's fee in basis points of the amount"})
    buyer_fee_bps = fields.Integer(metadata={"description": "the buyer's fee in basis points of the amount"})
    seller_fee_min = MoneyField(metadata={"description": "the smallest seller's fee of a trade"})
    buyer_fee_min = MoneyField(metadata={"description": "the smallest buyer's fee of a trade"})
    created_at = fields.DateTime()


class TradeSchema(Schema):
    id = fields.Integer()
    listing_id = fields.Integer()
    offer_id = fields.Integer(allow_none=True, metadata={"description": "the accepted offer it settled, if any"})
    property_id = fields.Integer()
    side = fields.String(metadata={"enum": ["buy", "sell"], "description": "the caller's side"})
    investment_id = fields.Integer(allow_none=True, metadata={
        "description": "the caller's holding: the new one a buyer received, or the one a seller sold from"})
    units = fields.Integer()
    price_per_unit = MoneyField()
    amount = MoneyField(metadata={"description": "units x price per unit"})
    buyer_fee = MoneyField()
    seller_fee = MoneyField()
    total = MoneyField(metadata={"description": "for the buyer what was paid (amount + buyer's fee), for the seller "
                                                "what was received (amount - seller's fee)"})
    settled_at = fields.DateTime()


class OfferSchema(Schema):
    id = fields.Integer()
    listing_id = fields.Integer()
    property_id = fields.Integer()
    side = fields.String(metadata={"enum": ["made", "received"],
                                   "description": "made by the caller (buyer), or received on the caller's listing"})
    units = fields.Integer()
    price_per_unit = MoneyField(metadata={"description": "the price per unit the buyer offers"})
    counter_price_per_unit = MoneyField(allow_none=True, metadata={
        "description": "the seller's counter price per unit while countered, else null"})
    buyer_fee = MoneyField(metadata={"description": "the buyer's fee at the offered price"})
    held = MoneyField(metadata={"description": "held from the buyer's wallet now (price x units + buyer's fee "
                                               "while live, 0 once settled or released)"})
    status = fields.String(metadata={"enum": list(OFFER_STATUSES)})
    expires_at = fields.DateTime()
    buyer_message = fields.String(allow_none=True, metadata={"description": "plain text"})
    seller_message = fields.String(allow_none=True, metadata={"description": "plain text"})
    trade_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)


class AcceptedOfferSchema(OfferSchema):
    trade = fields.Nested(TradeSchema, metadata={"description": "the trade the acceptance settled"})


# presenters --------------------------------------------------------------------------------------------------------
def listing_data(listing: Any, user: Any) -> dict:
    def money(minor: int) -> Money:
        return Money(minor, listing.currency)

    mine = listing.seller_id == user.id
    return {
        "id": listing.id, "property_id": listing.property_id, "investment_id": listing.investment_id if mine else None,
        "mine": mine, "units": listing.units, "units_remaining": listing.units_remaining,
        "unit_price": money(listing.unit_price), "price_per_unit": money(listing.price_per_unit),
        "status": listing.status, "expires_at": listing.expires_at, "seller_fee_bps": listing.seller_fee_bps,
        "buyer_fee_bps": listing.buyer_fee_bps, "seller_fee_min": money(listing.seller_fee_min),
        "buyer_fee_min": money(listing.buyer_fee_min), "created_at": listing.created_at,
    }


def trade_data(trade: Any, side: str) -> dict:
    def money(minor: int) -> Money:
        return Money(minor, trade.currency)

    buying = side == "buy"
    return {
        "id": trade.id, "listing_id": trade.listing_id, "offer_id": trade.offer_id, "property_id": trade.property_id,
        "side": side, "investment_id": trade.buyer_investment_id if buying else trade.seller_investment_id,
        "units": trade.units, "price_per_unit": money(trade.price_per_unit), "amount": money(trade.amount),
        "buyer_fee": money(trade.buyer_fee), "seller_fee": money(trade.seller_fee),
        "total": money(trade.amount + trade.buyer_fee if buying else trade.amount - trade.seller_fee),
        "settled_at": trade.settled_at,
    }


def offer_data(offer: Any, user: Any) -> dict:
    def money(minor: int) -> Money:
        return Money(minor, offer.currency)

    counter = offer.counter_price_per_unit
    return {
        "id": offer.id, "listing_id": offer.listing_id, "property_id": offer.listing.property_id,
        "side": "made" if offer.buyer_id == user.id else "received", "units": offer.units,
        "price_per_unit": money(offer.price_per_unit),
        "counter_price_per_unit": money(counter) if counter is not None else None,
        "buyer_fee": money(offer.buyer_fee), "held": money(offer.held_amount), "status": offer.status,
        "expires_at": offer.expires_at, "buyer_message": offer.buyer_message,
        "seller_message": offer.seller_message, "trade_id": offer.trade_id, "created_at": offer.created_at,
        "resolved_at": offer.resolved_at,
    }
