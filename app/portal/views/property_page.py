"""The property page as an investor sees it: the offering (presenters.detail) with the invest form, used by the
catalogue's detail view and by the invest view when it shows the form again with its errors."""
from __future__ import annotations

from flask import render_template
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.forms import SimpleForm
from app.core.db import utcnow
from app.core.money import Money, MoneyError
from app.investing import portfolio as folio
from app.investing import services as investing
from app.kyc.services import INVEST, missing_for
from app.ledger import services as ledger
from app.properties import presenters
from app.properties import services as properties


def render_detail(p, *, invest: dict | None = None, status: int = 200):
    """The detail page, with the invest form (its values and errors after a refused investment)."""
    data = properties.cached("detail", {"id": p.id, "status": p.status}, lambda: presenters.detail(p)) \
        if p.status in properties.PUBLIC_STATUSES else presenters.detail(p)
    return render_template("portal/properties/detail.html", p=data, form=SimpleForm(),
                           following=properties.is_following(p.id, current_user.id),
                           invest=invest or invest_panel(p)), status


def _open_state(p) -> str | None:
    """Why the property takes no investment now, or None when it does."""
    now = utcnow()
    if p.status != "active":
        return {"funded": _("Fully funded: this offering takes no more investments."),
                "completed": _("This offering is completed."),
                "cancelled": _("This offering was cancelled.")}.get(p.status, _("This offering is not open."))
    if p.funding_starts_at and now < p.funding_starts_at:
        return _("Funding opens on %(date)s.", date=format_date(p.funding_starts_at, "long"))
    if p.funding_ends_at and now >= p.funding_ends_at:
        return _("Funding closed on %(date)s.", date=format_date(p.funding_ends_at, "long"))
    if p.remaining_amount <= 0:
        return _("Fully funded: this offering takes no more investments.")
    return None


def invest_panel(p, *, values: dict | None = None, errors: dict | None = None, message: str | None = None) -> dict:
    """What the invest form on the property page needs: the terms, the documents and their version, the wallet,
    and whether this investor can invest now."""
    cur = p.currency
    fixed = Money(p.fixed_amount, cur) if p.fixed_amount else None
    count = p.installments_count or 1
    values = values or {}
    amount_text = values.get("amount", fixed.amount_str() if fixed else "")
    first = None
    if count > 1:
        try:
            first = Money(investing.first_installment(p, Money.parse(amount_text, cur).minor), cur)
        except (MoneyError, ValueError):
            first = None
    held = folio.held_in(current_user.id, p.id)
    return {
        "closed": _open_state(p),
        "verified": current_user.email_verified,
        "kyc_missing": [f.name for f in missing_for(current_user.id, INVEST)] if current_user.email_verified else [],
        "available": ledger.balance_of(current_user.id).available,
        "fixed": fixed,
        "min": Money(p.min_investment, cur) if p.min_investment and not fixed else None,
        "max": Money(p.max_investment, cur) if p.max_investment and not fixed else None,
        "remaining": Money(p.remaining_amount, cur),
        "currency": cur,
        "installments": count if count > 1 else None,
        "installment_every": _every(p.installment_interval, p.installment_unit) if count > 1 else None,
        "late_fee": Money(p.late_fee, cur) if p.late_fee else None,
        "first": first,
        "documents": [{"id": d.id, "title": d.title, "pages": d.pages} for d in p.documents],
        "documents_version": investing.offering_version(p),
        "entered": {"amount": amount_text, "acknowledge": bool(values.get("acknowledge"))},
        "errors": errors or {},
        "message": message,
        "held": held,
        "slug": p.slug,
    }


def _every(interval: int | None, unit: str | None) -> str:
    """"month", "2 months", "30 days"."""
    singular = (unit or "months").removesuffix("s")
    return singular if (interval or 1) == 1 else f"{interval} {singular}s"
