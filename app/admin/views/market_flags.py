"""Market → Surveillance flags: trades that look wrong (shared sign-in addresses or devices, a price far from nominal
or from the last trade, units back to their seller within 30 days), open ones first, each with its trade and both
parties; compliance clears or escalates each with a note (audited), never on a trade they are a party to."""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import case, select
from sqlalchemy.orm import joinedload, selectinload

from app.admin.base import SecureModelView, range_filters, requires, run_action
from app.admin.list_search import IndexedSearch
from app.admin.views.market_common import StatusIs, details_url, time_filters
from app.auth.forms import SimpleForm
from app.core.money import Money
from app.extensions import db
from app.market import services as market
from app.market.models import FLAG_CLEARED, FLAG_ESCALATED, FLAG_KINDS, FLAG_OPEN, SurveillanceFlag, Trade
from app.market.surveillance import FLAG_TRANSITIONS, KIND_LABELS

FLAG_BADGE = {FLAG_OPEN: "danger", FLAG_ESCALATED: "warning", FLAG_CLEARED: "secondary"}


def _status(view, context, model, name):
    return Markup('<span class="badge badge-{}">{}</span>').format(FLAG_BADGE.get(model.status, "secondary"),
                                                                 model.status)


def _kind(view, context, model, name):
    return KIND_LABELS.get(model.kind, model.kind)


def _trade(view, context, model, name):
    t = model.trade
    return Markup('<a href="{}">#{}</a> {} × {}').format(
        details_url("market_trades", t.id), t.id, t.units, Money(t.price_per_unit, t.currency).display())


def _party(attribute: str):
    def formatter(view, context, model, name):
        user = getattr(model.trade, attribute)
        return Markup('<a href="{}">{}</a>').format(details_url("users", user.id), user.email)

    return formatter


def _property(view, context, model, name):
    p = model.trade.property
    return Markup('<a href="{}">{}</a>').format(details_url("properties", p.id), p.title)


def _reviewer(view, context, model, name):
    return model.reviewed_by.email if model.reviewed_by else ""


class FlagView(IndexedSearch, SecureModelView):
    permission = "market.surveillance"
    details_template = "admin/market/flag.html"
    column_auto_select_related = False
    column_list = ("id", "status", "created_at", "kind", "trade", "property", "seller", "buyer", "detail",
                   "reviewed_by", "reviewed_at")
    column_sortable_list = ("id", "created_at", "kind")
    column_searchable_list = ("id", "trade_id")  # the exact flag or trade
    column_default_sort = ("id", True)
    column_labels = {"created_at": "Raised", "reviewed_by": "Reviewed by", "reviewed_at": "Reviewed",
                     "review_note": "Note", "trade_id": "Trade"}
    column_filters = (
        StatusIs(SurveillanceFlag.status, "Status", statuses=(FLAG_OPEN, FLAG_ESCALATED, FLAG_CLEARED)),
        StatusIs(SurveillanceFlag.kind, "Kind", statuses=FLAG_KINDS),
        *range_filters(SurveillanceFlag.trade_id, "Trade", integer=True),
        *time_filters(SurveillanceFlag.created_at, "Raised"),
    )
    column_formatters = {"status": _status, "kind": _kind, "trade": _trade, "property": _property,
                         "seller": _party("seller"), "buyer": _party("buyer"), "reviewed_by": _reviewer}
    column_details_list = ("id", "status", "kind", "detail", "trade", "property", "seller", "buyer", "created_at",
                           "reviewed_by", "reviewed_at", "review_note")
    column_formatters_detail = column_formatters

    def get_query(self):
        trade = joinedload(SurveillanceFlag.trade)
        # open flags first, then escalated, then cleared, whatever the chosen order below that
        return (db.session.query(SurveillanceFlag)
                .options(trade.selectinload(Trade.property).lazyload("*"),
                         trade.selectinload(Trade.seller).lazyload("*"),
                         trade.selectinload(Trade.buyer).lazyload("*"),
                         selectinload(SurveillanceFlag.reviewed_by).lazyload("*"))
                .order_by(case((SurveillanceFlag.status == FLAG_OPEN, 0),
                               (SurveillanceFlag.status == FLAG_ESCALATED, 1), else_=2)))

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            flag = kwargs["model"]
            t = flag.trade
            kwargs.update(
                form=SimpleForm(), labels=KIND_LABELS, badge=FLAG_BADGE,
                others=list(db.session.scalars(select(SurveillanceFlag).where(
                    SurveillanceFlag.trade_id == t.id, SurveillanceFlag.id != flag.id).order_by(SurveillanceFlag.id))),
                party=current_user.id in (t.buyer_id, t.seller_id),
                outcomes=[s for s in (FLAG_ESCALATED, FLAG_CLEARED) if s in FLAG_TRANSITIONS[flag.status]],
                money=lambda minor, c=t.currency: Money(int(minor or 0), c).display())
        return super().render(template, **kwargs)

    @expose("/<int:flag_id>/review", methods=["POST"])
    @requires("market.surveillance")
    def review(self, flag_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        if db.session.get(SurveillanceFlag, flag_id) is None:
            abort(404)
        outcome, note = request.form.get("outcome", ""), request.form.get("note")
        return run_action(lambda: market.review_flag(current_user._get_current_object(), flag_id, outcome, note),
                          lambda f: f"Flag #{f.id} {f.status}.", url_for(".details_view", id=flag_id))


def register(admin) -> None:
    admin.add_view(FlagView(SurveillanceFlag, db, name="Surveillance flags", endpoint="market_flags",
                            category="Market"))
