"""Returns: the distribution runs (as-of, trigger, status, payments, totals, duration, error), a preview of what a
run would pay per property (what is funded, what waits) with a "Run now" action, and the funding shortfalls (due
return periods the distributions accounts do not cover, with a link to fund each property).
A run itself happens in the worker: "Run now" queues the same task the daily beat job runs."""
from __future__ import annotations

from datetime import date

from flask import abort, jsonify, request, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup, escape

from app.admin.base import SecureBaseView, SecureModelView, requires, run_action
from app.admin.list_search import IndexedSearch
from app.auth.forms import SimpleForm
from app.core import audit
from app.core.db import discard, enqueue_after_commit
from app.core.errors import ValidationError
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.investing import returns
from app.investing.models import DistributionRun
from app.ledger.services import platform_currency


def _money(field: str):
    def formatter(view, context, model, name):
        return Money(getattr(model, field) or 0, platform_currency()).display()

    return formatter


def _duration(view, context, model, name):
    return "" if model.duration_ms is None else f"{model.duration_ms / 1000:.1f} s"


def _status(view, context, model, name):
    tone = {"succeeded": "success", "failed": "danger", "running": "info"}.get(model.status, "secondary")
    return Markup(f'<span class="badge badge-{tone}">{escape(model.status)}</span>')


def _error(view, context, model, name):
    if not model.error:
        return ""
    short = model.error if len(model.error) <= 120 else model.error[:117] + "…"
    return Markup(f'<span class="text-danger small" title="{escape(model.error)}">{escape(short)}</span>')


class DistributionRunView(IndexedSearch, SecureModelView):
    permission = "returns.view"
    simple_list_pager = True
    list_template = "admin/distributions/runs.html"
    column_list = ("id", "as_of", "trigger", "actor", "status", "payments", "total", "capital", "batches",
                   "duration_ms", "started_at", "error")
    column_details_list = ("id", "as_of", "trigger", "actor", "status", "planned", "payments", "total", "capital",
                           "batches", "started_at", "finished_at", "duration_ms", "error")
    details_template = "admin/distributions/run_details.html"
    column_filters = ("status", "trigger", "as_of", "started_at")
    column_sortable_list = ("id", "as_of", "status", "payments", "total", "started_at")
    column_searchable_list = ("id",)  # the exact run (IndexedSearch)
    column_default_sort = ("id", True)
    column_labels = {"as_of": "As of", "total": "Returns", "duration_ms": "Duration", "actor": "Started by",
                     "planned": "Planned payments"}
    column_formatters = {"total": _money("total"), "capital": _money("capital"), "duration_ms": _duration,
                         "status": _status, "error": _error}
    column_formatters_detail = {"total": _money("total"), "capital": _money("capital"), "duration_ms": _duration,
                                "status": _status}

    @expose("/status/<int:run_id>")
    def status(self, run_id: int):
        """The run's progress (its counters, committed per batch), for the progress bar of its page."""
        run = db.session.get(DistributionRun, run_id)
        if run is None:
            abort(404)
        answer = jsonify(run.progress())
        discard()
        answer.headers["Cache-Control"] = "no-store"
        return answer


def _as_of(raw: str | None) -> date:
    if not raw:
        return returns.today()
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError("the as-of date must be a date (YYYY-MM-DD)",
                              {"as_of": ["Use the form YYYY-MM-DD."]}) from None


class ReturnsPreviewView(SecureBaseView):
    """The dry run: what a run as of a date would pay, per property, and the action that starts one."""

    permission = "returns.view"

    @expose("/")
    def index(self):
        try:
            as_of = _as_of(request.args.get("as_of"))
            problem = None
        except ValidationError as exc:
            as_of, problem = returns.today(), exc.message
        lines = returns.preview(as_of)
        discard()  # the preview's read ends here
        currency = platform_currency()
        totals = {"investors": sum(x.investors for x in lines), "payments": sum(x.payments for x in lines),
                  "returns": sum(x.returns for x in lines), "capital": sum(x.capital for x in lines),
                  "waiting_periods": sum(x.waiting_periods for x in lines),
                  "waiting_returns": sum(x.waiting_returns for x in lines)}
        running = db.session.scalar(db.select(DistributionRun).where(DistributionRun.status == "running")
                                    .order_by(DistributionRun.id.desc()).limit(1))
        return self.render("admin/distributions/preview.html", lines=lines, as_of=as_of, today=returns.today(),
                           totals=totals, problem=problem, running=running, form=SimpleForm(),
                           can_run=has_permission(current_user, "returns.run"),
                           money=lambda minor: Money(minor, currency).display())

    @expose("/run", methods=["POST"])
    @requires("returns.run")
    def run(self):
        if not SimpleForm().validate_on_submit():
            abort(400)
        back = url_for(".index", as_of=request.form.get("as_of") or None)

        def start():
            as_of = _as_of(request.form.get("as_of"))
            if as_of > returns.today():
                raise ValidationError("returns are paid on or after their due date: choose today or earlier",
                                      {"as_of": ["Not in the future."]})
            due = returns.preview(as_of)
            audit.record("returns.run", actor=current_user, after={
                "as_of": as_of.isoformat(), "properties": len(due), "payments": sum(x.payments for x in due),
                "returns": sum(x.returns for x in due), "capital": sum(x.capital for x in due),
                "waiting_periods": sum(x.waiting_periods for x in due),
                "waiting_returns": sum(x.waiting_returns for x in due)})
            enqueue_after_commit("investing.distribute_returns", as_of.isoformat(), "console", current_user.id)
            return as_of

        return run_action(start, lambda as_of: f"Distribution as of {as_of.isoformat()} started: its run appears "
                                               f"under Return runs.", back)


class ShortfallView(SecureBaseView):
    """Funding shortfalls: per property, the due return periods its distributions account does not cover."""

    permission = "returns.view"

    @expose("/")
    def index(self):
        rows = returns.shortfalls()
        discard()  # the read ends here
        currency = platform_currency()
        return self.render("admin/distributions/shortfalls.html", rows=rows,
                           total=sum(r.to_fund for r in rows), total_periods=sum(r.periods for r in rows),
                           total_needed=sum(r.needed for r in rows), money=lambda minor: Money(minor, currency).display(),
                           can_view_ledger=has_permission(current_user, "ledger.view"))


def register(admin) -> None:
    admin.add_view(DistributionRunView(DistributionRun, db, name="Return runs", endpoint="distribution_runs",
                                       category="Returns"))
    admin.add_view(ReturnsPreviewView(name="Preview and run", endpoint="returns_preview", category="Returns"))
    admin.add_view(ShortfallView(name="Distribution shortfalls", endpoint="returns_shortfalls", category="Returns"))
