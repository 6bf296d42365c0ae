"""Money in: deposits with their timeline and the finance actions (approve or reject bank transfers, refunds,
resolve flags), the webhook inbox with reprocess, gateway settings, reconciliation and receivables."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup

from app.admin.base import SecureModelView, money_formatter, requires, run_action
from app.admin.list_search import IndexedSearch
from app.auth.forms import SimpleForm
from app.core import audit
from app.core.db import unit_of_work
from app.core.errors import DomainError, ValidationError
from app.core.money import Money, MoneyError
from app.core.security import has_permission
from app.core.storage import get_storage
from app.extensions import db
from app.kyc.views import SAFE_HEADERS
from app.ledger.services import platform_currency
from app.payments import services as payments
from app.payments.models import Deposit, GatewaySetting, Receivable, ReconciliationItem, WebhookInbox


def _deposit_link(view, context, model, name):
    if not model.deposit_id:
        return ""
    return Markup('<a href="{}">#{}</a>').format(url_for("deposits.details_view", id=model.deposit_id), model.deposit_id)


def _flag(view, context, model, name):
    return Markup('<span class="badge badge-danger" title="{}">attention</span>').format(model.attention_reason) \
        if model.attention_reason else ""


class DepositView(IndexedSearch, SecureModelView):
    permission = "deposits.view"
    simple_list_pager = True
    details_template = "admin/deposit_details.html"
    column_list = ("id", "created_at", "user", "gateway", "amount", "fee", "status", "attention", "gateway_reference",
                   "completed_at")
    column_filters = ("status", "gateway", "user_id", "created_at", "attention_at", "gateway_reference")
    column_searchable_list = ("id", "gateway_reference")  # the exact id or the start of the reference (indexed)
    column_default_sort = ("id", True)
    column_formatters = {"amount": money_formatter("amount"), "fee": money_formatter("fee"), "attention": _flag}
    column_formatters_detail = {"amount": money_formatter("amount"), "fee": money_formatter("fee"),
                                "refunded_amount": money_formatter("refunded_amount")}
    column_details_list = ("id", "user", "gateway", "amount", "fee", "refunded_amount", "status", "failure_reason",
                           "attention_reason", "gateway_reference", "charge_reference", "created_at",
                           "completed_at", "first_approver_id", "decided_by_id", "ledger_entry_id")

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            kwargs.update(form=SimpleForm(), can_decide=has_permission(current_user, "deposits.approve"),
                          money=lambda v, m=kwargs["model"]: Money(v, m.currency).display())
        return super().render(template, **kwargs)

    def _deposit(self, deposit_id: int) -> Deposit:
        if not SimpleForm().validate_on_submit():
            abort(400)
        deposit = db.session.get(Deposit, deposit_id)
        if deposit is None:
            abort(404)
        return deposit

    def _run(self, deposit: Deposit, func, message):
        return run_action(func, message, url_for(".details_view", id=deposit.id))

    @expose("/<int:deposit_id>/approve", methods=["POST"])
    @requires("deposits.approve")
    def approve(self, deposit_id: int):
        deposit = self._deposit(deposit_id)
        return self._run(deposit, lambda: payments.approve_bank_transfer(deposit, actor=current_user),
                         lambda r: "Credited." if r == "credited" else "First approval recorded: a second finance "
                                                                        "user must approve.")

    @expose("/<int:deposit_id>/reject", methods=["POST"])
    @requires("deposits.approve")
    def reject(self, deposit_id: int):
        deposit = self._deposit(deposit_id)
        return self._run(deposit, lambda: payments.reject_bank_transfer(deposit, actor=current_user,
                                                                        reason=request.form.get("reason")),
                         "Rejected; the investor is told.")

    @expose("/<int:deposit_id>/refund", methods=["POST"])
    @requires("deposits.approve")
    def refund(self, deposit_id: int):
        deposit = self._deposit(deposit_id)

        def run():
            raw = (request.form.get("amount") or "").strip()
            try:
                amount = Money.parse(raw, deposit.currency).minor if raw else None
            except MoneyError as exc:
                raise ValidationError(str(exc)) from None
            return payments.refund(deposit, amount, actor=current_user, reason=request.form.get("reason"))

        return self._run(deposit, run, "Refunded.")

    @expose("/<int:deposit_id>/resolve", methods=["POST"])
    @requires("deposits.approve")
    def resolve(self, deposit_id: int):
        deposit = self._deposit(deposit_id)
        return self._run(deposit, lambda: payments.resolve_attention(deposit, actor=current_user,
                                                                     note=request.form.get("note")), "Resolved.")

    @expose("/<int:deposit_id>/proof")
    def proof(self, deposit_id: int):
        deposit = db.session.get(Deposit, deposit_id)
        if deposit is None or not deposit.proof_key:
            abort(404)
        with unit_of_work():
            audit.record("deposits.proof_viewed", actor=current_user, target=deposit)
        response = Response(get_storage().get(deposit.proof_key), mimetype=deposit.proof_content_type)
        response.headers.update(SAFE_HEADERS)
        return response


class WebhookInboxView(SecureModelView):
    permission = "deposits.view"
    simple_list_pager = True
    details_template = "admin/webhook_details.html"
    column_list = ("id", "received_at", "provider", "type", "event_id", "status", "attempts", "error", "deposit_id")
    column_details_list = ("id", "received_at", "provider", "type", "event_id", "reference", "status", "attempts",
                           "error", "deposit_id", "processed_at", "payload")
    column_filters = ("provider", "type", "status", "received_at", "deposit_id")
    column_searchable_list = ("event_id", "reference")
    column_default_sort = ("id", True)
    column_formatters = {"deposit_id": _deposit_link}

    @expose("/<int:event_id>/reprocess", methods=["POST"])
    @requires("deposits.approve")
    def reprocess(self, event_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        row = db.session.get(WebhookInbox, event_id)
        if row is None:
            abort(404)
        with unit_of_work():
            payments.reprocess_event(row, actor=current_user)
        flash("Queued for processing again (processing is idempotent).", "success")
        return redirect(url_for(".details_view", id=event_id))


def _term(name: str):
    """A gateway's limit or fee as it applies now (a setting that guards money: changed in Money settings)."""
    def formatter(view, context, model, _name):
        terms = payments.settings_for(model.gateway)
        value = getattr(terms, name)
        if value is None:
            return ""
        return f"{value / 100:.2f} %" if name == "fee_bps" else Money(value, platform_currency()).display()

    return formatter


