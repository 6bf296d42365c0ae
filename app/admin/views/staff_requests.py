"""Changes to staff accounts that take a second admin: the queue of requests (reset a staff member's two-factor
authentication, unblock a staff account), each approved by an admin other than its proposer and the account's
owner, rejected by another admin, or cancelled by its proposer. A refused attempt is audited."""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup

from app.admin.base import SecureModelView, act_on_account, requires
from app.auth import services
from app.auth.forms import SimpleForm
from app.auth.models import STAFF_REQUEST_PENDING, StaffActionRequest
from app.core.errors import NotFound
from app.extensions import db

STATUS_BADGE = {"pending": "warning", "approved": "success", "rejected": "danger", "cancelled": "secondary"}


def _status(view, context, model, name):
    return Markup('<span class="badge badge-{}" data-testid="request-status">{}</span>').format(
        STATUS_BADGE.get(model.status, "secondary"), model.status)


def _action(view, context, model, name):
    return model.label


class StaffRequestView(SecureModelView):
    permission = "staff.manage"
    details_template = "admin/staff_request_details.html"
    column_list = ("id", "action", "target", "proposer", "reason", "status", "decided_by", "decided_at",
                   "created_at")
    column_details_list = ("id", "action", "target", "proposer", "reason", "created_at", "status", "decided_by",
                           "decided_at", "decision_reason")
    column_filters = ("status", "action", "created_at")
    column_searchable_list = ("reason", "target.email")
    column_default_sort = ("id", True)
    column_labels = {"target": "Staff account", "proposer": "Proposed by", "decided_by": "Decided by",
                     "reason": "Reason", "decision_reason": "Reason of the decision"}
    column_formatters = {"status": _status, "action": _action}
    column_formatters_detail = {"status": _status, "action": _action}

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            kwargs.update(form=SimpleForm(), pending=kwargs["model"].status == STAFF_REQUEST_PENDING)
        return super().render(template, **kwargs)

    def _request(self, request_id: int) -> StaffActionRequest:
        if not SimpleForm().validate_on_submit():
            abort(400)
        try:
            return services.staff_request(request_id)
        except NotFound:
            abort(404)

    @expose("/<int:request_id>/approve", methods=["POST"])
    @requires("staff.manage")
    def approve(self, request_id: int):
        staff_request = self._request(request_id)
        target = staff_request.target
        return act_on_account(target, "staff_requests.approve", lambda: services.approve_staff_request(
            staff_request, actor=current_user, reason=request.form.get("reason")),
            f"Approved: {staff_request.label} {target.email} is done.",
            url_for(".details_view", id=request_id))

    @expose("/<int:request_id>/decline", methods=["POST"])
    @requires("staff.manage")
    def decline(self, request_id: int):
        staff_request = self._request(request_id)
        return act_on_account(staff_request.target, "staff_requests.decline", lambda: services.decline_staff_request(
            staff_request, actor=current_user, reason=request.form.get("reason")),
            lambda status: f"Request #{request_id} is {status}; nothing was changed.",
            url_for(".details_view", id=request_id))


def register(admin) -> None:
    admin.add_view(StaffRequestView(StaffActionRequest, db, name="Staff changes to approve", endpoint="staff_requests",
                                    category="People"))
