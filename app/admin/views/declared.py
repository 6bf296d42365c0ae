"""Declared distributions in the console: the list, the declaration form with a preview of the split, and the
distribution's page (the split per investor with the residue rule, approve by a second finance user, pay, discard,
its audit history)."""
from __future__ import annotations

from datetime import date, timedelta

from flask import abort, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, DateBetweenFilter
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.admin.base import SecureModelView, describe, money_formatter, requires, run_action
from app.admin.views.investment_filters import LiveFilterOptions, PropertyFilter
from app.auth.forms import SimpleForm
from app.core.audit import AuditRecord
from app.core.db import utcnow
from app.core.errors import DomainError, NotFound, ValidationError
from app.core.money import Money
from app.core.security import has_permission
from app.extensions import db
from app.investing import declared
from app.investing.models import (
    APPROVED,
    BASIS_PAID,
    DECLARED_TRANSITIONS,
    DISCARDED,
    DRAFT,
    DeclaredDistribution,
    Investment,
)
from app.properties.models import Property

FIELDS = ("property_id", "label", "period_start", "period_end", "amount", "basis", "note")
STATUS_BADGE = {DRAFT: "warning", APPROVED: "primary", "paid": "success", DISCARDED: "secondary"}


def _status(view, context, model, name):
    badge = Markup(f'<span class="badge badge-{STATUS_BADGE.get(model.status, "secondary")}">'
                   f'{escape(model.status)}</span>')
    if declared.waiting(model):
        badge += Markup(' <span class="badge badge-warning">waiting for funding</span>')
    return badge


def _period(view, context, model, name):
    return Markup(f'<span class="text-nowrap">{model.period_start.isoformat()}</span> – '
                  f'<span class="text-nowrap">{model.period_end.isoformat()}</span>')


def _email(attr):
    def formatter(view, context, model, name):
        user = getattr(model, attr)
        return user.email if user is not None else ""

    return formatter


class DeclaredPropertyFilter(PropertyFilter):
    def apply(self, query, value, alias=None):
        return query.filter(DeclaredDistribution.property_id == value)


class DeclaredStatusFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        return query.filter(DeclaredDistribution.status == value)

    def operation(self):
        return "is"

    def validate(self, value):
        return value in DECLARED_TRANSITIONS

    def get_options(self, view):
        return [(s, s) for s in DECLARED_TRANSITIONS]


def _declarable_properties():
    """Properties with investments (live or completed), for the declaration form."""
    return list(db.session.execute(
        select(Property.id, Property.title, Property.currency)
        .where(Property.id.in_(select(Investment.property_id)), Property.status.notin_(("draft", "cancelled")))
        .order_by(Property.title)))


