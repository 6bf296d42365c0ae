"""Money out: the payout review queue (filters by status, amount, age, method and risk flags; bank-file export of
approved payouts), the payout's case page (KYC, balance history, security events, risk flags, timeline; approve
with maker-checker, reject, mark paid, mark failed), the batches with their bank files, and the bank accounts."""
from __future__ import annotations

from datetime import timedelta

from flask import Response, abort, flash, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.admin.base import SecureModelView, describe, money_formatter, requires, run_action
from app.admin.list_search import IndexedSearch
from app.auth.forms import SimpleForm
from app.core.csvfile import csv_response
from app.core.db import unit_of_work, utcnow
from app.core.errors import DomainError
from app.core.money import Money, MoneyError
from app.core.security import has_permission
from app.extensions import db
from app.kyc import services as kyc
from app.ledger import services as ledger
from app.payouts import services as payouts
from app.payouts.models import (
    PAYOUT_APPROVED,
    PAYOUT_REQUESTED,
    RISK_FLAGS,
    Payout,
    PayoutBatch,
    PayoutMethod,
    mask,
)

SECURITY_LABELS = {
    "auth.password_changed": "Password changed", "auth.password_reset": "Password reset by e-mail link",
    "auth.password_reset_requested": "Password reset requested", "auth.2fa_enabled": "Two-factor turned on",
    "auth.2fa_disabled": "Two-factor turned off", "users.reset_2fa": "Two-factor reset by support",
    "auth.recovery_codes_regenerated": "Recovery codes regenerated", "auth.recovery_code_used": "Recovery code used",
    "auth.account_locked": "Locked after failed sign-ins", "auth.email_verified": "E-mail address verified",
    "users.block": "Blocked", "users.unblock": "Unblocked", "payouts.method_added": "Bank account added",
    "payouts.method_changed": "Bank account changed", "payouts.method_removed": "Bank account removed",
}
STATUS_BADGE = {"requested": "info", "approved": "primary", "paid": "success", "rejected": "danger",
                "cancelled": "secondary", "failed": "danger"}


def _status(view, context, model, name):
    extra = ""
    if model.status == PAYOUT_REQUESTED and model.first_approver_id:
        extra = Markup(' <span class="badge badge-warning" title="one approval recorded">needs 2nd approval</span>')
    elif model.status == PAYOUT_REQUESTED and model.needs_two_approvals:
        extra = Markup(' <span class="badge badge-light" title="above the two-person threshold">2 approvals</span>')
    return Markup('<span class="badge badge-{}">{}</span>{}').format(
        STATUS_BADGE.get(model.status, "secondary"), model.status, extra)


def _flags(view, context, model, name):
    return Markup(" ").join(Markup('<span class="badge badge-danger" title="{}">{}</span>').format(
        RISK_FLAGS.get(f, f), f.replace("_", " ")) for f in model.risk_flags or [])


