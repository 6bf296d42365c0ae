"""Market: listings, offers (with what each holds) and the trade tape (filters, audited CSV export, a chart of a
property's daily volume and last price), all read-only: staff never trade for investors. Trading halts and
surveillance flags are in market_halts.py and market_flags.py; the market's settings are a group of Money
settings (four eyes)."""
from __future__ import annotations

from flask_admin.menu import MenuLink
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.admin.base import SecureModelView, money_formatter, range_filters
from app.admin.list_search import IndexedSearch
from app.admin.views import market_flags, market_halts
from app.admin.views.investment_filters import LiveFilterOptions
from app.admin.views.market_chart import trade_chart
from app.admin.views.market_common import (
    EmailIs,
    PropertyIs,
    StatusIs,
    badge,
    link,
    property_link,
    time_filters,
    user_link,
)
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.market.models import LISTING_STATUSES, OFFER_STATUSES, Listing, Offer, Trade
from app.properties.models import Property

LISTING_BADGE = {"open": "success", "sold": "primary", "cancelled": "secondary", "expired": "light"}
OFFER_BADGE = {"open": "info", "countered": "warning", "accepted": "success", "rejected": "danger",
               "withdrawn": "secondary", "expired": "light"}


def _export_money(field: str):
    def formatter(view, context, model, name):
        return Money(getattr(model, field), model.currency).amount_str()

    return formatter


class MarketView(IndexedSearch, LiveFilterOptions, SecureModelView):
    permission = "market.view"
    column_auto_select_related = False  # each view's query loads what its rows show, a query per relation


class ListingView(MarketView):
    details_template = "admin/market/listing.html"
    column_list = ("id", "created_at", "property", "seller", "units", "units_remaining", "price_per_unit",
                   "unit_price", "status", "expires_at")
    column_sortable_list = ("id", "created_at", "expires_at", "status")
    column_searchable_list = ("id", "property_id", "investment_id")  # exact ids, or the seller (IndexedSearch)
    investor_columns = ("seller_id",)
    column_default_sort = ("id", True)
    column_labels = {"units_remaining": "Units left", "price_per_unit": "Asking (a unit)",
                     "unit_price": "Nominal (a unit)", "created_at": "Listed", "expires_at": "Expires",
                     "seller_fee_bps": "Seller's fee (bps)", "seller_fee_min": "Seller's smallest fee",
                     "buyer_fee_bps": "Buyer's fee (bps)", "buyer_fee_min": "Buyer's smallest fee",
                     "investment_id": "Seller's holding", "closed_at": "Closed", "close_reason": "Why closed"}
    column_filters = (
        PropertyIs(Listing.property_id, "Property"),
        StatusIs(Listing.status, "Status", statuses=LISTING_STATUSES),
        EmailIs(Listing.seller_id, "Seller"),
        *time_filters(Listing.created_at, "Listed"),
    )
    column_formatters = {"property": property_link, "seller": user_link("seller"), "status": badge(LISTING_BADGE),
                         "price_per_unit": money_formatter("price_per_unit"),
                         "unit_price": money_formatter("unit_price")}
    column_details_list = ("id", "property", "seller", "investment_id", "status", "units", "units_remaining",
                           "price_per_unit", "unit_price", "seller_fee_bps", "seller_fee_min", "buyer_fee_bps",
                           "buyer_fee_min", "created_at", "expires_at", "closed_at", "close_reason")
    column_formatters_detail = column_formatters | {
        "seller_fee_min": money_formatter("seller_fee_min"), "buyer_fee_min": money_formatter("buyer_fee_min"),
        "investment_id": link("investments", "investment_id")}

    def get_query(self):
        return db.session.query(Listing).options(selectinload(Listing.property).lazyload("*"),
                                                 selectinload(Listing.seller).lazyload("*"))

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            listing = kwargs["model"]
            kwargs.update(
                offers=list(db.session.scalars(select(Offer).options(selectinload(Offer.buyer).lazyload("*"))
                                               .where(Offer.listing_id == listing.id).order_by(Offer.id.desc()))),
                trades=list(db.session.scalars(select(Trade).options(selectinload(Trade.buyer).lazyload("*"))
                                               .where(Trade.listing_id == listing.id).order_by(Trade.id.desc()))),
                money=lambda minor, c=listing.currency: Money(int(minor or 0), c).display(), badge=OFFER_BADGE)
        return super().render(template, **kwargs)


class OfferView(MarketView):
    column_list = ("id", "created_at", "property", "listing_id", "buyer", "units", "price_per_unit",
                   "counter_price_per_unit", "held_amount", "status", "expires_at")
    column_sortable_list = ("id", "created_at", "expires_at", "status")
    column_searchable_list = ("id", "listing_id")  # exact ids, or the buyer (IndexedSearch)
    investor_columns = ("buyer_id",)
    column_default_sort = ("id", True)
    column_labels = {"listing_id": "Listing", "price_per_unit": "Offered (a unit)",
                     "counter_price_per_unit": "Countered (a unit)", "held_amount": "Held now",
                     "buyer_fee": "Buyer's fee", "created_at": "Made", "expires_at": "Expires",
                     "resolved_at": "Resolved", "resolution_reason": "Why", "trade_id": "Trade",
                     "buyer_message": "Buyer's message", "seller_message": "Seller's message"}
    column_filters = (
        PropertyIs(Offer.listing_id, "Property", through_listing=True),
        StatusIs(Offer.status, "Status", statuses=OFFER_STATUSES),
        EmailIs(Offer.buyer_id, "Buyer"),
        *range_filters(Offer.listing_id, "Listing", integer=True),
        *time_filters(Offer.created_at, "Made"),
    )
    column_formatters = {"property": property_link, "buyer": user_link("buyer"), "status": badge(OFFER_BADGE),
                         "listing_id": link("market_listings", "listing_id"),
                         "price_per_unit": money_formatter("price_per_unit"),
                         "counter_price_per_unit": money_formatter("counter_price_per_unit"),
                         "held_amount": money_formatter("held_amount")}
    column_details_list = ("id", "property", "listing_id", "buyer", "status", "units", "price_per_unit", "buyer_fee",
                           "held_amount", "counter_price_per_unit", "buyer_message", "seller_message", "created_at",
                           "expires_at", "resolved_at", "resolution_reason", "trade_id")
    column_formatters_detail = column_formatters | {"buyer_fee": money_formatter("buyer_fee"),
                                                    "trade_id": link("market_trades", "trade_id")}

    def get_query(self):
        return db.session.query(Offer).options(
            selectinload(Offer.listing).selectinload(Listing.property).lazyload("*"),
            selectinload(Offer.buyer).lazyload("*"))