class DeclaredDistributionView(LiveFilterOptions, SecureModelView):
    permission = "investments.view"
    list_template = "admin/declared/list.html"
    details_template = "admin/declared/details.html"
    column_auto_select_related = False
    column_list = ("id", "property", "label", "period", "amount", "basis", "status", "created_by", "approved_by",
                   "paid_at")
    column_sortable_list = ("id", "amount", "status", "paid_at")
    column_searchable_list = ("label",)
    column_default_sort = ("id", True)
    column_labels = {"created_by": "Declared by", "approved_by": "Approved by", "paid_at": "Paid at",
                     "entry_id": "Ledger entry"}
    column_filters = (
        DeclaredStatusFilter(DeclaredDistribution.status, "Status"),
        DeclaredPropertyFilter(DeclaredDistribution.property_id, "Property"),
        DateBetweenFilter(DeclaredDistribution.period_start, "Period starts"),
    )
    column_formatters = {"status": _status, "period": _period, "amount": money_formatter("amount"),
                         "property": lambda v, c, m, n: m.property.title,
                         "basis": lambda v, c, m, n: declared.BASES.get(m.basis, m.basis),
                         "created_by": _email("created_by"), "approved_by": _email("approved_by")}
    column_details_list = ("id", "property", "label", "period", "amount", "basis", "status", "note", "created_by",
                           "created_at", "approved_by", "approved_at", "paid_at", "entry_id")
    column_formatters_detail = column_formatters | {
        "entry_id": lambda v, c, m, n: Markup(f'<a href="{url_for("ledger_entries.details_view", id=m.entry_id)}">'
                                              f'#{m.entry_id}</a>') if m.entry_id else ""}

    def get_query(self):
        return db.session.query(DeclaredDistribution).options(
            joinedload(DeclaredDistribution.property).lazyload("*"),
            joinedload(DeclaredDistribution.created_by).lazyload("*"),
            joinedload(DeclaredDistribution.approved_by).lazyload("*"))

    def render(self, template, **kwargs):
        can = {p: has_permission(current_user, p) for p in ("distributions.declare", "distributions.approve")}
        kwargs["can"] = can
        if template == self.details_template and kwargs.get("model") is not None:
            d = kwargs["model"]
            kwargs.update(split=declared.split_of(d), rule=declared.RESIDUE_RULE, form=SimpleForm(),
                          history=list(db.session.scalars(
                              select(AuditRecord).where(AuditRecord.target_type == DeclaredDistribution.__tablename__,
                                                        AuditRecord.target_id == str(d.id))
                              .order_by(AuditRecord.id))),
                          own=d.created_by_id == current_user.id)
        return super().render(template, **kwargs)

    # declaring ------------------------------------------------------------------------------------------------------
    @expose("/new", methods=["GET"])
    def new(self):
        """The declaration form (filled in again from the query string after a refusal)."""
        if not has_permission(current_user, "distributions.declare"):
            abort(403)
        return self._form({name: request.args.get(name) for name in FIELDS})

    def _form(self, given: dict, *, preview=None, error=None):
        today = utcnow().date()
        quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        last_start = date(quarter_start.year - (quarter_start.month == 1), (quarter_start.month - 4) % 12 + 1, 1)
        defaults = {"property_id": "", "label": "", "period_start": last_start.isoformat(),
                    "period_end": (quarter_start - timedelta(days=1)).isoformat(), "amount": "", "basis": BASIS_PAID,
                    "note": ""}
        values = {name: given.get(name) or default for name, default in defaults.items()}
        return self.render("admin/declared/new.html", values=values, properties=_declarable_properties(),
                           bases=declared.BASES, preview=preview, error=error, rule=declared.RESIDUE_RULE,
                           form=SimpleForm())

    @staticmethod
    def _preview(values: dict):
        raw = str(values.get("property_id") or "")
        p = db.session.get(Property, int(raw)) if raw.isdigit() else None
        if p is None:
            raise NotFound("choose a property")
        amount = declared.parse_amount(values.get("amount"), p.currency)
        start = declared.parse_date(values.get("period_start"), "period_start")
        end = declared.parse_date(values.get("period_end"), "period_end")
        if end < start:
            raise ValidationError("the period ends before it starts")
        if values.get("basis") not in declared.BASES:
            raise ValidationError("unknown basis")
        return declared.compute_split(p.id, amount, p.currency, start, end, values["basis"])

    @expose("/declare", methods=["POST"])
    @requires("distributions.declare")
    def declare(self):
        """Preview the split (the "preview" button: nothing is saved) or declare a draft."""
        if not SimpleForm().validate_on_submit():
            abort(400)
        values = {name: request.form.get(name) or "" for name in FIELDS}
        if request.form.get("preview"):
            try:
                return self._form(values, preview=self._preview(values))
            except DomainError as exc:
                return self._form(values, error=describe(exc))
        created = {}

        def run():
            created["d"] = declared.declare(
                int(values["property_id"]) if values["property_id"].isdigit() else 0, label=values["label"],
                period_start=values["period_start"], period_end=values["period_end"], amount=values["amount"],
                basis=values["basis"] or BASIS_PAID, note=values["note"], actor=current_user)
            return created["d"]

        response = run_action(run, lambda d: f"Declared #{d.id} as a draft: a second finance user must approve it.",
                              url_for(".new", **values))
        if "d" in created:
            return redirect(url_for(".details_view", id=created["d"].id))
        return response

    # the workflow ---------------------------------------------------------------------------------------------------
    def _distribution(self, distribution_id: int) -> DeclaredDistribution:
        if not SimpleForm().validate_on_submit():
            abort(400)
        d = db.session.get(DeclaredDistribution, distribution_id)
        if d is None:
            abort(404)
        return d

    def _run(self, d: DeclaredDistribution, func, message):
        return run_action(func, message, url_for(".details_view", id=d.id))

    @expose("/<int:distribution_id>/approve", methods=["POST"])
    @requires("distributions.approve")
    def approve(self, distribution_id: int):
        d = self._distribution(distribution_id)
        fingerprint = request.form.get("fingerprint") or ""
        return self._run(d, lambda: declared.approve(d, actor=current_user, fingerprint=fingerprint),
                         "Approved: the split is frozen and can be paid.")

    @expose("/<int:distribution_id>/pay", methods=["POST"])
    @requires("distributions.declare")
    def pay(self, distribution_id: int):
        d = self._distribution(distribution_id)
        return self._run(d, lambda: declared.pay(d, actor=current_user), _paid_or_waiting)

    @expose("/<int:distribution_id>/discard", methods=["POST"])
    @requires("distributions.declare")
    def discard(self, distribution_id: int):
        d = self._distribution(distribution_id)
        return self._run(d, lambda: declared.discard(d, actor=current_user, reason=request.form.get("reason")),
                         "Discarded.")


def _paid_or_waiting(d: DeclaredDistribution) -> str:
    if d.status == "paid":
        return f"Paid {Money(d.amount, d.currency).display()} to the investors (entry #{d.entry_id})."
    return (f"Waiting for funding: the property's distributions account does not cover "
            f"{Money(d.amount, d.currency).display()} yet (due returns and earlier distributions come first). It is "
            f"paid by the next returns run once the operator funds the account.")


def register(admin) -> None:
    admin.add_view(DeclaredDistributionView(DeclaredDistribution, db, name="Declared distributions",
                                            endpoint="declared_distributions", category="Investing"))
