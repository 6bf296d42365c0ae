"""What the Market pages share: links to a record's page, status badges and the filters by property, party and
status (indexed columns only)."""
from __future__ import annotations

from flask import g, url_for
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from markupsafe import Markup
from sqlalchemy import or_, select

from app.admin.time_filters import time_filters  # noqa: F401 - the market views import it from here
from app.auth.models import User
from app.extensions import db
from app.market.models import Listing, Offer
from app.properties.models import Property


def details_url(endpoint: str, record_id: int) -> str:
    """url_for(f"{endpoint}.details_view", id=...), its base built once a request (a list page makes many)."""
    bases = g.setdefault("_market_details_urls", {})
    if endpoint not in bases:
        bases[endpoint] = url_for(f"{endpoint}.details_view")
    return f"{bases[endpoint]}?id={int(record_id)}"


def user_link(attribute: str):
    def formatter(view, context, model, name):
        user = getattr(model, attribute)
        return Markup('<a href="{}">{}</a>').format(details_url("users", user.id), user.email)

    return formatter


def property_link(view, context, model, name):
    p = model.listing.property if isinstance(model, Offer) else model.property
    return Markup('<a href="{}">{}</a>').format(details_url("properties", p.id), p.title)


def link(endpoint: str, attribute: str):
    def formatter(view, context, model, name):
        value = getattr(model, attribute)
        return "" if value is None else Markup('<a href="{}">#{}</a>').format(details_url(endpoint, value), value)

    return formatter


def badge(badges: dict[str, str]):
    def formatter(view, context, model, name):
        return Markup('<span class="badge badge-{}">{}</span>').format(badges.get(model.status, "secondary"),
                                                                     model.status)

    return formatter


def property_options():
    """Properties open to resale or with market records."""
    return [(str(i), title) for i, title in db.session.execute(
        select(Property.id, Property.title).where(or_(Property.resale_allowed.is_(True),
                                                      Property.id.in_(select(Listing.property_id))))
        .order_by(Property.title))]


class PropertyIs(BaseSQLAFilter):
    """The record's property; the options are read per request (LiveFilterOptions)."""

    def __init__(self, column, name, *, through_listing: bool = False):
        super().__init__(column, name)
        self.through_listing = through_listing

    def apply(self, query, value, alias=None):
        if self.through_listing:
            return query.filter(Offer.listing_id.in_(select(Listing.id).where(Listing.property_id == value)))
        return query.filter(self.column == value)

    def operation(self):
        return "is"

    def validate(self, value):
        return str(value).isdigit()

    def clean(self, value):
        return int(value)

    def live_options(self):
        return property_options()


class EmailIs(BaseSQLAFilter):
    """A party by their whole e-mail address (the users' unique index answers it)."""

    def apply(self, query, value, alias=None):
        return query.filter(self.column.in_(select(User.id).where(User.email == value.strip().lower())))

    def operation(self):
        return "e-mail is"


class StatusIs(BaseSQLAFilter):
    def __init__(self, column, name, *, statuses):
        super().__init__(column, name, options=[(s, s) for s in statuses])
        self.statuses = statuses

    def apply(self, query, value, alias=None):
        return query.filter(self.column == value)

    def operation(self):
        return "is"

    def validate(self, value):
        return value in self.statuses


