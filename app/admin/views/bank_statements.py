"""Finance → Bank statements (upload, list, a statement with its lines), Statement lines (the queue: search,
filters, export, and per line confirm / reject / match by hand / ignore) and CSV mappings (reference data). Every
action goes through app.finance.bank_statements (its checks and audit records) as one unit of work."""
from __future__ import annotations

from datetime import date

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from wtforms import ValidationError as FormValidationError

from app.admin.base import SecureBaseView, SecureModelView, run_action
from app.auth.forms import SimpleForm
from app.core import audit
from app.core.csvfile import export_response
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.core.money import Money, MoneyError, is_currency
from app.core.storage import content_disposition
from app.core.uploads import UploadRejected, read_limited
from app.extensions import db
from app.finance import bank_statements as statements
from app.finance.bank_models import (
    FORMAT_CAMT053,
    FORMAT_CSV,
    LINE_STATUSES,
    PROPOSED,
    UNMATCHED,
    BankStatement,
    CsvMapping,
    StatementLine,
)
from app.finance.statement_lines import MAX_FILE_BYTES
from app.kyc.views import SAFE_HEADERS
from app.ledger.services import platform_currency

PERMISSION = "statements.import"
PAGE_SIZE = 50
QUEUE_STATUSES = {"open": (UNMATCHED, PROPOSED), **{s: (s,) for s in LINE_STATUSES}, "all": LINE_STATUSES}
EXPORT_HEADER = ("line", "statement", "booking_date", "value_date", "direction", "amount", "currency", "reference",
                 "end_to_end_id", "counterparty", "remittance", "status", "matched_to", "rule", "note")


def money(line) -> str:
    return Money(line.amount, line.currency).display()


def _line_or_404(line_id: int) -> StatementLine:
    line = db.session.get(StatementLine, line_id)
    if line is None:
        abort(404)
    return line


