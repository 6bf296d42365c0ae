"""Finance → Reports and Finance → Account statement (reports.view): each report over a month range as a
server-drawn chart with its table beside it, and any ledger account's statement between two dates. Exports, CSV or
XLSX through the one escaping writer, need reports.export and are audited. A range that cannot be read is a 400 page
that says why, never a 500."""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_login import current_user

from app.admin.base import SecureBaseView, refuse
from app.admin.views.reports_chart import bar_chart
from app.core import audit
from app.core.csvfile import export_response
from app.core.db import discard, unit_of_work
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.finance import account_statements, reports
from app.ledger.models import Account

FORMATS = ("csv", "xlsx")
STATEMENT_EXPORT_LIMIT = 100_000


def _page_number() -> int:
    try:
        return max(0, int(request.args.get("page", "0")))
    except ValueError:
        return 0


def _may_export() -> None:
    """An export (a GET download, so not a @requires action, which are POST-only) needs reports.export."""
    if not has_permission(current_user, "reports.export"):
        refuse("reports.export")


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        abort(400, description="export as csv or xlsx")
    return fmt


class ReportsView(SecureBaseView):
    permission = "reports.view"

    def _range(self) -> reports.Months:
        return reports.months(request.args.get("from"), request.args.get("to"))

    @expose("/")
    def index(self):
        return self.render("admin/reports/index.html", titles=reports.TITLES, monthly=reports.MONTHLY)

    @expose("/<key>/")
    def report(self, key: str):
        if key not in reports.TITLES:
            abort(404)
        try:
            r = self._range()
        except reports.BadRange as exc:
            return self.render("admin/reports/report.html", key=key, title=reports.TITLES[key], error=str(exc),
                               form={"from": request.args.get("from", ""), "to": request.args.get("to", "")},
                               monthly=key in reports.MONTHLY, report=None, chart=None, can_export=False), 400
        report = reports.build(key, r)
        return self.render("admin/reports/report.html", key=key, title=report.title, report=report, error=None,
                           chart=bar_chart(report), form=r.args, range=r, monthly=key in reports.MONTHLY,
                           can_export=has_permission(current_user, "reports.export"))

    @expose("/<key>/export/<fmt>")
    def export(self, key: str, fmt: str):
        _may_export()
        if key not in reports.TITLES:
            abort(404)
        fmt = _format(fmt)
        try:
            r = self._range()
        except reports.BadRange as exc:
            abort(400, description=str(exc))
        report = reports.build(key, r)
        rows = list(report.export_rows())
        discard()  # the report only read: the audit record is the unit's only write
        with unit_of_work():
            audit.record("reports.export", target=("report", None), after={
                "report": key, "format": fmt, "rows": len(rows),
                **({"from": r.args["from"], "to": r.args["to"]} if key in reports.MONTHLY else {})})
        suffix = f"-{r.args['from']}-{r.args['to']}" if key in reports.MONTHLY else ""
        return export_response(fmt, report.header, rows, f"{key}{suffix}", sheet=report.title[:31])


class StatementView(SecureBaseView):
    """Any ledger account between two days: opening balance, the lines a page at a time, closing balance."""

    permission = "reports.view"

    def _account(self) -> Account | None:
        raw = request.args.get("account", "").strip()
        if not raw:
            return None
        if len(raw) > 120:
            abort(404, description="no such account")
        account = db.session.get(Account, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 19 else \
            db.session.query(Account).filter(Account.code == raw).one_or_none()
        if account is None:
            abort(404, description="no such account")
        return account

    def _dates(self):
        return account_statements.statement_range(request.args.get("from"), request.args.get("to"))

    @expose("/")
    def index(self):
        account = self._account()
        form = {"account": request.args.get("account", ""), "from": request.args.get("from", ""),
                "to": request.args.get("to", "")}
        try:
            first, last = self._dates()
        except reports.BadRange as exc:
            return self.render("admin/reports/statement.html", error=str(exc), form=form, st=None,
                               account=account, can_export=False), 400
        form.update({"from": first.isoformat(), "to": last.isoformat()})
        st = account_statements.statement(account, first, last, page=_page_number()) if account is not None else None
        return self.render("admin/reports/statement.html", error=None, form=form, st=st, account=account,
                           can_export=has_permission(current_user, "reports.export"),
                           page_url=lambda page: url_for(".index", account=account.id if account else "",
                                                         **{"from": first.isoformat(), "to": last.isoformat()},
                                                         page=page))

    @expose("/export/<fmt>")
    def export(self, fmt: str):
        _may_export()
        fmt = _format(fmt)
        account = self._account()
        if account is None:
            abort(400, description="choose an account")
        try:
            first, last = self._dates()
            opening, closing, lines = account_statements.statement_rows(account, first, last, limit=STATEMENT_EXPORT_LIMIT)
        except reports.BadRange as exc:
            abort(400, description=str(exc))
        discard()
        with unit_of_work():
            audit.record("reports.statement_export", target=("ledger_accounts", account.id), after={
                "account": account.code, "format": fmt, "from": first.isoformat(), "to": last.isoformat(),
                "rows": len(lines)})
        currency = account.currency
        rows = [[f"{first.isoformat()} 00:00:00", "", "", "Opening balance", "", Money(opening, currency)],
                *lines,
                [f"{last.isoformat()} 23:59:59", "", "", "Closing balance", "", Money(closing, currency)]]
        header = ["Posted at (UTC)", "Entry", "Kind", "Memo", f"Amount ({currency})", f"Balance ({currency})"]
        return export_response(fmt, header, rows, f"statement-{account.code}-{first.isoformat()}-{last.isoformat()}",
                               sheet="Statement")


def register(admin) -> None:
    admin.add_view(ReportsView(name="Reports", endpoint="finance_reports", url="/admin/finance/reports",
                               category="Finance"))
    admin.add_view(StatementView(name="Account statement", endpoint="account_statement",
                                 url="/admin/finance/statement", category="Finance"))
