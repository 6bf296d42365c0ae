"""Statements: a year's, or any range of days, prepared by a task (its progress bar, templates/_progress.html, polls
a JSON status URL), then downloaded as a PDF or a CSV by their owner only."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, url_for
from flask_babel import get_locale, lazy_pgettext, pgettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import InputRequired

from app.account import statements
from app.account.statement_files import download
from app.account.statement_models import KIND_RANGE, KIND_YEAR, Statement
from app.auth.forms import SimpleForm
from app.core.db import unit_of_work
from app.core.errors import DomainError, NotFound
from app.extensions import limiter
from app.portal import bp

BADGE = {"queued": "secondary", "running": "info", "ready": "success", "failed": "danger"}


class RangeForm(FlaskForm):
    first = DateField(lazy_pgettext("statement", "From"),
                      validators=[InputRequired(lazy_pgettext("statement", "Enter the first day."))])
    last = DateField(lazy_pgettext("statement", "To"),
                     validators=[InputRequired(lazy_pgettext("statement", "Enter the last day."))])


def _locale() -> str:
    return str(get_locale() or "en")


def _mine(statement_id: int) -> Statement:
    try:
        return statements.for_owner(statement_id, current_user.id)
    except NotFound:
        abort(404)


def _page(form: RangeForm, status: int = 200):
    return render_template("portal/statements/index.html", form=form, button=SimpleForm(),
                           years=statements.activity_years(current_user.id),
                           rows=statements.statements_of(current_user.id), badge=BADGE), status


@bp.get("/statements")
def statements_index():
    return _page(RangeForm())


@bp.post("/statements")
@limiter.limit("30/hour")
def statements_request():
    form = RangeForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        with unit_of_work():
            statement, _created = statements.request_statement(current_user, form.first.data, form.last.data,
                                                               locale=_locale(), kind=KIND_RANGE)
    except DomainError as exc:
        for name, messages in (exc.errors or {}).items():
            field = form.first if name == "from" else form.last
            field.errors = list(field.errors or []) + list(messages)
        return _page(form, 400)
    return redirect(url_for("portal.statement_detail", statement_id=statement.id))


@bp.post("/statements/year/<int:year>")
@limiter.limit("30/hour")
def statements_year(year: int):
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        first, last = statements.year_range(year)
        with unit_of_work():
            statement, _created = statements.request_statement(current_user, first, last, locale=_locale(),
                                                               kind=KIND_YEAR)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("portal.statements_index"))
    return redirect(url_for("portal.statement_detail", statement_id=statement.id))


@bp.get("/statements/<int:statement_id>")
def statement_detail(statement_id: int):
    return render_template("portal/statements/detail.html", s=_mine(statement_id), badge=BADGE)


@bp.get("/statements/<int:statement_id>/status.json")
def statement_status(statement_id: int):
    s = _mine(statement_id)
    response = jsonify({"id": s.id, "status": s.status, "percent": s.percent, "done": s.progress_done,
                        "total": s.progress_total, "ready": s.is_ready,
                        "label": pgettext("statement", "Progress")})
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/statements/<int:statement_id>/statement.<any(pdf, csv):what>")
@limiter.limit("60/hour")
def statement_file(statement_id: int, what: str):
    try:
        return download(*statements.file_of(_mine(statement_id), what))
    except NotFound:
        abort(404)


def statement_status_label(status: str) -> str:
    return {"queued": pgettext("statement", "Waiting"), "running": pgettext("statement", "Being prepared"),
            "ready": pgettext("statement", "Ready"), "failed": pgettext("statement", "Failed")}.get(status, status)


bp.add_app_template_global(statement_status_label, "statement_status_label")