def _age(view, context, model, name):
    hours = int((utcnow() - model.created_at).total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h"


def _case_link(view, context, model, name):
    return Markup('<a href="{}">Open #{}</a>').format(url_for("payouts.case", payout_id=model.id), model.id)


def _method(view, context, model, name):
    m = model.method
    return f"{m.bank_name} {mask(m.account_number)} ({m.country})"


def _batch_link(view, context, model, name):
    if not model.batch_id:
        return ""
    return Markup('<a href="{}">#{}</a>').format(url_for("payout_batches.details_view", id=model.batch_id),
                                                 model.batch_id)


class OlderThanFilter(BaseSQLAFilter):
    """Age of a payout request in hours."""

    def apply(self, query, value, alias=None):
        return query.filter(Payout.created_at < utcnow() - timedelta(hours=int(value)))

    def operation(self):
        return "older than (hours)"

    def validate(self, value):
        return str(value).isdigit()

    def clean(self, value):
        return int(value)


class AmountFilter(BaseSQLAFilter):
    """Amount in major units ("1000.00"), at least or at most."""

    def __init__(self, column, name, *, at_least: bool):
        super().__init__(column, name)
        self.at_least = at_least

    def apply(self, query, value, alias=None):
        return query.filter(Payout.amount >= value if self.at_least else Payout.amount <= value)

    def operation(self):
        return "at least" if self.at_least else "at most"

    def validate(self, value):
        try:
            Money.parse(str(value), ledger.platform_currency(), allow_zero=True)
            return True
        except MoneyError:
            return False

    def clean(self, value):
        return Money.parse(str(value), ledger.platform_currency(), allow_zero=True).minor


class RiskFlagFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        if value == "any":
            return query.filter(~Payout.risk_flags.cast(db.String).in_(["[]", ""]))
        if value == "none":
            return query.filter(Payout.risk_flags.cast(db.String).in_(["[]", ""]))
        return query.filter(payouts.flag_filter(value))

    def operation(self):
        return "is"

    def validate(self, value):
        return value in RISK_FLAGS or value in ("any", "none")

    def get_options(self, view):
        return [("any", "any flag"), ("none", "no flag")] + [(k, v) for k, v in RISK_FLAGS.items()]


class MethodFilter(BaseSQLAFilter):
    """The bank (name contains) of the payout method."""

    def apply(self, query, value, alias=None):
        return query.filter(Payout.method.has(PayoutMethod.bank_name.ilike(f"%{value}%")))

    def operation(self):
        return "bank contains"


class StageFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        if value == "waiting":  # not yet paid: what the dashboard's "payouts waiting" tile counts
            return query.filter(Payout.status.in_((PAYOUT_REQUESTED, PAYOUT_APPROVED)))
        if value == "second_approval":
            return query.filter(Payout.status == PAYOUT_REQUESTED, Payout.first_approver_id.is_not(None))
        if value == "unbatched":
            return query.filter(Payout.status == PAYOUT_APPROVED, Payout.batch_id.is_(None))
        return query.filter(Payout.status == PAYOUT_APPROVED, Payout.batch_id.is_not(None))

    def operation(self):
        return "is"

    def validate(self, value):
        return value in ("waiting", "second_approval", "unbatched", "batched")

    def get_options(self, view):
        return [("waiting", "waiting to be paid (requested or approved)"),
                ("second_approval", "awaiting second approval"), ("unbatched", "approved, not in a bank file"),
                ("batched", "approved, in a bank file")]


class PayoutQueueView(IndexedSearch, SecureModelView):
    permission = "payouts.view"
    list_template = "admin/payouts/queue.html"
    simple_list_pager = True
    can_view_details = False
    column_list = ("id", "case", "created_at", "age", "user", "amount", "fee", "method", "status", "risk_flags",
                   "batch_id")
    column_sortable_list = ("id", "created_at", "amount", "status")
    column_searchable_list = ("id",)  # the exact id, or the investor (IndexedSearch)
    investor_columns = ("user_id",)
    column_default_sort = ("created_at", False)  # oldest first
    column_labels = {"created_at": "Requested", "risk_flags": "Risk flags", "batch_id": "Batch", "case": "Case",
                     "user": "Investor", "method.bank_name": "Method"}
    column_filters = (
        "status",
        AmountFilter(Payout.amount, "Amount", at_least=True),
        AmountFilter(Payout.amount, "Amount", at_least=False),
        OlderThanFilter(Payout.created_at, "Age"),
        MethodFilter(Payout.payout_method_id, "Method"),
        "payout_method_id",
        RiskFlagFilter(Payout.risk_flags, "Risk flag"),
        StageFilter(Payout.status, "Stage"),
        "user_id",
        "created_at",
        "batch_id",
    )
    column_formatters = {"status": _status, "risk_flags": _flags, "age": _age, "case": _case_link,
                         "user": lambda v, c, m, n: m.user.email, "method": _method,
                         "amount": money_formatter("amount"), "fee": money_formatter("fee"), "batch_id": _batch_link}

    def get_query(self):
        return super().get_query().options(joinedload(Payout.user), joinedload(Payout.method))

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs["counts"] = payouts.queue_counts()
            kwargs["cfg"] = payouts.settings()
            kwargs["flt"] = self._quick_filters()
        return super().render(template, **kwargs)

    def _quick_filters(self) -> dict:
        """URL arguments of the queue's quick links (Flask-Admin numbers every filter operation)."""
        found = {}
        for index, f in enumerate(self._filters or []):
            if isinstance(f, FilterEqual) and f.column is Payout.__table__.c.status and "status" not in found:
                found["status"] = f"flt0_{index}"
            elif isinstance(f, RiskFlagFilter):
                found["flag"] = f"flt0_{index}"
            elif isinstance(f, StageFilter):
                found["stage"] = f"flt0_{index}"
        return found

    def is_action_allowed(self, name):
        return has_permission(current_user, "payouts.approve") and super().is_action_allowed(name)

    @action("export", "Export selected to a bank file", "Put the selected approved payouts into one bank file?")
    def action_export(self, ids):
        if not has_permission(current_user, "payouts.approve"):
            abort(403)
        try:
            with unit_of_work():
                batch, _ = payouts.create_batch([int(i) for i in ids], actor=current_user)
        except DomainError as exc:
            flash(describe(exc), "error")
            return None
        flash(f"Batch #{batch.id}: {batch.payout_count} payout(s) exported.", "success")
        return _bank_file(payouts.bank_file_rows(list(batch.payouts)), batch.id)

    # the case page ------------------------------------------------------------------------------------------------
    def _payout(self, payout_id: int) -> Payout:
        payout = db.session.get(Payout, payout_id) if payouts.is_id(payout_id) else None
        if payout is None:
            abort(404)
        return payout

    @expose("/case/<int:payout_id>")
    def case(self, payout_id: int):
        p = self._payout(payout_id)
        user = p.user
        lines, _ = ledger.statement(user.id, page=1, per_page=15)
        history = list(db.session.scalars(select(Payout).options(joinedload(Payout.method))
                                          .where(Payout.user_id == user.id, Payout.id != p.id)
                                          .order_by(Payout.id.desc()).limit(10)))
        kyc_name = kyc.approved_full_name(user.id)
        can_act = has_permission(current_user, "payouts.approve") and p.user_id != current_user.id
        return self.render(
            "admin/payouts/case.html", p=p, investor=user, form=SimpleForm(), badge=STATUS_BADGE,
            kyc_status=kyc.overall_status(user.id), kyc_missing=kyc.missing_for(user.id, kyc.WITHDRAW),
            kyc_name=kyc_name, name_ok=payouts.names_match(p.method.holder_name, kyc_name) if kyc_name else None,
            balance=ledger.balance_of(user.id), lines=lines, history=history,
            security=payouts.security_events(user.id, since=utcnow() - timedelta(days=90), limit=15),
            flags=payouts.flag_labels(p.risk_flags), can_act=can_act, two=payouts.needs_two_approvals(p),
            money=lambda v: Money(v, p.currency).display(), own=p.user_id == current_user.id,
            event_labels=SECURITY_LABELS)

    def _run(self, payout_id: int, func, message):
        if not SimpleForm().validate_on_submit():
            abort(400)
        return run_action(func, message, url_for(".case", payout_id=payout_id))

    @expose("/case/<int:payout_id>/approve", methods=["POST"])
    @requires("payouts.approve")
    def approve(self, payout_id: int):
        p = self._payout(payout_id)
        return self._run(payout_id, lambda: payouts.approve(p, actor=current_user),
                         lambda r: "Approved." if r == "approved" else
                         "First approval recorded: a second finance user must approve.")

    @expose("/case/<int:payout_id>/reject", methods=["POST"])
    @requires("payouts.approve")
    def reject(self, payout_id: int):
        p = self._payout(payout_id)
        return self._run(payout_id, lambda: payouts.reject(p, actor=current_user, reason=request.form.get("reason")),
                         "Rejected: the hold is released and the investor is told.")

    @expose("/case/<int:payout_id>/paid", methods=["POST"])
    @requires("payouts.approve")
    def mark_paid(self, payout_id: int):
        p = self._payout(payout_id)
        return self._run(payout_id, lambda: payouts.mark_paid(p, actor=current_user,
                                                              bank_reference=request.form.get("bank_reference")),
                         "Marked paid.")

    @expose("/case/<int:payout_id>/failed", methods=["POST"])
    @requires("payouts.approve")
    def mark_failed(self, payout_id: int):
        p = self._payout(payout_id)
        return self._run(payout_id, lambda: payouts.mark_failed(p, actor=current_user,
                                                                reason=request.form.get("reason")),
                         "Marked failed: the hold is released and the investor is told.")


def _bank_file(rows: list[tuple], batch_id: int) -> Response:
    """A batch's bank file as a download: the account numbers in it are in clear, so no cache keeps it."""
    response = csv_response(payouts.BANK_FILE_HEADER, rows, f"payouts-batch-{batch_id}.csv")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class PayoutBatchView(SecureModelView):
    permission = "payouts.view"
    details_template = "admin/payouts/batch.html"
    column_list = ("id", "created_at", "created_by", "payout_count", "total_amount", "status", "bank_reference",
                   "paid_at", "paid_by")
    column_details_list = ("id", "created_at", "created_by", "payout_count", "total_amount", "currency", "status",
                           "file_sha256", "bank_reference", "paid_at", "paid_by")
    column_filters = ("status", "created_at", "paid_at")
    column_searchable_list = ("bank_reference",)
    column_default_sort = ("id", True)
    column_labels = {"payout_count": "Payouts", "total_amount": "Total", "file_sha256": "File SHA-256"}
    column_formatters = {"total_amount": money_formatter("total_amount"),
                         "created_by": lambda v, c, m, n: m.created_by.email,
                         "paid_by": lambda v, c, m, n: m.paid_by.email if m.paid_by else ""}
    column_formatters_detail = column_formatters

    def get_query(self):
        return super().get_query().options(joinedload(PayoutBatch.created_by), joinedload(PayoutBatch.paid_by))

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            batch = kwargs["model"]
            kwargs.update(form=SimpleForm(), badge=STATUS_BADGE,
                          can_act=has_permission(current_user, "payouts.approve"),
                          rows=list(db.session.scalars(select(Payout).options(joinedload(Payout.user),
                                                                              joinedload(Payout.method))
                                                       .where(Payout.batch_id == batch.id).order_by(Payout.id))),
                          money=lambda v, m=batch: Money(v, m.currency).display())
        return super().render(template, **kwargs)

    def _batch(self, batch_id: int) -> PayoutBatch:
        batch = db.session.get(PayoutBatch, batch_id) if payouts.is_id(batch_id) else None
        if batch is None:
            abort(404)
        return batch

    @expose("/<int:batch_id>/file")
    def file(self, batch_id: int):
        """Download the bank file again (an audited export; the numbers in it are in clear)."""
        if not has_permission(current_user, "payouts.approve"):
            abort(403)
        batch = self._batch(batch_id)
        with unit_of_work():  # the audit record of this export
            rows = payouts.batch_file(batch, actor=current_user)
        return _bank_file(rows, batch_id)

    @expose("/<int:batch_id>/paid", methods=["POST"])
    @requires("payouts.approve")
    def mark_paid(self, batch_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        batch = self._batch(batch_id)
        return run_action(lambda: payouts.mark_batch_paid(batch, actor=current_user,
                                                          bank_reference=request.form.get("bank_reference")),
                          lambda paid: f"Batch marked paid: {len(paid)} payout(s) paid.",
                          url_for(".details_view", id=batch_id))


class PayoutMethodView(SecureModelView):
    permission = "payouts.view"
    can_view_details = False
    column_list = ("id", "user", "holder_name", "bank_name", "account", "country", "usable_from",
                   "name_matches_kyc", "created_at", "updated_at")
    column_filters = ("user_id", "country", "name_matches_kyc", "bank_name", "holder_name", "usable_from")
    column_searchable_list = ("holder_name", "bank_name")
    column_default_sort = ("id", True)
    column_labels = {"name_matches_kyc": "Name matches KYC", "usable_from": "Usable from"}
    column_formatters = {"user": lambda v, c, m, n: m.user.email,
                         "account": lambda v, c, m, n: mask(m.account_number)}
    column_formatters_export = column_formatters  # the number masked in the export too, never in clear

    def get_query(self):
        return super().get_query().options(joinedload(PayoutMethod.user))


def register(admin) -> None:
    admin.add_view(PayoutQueueView(Payout, db, name="Payouts", endpoint="payouts", category="Money"))
    admin.add_view(PayoutBatchView(PayoutBatch, db, name="Payout batches", endpoint="payout_batches",
                                   category="Money"))
    admin.add_view(PayoutMethodView(PayoutMethod, db, name="Payout methods", endpoint="payout_methods",
                                    category="Money"))
