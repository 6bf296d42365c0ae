"""Changes of name after an approved identity, for compliance (`kyc.review`): the open requests with the old and
new name, approved (the name applies) or rejected with a reason; both audited, the investor told."""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup

from app.admin.base import SecureModelView, requires, run_action
from app.auth.forms import SimpleForm
from app.core.errors import NotFound
from app.extensions import db
from app.kyc import services as kyc
from app.kyc.models import NAME_PROPOSED, NameChangeRequest

STATUS_BADGE = {"proposed": "warning", "approved": "success", "rejected": "danger"}


def _status(view, context, model, name):
    return Markup('<span class="badge badge-{}" data-testid="name-change-status">{}</span>').format(
        STATUS_BADGE.get(model.status, "secondary"), model.status)


def _old(view, context, model, name):
    return model.old_name


def _new(view, context, model, name):
    return model.new_name


class NameChangeView(SecureModelView):
    permission = "kyc.review"
    details_template = "admin/name_change_details.html"
    column_list = ("id", "user", "old_name", "new_name", "status", "proposed_by", "created_at", "decided_by",
                   "decided_at")
    column_details_list = ("id", "user", "old_name", "new_name", "status", "proposed_by", "created_at",
                           "decided_by", "decided_at", "reason")
    column_filters = ("status", "created_at")
    column_searchable_list = ("old_last_name", "new_last_name", "user.email")
    column_default_sort = ("id", False)  # oldest first: the queue
    column_labels = {"user": "Investor", "old_name": "Current name", "new_name": "New name",
                     "proposed_by": "Proposed by", "decided_by": "Decided by", "reason": "Reason of the rejection"}
    column_formatters = {"status": _status, "old_name": _old, "new_name": _new}
    column_formatters_detail = column_formatters

    def get_query(self):
        query = super().get_query()
        if request.args.get("all") is None and not any(k.startswith("flt") for k in request.args):
            query = query.filter(NameChangeRequest.status == NAME_PROPOSED)  # the open ones unless asked
        return query

    def get_count_query(self):
        query = super().get_count_query()
        if request.args.get("all") is None and not any(k.startswith("flt") for k in request.args):
            query = query.filter(NameChangeRequest.status == NAME_PROPOSED)
        return query

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            kwargs.update(form=SimpleForm(), pending=kwargs["model"].status == NAME_PROPOSED)
        return super().render(template, **kwargs)

    def _request(self, request_id: int) -> NameChangeRequest:
        if not SimpleForm().validate_on_submit():
            abort(400)
        try:
            return kyc.request_for_review(request_id)
        except NotFound:
            abort(404)

    @expose("/<int:request_id>/approve", methods=["POST"])
    @requires("kyc.review")
    def approve(self, request_id: int):
        change = self._request(request_id)
        return run_action(lambda: kyc.approve_name_change(change, actor=current_user._get_current_object()),
                          f"Approved: the account is now in the name of {change.new_name}.",
                          url_for(".details_view", id=request_id))

    @expose("/<int:request_id>/reject", methods=["POST"])
    @requires("kyc.review")
    def reject(self, request_id: int):
        change = self._request(request_id)
        return run_action(lambda: kyc.reject_name_change(change, request.form.get("reason"),
                                                         actor=current_user._get_current_object()),
                          "Rejected: the name stays as it was; the investor is told why.",
                          url_for(".details_view", id=request_id))


def register(admin) -> None:
    admin.add_view(NameChangeView(NameChangeRequest, db, name="Name changes", endpoint="name_changes",
                                  category="KYC"))
