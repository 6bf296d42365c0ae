"""Selling and answering on the market: listing units of a holding (with the seller's fee and net proceeds shown
before confirming), "my listings" and "my offers" (made and received), and the answers to an offer: accept, reject,
counter, decline a counter, withdraw. A refusal is shown as a message and changes nothing."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.core.db import unit_of_work, utcnow
from app.core.errors import DomainError
from app.core.money import Money, MoneyError
from app.extensions import limiter
from app.investing import portfolio as folio
from app.market import services as market
from app.portal import bp
from app.portal import market_data as data
from app.portal.market_forms import (
    AnswerForm,
    CounterForm,
    SellForm,
    first_errors,
    form_message,
    parse_price,
    sentence,
)
from app.settings.services import value as setting

LISTING_DAYS_MAX = 365


def _holding_or_404(investment_id: int) -> folio.Holding:
    try:
        return folio.holding(current_user.id, investment_id, upcoming_limit=1)
    except DomainError:
        abort(404)


def _render_sell(h, form, *, error=None, quote=None, status=200):
    inv = h.investment
    cur = inv.currency
    low, high = market.price_band(inv.property.unit_price)
    return render_template("portal/market/sell.html", h=h, inv=inv, p=inv.property, form=form, error=error,
                           quote=quote, m=lambda minor: data.as_money(minor, cur), low=data.as_money(low, cur),
                           high=data.as_money(high, cur), nominal=Money(inv.property.unit_price, cur),
                           available_units=(inv.units or 0) - (inv.units_listed or 0),
                           blocked=data.sell_state(inv)), status


@bp.route("/market/sell/<int:investment_id>", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def market_sell(investment_id: int):
    h = _holding_or_404(investment_id)
    inv = h.investment
    default_days = int(setting("market.listing_days") or 30)
    form = SellForm()
    if request.method == "GET":
        form = SellForm(formdata=None, units=(inv.units or 0) - (inv.units_listed or 0),
                        price=Money(inv.property.unit_price, inv.currency).amount_str(),
                        expires_on=utcnow().date() + timedelta(days=default_days))
        return _render_sell(h, form)
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400)
    errors = first_errors(form)
    try:
        price = parse_price(form.price.data, inv.currency)
    except MoneyError as exc:
        errors.setdefault("price", [sentence(str(exc))])
    expires_at = None
    if form.expires_on.data:
        today = utcnow().date()
        if not today < form.expires_on.data <= today + timedelta(days=LISTING_DAYS_MAX):
            errors.setdefault("expires_on", [f"Choose a day after today and within {LISTING_DAYS_MAX} days."])
        else:  # the end of that day, UTC
            expires_at = datetime.combine(form.expires_on.data + timedelta(days=1), time(), tzinfo=UTC)
    if errors:
        for name, messages in errors.items():
            getattr(form, name).errors = messages
        return _render_sell(h, form, error=_("Please correct the form."), status=422)
    units = form.units.data
    try:
        if form.confirm.data != "yes":
            market.check_listable(current_user, inv, units, price)
            return _render_sell(h, form, quote=market.listing_quote(inv, units, price.minor))
        with unit_of_work():
            listing = market.create_listing(current_user, investment_id, units, price, expires_at)
    except DomainError as exc:
        return _render_sell(h, form, error=sentence(exc.message), status=exc.status)
    flash(ngettext("Listed %(num)d unit of %(title)s at %(price)s per unit.",
                   "Listed %(num)d units of %(title)s at %(price)s per unit.", listing.units,
                   title=inv.property.title, price=Money(listing.price_per_unit, listing.currency).local()),
          "success")
    return redirect(url_for("portal.market_listing", listing_id=listing.id))


@bp.get("/market/mine")
def market_mine():
    offers, listings, trades = (market.offers_of(current_user), market.listings_of(current_user),
                                market.trades_of(current_user)[:20])
    loaded = data.preload(offers=offers, listings=listings, trades=trades)
    made = [o for o in offers if o.buyer_id == current_user.id]
    received = [o for o in offers if o.buyer_id != current_user.id]
    quotes = {o.id: data.counter_terms(o) for o in made if o.status == "countered"}
    return render_template("portal/market/mine.html", listings=listings, made=made,
                           received=received, counter_quotes=quotes, answer=AnswerForm(formdata=None),
                           counter=CounterForm(formdata=None), m=data.as_money,
                           pct=data.percent_of_nominal, trades=trades,
                           side=lambda t: market.trade_side(t, current_user), loaded=loaded)


def _done(message: str):
    flash(message, "success")
    return redirect(url_for("portal.market_mine"))


def _refused(exc: DomainError):
    if exc.status == 404:
        abort(404)
    flash(sentence(exc.message), "error")
    return redirect(url_for("portal.market_mine"))


def _answer_form(form_class=AnswerForm):
    form = form_class()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400)
    return form, (form.message.data or "").strip() or None


@bp.post("/market/listings/<int:listing_id>/cancel")
def market_cancel(listing_id: int):
    form, _unused = _answer_form()
    if form.errors:
        flash(form_message(form), "error")
        return redirect(url_for("portal.market_mine"))
    try:
        with unit_of_work():
            listing = market.cancel_listing(current_user, listing_id, "cancelled by the seller")
    except DomainError as exc:
        return _refused(exc)
    return _done(f"Listing #{listing.id} cancelled: its unsold units are yours to keep or list again, and any "
                 f"offers on it were released.")


def _offer_action(offer_id: int, action: str):
    form, message = _answer_form()
    if form.errors:
        flash(form_message(form), "error")
        return redirect(url_for("portal.market_mine"))
    try:
        with unit_of_work():
            if action == "accept":
                trade = market.accept_offer(current_user, offer_id, message=message)
            elif action == "reject":
                offer = market.reject_offer(current_user, offer_id, message=message)
            else:
                offer = market.withdraw_offer(current_user, offer_id)
    except DomainError as exc:
        return _refused(exc)
    if action == "accept":
        if trade.buyer_id == current_user.id:
            flash(ngettext("You bought %(num)d unit for %(amount)s, the fee included.",
                           "You bought %(num)d units for %(amount)s, the fee included.", trade.units,
                           amount=Money(trade.amount + trade.buyer_fee, trade.currency).local()), "success")
            return redirect(url_for("portal.portfolio_holding", investment_id=trade.buyer_investment_id)
                            if trade.buyer_investment_id else url_for("portal.market_mine"))
        return _done(ngettext("Offer accepted: you sold %(num)d unit and received %(amount)s after the fee.",
                              "Offer accepted: you sold %(num)d units and received %(amount)s after the fee.",
                              trade.units, amount=Money(trade.amount - trade.seller_fee, trade.currency).local()))
    if action == "reject":
        return _done(_("Offer #%(id)s declined: the buyer's money is released.", id=offer.id)
                     if offer.buyer_id == current_user.id else
                     _("Offer #%(id)s rejected: the buyer's money is released.", id=offer.id))
    return _done(_("Offer #%(id)s withdrawn: the money held for it is back in your wallet.", id=offer.id))


@bp.post("/market/offers/<int:offer_id>/accept")
def market_offer_accept(offer_id: int):
    return _offer_action(offer_id, "accept")


@bp.post("/market/offers/<int:offer_id>/reject")
def market_offer_reject(offer_id: int):
    return _offer_action(offer_id, "reject")


@bp.post("/market/offers/<int:offer_id>/withdraw")
def market_offer_withdraw(offer_id: int):
    return _offer_action(offer_id, "withdraw")


@bp.post("/market/offers/<int:offer_id>/counter")
def market_offer_counter(offer_id: int):
    form, message = _answer_form(CounterForm)
    try:
        offer = market.get_offer_for(current_user, offer_id)
        if form.errors:
            flash(form_message(form), "error")
            return redirect(url_for("portal.market_mine"))
        price = parse_price(form.price.data, offer.currency)
        with unit_of_work():
            offer = market.counter_offer(current_user, offer_id, price, message=message)
    except MoneyError as exc:
        flash(sentence(str(exc)), "error")
        return redirect(url_for("portal.market_mine"))
    except DomainError as exc:
        return _refused(exc)
    return _done(_("Counter-offer sent for offer #%(id)s: %(price)s per unit.", id=offer.id,
                   price=Money(offer.counter_price_per_unit or offer.price_per_unit, offer.currency).local()))
