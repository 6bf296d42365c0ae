"""Distribution funding in the console: the fundings of properties' distributions accounts (filters by status and
property), the proposal form, approve or reject by a second finance user, cancel by the proposer, and confirm for
the fundings the migration posted. Every action calls app.investing.funding in one unit of work."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.admin.base import SecureModelView, describe, money_formatter, requires, run_action
from app.admin.views.investment_filters import LiveFilterOptions, PropertyFilter
from app.auth.forms import SimpleForm
from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.core.money import Money
from app.extensions import db
from app.investing import funding
from app.investing.models import FUNDING_STATUSES, FUNDING_TO_CONFIRM, DistributionFunding

PERMISSION = "distributions.fund"
FIELDS = ("property_id", "amount", "bank_reference", "note")
STATUS_BADGE = {"proposed": "warning", "approved": "success", "rejected": "danger", "cancelled": "secondary",
                FUNDING_TO_CONFIRM: "info"}


def _status(view, context, model, name):
    label = "to confirm" if model.status == FUNDING_TO_CONFIRM else model.status
    return Markup('<span class="badge badge-{}">{}</span>').format(STATUS_BADGE.get(model.status, "secondary"), label)


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


class FundingPropertyFilter(PropertyFilter):
    def apply(self, query, value, alias=None):
        return query.filter(DistributionFunding.property_id == value)


class FundingStatusFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        return query.filter(DistributionFunding.status == value)

    def operation(self):
        return "is"

    def validate(self, value):
        return value in FUNDING_STATUSES

    def get_options(self, view):
        return [(s, s.replace("_", " ")) for s in FUNDING_STATUSES]


class DistributionFundingView(LiveFilterOptions, SecureModelView):
    permission = PERMISSION
    list_template = "admin/funding/list.html"
    details_template = "admin/funding/details.html"
    column_auto_select_related = False
    column_list = ("id", "property", "amount", "status", "kind", "bank_reference", "proposed_by", "proposed_at",
                   "approved_by", "entry_id")
    column_sortable_list = ("id", "amount", "status", "proposed_at")
    column_searchable_list = ("bank_reference",)
    column_default_sort = ("id", True)
    column_labels = {"proposed_by": "Proposed by", "proposed_at": "Proposed at", "approved_by": "Decided by",
                     "approved_at": "Decided at", "entry_id": "Ledger entry", "bank_reference": "Bank reference"}
    column_filters = (
        FundingStatusFilter(DistributionFunding.status, "Status"),
        FundingPropertyFilter(DistributionFunding.property_id, "Property"),
    )
    column_formatters = {"status": _status, "amount": money_formatter("amount"),
                         "property": lambda v, c, m, n: m.property.title,
                         "proposed_by": _email("proposed_by"), "approved_by": _email("approved_by"),
                         "entry_id": _entry}
    column_details_list = ("id", "property", "amount", "status", "kind", "bank_reference", "note", "proposed_by",
                           "proposed_at", "approved_by", "approved_at", "reason", "entry_id")
    column_formatters_detail = column_formatters

    def get_query(self):
        return db.session.query(DistributionFunding).options(
            joinedload(DistributionFunding.property).lazyload("*"),
            joinedload(DistributionFunding.proposed_by).lazyload("*"),
            joinedload(DistributionFunding.approved_by).lazyload("*"))

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            f = kwargs["model"]
            kwargs.update(form=SimpleForm(), own=f.proposed_by_id == current_user.id,
                          amount=Money(f.amount, f.currency).display(),
                          balance=Money(funding.distributions_balance(f.property_id), f.currency).display(),
                          history=list(db.session.scalars(
                              select(AuditRecord).where(AuditRecord.target_type == DistributionFunding.__tablename__,
                                                        AuditRecord.target_id == str(f.id))
                              .order_by(AuditRecord.id))))
        elif template == self.list_template:
            kwargs["to_confirm"] = db.session.scalar(
                select(db.func.count(DistributionFunding.id)).where(DistributionFunding.status == FUNDING_TO_CONFIRM))
        return super().render(template, **kwargs)

    # proposing ------------------------------------------------------------------------------------------------------
    @expose("/propose", methods=["GET"])
    def propose_form(self):
        """The proposal form; `property_id` in the query string chooses the property (pages link here with it)."""
        return self._form({name: request.args.get(name) or "" for name in FIELDS})

    def _form(self, values: dict, *, error: str | None = None, status: int = 200):
        properties = funding.fundable_properties()
        chosen = next((p for p in properties if str(p.id) == str(values.get("property_id") or "")), None)
        return self.render("admin/funding/propose.html", values=values, properties=properties, chosen=chosen,
                           money=Money, error=error, limit=funding.MAX_FUNDING_MAJOR,
                           reference_max=funding.BANK_REFERENCE_MAX, note_max=funding.NOTE_MAX,
                           form=SimpleForm()), status

    @expose("/propose", methods=["POST"])
    def propose(self):
        if not SimpleForm().validate_on_submit():
            abort(400)
        values = {name: request.form.get(name) or "" for name in FIELDS}
        raw = values["property_id"].strip()
        try:
            with unit_of_work():
                f = funding.propose(int(raw) if raw.isdigit() else 0, amount=values["amount"],
                                    bank_reference=values["bank_reference"], note=values["note"], actor=current_user)
                funding_id, shown = f.id, Money(f.amount, f.currency).display()
        except DomainError as exc:
            return self._form(values, error=describe(exc), status=exc.status)
        flash(f"Proposed funding #{funding_id} of {shown}: a second finance user must approve it.", "success")
        return redirect(url_for(".details_view", id=funding_id))

    # deciding -------------------------------------------------------------------------------------------------------
    def _funding(self, funding_id: int) -> DistributionFunding:
        if not SimpleForm().validate_on_submit():
            abort(400)
        f = db.session.get(DistributionFunding, funding_id)
        if f is None:
            abort(404)
        return f

    def _run(self, f: DistributionFunding, func, message):
        return run_action(func, message, url_for(".details_view", id=f.id))

    @expose("/<int:funding_id>/approve", methods=["POST"])
    @requires(PERMISSION)
    def approve(self, funding_id: int):
        f = self._funding(funding_id)
        return self._run(f, lambda: funding.approve(f, actor=current_user),
                         lambda r: f"Approved: {Money(r.amount, r.currency).display()} is in the property's "
                                   f"distributions account (entry #{r.entry_id}).")

    @expose("/<int:funding_id>/reject", methods=["POST"])
    @requires(PERMISSION)
    def reject(self, funding_id: int):
        f = self._funding(funding_id)
        return self._run(f, lambda: funding.reject(f, actor=current_user, reason=request.form.get("reason")),
                         "Rejected: nothing was posted.")

    @expose("/<int:funding_id>/cancel", methods=["POST"])
    @requires(PERMISSION)
    def cancel(self, funding_id: int):
        f = self._funding(funding_id)
        return self._run(f, lambda: funding.cancel(f, actor=current_user, reason=request.form.get("reason")),
                         "Cancelled.")

    @expose("/<int:funding_id>/confirm", methods=["POST"])
    @requires(PERMISSION)
    def confirm(self, funding_id: int):
        f = self._funding(funding_id)
        return self._run(f, lambda: funding.confirm(f, actor=current_user,
                                                    bank_reference=request.form.get("bank_reference") or ""),
                         "Confirmed.")


def register(admin) -> None:
    admin.add_view(DistributionFundingView(DistributionFunding, db, name="Distribution funding",
                                           endpoint="distribution_funding", url="distribution-funding",
                                           category="Returns"))
