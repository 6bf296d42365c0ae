"""The market as an investor sees it: open listings per property with their figures, one listing with the rule that
returns follow the units, buying outright and making an offer, each with a confirm step that shows every amount
(computed here, on the server) before anything happens."""
from __future__ import annotations

import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.core.money import Money, MoneyError
from app.extensions import limiter
from app.ledger import services as ledger
from app.ledger.services import platform_currency
from app.market import services as market
from app.market.models import OPEN
from app.portal import bp
from app.portal import market_data as data
from app.portal.market_forms import BuyForm, OfferForm, first_errors, parse_price, sentence

PER_PAGE = 20


def _price_arg(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip().replace(",", "")
    if not raw:
        return None
    try:
        return Money.parse(raw, platform_currency(), allow_zero=True).minor
    except MoneyError:
        return None


def _csrf(form) -> None:
    """A post without a valid CSRF token changes nothing."""
    if request.method == "POST" and not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400)


@bp.get("/market")
def market_index():
    property_id = request.args.get("property", type=int)
    min_price, max_price = _price_arg("min_price"), _price_arg("max_price")
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total, stats = data.listings_page(property_id=property_id, min_price=min_price, max_price=max_price,
                                            page=page, per_page=PER_PAGE)
    args = {k: v for k, v in (("property", property_id), ("min_price", request.args.get("min_price", "").strip()),
                              ("max_price", request.args.get("max_price", "").strip())) if v}
    return render_template("portal/market/index.html", rows=rows, total=total, stats=stats, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), args=args,
                           properties=data.properties_listed(), currency=platform_currency())


def _listing_or_404(listing_id: int):
    try:
        return market.get_listing(listing_id)
    except DomainError:
        abort(404)


def _render_listing(listing, *, buy=None, offer=None, buy_error=None, offer_error=None, status=200):
    own = listing.seller_id == current_user.id
    stats = data.figures(market.market_stats([listing.property_id]).get(listing.property_id), listing.currency)
    return render_template("portal/market/listing.html", listing=listing, r=data.row(listing), own=own,
                           p=listing.property, stats=stats, buy=buy or BuyForm(formdata=None),
                           offer=offer or OfferForm(formdata=None), buy_error=buy_error, offer_error=offer_error,
                           available=ledger.balance_of(current_user.id).available,
                           open=listing.status == OPEN, m=lambda minor: data.as_money(minor, listing.currency)), status


@bp.get("/market/listings/<int:listing_id>")
def market_listing(listing_id: int):
    return _render_listing(_listing_or_404(listing_id))


@bp.post("/market/listings/<int:listing_id>/buy")
@limiter.limit("30/minute")
def market_buy(listing_id: int):
    form = BuyForm()
    _csrf(form)
    listing = _listing_or_404(listing_id)
    if form.errors:
        return _render_listing(listing, buy=form, buy_error=_("Please correct the form."), status=422)
    units = form.units.data
    try:
        if form.confirm.data != "yes":
            market.check_buyer(current_user, listing, units)
            quote = market.quote(listing, units)
            balance = ledger.balance_of(current_user.id).available
            form.key.data = secrets.token_urlsafe(18)
            return render_template("portal/market/confirm_buy.html", listing=listing, form=form, quote=quote,
                                   m=lambda minor: data.as_money(minor, listing.currency), available=balance,
                                   after=balance - data.to_money(quote.buyer_total, listing.currency))
        with unit_of_work():
            trade = market.buy(current_user, listing_id, units, key=(form.key.data or "")[:64] or None,
                               ip=request.remote_addr)
    except DomainError as exc:
        return _render_listing(listing, buy=form, buy_error=sentence(exc.message), status=exc.status)
    flash(ngettext("You bought %(num)d unit of %(title)s for %(amount)s, the fee included.",
                   "You bought %(num)d units of %(title)s for %(amount)s, the fee included.", trade.units,
                   title=listing.property.title, amount=Money(trade.amount + trade.buyer_fee, trade.currency).local()),
          "success")
    if trade.buyer_investment_id:
        return redirect(url_for("portal.portfolio_holding", investment_id=trade.buyer_investment_id))
    return redirect(url_for("portal.portfolio"))


@bp.post("/market/listings/<int:listing_id>/offer")
@limiter.limit("30/minute")
def market_offer(listing_id: int):
    form = OfferForm()
    _csrf(form)
    listing = _listing_or_404(listing_id)
    errors = first_errors(form)
    try:
        price = parse_price(form.price.data, listing.currency)
    except MoneyError as exc:
        errors.setdefault("price", [sentence(str(exc))])
    if errors:
        form.price.errors = errors.get("price", [])
        return _render_listing(listing, offer=form, offer_error=_("Please correct the form."), status=422)
    units, message = form.units.data, (form.message.data or "").strip() or None
    try:
        if form.confirm.data != "yes":
            market.check_buyer(current_user, listing, units)
            quote = market.quote(listing, units, price.minor)
            balance = ledger.balance_of(current_user.id).available
            return render_template("portal/market/confirm_offer.html", listing=listing, form=form, quote=quote,
                                   m=lambda minor: data.as_money(minor, listing.currency), available=balance,
                                   after=balance - data.to_money(quote.buyer_total, listing.currency), price=price)
        with unit_of_work():
            offer = market.make_offer(current_user, listing_id, units, price, message=message)
    except DomainError as exc:
        return _render_listing(listing, offer=form, offer_error=sentence(exc.message), status=exc.status)
    flash(_("Your offer is made: %(amount)s is held from your wallet until the seller answers or the offer ends.",
            amount=Money(offer.held_amount, offer.currency).local()), "success")
    return redirect(url_for("portal.market_mine", _anchor="offers-made"))