class TradeView(MarketView):
    """The tape: every trade, newest first."""

    list_template = "admin/market/tape.html"
    export_action = "market.trades_export"
    column_list = ("id", "settled_at", "property", "seller", "buyer", "units", "price_per_unit", "amount",
                   "buyer_fee", "seller_fee", "listing_id", "offer_id")
    column_sortable_list = ("id", "settled_at", "units", "price_per_unit", "amount")
    column_searchable_list = ("id", "property_id", "listing_id", "offer_id")  # exact ids, or either party
    investor_columns = ("seller_id", "buyer_id")
    column_default_sort = ("settled_at", True)
    column_labels = {"settled_at": "Settled", "price_per_unit": "Price (a unit)", "unit_price": "Nominal (a unit)",
                     "buyer_fee": "Buyer's fee", "seller_fee": "Seller's fee", "listing_id": "Listing",
                     "offer_id": "Offer", "entry_id": "Ledger entry", "seller_investment_id": "Seller's holding",
                     "buyer_investment_id": "Buyer's holding", "idempotency_key": "Idempotency key"}
    column_filters = (
        PropertyIs(Trade.property_id, "Property"),
        *time_filters(Trade.settled_at, "Settled"),
        EmailIs(Trade.buyer_id, "Buyer"),
        EmailIs(Trade.seller_id, "Seller"),
    )
    column_formatters = {"property": property_link, "seller": user_link("seller"), "buyer": user_link("buyer"),
                         "price_per_unit": money_formatter("price_per_unit"), "amount": money_formatter("amount"),
                         "buyer_fee": money_formatter("buyer_fee"), "seller_fee": money_formatter("seller_fee"),
                         "unit_price": money_formatter("unit_price"),
                         "listing_id": link("market_listings", "listing_id"),
                         "offer_id": link("market_offers", "offer_id")}
    column_details_list = ("id", "settled_at", "property", "seller", "buyer", "units", "unit_price",
                           "price_per_unit", "amount", "buyer_fee", "seller_fee", "listing_id", "offer_id",
                           "seller_investment_id", "buyer_investment_id", "entry_id", "idempotency_key")
    column_formatters_detail = column_formatters | {
        "seller_investment_id": link("investments", "seller_investment_id"),
        "buyer_investment_id": link("investments", "buyer_investment_id"),
        "entry_id": link("ledger_entries", "entry_id")}
    column_export_list = ("id", "settled_at", "property_id", "property", "seller", "buyer", "units", "currency",
                          "unit_price", "price_per_unit", "amount", "buyer_fee", "seller_fee", "listing_id",
                          "offer_id")
    column_formatters_export = {
        "settled_at": lambda v, c, m, n: m.settled_at.isoformat(timespec="seconds"),
        "property": lambda v, c, m, n: m.property.title, "seller": lambda v, c, m, n: m.seller.email,
        "buyer": lambda v, c, m, n: m.buyer.email, "unit_price": _export_money("unit_price"),
        "price_per_unit": _export_money("price_per_unit"), "amount": _export_money("amount"),
        "buyer_fee": _export_money("buyer_fee"), "seller_fee": _export_money("seller_fee")}

    def get_query(self):
        return db.session.query(Trade).options(selectinload(Trade.property).lazyload("*"),
                                               selectinload(Trade.seller).lazyload("*"),
                                               selectinload(Trade.buyer).lazyload("*"))

    def _chosen_property(self, filters) -> int | None:
        for index, _name, value in filters or ():
            flt = self._filters[index]
            if isinstance(flt, PropertyIs) and str(value).isdigit():
                return int(value)
        return None

    def render(self, template, **kwargs):
        if template == self.list_template:
            property_id = self._chosen_property(kwargs.get("active_filters"))
            p = db.session.get(Property, property_id) if property_id else None
            kwargs["chart"] = trade_chart(p, days=30) if p is not None else None
            kwargs["chart_property"] = p
        return super().render(template, **kwargs)


class MarketSettingsLink(MenuLink):
    """The market's settings are a group of the Money settings page (proposed and approved by two people)."""

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and has_permission(current_user, "settings.propose")


def register(admin) -> None:
    admin.add_view(ListingView(Listing, db, name="Listings", endpoint="market_listings",
                               category="Market"))
    admin.add_view(OfferView(Offer, db, name="Offers", endpoint="market_offers", category="Market"))
    admin.add_view(TradeView(Trade, db, name="Trade tape", endpoint="market_trades",
                             category="Market"))
    market_halts.register(admin)
    market_flags.register(admin)
    admin.add_link(MarketSettingsLink(name="Market settings", url="/admin/money_settings/#setting-market.seller_fee_bps",
                                      category="Market"))

