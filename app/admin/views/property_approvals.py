"""Offerings to approve: the queue of a property manager's requests to publish a draft or to change the terms of a
published offering. A finance user other than the submitter sees the terms, what they commit the platform to pay
at full funding and, for a change, each field before and after; then approves or rejects with a reason."""
from __future__ import annotations

from types import SimpleNamespace

from flask import abort, url_for
from flask import request as http_request
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup

from app.admin.base import SecureModelView, requires, run_action
from app.auth.forms import SimpleForm
from app.core.errors import NotFound
from app.extensions import db
from app.properties import services as properties
from app.properties import terms
from app.properties.models import APPROVAL_PENDING, APPROVAL_TERMS_CHANGE, PropertyApproval

STATUS_BADGE = {"pending": "warning", "approved": "success", "rejected": "danger", "withdrawn": "secondary"}


def _status(view, context, model, name):
    return Markup('<span class="badge badge-{}" data-testid="request-status">{}</span>').format(
        STATUS_BADGE.get(model.status, "secondary"), model.status)


def _property(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(url_for("properties.details_view", id=model.property_id),
                                                  model.property.title)


def _email(attr):
    def formatter(view, context, model, name):
        user = getattr(model, attr)
        return user.email if user is not None else ""

    return formatter


def _shown(value) -> str:
    if value is None:
        return "—"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


class PropertyApprovalView(SecureModelView):
    permission = "properties.approve"
    details_template = "admin/property_approval_details.html"
    column_list = ("id", "property", "kind", "status", "submitted_by", "submitted_at", "decided_by", "decided_at")
    column_details_list = ("id", "property", "kind", "status", "submitted_by", "submitted_at", "decided_by",
                           "decided_at", "reason")
    column_filters = ("status", "kind", "submitted_at")
    column_searchable_list = ("property.title",)
    column_default_sort = ("id", True)
    column_labels = {"submitted_by": "Submitted by", "decided_by": "Decided by", "reason": "Reason of a rejection"}
    column_formatters = {"status": _status, "property": _property, "kind": lambda v, c, m, n: m.label,
                         "submitted_by": _email("submitted_by"), "decided_by": _email("decided_by")}
    column_formatters_detail = column_formatters

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            r = kwargs["model"]
            p = r.property
            changes = properties.changes_of(r) if r.kind == APPROVAL_TERMS_CHANGE else []
            proposed = p
            if changes:
                values = {name: getattr(p, name) for name in (*terms.TERM_FIELDS, "status")}
                proposed = SimpleNamespace(**(values | {name: new for name, _, new in changes}),
                                           documents=list(p.documents))
            problems = terms.problems(proposed)
            kwargs.update(form=SimpleForm(), pending=r.status == APPROVAL_PENDING, prop=p,
                          own=r.submitted_by_id == current_user.id,
                          stale=r.status == APPROVAL_PENDING and r.fingerprint != terms.terms_fingerprint(p),
                          changes=[(name, _shown(old), _shown(new)) for name, old, new in changes],
                          summary=terms.summary(proposed) if not terms.problems(proposed, bounds=False) else [],
                          problems=problems,
                          commitment=terms.commitment(proposed) if not problems else None,
                          example=terms.example(proposed)["sentence"] if not problems else None,
                          missing=terms.missing_to_publish(p) if r.kind != APPROVAL_TERMS_CHANGE else [])
        return super().render(template, **kwargs)

    def _request(self, request_id: int) -> PropertyApproval:
        if not SimpleForm().validate_on_submit():
            abort(400)
        try:
            return properties.get_request(request_id)
        except NotFound:
            abort(404)

    @expose("/<int:request_id>/approve", methods=["POST"])
    @requires("properties.approve")
    def approve(self, request_id: int):
        r = self._request(request_id)
        title = r.property.title
        return run_action(lambda: properties.approve(r, actor=current_user),
                          f"Approved: {r.label} of {title}.", url_for(".details_view", id=request_id))

    @expose("/<int:request_id>/reject", methods=["POST"])
    @requires("properties.approve")
    def reject(self, request_id: int):
        r = self._request(request_id)
        title = r.property.title
        return run_action(lambda: properties.reject(r, actor=current_user, reason=http_request.form.get("reason")),
                          f"Rejected: {r.label} of {title}; the submitter is told why.",
                          url_for(".details_view", id=request_id))


def register(admin) -> None:
    admin.add_view(PropertyApprovalView(PropertyApproval, db, name="Offerings to approve",
                                        endpoint="property_approvals", category="Properties"))
