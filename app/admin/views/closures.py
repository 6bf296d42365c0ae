"""Closing an investor's account on their request, with four eyes: proposed from the user's page by a staff member
holding `users.close`, approved here by a different one (the account is then closed), rejected by another, or
cancelled by its proposer. A refused attempt is audited."""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup

from app.account import services as account
from app.account.models import CLOSE_PENDING, ClosureRequest
from app.admin.base import SecureModelView, act_on_account, requires
from app.auth.forms import SimpleForm
from app.auth.models import User
from app.core.errors import NotFound
from app.extensions import db

PERMISSION = "users.close"
STATUS_BADGE = {"pending": "warning", "approved": "success", "rejected": "danger", "cancelled": "secondary"}


def _status(view, context, model, name):
    return Markup('<span class="badge badge-{}" data-testid="request-status">{}</span>').format(
        STATUS_BADGE.get(model.status, "secondary"), model.status)


class ClosureRequestView(SecureModelView):
    permission = PERMISSION
    details_template = "admin/closure_request_details.html"
    column_list = ("id", "target", "proposer", "reason", "status", "decided_by", "decided_at", "created_at")
    column_details_list = ("id", "target", "proposer", "reason", "created_at", "status", "decided_by", "decided_at",
                           "decision_reason")
    column_filters = ("target_id", "status", "created_at")
    column_searchable_list = ("reason", "target.email")
    column_default_sort = ("id", True)
    column_labels = {"target": "Account", "target_id": "Account id", "proposer": "Proposed by",
                     "decided_by": "Decided by", "decision_reason": "Reason of the decision"}
    column_formatters = {"status": _status}
    column_formatters_detail = {"status": _status}

    def render(self, template, **kwargs):
        model = kwargs.get("model")
        if template == self.details_template and model is not None:
            pending = model.status == CLOSE_PENDING
            kwargs.update(form=SimpleForm(), pending=pending,
                          blockers=account.blockers(model.target) if pending else [])
        return super().render(template, **kwargs)

    def _request(self, request_id: int) -> ClosureRequest:
        if not SimpleForm().validate_on_submit():
            abort(400)
        try:
            return account.closure_request(request_id)
        except NotFound:
            abort(404)

    @expose("/propose/<int:user_id>", methods=["POST"])
    @requires(PERMISSION)
    def propose(self, user_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        user = db.session.get(User, user_id)
        if user is None:
            abort(404)
        return act_on_account(user, "account.close_propose", lambda: account.propose_closure(
            user, actor=current_user, reason=request.form.get("reason")),
            lambda created: f"Proposed: closing {user.email} waits for a second approval (request #{created.id}).",
            url_for("users.details_view", id=user_id))

    @expose("/<int:request_id>/approve", methods=["POST"])
    @requires(PERMISSION)
    def approve(self, request_id: int):
        closure = self._request(request_id)
        return act_on_account(closure.target, "account.close_approve", lambda: account.approve_closure(
            closure, actor=current_user, reason=request.form.get("reason")),
            f"Approved: account #{closure.target_id} is closed.", url_for(".details_view", id=request_id))

    @expose("/<int:request_id>/decline", methods=["POST"])
    @requires(PERMISSION)
    def decline(self, request_id: int):
        closure = self._request(request_id)
        return act_on_account(closure.target, "account.close_decline", lambda: account.decline_closure(
            closure, actor=current_user, reason=request.form.get("reason")),
            lambda status: f"Request #{request_id} is {status}; nothing was changed.",
            url_for(".details_view", id=request_id))


def register(admin) -> None:
    admin.add_view(ClosureRequestView(ClosureRequest, db, name="Account closings to approve",
                                      endpoint="closure_requests", category="People"))
