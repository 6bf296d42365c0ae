"""The investor's catalogue: browse, search, read the terms in plain words, follow, download offering documents."""
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.forms import SimpleForm
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.core.money import Money, MoneyError
from app.core.storage import get_storage
from app.ledger.services import platform_currency
from app.portal import bp
from app.portal.views.property_page import render_detail
from app.properties import presenters
from app.properties import services as properties
from app.properties.models import TYPES

PER_PAGE = 12


def _amount(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return Money.parse(raw, platform_currency(), allow_zero=True).minor
    except MoneyError:
        return None


@bp.get("/properties")
def catalogue():
    args = {"q": (request.args.get("q") or "").strip()[:200] or None,
            "property_type": request.args.get("type") if request.args.get("type") in TYPES else None,
            "city": (request.args.get("city") or "").strip()[:100] or None,
            "country": (request.args.get("country") or "").strip()[:2] or None,
            "min_amount": _amount("min_amount"), "max_amount": _amount("max_amount"),
            "status": request.args.get("status") if request.args.get("status") in properties.PUBLIC_STATUSES else None,
            "sort": request.args.get("sort") if request.args.get("sort") in properties.SORTS else "newest",
            "page": max(request.args.get("page", 1, type=int) or 1, 1), "per_page": PER_PAGE}

    def build():
        rows, total = properties.search(**args)
        return {"items": [presenters.summary(p) for p in rows], "total": total}

    data = properties.cached("portal-list", args, build, replica=True)
    pages = max((data["total"] + PER_PAGE - 1) // PER_PAGE, 1)
    return render_template("portal/properties/catalogue.html", items=data["items"], total=data["total"],
                           page=args["page"], pages=pages, args=request.args, types=TYPES, sorts=properties.SORTS)


@bp.get("/properties/<slug>")
def property_detail(slug: str):
    try:
        p = properties.by_slug_or_id(slug, viewer=current_user)
    except DomainError:
        abort(404)
    return render_detail(p)


@bp.post("/properties/<slug>/follow")
def property_follow(slug: str):
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        p = properties.by_slug_or_id(slug, viewer=current_user)
    except DomainError:
        abort(404)
    with unit_of_work():
        if properties.is_following(p.id, current_user.id):
            properties.unfollow(p, current_user)
            flash(_("You no longer follow %(title)s.", title=p.title), "info")
        else:
            properties.follow(p, current_user)
            flash(_("You follow %(title)s: we will tell you when its status changes.", title=p.title), "success")
    return redirect(url_for("portal.property_detail", slug=p.slug))


@bp.get("/properties/documents/<int:document_id>")
def property_document(document_id: int):
    try:
        with unit_of_work():  # the download log
            document = properties.document_for_download(document_id, current_user, request.remote_addr)
    except DomainError:
        abort(404)
    storage = get_storage()
    name = f"{document.property.slug}-{document.id}.pdf"
    url = storage.presigned_url(document.storage_key, expires_in=60, filename=name, content_type="application/pdf",
                                inline=False)
    if url:
        return redirect(url)
    response = Response(storage.get(document.storage_key), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