class GatewaySettingView(SecureModelView):
    """Enabled and instructions are edited here (audited); limits, fees and the two-person threshold are settings
    that guard money: a proposal in Money settings that a second person approves."""

    permission = "payments.settings"
    can_edit = True
    can_view_details = False
    column_list = ("gateway", "enabled", "min_amount", "max_amount", "fee_bps", "fee_fixed", "second_approval_above",
                   "updated_at")
    form_columns = ("enabled", "instructions")
    column_filters = ("gateway", "enabled")
    column_searchable_list = ("gateway",)
    column_labels = {"min_amount": "Minimum", "max_amount": "Maximum", "fee_bps": "Fee (percentage)",
                     "fee_fixed": "Fixed fee", "second_approval_above": "Second approval above"}
    column_formatters = {name: _term(name) for name in ("min_amount", "max_amount", "fee_bps", "fee_fixed",
                                                         "second_approval_above")}
    column_description = {"min_amount": "Change limits and fees in Settings → Money settings (four eyes)."}

    def update_model(self, form, model) -> bool:
        """Saving is the service's (its rules and its audit record), as one unit of work; a refusal is shown."""
        try:
            with unit_of_work():
                payments.update_gateway_settings(model, actor=current_user,
                                                 **{name: form[name].data for name in self.form_columns})
        except DomainError as exc:
            flash(exc.message, "error")
            return False
        self.after_model_change(form, model, False)
        return True


class ReconciliationView(SecureModelView):
    permission = "deposits.view"
    details_template = "admin/reconciliation_details.html"
    column_list = ("id", "detected_at", "provider", "kind", "reference", "deposit_id", "gateway_amount",
                   "ledger_amount", "currency", "resolved_at")
    column_filters = ("kind", "provider", "resolved_at", "detected_at")
    column_searchable_list = ("reference",)
    column_default_sort = ("id", True)
    column_formatters = {"deposit_id": _deposit_link}

    @expose("/<int:item_id>/resolve", methods=["POST"])
    @requires("deposits.approve")
    def resolve(self, item_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        item = db.session.get(ReconciliationItem, item_id)
        if item is None:
            abort(404)
        return run_action(lambda: payments.resolve_item(item, actor=current_user, note=request.form.get("note")),
                          "Resolved.", url_for(".details_view", id=item_id))


class ReceivableView(IndexedSearch, SecureModelView):
    permission = "deposits.view"
    can_view_details = False
    column_list = ("id", "created_at", "user", "deposit_id", "amount", "settled_at")
    column_filters = ("settled_at", "user_id", "deposit_id", "created_at")
    column_searchable_list = ("id", "deposit_id")  # exact ids, or the investor (IndexedSearch)
    investor_columns = ("user_id",)
    column_formatters = {"amount": money_formatter("amount"), "deposit_id": _deposit_link}


def register(admin) -> None:
    admin.add_view(DepositView(Deposit, db, name="Deposits", endpoint="deposits", category="Money"))
    admin.add_view(WebhookInboxView(WebhookInbox, db, name="Webhook inbox", endpoint="webhooks_inbox",
                                    category="Money"))
    admin.add_view(ReconciliationView(ReconciliationItem, db, name="Reconciliation", endpoint="reconciliation",
                                      category="Money"))
    admin.add_view(ReceivableView(Receivable, db, name="Receivables", endpoint="receivables", category="Money"))
    admin.add_view(GatewaySettingView(GatewaySetting, db, name="Gateways", endpoint="gateway_settings",
                                      category="Money"))
