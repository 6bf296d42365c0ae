"""Market → Halts: every property open to resale (and any property halted) with its trading state, open listings,
live offers and last trade; finance and compliance (market.halt) halt or resume trading in one property with a
reason, through the market's services (audited there; halting releases every live offer and tells both sides)."""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from app.admin.base import SecureBaseView, requires, run_action
from app.auth.forms import SimpleForm
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.market import services as market
from app.market.models import OFFER_LIVE, OPEN, Listing, Offer, Trade, TradingHalt
from app.properties.models import Property

TRADABLE_STATUSES = ("active", "funded")


def _grouped(statement) -> dict[int, int]:
    return {pid: int(n) for pid, n in db.session.execute(statement).all()}


def halts_board() -> list[dict]:
    """One row per property open to resale or halted, in a fixed number of reads."""
    in_force = {h.property_id: h for h in db.session.scalars(
        select(TradingHalt).options(selectinload(TradingHalt.halted_by).lazyload("*"))
        .where(TradingHalt.resumed_at.is_(None)))}
    props = list(db.session.scalars(select(Property).where(or_(Property.resale_allowed.is_(True),
                                                               Property.id.in_(list(in_force))))
                                    .order_by(Property.title)))
    ids = [p.id for p in props]
    if not ids:
        return []
    listings = _grouped(select(Listing.property_id, func.count(Listing.id))
                        .where(Listing.property_id.in_(ids), Listing.status == OPEN).group_by(Listing.property_id))
    offers = _grouped(select(Listing.property_id, func.count(Offer.id)).join(Listing, Listing.id == Offer.listing_id)
                      .where(Listing.property_id.in_(ids), Offer.status.in_(OFFER_LIVE))
                      .group_by(Listing.property_id))
    last_ids = _grouped(select(Trade.property_id, func.max(Trade.id)).where(Trade.property_id.in_(ids))
                        .group_by(Trade.property_id))
    last = {t.property_id: t for t in db.session.scalars(select(Trade).where(Trade.id.in_(list(last_ids.values()))))}
    rows = []
    for p in props:
        halt = in_force.get(p.id)
        trade = last.get(p.id)
        if halt is not None:
            state = "halted"
        elif not p.resale_allowed:
            state = "resale not allowed"
        elif p.status in TRADABLE_STATUSES:
            state = "trading"
        else:
            state = f"closed ({p.status})"
        rows.append({"p": p, "halt": halt, "state": state, "open_listings": listings.get(p.id, 0),
                     "live_offers": offers.get(p.id, 0), "last_trade": trade,
                     "last_price": Money(trade.price_per_unit, trade.currency).display() if trade else ""})
    return rows


class HaltsView(SecureBaseView):
    permission = "market.view"

    @expose("/")
    def index(self):
        recent = list(db.session.scalars(
            select(TradingHalt).options(selectinload(TradingHalt.property).lazyload("*"),
                                        selectinload(TradingHalt.halted_by).lazyload("*"),
                                        selectinload(TradingHalt.resumed_by).lazyload("*"))
            .order_by(TradingHalt.id.desc()).limit(20)))
        return self.render("admin/market/halts.html", rows=halts_board(), recent=recent, form=SimpleForm(),
                           can_halt=has_permission(current_user, "market.halt"))

    def _act(self, property_id: int, func, message):
        if not SimpleForm().validate_on_submit():
            abort(400)
        if db.session.get(Property, property_id) is None:
            abort(404)
        reason = request.form.get("reason")
        return run_action(lambda: func(current_user._get_current_object(), property_id, reason), message,
                          url_for(".index"))

    @expose("/<int:property_id>/halt", methods=["POST"])
    @requires("market.halt")
    def halt(self, property_id: int):
        return self._act(property_id, market.halt,
                         lambda h: f"Trading in {h.property.title} is halted: its live offers are released and "
                                   "both sides are told.")

    @expose("/<int:property_id>/resume", methods=["POST"])
    @requires("market.halt")
    def resume(self, property_id: int):
        return self._act(property_id, market.resume, lambda h: f"Trading in {h.property.title} resumed.")


def register(admin) -> None:
    admin.add_view(HaltsView(name="Halts", endpoint="market_halts", category="Market"))
