"""Money -> Disputes: the queue of card and PayPal disputes (chargebacks) with what each holds from the investor's
wallet and what is owed as a receivable, filters, a details page with the deposit's timeline and finance's notes
(audited), and an audited CSV/XLSX export through the one escaping writer. Finance and admins only
(disputes.manage); the money moves only with the gateway's events (app/payments/disputes.py)."""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual
from flask_login import current_user
from markupsafe import Markup

from app.admin.base import SecureModelView, money_formatter, requires, run_action
from app.admin.time_filters import time_filters
from app.admin.views.market_common import EmailIs, StatusIs, details_url
from app.auth.forms import SimpleForm
from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.payments import disputes
from app.payments.gateway_settings import GATEWAYS
from app.payments.models import DISPUTE_STATUSES, Deposit, Dispute

STATUS_BADGE = {"open": "warning", "won": "success", "lost": "danger"}
EXPORT_FORMATS = ("csv", "xlsx")


class HasReceivable(BaseSQLAFilter):
    """Whether part of the disputed money was no longer in the wallet (owed by the investor)."""

    def __init__(self, column, name):
        super().__init__(column, name, options=[("yes", "yes"), ("no", "no")])

    def apply(self, query, value, alias=None):
        return query.filter(Dispute.receivable > 0 if value == "yes" else Dispute.receivable == 0)

    def operation(self):
        return "is"

    def validate(self, value):
        return value in ("yes", "no")


def _investor(view, context, model, name):
    if model.user is None:
        return Markup('<span class="text-muted">unknown</span>')
    return Markup('<a href="{}">{}</a>').format(details_url("users", model.user.id), model.user.email)


def _deposit(view, context, model, name):
    if not model.deposit_id:
        return Markup('<span class="badge badge-danger">no deposit</span>')
    return Markup('<a href="{}">#{}</a>').format(details_url("deposits", model.deposit_id), model.deposit_id)


def _status(view, context, model, name):
    flag = Markup(' <span class="badge badge-danger" title="{}">attention</span>').format(model.attention_reason) \
        if model.attention_reason else ""
    return Markup('<span class="badge badge-{}">{}</span>{}').format(STATUS_BADGE.get(model.status, "secondary"),
                                                                    model.status, flag)


def age_days(model) -> int:
    return max(((model.closed_at or utcnow()) - model.opened_at).days, 0)


def _age(view, context, model, name):
    return f"{age_days(model)} d"


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


EXPORT_HEADER = ("id", "provider", "dispute", "status", "provider status", "investor", "deposit", "currency",
                 "amount", "held", "receivable", "reason", "opened", "evidence due", "closed", "age (days)",
                 "attention")


def export_row(model: Dispute) -> list:
    def amount(value: int) -> str:
        return Money(value, model.currency).amount_str()

    return [model.id, model.provider, model.external_id, model.status, model.provider_status or "",
            model.user.email if model.user else "", model.deposit_id or "", model.currency, amount(model.amount),
            amount(model.held), amount(model.receivable), model.reason, _when(model.opened_at),
            _when(model.evidence_due_at), _when(model.closed_at), age_days(model), model.attention_reason or ""]


class DisputeView(SecureModelView):
    permission = "disputes.manage"
    simple_list_pager = True
    export_types = list(EXPORT_FORMATS)
    details_template = "admin/dispute_details.html"
    column_list = ("id", "opened_at", "user", "deposit_id", "provider", "amount", "held", "receivable", "status",
                   "age", "evidence_due_at")
    column_labels = {"opened_at": "Opened", "user": "Investor", "deposit_id": "Deposit", "held": "Held",
                     "receivable": "Receivable", "evidence_due_at": "Evidence due", "external_id": "Dispute",
                     "provider_status": "Provider's status", "closed_at": "Closed", "booked_at": "Booked"}
    column_sortable_list = ("id", "opened_at", "amount", "held", "receivable", "evidence_due_at")
    column_default_sort = ("id", True)
    column_filters = (
        StatusIs(Dispute.status, "Status", statuses=DISPUTE_STATUSES),
        FilterEqual(Dispute.provider, "Provider", options=[(g, g) for g in GATEWAYS]),
        *time_filters(Dispute.opened_at, "Opened"),
        HasReceivable(Dispute.receivable, "Has receivable"),
        EmailIs(Dispute.user_id, "Investor"),
    )
    column_searchable_list = ("external_id",)
    column_formatters = {"user": _investor, "deposit_id": _deposit, "status": _status, "age": _age,
                         "amount": money_formatter("amount"), "held": money_formatter("held"),
                         "receivable": money_formatter("receivable")}
    column_details_list = ("id", "provider", "external_id", "status", "provider_status", "reason", "user",
                           "deposit_id", "amount", "held", "receivable", "opened_at", "booked_at",
                           "evidence_due_at", "closed_at", "attention_reason")
    column_formatters_detail = column_formatters

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            model = kwargs["model"]
            deposit = db.session.get(Deposit, model.deposit_id) if model.deposit_id else None
            kwargs.update(form=SimpleForm(), deposit=deposit, notes=model.notes,
                          timeline=deposit.events if deposit is not None else [])
        return super().render(template, **kwargs)

    # finance's notes -------------------------------------------------------------------------------------------------
    @expose("/<int:dispute_id>/note", methods=["POST"])
    @requires("disputes.manage")
    def note(self, dispute_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        dispute = db.session.get(Dispute, dispute_id)
        if dispute is None:
            abort(404)
        return run_action(lambda: disputes.add_note(dispute, actor=current_user, body=request.form.get("body")),
                          "Note added.", url_for(".details_view", id=dispute_id))

    # export: CSV or XLSX through the console's one audited export (app/admin/base.py), with the rows below
    export_action = "disputes.export"

    def export_header(self) -> list:
        return list(EXPORT_HEADER)

    def export_rows(self, models) -> list[list]:
        return [export_row(model) for model in models]

    def get_export_name(self, export_type="csv"):
        return f"disputes-{utcnow():%Y%m%d-%H%M%S}.{export_type}"


def register(admin) -> None:
    admin.add_view(DisputeView(Dispute, db, name="Disputes", endpoint="disputes", category="Money"))
