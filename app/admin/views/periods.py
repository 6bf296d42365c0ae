"""Finance → Periods: each month with its state (open, closed: by whom, when), the close of a month that has ended
(finance, periods.close), the trial balance each close froze with its export, and the reopening of the latest
closed month (admins only, periods.reopen: one proposes with a reason, a different one approves).
Finance → Trial balance: the live trial balance as of any date, and its export (reports.view, reports.export).
Every change goes through app.ledger's services (audited there); every export is audited here."""
from __future__ import annotations

from datetime import date

from flask import abort, request, url_for
from flask_admin import expose
from flask_login import current_user

from app.admin.base import SecureBaseView, refuse, requires, run_action
from app.auth.forms import SimpleForm
from app.core.audit import record
from app.core.csvfile import export_response
from app.core.db import unit_of_work
from app.core.errors import ValidationError
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.ledger.period_models import PeriodClose
from app.ledger.services import periods

FORMATS = ("csv", "xlsx")


def _csrf() -> None:
    if not SimpleForm().validate_on_submit():
        abort(400)


def _export(rows: list[periods.TrialRow], basename: str, action: str, target, after: dict):
    """The trial balance through the one escaping writer, audited (who, which, how many lines)."""
    if not has_permission(current_user, "reports.export"):
        refuse("reports.export")
    fmt = request.args.get("fmt", "csv")
    if fmt not in FORMATS:
        abort(400)
    with unit_of_work():
        record(action, actor=current_user._get_current_object(), target=target,
               after={**after, "format": fmt, "rows": len(rows)})
    return export_response(fmt, periods.TRIAL_BALANCE_HEADER, periods.export_rows(rows), basename,
                           sheet="Trial balance")


def _totals(rows: list[periods.TrialRow]) -> list[str]:
    return [Money(total, currency).display() for currency, total in sorted(periods.totals(rows).items())]


class PeriodsView(SecureBaseView):
    permission = "reports.view"

    @expose("/")
    def index(self):
        me = current_user._get_current_object()
        return self.render("admin/periods/index.html", months=periods.months(), closes=periods.closes(),
                           pending=periods.pending_reopens(), recent=periods.recent_reopens(),
                           through=periods.closed_through(), form=SimpleForm(), me=me,
                           can_close=has_permission(me, "periods.close"),
                           can_reopen=has_permission(me, "periods.reopen"),
                           can_export=has_permission(me, "reports.export"))

    def _close_record(self, close_id: int) -> PeriodClose:
        found = db.session.get(PeriodClose, close_id)
        if found is None:
            abort(404)
        return found

    @expose("/close/<int:close_id>")
    def trial_balance(self, close_id: int):
        found = self._close_record(close_id)
        rows = periods.frozen_trial_balance(found.id)
        return self.render("admin/periods/trial_balance.html", rows=rows, totals=_totals(rows), close=found,
                           as_of=found.month_end, can_export=has_permission(current_user, "reports.export"),
                           export_url=lambda fmt: url_for(".export", close_id=found.id, fmt=fmt))

    @expose("/close/<int:close_id>/export")
    def export(self, close_id: int):
        found = self._close_record(close_id)
        return _export(periods.frozen_trial_balance(found.id), f"trial-balance-{found.label}",
                       "periods.trial_balance_export", found,
                       {"month": found.label, "close_id": found.id, "as_of": found.month_end.isoformat()})

    @expose("/close", methods=["POST"])
    @requires("periods.close")
    def close(self):
        _csrf()
        month, reason = request.form.get("month"), request.form.get("reason")
        return run_action(lambda: periods.close(current_user._get_current_object(), month, reason),
                          lambda c: f"{c.label} is closed: its trial balance as of {c.month_end.isoformat()} is "
                                    "frozen; no entry may be dated in or before it any more.",
                          url_for(".index"))

    @expose("/close/<int:close_id>/reopen", methods=["POST"])
    @requires("periods.reopen")
    def propose_reopen(self, close_id: int):
        _csrf()
        reason = request.form.get("reason")
        return run_action(lambda: periods.propose_reopen(current_user._get_current_object(), close_id, reason),
                          lambda r: f"Reopening {r.close.label} proposed: a second admin must approve it.",
                          url_for(".index"))

    @expose("/reopen/<int:reopen_id>/approve", methods=["POST"])
    @requires("periods.reopen")
    def approve_reopen(self, reopen_id: int):
        _csrf()
        reason = request.form.get("reason")
        return run_action(lambda: periods.approve_reopen(current_user._get_current_object(), reopen_id, reason),
                          lambda r: f"{r.close.label} is open again; closing it again freezes a new trial balance.",
                          url_for(".index"))

    @expose("/reopen/<int:reopen_id>/refuse", methods=["POST"])
    @requires("periods.reopen")
    def refuse_reopen(self, reopen_id: int):
        _csrf()
        reason = request.form.get("reason")
        return run_action(lambda: periods.refuse_reopen(current_user._get_current_object(), reopen_id, reason),
                          lambda r: f"The reopening of {r.close.label} is refused; the month stays closed.",
                          url_for(".index"))


def _as_of() -> tuple[date, str | None]:
    raw = request.args.get("as_of")
    if not raw:
        return periods.today(), None
    try:
        return periods.parse_day(raw), None
    except ValidationError as exc:
        return periods.today(), exc.message


class TrialBalanceView(SecureBaseView):
    permission = "reports.view"

    @expose("/")
    def index(self):
        as_of, error = _as_of()
        rows = periods.trial_balance(as_of)
        return self.render("admin/periods/trial_balance.html", rows=rows, totals=_totals(rows), close=None,
                           as_of=as_of, error=error, can_export=has_permission(current_user, "reports.export"),
                           export_url=lambda fmt: url_for(".export", as_of=as_of.isoformat(), fmt=fmt))

    @expose("/export")
    def export(self):
        as_of, error = _as_of()
        if error:
            abort(400)
        return _export(periods.trial_balance(as_of), f"trial-balance-{as_of.isoformat()}",
                       "reports.trial_balance_export", ("trial_balance", as_of.isoformat()),
                       {"as_of": as_of.isoformat()})


def register(admin) -> None:
    admin.add_view(PeriodsView(name="Periods", endpoint="periods", category="Finance"))
    admin.add_view(TrialBalanceView(name="Trial balance", endpoint="trial_balance", category="Finance"))