class BankStatementsView(SecureBaseView):
    permission = PERMISSION

    @expose("/")
    def index(self):
        page = max(0, request.args.get("page", 0, type=int) or 0)
        rows = list(db.session.scalars(
            select(BankStatement).options(selectinload(BankStatement.uploaded_by).lazyload("*"),
                                          selectinload(BankStatement.csv_mapping))
            .order_by(BankStatement.id.desc()).offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1)))
        ids = [s.id for s in rows]
        counts: dict[tuple[int, str], int] = {}
        if ids:
            for sid, status, n in db.session.execute(
                    select(StatementLine.statement_id, StatementLine.status, func.count())
                    .where(StatementLine.statement_id.in_(ids))
                    .group_by(StatementLine.statement_id, StatementLine.status)):
                counts[(sid, status)] = n
        mappings = list(db.session.scalars(select(CsvMapping).order_by(CsvMapping.bank_name)))
        return self.render("admin/finance/statements.html", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE,
                           page=page, counts=counts, mappings=mappings, statuses=LINE_STATUSES, form=SimpleForm(),
                           max_mb=MAX_FILE_BYTES // (1024 * 1024))

    @expose("/upload", methods=["POST"])
    def upload(self):
        if not SimpleForm().validate_on_submit():
            abort(400)
        upload = request.files.get("statement")
        fmt = request.form.get("format", "")
        mapping_id = request.form.get("mapping_id", type=int)
        if upload is None or not upload.filename:
            flash("Choose the statement file.", "error")
            return redirect(url_for(".index"))
        try:
            data = read_limited(upload.stream, MAX_FILE_BYTES)
        except UploadRejected as exc:
            flash(f"The statement was not imported: {exc.message}", "error")
            return redirect(url_for(".index"))
        try:
            with unit_of_work():
                statement, created = statements.import_statement(
                    data, file_name=upload.filename, fmt=fmt, mapping_id=mapping_id if fmt == FORMAT_CSV else None,
                    actor=current_user._get_current_object())
                sid, lines, known = statement.id, statement.line_count, statement.known_count
        except DomainError as exc:
            flash(f"The statement was not imported: {_describe(exc)}", "error")
            return redirect(url_for(".index"))
        if created:
            flash(f"Statement imported: {lines} new line(s)"
                  + (f", {known} already known from an earlier statement" if known else "") + ".", "success")
        else:
            flash("This statement was already imported: nothing changed.", "info")
        return redirect(url_for(".details", statement_id=sid))

    @expose("/<int:statement_id>")
    def details(self, statement_id: int):
        statement = db.session.get(BankStatement, statement_id)
        if statement is None:
            abort(404)
        lines = list(db.session.scalars(select(StatementLine).where(StatementLine.statement_id == statement.id)
                                        .order_by(StatementLine.line_index)))
        return self.render("admin/finance/statement.html", statement=statement, lines=lines, money=money,
                           form=SimpleForm())

    @expose("/<int:statement_id>/file")
    def file(self, statement_id: int):
        statement = db.session.get(BankStatement, statement_id)
        if statement is None:
            abort(404)
        with unit_of_work():  # the audit record is committed before the file is served
            data = statements.statement_file(statement, actor=current_user._get_current_object())
        mimetype = "application/xml" if statement.format == FORMAT_CAMT053 else "text/csv"
        response = Response(data, mimetype=mimetype)
        response.headers.update(SAFE_HEADERS)
        response.headers["Content-Disposition"] = content_disposition(statement.file_name, inline=False)
        return response


def _describe(exc: DomainError) -> str:
    details = "; ".join(m for messages in (exc.errors or {}).values() for m in messages)
    text = f"{exc.message[:1].upper()}{exc.message[1:]}."
    return f"{text} {details}" if details else text


class QueueFilters:
    """The queue's search and filters, read from the query string (nothing typed here is trusted)."""

    def __init__(self, args):
        self.status = args.get("status", "open") if args.get("status", "open") in QUEUE_STATUSES else "open"
        self.direction = args.get("direction", "") if args.get("direction") in ("credit", "debit") else ""
        self.q = (args.get("q") or "").strip()[:200]
        currency = (args.get("currency") or "").strip().upper()
        self.currency = currency if is_currency(currency) else ""
        self.amount_text = (args.get("amount") or "").strip()[:30]
        self.amount: int | None = None
        self.problems: list[str] = []
        if self.amount_text:
            try:
                self.amount = Money.parse(self.amount_text, self.currency or platform_currency(), grouping=True).minor
            except MoneyError as exc:
                self.problems.append(f"Amount: {exc}.")
        self.date_from = self._date(args.get("from"), "From")
        self.date_to = self._date(args.get("to"), "To")
        self.statement_id = args.get("statement", type=int)

    def _date(self, raw: str | None, label: str) -> date | None:
        if not raw:
            return None
        try:
            return date.fromisoformat(raw.strip()[:10])
        except ValueError:
            self.problems.append(f"{label}: a date as YYYY-MM-DD.")
            return None

    def query(self):
        stmt = select(StatementLine).where(StatementLine.status.in_(QUEUE_STATUSES[self.status]))
        if self.direction:
            stmt = stmt.where(StatementLine.direction == self.direction)
        if self.currency:
            stmt = stmt.where(StatementLine.currency == self.currency)
        if self.amount is not None:
            stmt = stmt.where(StatementLine.amount == self.amount)
        if self.date_from:
            stmt = stmt.where(StatementLine.booking_date >= self.date_from)
        if self.date_to:
            stmt = stmt.where(StatementLine.booking_date <= self.date_to)
        if self.statement_id:
            stmt = stmt.where(StatementLine.statement_id == self.statement_id)
        if self.q:
            like = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(or_(*(column.ilike(like, escape="\\") for column in (
                StatementLine.reference, StatementLine.counterparty, StatementLine.remittance,
                StatementLine.end_to_end_id, StatementLine.servicer_ref))))
        return stmt

    def described(self) -> dict:
        return {"status": self.status, "direction": self.direction or None, "q": self.q or None,
                "currency": self.currency or None, "amount": self.amount, "from": str(self.date_from or "") or None,
                "to": str(self.date_to or "") or None, "statement": self.statement_id}

    def args(self) -> dict:
        return {k: v for k, v in {"status": self.status, "direction": self.direction, "q": self.q,
                                  "currency": self.currency, "amount": self.amount_text,
                                  "from": self.date_from.isoformat() if self.date_from else "",
                                  "to": self.date_to.isoformat() if self.date_to else "",
                                  "statement": self.statement_id or ""}.items() if v}


def _matched_to(line: StatementLine) -> str:
    return f"{line.match_kind} #{line.target_id}" if line.match_kind else ""


class StatementLinesView(SecureBaseView):
    permission = PERMISSION

    @expose("/")
    def index(self):
        filters = QueueFilters(request.args)
        for problem in filters.problems:
            flash(problem, "error")
        page = max(0, request.args.get("page", 0, type=int) or 0)
        rows = list(db.session.scalars(filters.query().order_by(StatementLine.booking_date.desc(),
                                                                StatementLine.id.desc())
                                       .offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1)))
        return self.render("admin/finance/lines.html", rows=rows[:PAGE_SIZE], more=len(rows) > PAGE_SIZE, page=page,
                           f=filters, args=filters.args(), statuses=list(QUEUE_STATUSES), money=money,
                           matched_to=_matched_to)

    @expose("/export")
    def export(self):
        fmt = request.args.get("fmt", "csv")
        if fmt not in ("csv", "xlsx"):
            abort(400)
        filters = QueueFilters(request.args)
        with unit_of_work():
            rows = [(line.id, line.statement_id, line.booking_date.isoformat(),
                     line.value_date.isoformat() if line.value_date else "", line.direction,
                     Money(line.amount, line.currency).amount_str(), line.currency, line.reference or "",
                     line.end_to_end_id or "", line.counterparty or "", line.remittance or "", line.status,
                     _matched_to(line), line.match_rule or "", line.match_note or line.ignored_reason or "")
                    for line in db.session.scalars(filters.query().order_by(StatementLine.id).limit(50_000))]
            audit.record("statements.lines_exported", target=("bank_statement_lines", None),
                         after={"format": fmt, "filters": filters.described(), "rows": len(rows)})
        return export_response(fmt, EXPORT_HEADER, rows, "statement-lines", sheet="Statement lines")

    @expose("/<int:line_id>")
    def details(self, line_id: int):
        line = _line_or_404(line_id)
        return self.render("admin/finance/line.html", line=line, money=money, form=SimpleForm(),
                           matched_to=_matched_to(line))

    def _act(self, line_id: int, func, message):
        if not SimpleForm().validate_on_submit():
            abort(400)
        line = _line_or_404(line_id)
        back = request.form.get("back") or ""
        target = url_for(".details", line_id=line.id)
        if back == "statement":
            target = url_for("bank_statements.details", statement_id=line.statement_id)
        return run_action(lambda: func(line, current_user._get_current_object()), message, target)

    @expose("/<int:line_id>/confirm", methods=["POST"])
    def confirm(self, line_id: int):
        messages = {"credited": "Confirmed: the deposit is completed and the wallet credited.",
                    "awaiting_second_approval": "First confirmation recorded: above the two-person threshold a "
                                                "second finance user must confirm.",
                    "reconciled": "Confirmed: the line is reconciled."}
        return self._act(line_id, lambda line, actor: statements.confirm(line, actor=actor), lambda r: messages[r])

    @expose("/<int:line_id>/reject", methods=["POST"])
    def reject(self, line_id: int):
        return self._act(line_id, lambda line, actor: statements.reject(line, actor=actor,
                                                                        reason=request.form.get("reason")),
                         "Match rejected: the line is back in the unmatched queue.")

    @expose("/<int:line_id>/match", methods=["POST"])
    def match(self, line_id: int):
        return self._act(line_id, lambda line, actor: statements.match_manually(
            line, kind=request.form.get("kind", ""), target_id=request.form.get("target_id"), actor=actor,
            reason=request.form.get("reason")), "Match proposed: confirm it to complete.")

    @expose("/<int:line_id>/ignore", methods=["POST"])
    def ignore(self, line_id: int):
        return self._act(line_id, lambda line, actor: statements.ignore(line, actor=actor,
                                                                        reason=request.form.get("reason")),
                         "Marked as not ours.")

    @expose("/<int:line_id>/restore", methods=["POST"])
    def restore(self, line_id: int):
        return self._act(line_id, lambda line, actor: statements.restore(line, actor=actor,
                                                                         reason=request.form.get("reason")),
                         "Back in the unmatched queue.")


