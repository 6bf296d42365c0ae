"""Balance adjustments in the console (Finance -> Adjustments): the queue with filters (status, direction, proposer,
date, amount, user), the proposal form with its supporting document, approve or reject by a second finance user,
cancel by the proposer, the document (audited) and the CSV/XLSX export (audited). Every action calls
app.finance.adjustments in one unit of work."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.admin.base import SecureModelView, describe, requires
from app.admin.list_search import IndexedSearch
from app.admin.refusal import refuse
from app.admin.time_filters import time_filters
from app.admin.views.investment_filters import LiveFilterOptions
from app.auth.forms import SimpleForm
from app.auth.models import User
from app.core import audit
from app.core.audit import AuditRecord
from app.core.csvfile import export_response
from app.core.db import unit_of_work
from app.core.errors import DomainError, Forbidden, ValidationError
from app.core.money import Money, MoneyError
from app.core.uploads import UploadRejected
from app.extensions import db
from app.finance import adjustments
from app.finance.adjustment_models import DIRECTIONS, STATUSES, BalanceAdjustment
from app.kyc.services import read_upload
from app.kyc.views import SAFE_HEADERS
from app.ledger import services as ledger

PERMISSION = "adjustments.propose"
FIELDS = ("user", "direction", "amount", "reason", "note")
STATUS_BADGE = {"proposed": "warning", "approved": "success", "rejected": "danger", "cancelled": "secondary"}
EXPORT_FORMATS = ("csv", "xlsx")


def _status(view, context, model, name):
    return Markup('<span class="badge badge-{}">{}</span>').format(STATUS_BADGE.get(model.status, "secondary"),
                                                                   model.status)


def _email(attr):
    def formatter(view, context, model, name):
        user = getattr(model, attr)
        return user.email if user is not None else ""

    return formatter


def _entry(view, context, model, name):
    if not model.entry_id:
        return ""
    return Markup('<a href="{}">#{}</a>').format(url_for("ledger_entries.details_view", id=model.entry_id),
                                                 model.entry_id)


def _signed(view, context, model, name):
    shown = Money(model.amount, model.currency).display()
    return f"+{shown}" if model.direction == adjustments.CREDIT else f"-{shown}"


class _Choice(BaseSQLAFilter):
    choices: tuple[str, ...] = ()

    def operation(self):
        return "is"

    def validate(self, value):
        return value in self.choices

    def get_options(self, view):
        return [(c, c) for c in self.choices]


class StatusFilter(_Choice):
    choices = STATUSES

    def apply(self, query, value, alias=None):
        return query.filter(BalanceAdjustment.status == value)


class DirectionFilter(_Choice):
    choices = DIRECTIONS

    def apply(self, query, value, alias=None):
        return query.filter(BalanceAdjustment.direction == value)


class ProposerFilter(BaseSQLAFilter):
    """The finance users who proposed adjustments (live options)."""

    def apply(self, query, value, alias=None):
        return query.filter(BalanceAdjustment.proposed_by_id == int(value))

    def operation(self):
        return "is"

    def validate(self, value):
        return str(value).isdigit()

    def live_options(self):
        return db.session.execute(select(User.id, User.email).where(
            User.id.in_(select(BalanceAdjustment.proposed_by_id).distinct())).order_by(User.email)).all()


class UserEmailFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        return query.filter(BalanceAdjustment.user_id.in_(
            select(User.id).where(User.email == str(value).strip().lower())))

    def operation(self):
        return "e-mail is"


class _AmountFilter(BaseSQLAFilter):
    """An amount in major units of the platform currency ("250.00")."""

    def _minor(self, value) -> int:
        return Money.parse(str(value).strip(), ledger.platform_currency(), grouping=True, allow_zero=True).minor

    def validate(self, value):
        try:
            self._minor(value)
        except MoneyError:
            return False
        return True


class AmountAtLeast(_AmountFilter):
    def apply(self, query, value, alias=None):
        return query.filter(BalanceAdjustment.amount >= self._minor(value))

    def operation(self):
        return "at least"


class AmountAtMost(_AmountFilter):
    def apply(self, query, value, alias=None):
        return query.filter(BalanceAdjustment.amount <= self._minor(value))

    def operation(self):
        return "at most"


class AdjustmentView(IndexedSearch, LiveFilterOptions, SecureModelView):
    permission = PERMISSION
    list_template = "admin/adjustments/list.html"
    details_template = "admin/adjustments/details.html"
    column_auto_select_related = False
    column_list = ("id", "proposed_at", "user", "direction", "amount", "status", "note", "proposed_by", "decided_by",
                   "entry_id")
    column_sortable_list = ("id", "amount", "status", "proposed_at")
    column_searchable_list = ("id",)  # the exact id, or the wallet's investor (IndexedSearch)
    investor_columns = ("user_id",)
    column_default_sort = ("id", True)
    column_labels = {"user": "Wallet of", "proposed_by": "Proposed by", "proposed_at": "Proposed at",
                     "decided_by": "Decided by", "decided_at": "Decided at", "entry_id": "Ledger entry",
                     "note": "Note to the investor", "reason": "Reason (internal)",
                     "decision_reason": "Decision reason", "attachment_type": "Document"}
    column_filters = (
        StatusFilter(BalanceAdjustment.status, "Status"),
        DirectionFilter(BalanceAdjustment.direction, "Direction"),
        ProposerFilter(BalanceAdjustment.proposed_by_id, "Proposed by"),
        UserEmailFilter(BalanceAdjustment.user_id, "Wallet of"),
        *time_filters(BalanceAdjustment.proposed_at, "Proposed at"),
        AmountAtLeast(BalanceAdjustment.amount, "Amount"),
        AmountAtMost(BalanceAdjustment.amount, "Amount"),
    )
    column_formatters = {"status": _status, "amount": _signed, "user": _email("user"),
                         "proposed_by": _email("proposed_by"), "decided_by": _email("decided_by"), "entry_id": _entry}
    column_details_list = ("id", "user", "direction", "amount", "status", "reason", "note", "attachment_type",
                           "proposed_by", "proposed_at", "decided_by", "decided_at", "decision_reason", "entry_id")
    column_formatters_detail = column_formatters
    export_max_rows = 50_000

    def get_query(self):
        return db.session.query(BalanceAdjustment).options(
            joinedload(BalanceAdjustment.user).lazyload("*"),
            joinedload(BalanceAdjustment.proposed_by).lazyload("*"),
            joinedload(BalanceAdjustment.decided_by).lazyload("*"))

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            a = kwargs["model"]
            wallet = ledger.balance_of(a.user_id).available
            kwargs.update(form=SimpleForm(), own=a.proposed_by_id == current_user.id,
                          own_wallet=a.user_id == current_user.id, amount=Money(a.amount, a.currency).display(),
                          wallet=wallet.display(), memo=adjustments.investor_memo(a.direction, a.note),
                          history=list(db.session.scalars(
                              select(AuditRecord).where(AuditRecord.target_type == BalanceAdjustment.__tablename__,
                                                        AuditRecord.target_id == str(a.id))
                              .order_by(AuditRecord.id))))
        return super().render(template, **kwargs)

    # proposing ------------------------------------------------------------------------------------------------------
    @expose("/propose", methods=["GET"])
    def propose_form(self):
        """The proposal form; `user` in the query string (an e-mail or an id) fills the wallet in."""
        return self._form({name: request.args.get(name) or "" for name in FIELDS})

    def _form(self, values: dict, *, error: str | None = None, status: int = 200):
        return self.render("admin/adjustments/propose.html", values=values, error=error,
                           limit=adjustments.MAX_ADJUSTMENT_MAJOR, note_max=adjustments.NOTE_MAX,
                           reason_max=adjustments.REASON_MAX, currency=ledger.platform_currency(),
                           form=SimpleForm()), status

    @expose("/propose", methods=["POST"])
    @requires(PERMISSION)
    def propose(self):
        if not SimpleForm().validate_on_submit():
            abort(400)
        values = {name: request.form.get(name) or "" for name in FIELDS}
        upload = request.files.get("attachment")
        try:
            try:
                data = read_upload(upload, adjustments.MAX_ATTACHMENT_BYTES).data if upload and upload.filename \
                    else None
            except UploadRejected as exc:
                raise ValidationError("the supporting document is not acceptable",
                                      {"attachment": [exc.message]}) from None
            with unit_of_work():
                a = adjustments.propose(values["user"], direction=values["direction"], amount=values["amount"],
                                        reason=values["reason"], note=values["note"], attachment=data,
                                        actor=current_user)
                adjustment_id, shown = a.id, Money(a.amount, a.currency).display()
        except DomainError as exc:
            return self._form(values, error=describe(exc), status=exc.status)
        flash(f"Proposed adjustment #{adjustment_id} of {shown}: a second finance user must approve it.", "success")
        return redirect(url_for(".details_view", id=adjustment_id))

    # deciding -------------------------------------------------------------------------------------------------------
    def _adjustment(self, adjustment_id: int) -> BalanceAdjustment:
        if not SimpleForm().validate_on_submit():
            abort(400)
        a = db.session.get(BalanceAdjustment, adjustment_id)
        if a is None:
            abort(404)
        return a

    def _run(self, a: BalanceAdjustment, func, message):
        """run_action; a four-eyes refusal (one's own proposal or wallet) is audited in a unit of work of its own,
        since the refused one rolls back."""
        back = url_for(".details_view", id=a.id)
        try:
            with unit_of_work():
                result = func()
        except Forbidden as exc:
            with unit_of_work():
                audit.record("adjustments.refused", actor=current_user._get_current_object(), target=a,
                             after={"attempted": request.endpoint, "refusal": exc.message},
                             reason=request.form.get("reason") or request.form.get("comment"))
            flash(describe(exc), "error")
            return redirect(back)
        except DomainError as exc:
            flash(describe(exc), "error")
            return redirect(back)
        flash(message(result) if callable(message) else message, "success")
        return redirect(back)

    @expose("/<int:adjustment_id>/approve", methods=["POST"])
    @requires("adjustments.approve")
    def approve(self, adjustment_id: int):
        a = self._adjustment(adjustment_id)
        return self._run(a, lambda: adjustments.approve(a, actor=current_user, comment=request.form.get("comment")),
                         lambda r: f"Approved: the wallet was {'credited' if r.direction == 'credit' else 'debited'} "
                                   f"with {Money(r.amount, r.currency).display()} (entry #{r.entry_id}).")

    @expose("/<int:adjustment_id>/reject", methods=["POST"])
    @requires("adjustments.approve")
    def reject(self, adjustment_id: int):
        a = self._adjustment(adjustment_id)
        return self._run(a, lambda: adjustments.reject(a, actor=current_user, reason=request.form.get("reason")),
                         "Rejected: nothing was posted.")

    @expose("/<int:adjustment_id>/cancel", methods=["POST"])
    @requires(PERMISSION)
    def cancel(self, adjustment_id: int):
        a = self._adjustment(adjustment_id)
        return self._run(a, lambda: adjustments.cancel(a, actor=current_user, reason=request.form.get("reason")),
                         "Cancelled.")

    # the document and the export ------------------------------------------------------------------------------------
    @expose("/<int:adjustment_id>/attachment")
    def attachment(self, adjustment_id: int):
        """The supporting document: audited (committed first), then served with headers that run nothing."""
        try:
            with unit_of_work():
                found = adjustments.attachment_of(adjustments.get(adjustment_id), viewer=current_user)
        except DomainError:
            abort(404)
        response = Response(found.data, mimetype=found.content_type)
        response.headers["Content-Disposition"] = f'inline; filename="{found.filename}"'
        response.headers.update(SAFE_HEADERS)
        return response

    @expose("/export/<export_type>")
    def export(self, export_type: str):
        """The list as filtered, to CSV or XLSX through the one escaping writer; who exported what is audited."""
        fmt = export_type
        if fmt not in EXPORT_FORMATS:
            abort(404)
        if not self.may_export():
            refuse(self.export_permission)
        with unit_of_work():
            view_args = self._get_list_extra_args()
            _count, models = self._export_data()
            rows = list(adjustments.export_rows(models))
            audit.record("adjustments.export", target=(BalanceAdjustment.__tablename__, None), after={
                "format": fmt, "filters": self._active_filters(view_args.filters), "rows": len(rows)})
        return export_response(fmt, adjustments.EXPORT_HEADER, rows, "balance-adjustments", sheet="Adjustments")


def register(admin) -> None:
    admin.add_view(AdjustmentView(BalanceAdjustment, db, name="Adjustments", endpoint="adjustments",
                                  url="adjustments", category="Finance"))
