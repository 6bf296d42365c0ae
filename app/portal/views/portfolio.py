"""Investing from the property page and the portfolio (holdings, installments, the return calendar, returns by
month)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.forms import SimpleForm
from app.core.charts import nice_ceiling
from app.core.db import unit_of_work, utcnow
from app.core.errors import DomainError
from app.core.money import Money, MoneyError
from app.extensions import db, limiter
from app.investing import portfolio as folio
from app.investing import services as investing
from app.investing.declared import paid_shares_for
from app.ledger import services as ledger
from app.ledger.services import platform_currency
from app.portal import bp, market_data
from app.portal.views.property_page import invest_panel, render_detail
from app.properties import services as properties

PER_PAGE = 25
UPCOMING_SHOWN = 24  # unpaid periods listed on a holding's page (a lifetime calendar runs 25 years ahead)

# investing from the property page ---------------------------------------------------------------------------------
def _parse_amount(text: str, currency: str) -> Money:
    """The form's amount: thousands separators and spaces are fine here; the rest as the API."""
    cleaned = text.replace(",", "").replace(" ", "").replace("\u00a0", "")
    if not cleaned:
        raise MoneyError(_("Enter an amount."))
    return Money.parse(cleaned, currency)


@bp.post("/properties/<slug>/invest")
@limiter.limit("30/minute")
def property_invest(slug: str):
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        p = properties.by_slug_or_id(slug, viewer=current_user)
    except DomainError:
        abort(404)
    values: dict[str, Any] = {"amount": (request.form.get("amount") or "").strip()[:40],
                              "acknowledge": request.form.get("acknowledge") == "yes"}
    version = (request.form.get("documents_version") or "").strip()[:64] or None
    errors: dict = {}
    message, status = None, 422
    amount = None
    try:
        amount = _parse_amount(values["amount"], p.currency)
    except MoneyError as exc:
        text = str(exc)
        errors["amount"] = [text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")]
    if not values["acknowledge"]:
        errors["acknowledge"] = [_("Confirm you have read the offering documents and terms.")]
    if not errors and amount is not None:  # no error: the amount was read
        try:
            with unit_of_work():
                inv = investing.invest(current_user, p.id, amount, acknowledged=True, documents_version=version,
                                       ip=request.remote_addr)
        except DomainError as exc:
            message, status, errors = exc.message, exc.status, dict(exc.errors or {})
            db.session.refresh(p)
        else:
            paid = Money(inv.paid_amount, inv.currency)
            invested = Money(inv.amount, inv.currency).local()
            flash(_("You invested %(amount)s in %(title)s: %(paid)s paid now, the rest in installments.",
                    amount=invested, title=p.title, paid=paid.local()) if inv.paid_amount < inv.amount
                  else _("You invested %(amount)s in %(title)s.", amount=invested, title=p.title), "success")
            return redirect(url_for("portal.portfolio_holding", investment_id=inv.id))
    message = message or _("Please correct the form.")
    message = message[0].upper() + message[1:]
    return render_detail(p, invest=invest_panel(p, values=values, errors=errors, message=message), status=status)


# the portfolio ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chart:
    """A bar chart of returns by month, drawn as SVG on the server (no script, nothing from elsewhere)."""

    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    bars: list
    ticks: list
    empty: bool


def returns_chart(months: list[folio.MonthTotal]) -> Chart:
    width, height, left, right, top, bottom = 720, 240, 72, 12, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((m.amount.minor for m in months), default=0)
    ceiling = nice_ceiling(peak)
    slot = plot_w / max(len(months), 1)
    bar_w = slot * 0.62
    bars = []
    for i, m in enumerate(months):
        h = plot_h * m.amount.minor / ceiling
        bars.append({"x": round(left + i * slot + (slot - bar_w) / 2, 1), "y": round(top + plot_h - h, 1),
                     "w": round(bar_w, 1), "h": round(h, 1), "cx": round(left + i * slot + slot / 2, 1),
                     "label": format_date(m.month, "LLL"),
                     "title": f"{format_date(m.month, 'LLL y')}: {m.amount.local()}",
                     "year": m.month.strftime("%Y") if (i == 0 or m.month.month == 1) else "",
                     "amount": m.amount})
    currency = months[0].amount.currency if months else platform_currency()
    ticks = [{"y": round(top + plot_h - plot_h * k / 4, 1),
              "label": format_decimal(Money(ceiling * k // 4, currency).to_decimal(), "#,##0")} for k in range(5)]
    return Chart(width, height, left, top, plot_w, plot_h, bars, ticks, peak == 0)


@bp.get("/portfolio")
def portfolio():
    currency = platform_currency()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    show = request.args.get("show") if request.args.get("show") in ("live", "closed") else None
    rows, total = folio.holdings(current_user.id, page=page, per_page=PER_PAGE, status=show)
    months = folio.returns_by_month(current_user.id, currency)
    return render_template("portal/portfolio/index.html", summary=folio.summary(current_user.id, currency),
                           declared_shares=paid_shares_for(current_user.id, limit=12),
                           holdings=rows, total=total, page=page, pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
                           chart=returns_chart(months), months=months, show=show,
                           received_12m=Money(sum(m.amount.minor for m in months), currency),
                           today=utcnow().date())


def _holding_or_404(investment_id: int) -> folio.Holding:
    try:
        return folio.holding(current_user.id, investment_id, upcoming_limit=UPCOMING_SHOWN)
    except DomainError:
        abort(404)


@bp.get("/portfolio/<int:investment_id>")
def portfolio_holding(investment_id: int):
    h = _holding_or_404(investment_id)
    fees = folio.installment_fees(h)
    due = h.due_installments
    paid_periods, unpaid_periods = folio.calendar_size(h.id)
    return render_template(
        "portal/portfolio/holding.html", h=h, inv=h.investment, p=h.investment.property, fees=fees, form=SimpleForm(),
        declared_shares=paid_shares_for(current_user.id, investment_id=h.id),
        next_due=(Money(due[0].amount + fees.get(due[0].index, 0), h.currency) if due else None),
        all_due=(Money(sum(i.amount + fees.get(i.index, 0) for i in due), h.currency) if due else None),
        hidden_periods=max(unpaid_periods - UPCOMING_SHOWN, 0), paid_periods=paid_periods,
        available=ledger.balance_of(current_user.id).available, today=utcnow().date(),
        sell_blocked=market_data.sell_state(h.investment), market=market_data.holding_market(h.investment))


@bp.post("/portfolio/<int:investment_id>/pay")
@limiter.limit("30/minute")
def portfolio_pay(investment_id: int):
    if not SimpleForm().validate_on_submit():
        abort(400)
    all_remaining = request.form.get("all") == "1"
    try:
        with unit_of_work():
            paid = investing.pay_installments(current_user, investment_id, all_remaining=all_remaining)
    except DomainError as exc:
        if exc.status == 404:
            abort(404)
        flash(exc.message[0].upper() + exc.message[1:] + ".", "error")
    else:
        total = Money(sum(i.amount + i.late_fee for i in paid), paid[0].investment.currency)
        flash(_("Paid installment %(index)s: %(amount)s from your wallet.", index=paid[0].index, amount=total.local())
              if len(paid) == 1 else
              _("Paid installments %(first)s to %(last)s: %(amount)s from your wallet.", first=paid[0].index,
                last=paid[-1].index, amount=total.local()), "success")
    return redirect(url_for("portal.portfolio_holding", investment_id=investment_id))