class CsvMappingView(SecureModelView):
    """How each bank's CSV export reads (reference data): generic create and edit, checked and audited."""

    permission = PERMISSION
    can_create = True
    can_edit = True
    can_view_details = False
    column_searchable_list = ("bank_name",)
    column_filters = ("bank_name",)
    column_list = ("bank_name", "date_column", "amount_column", "credit_column", "debit_column", "currency_column",
                   "currency", "reference_column", "counterparty_column", "date_format", "decimal_separator",
                   "delimiter", "header_rows")
    form_columns = ("bank_name", "date_column", "date_format", "amount_column", "credit_column", "debit_column",
                    "currency_column", "currency", "reference_column", "counterparty_column", "description_column",
                    "decimal_separator", "delimiter", "header_rows")
    form_choices = {"decimal_separator": [(".", ". (1,234.56)"), (",", ", (1.234,56)")],
                    "delimiter": [(",", "comma"), (";", "semicolon"), ("\\t", "tab"), ("|", "pipe")]}
    column_descriptions = {"date_column": "The column's header text, or its position (1 for the first) when the "
                                          "file has no header row.",
                           "amount_column": "A signed amount (negative is money out); or leave it empty and name "
                                            "both the credit and the debit column.",
                           "date_format": "Python strptime codes, e.g. %Y-%m-%d or %d.%m.%Y",
                           "currency": "When the file has no currency column (default: the platform's)."}

    def on_model_change(self, form, model, is_created):
        for name in ("bank_name", "date_column", "reference_column", "date_format"):
            if not (getattr(model, name) or "").strip():
                raise FormValidationError(f"{name.replace('_', ' ').capitalize()} is required.")
        for name in ("amount_column", "credit_column", "debit_column", "currency_column", "counterparty_column",
                     "description_column"):
            setattr(model, name, (getattr(model, name) or "").strip() or None)
        if not model.amount_column and not (model.credit_column and model.debit_column):
            raise FormValidationError("Name the amount column, or both the credit and the debit column.")
        if model.currency:
            model.currency = model.currency.strip().upper() or None
            if model.currency and not is_currency(model.currency):
                raise FormValidationError("The currency is an ISO 4217 code, e.g. EUR.")
        if "%" not in model.date_format:
            raise FormValidationError("The date format uses strptime codes, e.g. %d.%m.%Y.")
        if not 0 <= (model.header_rows or 0) <= 20:
            raise FormValidationError("Header rows: 0 to 20.")
        audit.record("statements.csv_mapping_saved", target=("bank_csv_mappings", model.id), after={
            name: getattr(model, name) for name in self.form_columns})


def register(admin) -> None:
    admin.add_view(BankStatementsView(name="Bank statements", endpoint="bank_statements", category="Finance"))
    admin.add_view(StatementLinesView(name="Statement lines", endpoint="statement_lines", category="Finance"))
    admin.add_view(CsvMappingView(CsvMapping, db, name="CSV mappings", endpoint="csv_mappings", category="Finance"))
