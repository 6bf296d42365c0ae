"""Your data and leaving: "Download my data" (ask, follow, download) and "Close my account"."""
from flask import flash, jsonify, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField
from wtforms.validators import DataRequired, Length

from app.account import services as account
from app.account.downloads import serve_export
from app.auth.forms import SimpleForm
from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict, DomainError, ValidationError
from app.extensions import limiter
from app.portal import bp

# what to do first for each thing that blocks a closing: the page that does it
FIRST_STEPS = {"money": "portal.payouts_index", "holdings": "portal.portfolio", "listings": "portal.market_index",
               "offers": "portal.market_index", "payouts": "portal.payouts_index", "deposits": "portal.wallet"}


class CloseAccountForm(FlaskForm):
    password = PasswordField(_l("Your password, to confirm"), validators=[DataRequired(), Length(max=128)])
    confirm = BooleanField(_l("I understand that closing my account cannot be undone."),
                           validators=[DataRequired(message=_l("Tick the box to confirm the closing."))])


@bp.get("/account/data")
def your_data():
    exports = account.exports_of(current_user.id)
    return render_template("portal/account/your_data.html", exports=exports, button=SimpleForm(), now=utcnow(),
                           preparing=account.in_progress(current_user.id))


@bp.post("/account/data/export")
@limiter.limit("5/hour")
def request_data_export():
    if not SimpleForm().validate_on_submit():
        return redirect(url_for("portal.your_data"))
    try:
        with unit_of_work():
            account.request_export(current_user)
    except Conflict:
        flash(_("An export of your data is already being prepared: wait until it is ready."), "warning")
        return redirect(url_for("portal.your_data"))
    flash(_("Your data is being prepared. This page shows when it is ready; we also let you know."), "success")
    return redirect(url_for("portal.your_data"))


@bp.get("/account/data/<int:export_id>/status.json")
def data_export_status(export_id: int):
    """The export's progress for the page's progress bar (templates/_progress.html); someone else's is a 404."""
    export = account.export_for_owner(export_id, current_user)
    response = jsonify({"id": export.id, "status": export.status, "percent": export.percent,
                        "done": export.sections_done, "total": export.sections_total, "label": _("Parts")})
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/account/data/<int:export_id>/download")
def download_data_export(export_id: int):
    export = account.export_for_owner(export_id, current_user)
    try:
        return serve_export(export)
    except account.Gone:
        flash(_("This download has expired: ask for a new export of your data."), "warning")
        return redirect(url_for("portal.your_data")), 303
    except Conflict:
        flash(_("This export is still being prepared."), "info")
        return redirect(url_for("portal.your_data"))


def _close_page(form: CloseAccountForm, status: int = 200):
    blockers = account.blockers(current_user)
    return render_template("portal/account/close.html", form=form, blockers=blockers, first_steps=FIRST_STEPS), status


@bp.get("/account/close")
def close_account():
    return _close_page(CloseAccountForm())


@bp.post("/account/close")
@limiter.limit("10/hour")
def close_account_submit():
    form = CloseAccountForm()
    if not form.validate_on_submit():
        return _close_page(form, 422)
    try:
        with unit_of_work():
            account.close_own_account(current_user, form.password.data)
    except ValidationError as exc:
        form.password.errors = [*form.password.errors, *(exc.errors or {}).get("password", [exc.message])]
        return _close_page(form, 422)
    except Conflict:
        return _close_page(form, 409)
    except DomainError as exc:
        flash(exc.message, "danger")
        return _close_page(form, exc.status)
    logout_user()
    session.clear()
    flash(_("Your account is closed. We sent a last message to your former address. Goodbye."), "success")
    return redirect(url_for("auth.login"))
