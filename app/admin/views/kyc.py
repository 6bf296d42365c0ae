"""KYC in the console: the review queue (oldest first, filters, claim, bulk decisions), the case page (data beside
documents, history, per-document and overall decisions, keyboard shortcuts), form design and reason codes."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_admin.model.form import InlineFormAdmin
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms import ValidationError as FormValidationError

from app.admin.base import SecureModelView, requires, run_action
from app.auth.forms import SimpleForm
from app.auth.models import User
from app.core import audit
from app.core.db import unit_of_work, utcnow
from app.core.errors import DomainError
from app.core.security import has_permission
from app.extensions import db
from app.kyc import services as kyc
from app.kyc.models import FIELD_TYPES, PENDING, KycDocument, KycField, KycForm, KycSubmission, ReasonCode
from app.kyc.views import serve_document

STATUS_BADGE = {"pending": "info", "approved": "success", "rejected": "danger", "resubmission_requested": "warning"}


def _status(view, context, model, name):
    flag = Markup(' <span class="badge badge-danger" title="waiting longer than the target">overdue</span>') \
        if model.overdue_at and model.status == PENDING else ""
    return Markup('<span class="badge badge-{}">{}</span>{}').format(
        STATUS_BADGE.get(model.status, "secondary"), model.status.replace("_", " "), flag)


def _age(view, context, model, name):
    hours = int((utcnow() - model.submitted_at).total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h"


def _case_link(view, context, model, name):
    return Markup('<a href="{}">Open case #{}</a>').format(url_for("kyc_queue.case", submission_id=model.id), model.id)


class OlderThanFilter(BaseSQLAFilter):
    """Age of a case in hours."""

    def apply(self, query, value, alias=None):
        return query.filter(KycSubmission.submitted_at < utcnow() - timedelta(hours=int(value)))

    def operation(self):
        return "older than (hours)"

    def validate(self, value):
        return str(value).isdigit()

    def clean(self, value):
        return int(value)


class AssigneeFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        if value == "me":
            return query.filter(KycSubmission.assignee_id == current_user.id)
        if value == "nobody":
            return query.filter(KycSubmission.assignee_id.is_(None))
        return query.filter(KycSubmission.assignee_id == int(value))

    def operation(self):
        return "is"

    def validate(self, value):
        return value in ("me", "nobody") or str(value).isdigit()

    def get_options(self, view):
        return [("me", "me"), ("nobody", "nobody")]


class KycQueueView(SecureModelView):
    permission = "kyc.review"
    list_template = "admin/kyc_queue.html"
    simple_list_pager = True
    can_view_details = False
    column_list = ("id", "case", "submitted_at", "age", "user", "form", "country", "status", "assignee")
    column_sortable_list = ("id", "submitted_at", "country", "status")
    column_searchable_list = ("user.email",)
    column_default_sort = ("submitted_at", False)  # oldest first
    column_filters = (
        "status", "form.name", "country", "submitted_at",
        OlderThanFilter(KycSubmission.submitted_at, "Age"),
        AssigneeFilter(KycSubmission.assignee_id, "Assignee"),
        "overdue_at",
    )
    column_labels = {"form.name": "Form", "overdue_at": "Flagged overdue", "submitted_at": "Submitted"}
    column_formatters = {"status": _status, "age": _age, "case": _case_link,
                         "user": lambda v, c, m, n: m.user.email,
                         "assignee": lambda v, c, m, n: m.assignee.email if m.assignee else "—"}

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs["reasons"] = _reasons("submission")
            kwargs["counts"] = kyc.queue_counts()
        return super().render(template, **kwargs)

    # bulk ---------------------------------------------------------------------------------------------------------
    def _bulk(self, ids, decision):
        with unit_of_work():
            results = kyc.bulk_decide([int(i) for i in ids], decision, actor=current_user,
                                      reason_code=request.form.get("bulk_reason_code"),
                                      comment=request.form.get("bulk_comment"))
        done = [r for r in results if r.ok]
        for r in results:
            flash(f"Case #{r.submission_id}: {r.message}", "success" if r.ok else "error")
        flash(f"{len(done)} of {len(results)} case(s) {decision}.", "info")

    @action("approve", "Approve selected", "Approve every selected case?")
    def action_approve(self, ids):
        self._bulk(ids, "approved")

    @action("reject", "Reject selected", "Reject every selected case with the reason chosen above?")
    def action_reject(self, ids):
        self._bulk(ids, "rejected")

    # the case page --------------------------------------------------------------------------------------------------
    def _submission(self, submission_id: int) -> KycSubmission:
        submission = db.session.get(KycSubmission, submission_id)
        if submission is None:
            abort(404)
        return submission

    @expose("/case/<int:submission_id>")
    def case(self, submission_id: int):
        submission = self._submission(submission_id)
        history = [s for s in kyc.history(submission.user_id) if s.id != submission.id]
        next_case = db.session.scalar(select(KycSubmission.id).where(
            KycSubmission.status == PENDING, KycSubmission.id != submission.id,
            (KycSubmission.assignee_id.is_(None)) | (KycSubmission.assignee_id == current_user.id))
            .order_by(KycSubmission.submitted_at).limit(1))
        reviewers = [u for u in db.session.scalars(select(User).where(User.status == "active").order_by(User.email))
                     if u.is_staff and has_permission(u, "kyc.review")]
        return self.render("admin/kyc_case.html", s=submission, history=history, form=SimpleForm(),
                           doc_reasons=_reasons("document"), reasons=_reasons("submission"),
                           reviewers=reviewers, next_case=next_case, mask=kyc.mask,
                           account_status=kyc.overall_status(submission.user_id))

    def _run(self, submission_id: int, func, message: str):
        if not SimpleForm().validate_on_submit():
            abort(400)
        return run_action(func, message, url_for(".case", submission_id=submission_id))

    @expose("/case/<int:submission_id>/claim", methods=["POST"])
    @requires("kyc.review")
    def claim(self, submission_id: int):
        submission = self._submission(submission_id)
        return self._run(submission_id, lambda: kyc.claim(submission, current_user), "The case is yours.")

    @expose("/case/<int:submission_id>/assign", methods=["POST"])
    @requires("kyc.review")
    def assign(self, submission_id: int):
        submission = self._submission(submission_id)
        raw = request.form.get("assignee_id", "")
        assignee = db.session.get(User, int(raw)) if raw.isdigit() else None
        return self._run(submission_id, lambda: kyc.assign(submission, assignee, current_user),
                         f"Assigned to {assignee.email if assignee else 'nobody'}.")

    @expose("/case/<int:submission_id>/decide", methods=["POST"])
    @requires("kyc.review")
    def decide(self, submission_id: int):
        submission = self._submission(submission_id)
        decision = request.form.get("decision", "")
        result = self._run(submission_id, lambda: kyc.decide(
            submission, decision, actor=current_user, reason_code=request.form.get("reason_code"),
            comment=request.form.get("comment")), f"Decision recorded: {decision.replace('_', ' ')}.")
        if submission.status != PENDING and request.form.get("then") == "next":
            upcoming = request.form.get("next_case", "")
            if upcoming.isdigit():
                return redirect(url_for(".case", submission_id=int(upcoming)))
        return result

    @expose("/document/<int:document_id>/decide", methods=["POST"])
    @requires("kyc.review")
    def decide_document(self, document_id: int):
        document = db.session.get(KycDocument, document_id)
        if document is None:
            abort(404)
        return self._run(document.submission_id, lambda: kyc.decide_document(
            document, request.form.get("decision", ""), actor=current_user,
            reason_code=request.form.get("reason_code"), comment=request.form.get("comment")),
            f"{document.field.label}: {request.form.get('decision', '')}.")

    @expose("/document/<int:document_id>")
    def document(self, document_id: int):
        """Staff view of a document: checked and audited, then served or redirected to a presigned URL."""
        try:
            with unit_of_work():  # the audit record of this view is committed before the document is served
                found = kyc.document_for(document_id, current_user)
        except DomainError:
            abort(404)
        return serve_document(found)


def _reasons(applies_to: str) -> list[ReasonCode]:
    return list(db.session.scalars(select(ReasonCode).where(
        ReasonCode.active.is_(True), ReasonCode.applies_to.in_((applies_to, "both"))).order_by(ReasonCode.label)))


class FieldInline(InlineFormAdmin):
    form_columns = ("id", "position", "name", "label", "type", "required", "sensitive", "help_text", "options")
    form_choices = {"type": [(t, t) for t in FIELD_TYPES]}
    form_args = {"options": {"description": 'Select choices as a JSON list, e.g. ["passport", "id_card"]'}}


class KycFormView(SecureModelView):
    """Forms are reference data designed by compliance: generic create/edit, checked and audited."""

    permission = "kyc.forms"
    can_create = True
    can_edit = True
    can_view_details = False
    column_list = ("position", "name", "active", "required_for_investing", "required_for_withdrawing", "fields")
    column_searchable_list = ("name",)
    column_filters = ("active", "required_for_investing", "required_for_withdrawing")
    column_formatters = {"fields": lambda v, c, m, n: ", ".join(f.label for f in m.fields)}
    form_columns = ("name", "description", "position", "active", "required_for_investing", "required_for_withdrawing")
    inline_models = (FieldInline(KycField),)
    column_labels = {"required_for_investing": "Needed to invest", "required_for_withdrawing": "Needed to withdraw"}

    def on_model_change(self, form, model, is_created):
        names = set()
        for field in model.fields:
            if not field.name or not field.name.replace("_", "").isalnum() or not field.name.islower():
                raise FormValidationError(f"Field names are lower-case letters, digits and _: {field.name!r}.")
            if field.name in names:
                raise FormValidationError(f"Two fields are named {field.name!r}.")
            names.add(field.name)
            if field.type == "select" and not (isinstance(field.options, list) and field.options
                                               and all(isinstance(o, str) for o in field.options)):
                raise FormValidationError(f"{field.label}: a select needs a list of choices.")
        audit.record("kyc.form_saved", target=("kyc_forms", model.id), after={
            "name": model.name, "active": model.active, "invest": model.required_for_investing,
            "withdraw": model.required_for_withdrawing,
            "fields": [{"name": f.name, "type": f.type, "required": f.required} for f in model.fields]})


class ReasonCodeView(SecureModelView):
    permission = "kyc.forms"
    can_create = True
    can_edit = True
    can_view_details = False
    column_list = ("code", "label", "applies_to", "active")
    column_searchable_list = ("code", "label")
    column_filters = ("applies_to", "active")
    form_columns = ("code", "label", "applies_to", "active")
    form_choices = {"applies_to": [("both", "both"), ("document", "document"), ("submission", "submission")]}

    def on_model_change(self, form, model, is_created):
        audit.record("kyc.reason_saved", target=("kyc_reason_codes", model.id),
                     after={"code": model.code, "label": model.label, "active": model.active})


def register(admin) -> None:
    admin.add_view(KycQueueView(KycSubmission, db, name="Review queue", endpoint="kyc_queue", category="KYC"))
    admin.add_view(KycFormView(KycForm, db, name="Forms", endpoint="kyc_forms", category="KYC"))
    admin.add_view(ReasonCodeView(ReasonCode, db, name="Reason codes", endpoint="kyc_reasons", category="KYC"))
