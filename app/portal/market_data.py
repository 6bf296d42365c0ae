"""What the portal's market pages read, built on the market facade's queries: a page of open listings with each
property's figures, the properties to filter by, whether a holding can be listed now, and plain-language lines for
market entries in the wallet history. A page costs the same few queries whatever the number of listings."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import lazyload, selectinload

from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.investing.models import ACTIVE
from app.market import services as market
from app.market.models import OPEN, Listing, Trade
from app.properties.models import Property


@dataclass(frozen=True)
class ListingRow:
    listing: Listing
    price: Money
    nominal: Money
    percent: Decimal | None  # the asking price as a per cent of the unit's nominal value (percent_local shows it)

    @property
    def property(self):
        return self.listing.property


@dataclass(frozen=True)
class Figures:
    """A property's market figures, as the pages show them."""

    last_price: Money | None
    volume_units: int
    volume_amount: Money | None
    lowest_ask: Money | None
    open_listings: int


def to_money(value, currency: str) -> Money:
    """An amount of minor units (or Money already) as Money."""
    return value if isinstance(value, Money) else Money(int(value), currency)


def as_money(value, currency: str) -> Money | None:
    """As to_money, None staying None."""
    return None if value is None else to_money(value, currency)


def figures(stats, currency: str) -> Figures:
    """market_stats' Stats (or None: no listing or trade yet) as amounts of the property's currency."""
    if stats is None:
        return Figures(None, 0, None, None, 0)
    return Figures(as_money(stats.last_price, currency), int(stats.volume_30d_units or 0),
                   as_money(stats.volume_30d_amount, currency) if stats.volume_30d_amount else None,
                   as_money(stats.lowest_ask, currency), int(stats.open_listings or 0))


def percent_of_nominal(price: int, nominal: int) -> Decimal | None:
    return (Decimal(price * 100) / nominal).quantize(Decimal("0.1")) if nominal else None


def row(listing: Listing) -> ListingRow:
    return ListingRow(listing, Money(listing.price_per_unit, listing.currency), Money(listing.unit_price,
                      listing.currency), percent_of_nominal(listing.price_per_unit, listing.unit_price))


def _light(option):
    """Load a listing's property without the photos, documents, FAQ and amenities a list does not show."""
    return option.options(*(lazyload(getattr(Property, name)) for name in ("amenities", "faqs", "photos",
                                                                           "documents")))


def listings_page(*, property_id: int | None, min_price: int | None, max_price: int | None, page: int,
                  per_page: int) -> tuple[list[ListingRow], int, dict]:
    """One page of open listings, grouped by property (cheapest first within each), their count, and the figures
    of each property on the page (market_stats)."""
    query = market.open_listings(property_id, min_price=min_price, max_price=max_price)
    total = db.session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    rows = list(db.session.scalars(
        query.order_by(None).order_by(Listing.property_id, Listing.price_per_unit, Listing.id)
        .options(_light(selectinload(Listing.property)))
        .limit(per_page).offset((page - 1) * per_page)))
    raw = market.market_stats(sorted({r.property_id for r in rows})) if rows else {}
    stats = {r.property_id: figures(raw.get(r.property_id), r.currency) for r in rows}
    return [row(r) for r in rows], int(total), stats


def properties_listed() -> list[tuple[int, str]]:
    """The properties with open listings, for the filter."""
    return [(pid, title) for pid, title in db.session.execute(
        select(Property.id, Property.title).where(Property.id.in_(
            select(Listing.property_id).where(Listing.status == OPEN))).order_by(Property.title))]


def sell_state(inv) -> str | None:
    """Why this holding cannot be listed now, or None when it can (the services check again when listing)."""
    p = inv.property
    if not p.resale_allowed:
        return _("This offering does not allow resale.")
    if p.status not in ("active", "funded"):
        return _("Units of this offering no longer trade.")
    if inv.status != ACTIVE:
        return _("Only a fully paid holding can be listed.") if inv.status == "paying" else _("This holding is closed.")
    if (inv.units or 0) - (inv.units_listed or 0) <= 0:
        return (_("Every unit of this holding is already listed.") if inv.units_listed
                else _("This holding has no whole units to sell."))
    ends: date | None = market.lockup_ends_on(p)
    if ends and utcnow().date() < ends:
        return _("Units of this offering can be listed from %(date)s.", date=format_date(ends, "long"))
    if market.halt_in_force(p.id):
        return _("Trading in this property is halted for now.")
    return None


@dataclass(frozen=True)
class CounterTerms:
    """What accepting a seller's counter-offer costs the buyer, against what is held for the offer now."""

    units: int
    amount: Money
    fee: Money
    total: Money
    more: Money | None  # taken from the wallet on top of the hold
    back: Money | None  # returned to the wallet from the hold


def counter_terms(offer) -> CounterTerms | None:
    if not offer.counter_price_per_unit:
        return None
    q = market.quote(offer.listing, offer.units, offer.counter_price_per_unit)
    cur = offer.currency
    total = to_money(q.buyer_total, cur)
    diff = total.minor - (offer.held_amount or 0)
    return CounterTerms(q.units, to_money(q.amount, cur), to_money(q.buyer_fee, cur), total,
                        Money(diff, cur) if diff > 0 else None, Money(-diff, cur) if diff < 0 else None)


@dataclass(frozen=True)
class HoldingMarket:
    sold_units: int
    sold_amount: int


def holding_market(inv) -> HoldingMarket:
    """What the holder sold of this holding on the market (units and price received before fees)."""
    units, amount = db.session.execute(
        select(func.coalesce(func.sum(Trade.units), 0), func.coalesce(func.sum(Trade.amount), 0))
        .where(Trade.seller_investment_id == inv.id)).one()
    return HoldingMarket(int(units), int(amount))


def preload(*, offers=(), listings=(), trades=()) -> list:
    """Load the listings of `offers` and the properties of them all in two queries, so a page reading
    offer.listing.property or trade.property does not pay one query per row: the rows' lazy loads find them in the
    session, as long as the caller keeps the returned objects referenced (the session holds them weakly)."""
    listing_ids = {o.listing_id for o in offers} - {listing.id for listing in listings}
    loaded = list(listings)
    if listing_ids:
        loaded += list(db.session.scalars(select(Listing).where(Listing.id.in_(listing_ids))))
    property_ids = {listing.property_id for listing in loaded} | {t.property_id for t in trades}
    if property_ids:
        loaded += db.session.scalars(select(Property).where(Property.id.in_(property_ids))
                                     .options(*(lazyload(getattr(Property, name))
                                                for name in ("amenities", "faqs", "photos", "documents")))).all()
    return loaded
