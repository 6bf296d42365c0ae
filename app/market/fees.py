"""Market fees and quotes: what a trade costs its buyer and pays its seller, before anything moves.

A fee is `amount x bps / 10,000` rounded half-even to the cent, and never less than the minimum finance set (no fee
on nothing). A listing keeps the fee terms in force when it was listed; its trades are charged those."""
from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import ValidationError
from app.core.money import Money, round_half_even
from app.settings import services as settings

MAX_UNITS = 10**9


@dataclass(frozen=True)
class Quote:
    units: int
    price_per_unit: int
    amount: int  # units x price_per_unit
    buyer_fee: int
    buyer_total: int  # amount + buyer_fee: what the buyer pays
    seller_fee: int
    seller_net: int  # amount - seller_fee: what the seller receives
    nominal: int  # units x the unit's nominal value: what returns are paid on
    currency: str

    def money(self, field: str) -> Money:
        return Money(getattr(self, field), self.currency)


def fee(amount: int, bps: int, minimum: int) -> int:
    """`amount` x `bps` / 10,000, half-even to the cent, at least `minimum`; 0 when the amount is 0."""
    if amount <= 0:
        return 0
    return max(round_half_even(amount * bps, 10_000), minimum)


def check_units(units, field: str = "units") -> int:
    """A whole number of units, 1 to 10^9 (422 otherwise)."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise ValidationError("units are a whole number", {field: ["A whole number of units."]})
    if units <= 0:
        raise ValidationError("at least one unit", {field: ["At least one unit."]})
    if units > MAX_UNITS:
        raise ValidationError("too many units", {field: [f"At most {MAX_UNITS:,} units."]})
    return units


def check_price(price, currency: str, field: str = "price_per_unit") -> int:
    """A positive price of `currency` (a Money, or an int of minor units inside the market) -> minor units."""
    if isinstance(price, Money):
        if price.currency != currency:
            raise ValidationError(f"prices on this market are in {currency}", {field: [f"Use {currency}."]})
        minor = price.minor
    elif isinstance(price, int) and not isinstance(price, bool):
        minor = price
    else:
        raise ValidationError("a price is an amount of money", {field: ["Give an amount of money."]})
    if minor <= 0:
        raise ValidationError("the price must be more than zero", {field: ["Must be more than zero."]})
    if minor > MAX_UNITS * 10_000:
        raise ValidationError("the price is too large", {field: ["This price is too large."]})
    return minor


def price_band(unit_price: int) -> tuple[int, int]:
    """The lowest and highest asking price per unit finance allows: per cent of the unit's nominal value (the low
    end rounded up, the high end down, so both stay within the band)."""
    low_bps = settings.value("market.price_band_low_bps")
    high_bps = settings.value("market.price_band_high_bps")
    low = -(-unit_price * low_bps // 10_000)
    high = unit_price * high_bps // 10_000
    return max(low, 1), high


def fee_terms() -> dict[str, int]:
    """Today's fee terms, as a new listing snapshots them."""
    values = settings.values(["market.seller_fee_bps", "market.seller_fee_min", "market.buyer_fee_bps",
                              "market.buyer_fee_min"])
    return {"seller_fee_bps": values["market.seller_fee_bps"], "seller_fee_min": values["market.seller_fee_min"],
            "buyer_fee_bps": values["market.buyer_fee_bps"], "buyer_fee_min": values["market.buyer_fee_min"]}


def _quote(units: int, price: int, unit_price: int, currency: str, terms: dict[str, int]) -> Quote:
    amount = units * price
    buyer_fee = fee(amount, terms["buyer_fee_bps"], terms["buyer_fee_min"])
    seller_fee = fee(amount, terms["seller_fee_bps"], terms["seller_fee_min"])
    return Quote(units=units, price_per_unit=price, amount=amount, buyer_fee=buyer_fee,
                 buyer_total=amount + buyer_fee, seller_fee=seller_fee, seller_net=amount - seller_fee,
                 nominal=units * unit_price, currency=currency)


def quote(listing, units: int, price_per_unit: int | None = None) -> Quote:
    """What `units` of `listing` cost at `price_per_unit` (its asking price by default), under its fee terms."""
    check_units(units)
    price = listing.price_per_unit if price_per_unit is None else check_price(price_per_unit, listing.currency)
    terms = {"seller_fee_bps": listing.seller_fee_bps, "seller_fee_min": listing.seller_fee_min,
             "buyer_fee_bps": listing.buyer_fee_bps, "buyer_fee_min": listing.buyer_fee_min}
    return _quote(units, price, listing.unit_price, listing.currency, terms)


def listing_quote(investment, units: int, price_per_unit) -> Quote:
    """What selling `units` of `investment` at `price_per_unit` would bring, under today's fee terms."""
    check_units(units)
    p = investment.property
    price = check_price(price_per_unit, p.currency)
    return _quote(units, price, p.unit_price, p.currency, fee_terms())
