"""Messages from staff in the console (Support -> Messages to investors): the list with a status filter, the compose
form, the preview with the recipient count to confirm, approval by a second person above the threshold, the
progress of sending (a JSON status for the shared progress bar), cancel and resume. Every action calls
app.support.messages in one unit of work."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from app.admin.base import SecureModelView, describe, requires
from app.auth.forms import SimpleForm
from app.core import audit
from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import DomainError, Forbidden
from app.extensions import db
from app.notifications.models import EMAIL, IN_APP
from app.support import messages, segments
from app.support.message_models import AWAITING_APPROVAL, DRAFT, FAILED, SEGMENTS, STATUSES, StaffMessage

PERMISSION = messages.SEND
FIELDS = ("segment", "investor", "property_id", "days", "subject", "body", "reason")
STATUS_BADGE = {"draft": "secondary", "awaiting_approval": "warning", "approved": "info", "sending": "primary",
                "sent": "success", "cancelled": "secondary", "failed": "danger"}
FINAL = "sent failed cancelled"


def _status(view, context, model, name):
    return Markup('<span class="badge badge-{}" data-testid="message-status">{}</span>').format(
        STATUS_BADGE.get(model.status, "secondary"), model.status.replace("_", " "))


def _email(attr):
    def formatter(view, context, model, name):
        user = getattr(model, attr)
        return user.email if user is not None else ""

    return formatter


def _audience(view, context, model, name):
    return messages.audience(model)


def _progress(view, context, model, name):
    if model.recipients_total is None:
        return f"{model.confirmed_count} to confirm" if model.confirmed_count else ""
    return f"{model.done} / {model.recipients_total}"


class StatusFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        return query.filter(StaffMessage.status == value)

    def operation(self):
        return "is"

    def validate(self, value):
        return value in STATUSES

    def get_options(self, view):
        return [(s, s.replace("_", " ")) for s in STATUSES]


class StaffMessageView(SecureModelView):
    permission = PERMISSION
    list_template = "admin/staff_messages/list.html"
    details_template = "admin/staff_messages/details.html"
    column_auto_select_related = False
    column_list = ("id", "created_at", "subject", "segment", "status", "sent_count", "proposed_by", "approved_by")
    column_sortable_list = ("id", "created_at", "status")
    column_searchable_list = ("subject",)
    column_default_sort = ("id", True)
    column_labels = {"created_at": "Written at", "segment": "To", "sent_count": "Sent",
                     "proposed_by": "Written by", "approved_by": "Approved by", "send_email": "Also by e-mail",
                     "reason": "Reason (internal)", "decision_reason": "Decision reason",
                     "cancelled_by": "Cancelled or rejected by", "recipients_total": "Recipients",
                     "submitted_at": "Confirmed at", "approved_at": "Approved at", "skipped_count": "Skipped",
                     "started_at": "Sending started", "finished_at": "Finished at", "last_error": "Error"}
    column_filters = (StatusFilter(StaffMessage.status, "Status"),)
    column_formatters = {"status": _status, "segment": _audience, "sent_count": _progress,
                         "proposed_by": _email("proposed_by"), "approved_by": _email("approved_by")}
    column_details_list = ("id", "status", "segment", "send_email", "reason", "proposed_by", "created_at",
                           "submitted_at", "approved_by", "approved_at", "cancelled_by", "decision_reason",
                           "recipients_total", "sent_count", "skipped_count", "started_at", "finished_at",
                           "last_error")
    column_formatters_detail = {**column_formatters, "cancelled_by": _email("cancelled_by"),
                                "sent_count": lambda v, c, m, n: m.sent_count,
                                "send_email": lambda v, c, m, n: "yes" if m.send_email else "no (in-app only)"}

    def get_query(self):
        return db.session.query(StaffMessage)

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            m = kwargs["model"]
            kwargs.update(form=SimpleForm(), own=m.proposed_by_id == current_user.id, count=messages.recipient_count(m),
                          threshold=messages.APPROVAL_ABOVE, preview=messages.preview(m), IN_APP=IN_APP, EMAIL=EMAIL,
                          audience=messages.audience(m), final=FINAL, DRAFT=DRAFT,
                          AWAITING_APPROVAL=AWAITING_APPROVAL, FAILED=FAILED,
                          history=list(db.session.scalars(
                              select(AuditRecord).where(AuditRecord.target_type == StaffMessage.__tablename__,
                                                        AuditRecord.target_id == str(m.id))
                              .order_by(AuditRecord.id))))
        elif template == self.list_template:
            kwargs["awaiting"] = messages.awaiting_count()
        return super().render(template, **kwargs)

    # composing ------------------------------------------------------------------------------------------------------
    @expose("/compose", methods=["GET"])
    def compose_form(self):
        """The form; `investor` in the query string (an e-mail or an id) chooses one investor."""
        values = {name: request.args.get(name) or "" for name in FIELDS}
        if values["investor"] and not values["segment"]:
            values["segment"] = "investor"
        return self._form(values)

    def _form(self, values: dict, *, error: str | None = None, status: int = 200, send_email: bool = False):
        return self.render("admin/staff_messages/compose.html", values=values, error=error, send_email=send_email,
                           segments=[(kind, segments.LABELS[kind]) for kind in SEGMENTS],
                           properties=segments.property_choices(), subject_max=messages.SUBJECT_MAX,
                           body_max=messages.BODY_MAX, reason_max=messages.REASON_MAX,
                           threshold=messages.APPROVAL_ABOVE, form=SimpleForm()), status

    @expose("/compose", methods=["POST"])
    @requires(PERMISSION)
    def compose(self):
        if not SimpleForm().validate_on_submit():
            abort(400)
        values = {name: request.form.get(name) or "" for name in FIELDS}
        send_email = request.form.get("send_email") == "y"
        try:
            with unit_of_work():
                m = messages.compose(segment=values["segment"], investor=values["investor"],
                                     property_id=values["property_id"], days=values["days"], subject=values["subject"],
                                     body=values["body"], send_email=send_email, reason=values["reason"],
                                     actor=current_user)
                message_id = m.id
        except DomainError as exc:
            return self._form(values, error=describe(exc), status=exc.status, send_email=send_email)
        flash(f"Draft #{message_id} saved: check the preview and confirm the number of recipients to send it.",
              "success")
        return redirect(url_for(".details_view", id=message_id))

    # deciding -------------------------------------------------------------------------------------------------------
    def _message(self, message_id: int) -> StaffMessage:
        if not SimpleForm().validate_on_submit():
            abort(400)
        m = db.session.get(StaffMessage, message_id)
        if m is None:
            abort(404)
        return m

    def _run(self, m: StaffMessage, func, message):
        """run_action; a four-eyes refusal (approving one's own message) is audited in a unit of work of its own,
        since the refused one rolls back."""
        back = url_for(".details_view", id=m.id)
        try:
            with unit_of_work():
                result = func()
        except Forbidden as exc:
            with unit_of_work():
                audit.record("staff_messages.refused", actor=current_user._get_current_object(), target=m,
                             after={"attempted": request.endpoint, "refusal": exc.message},
                             reason=request.form.get("reason") or request.form.get("comment"))
            flash(describe(exc), "error")
            return redirect(back)
        except DomainError as exc:
            flash(describe(exc), "error")
            return redirect(back)
        flash(message(result) if callable(message) else message, "success")
        return redirect(back)

    @expose("/<int:message_id>/confirm", methods=["POST"])
    @requires(PERMISSION)
    def confirm(self, message_id: int):
        m = self._message(message_id)
        return self._run(m, lambda: messages.confirm(m, count_seen=request.form.get("count"), actor=current_user),
                         lambda r: (f"Waiting for approval: {r.confirmed_count} recipients is more than "
                                    f"{messages.APPROVAL_ABOVE}, so a second person approves it."
                                    if r.status == AWAITING_APPROVAL else
                                    f"Sending to {r.recipients_total} investors."))

    @expose("/<int:message_id>/approve", methods=["POST"])
    @requires(PERMISSION)
    def approve(self, message_id: int):
        m = self._message(message_id)
        return self._run(m, lambda: messages.approve(m, count_seen=request.form.get("count"), actor=current_user,
                                                     comment=request.form.get("comment")),
                         lambda r: f"Approved: sending to {r.recipients_total} investors.")

    @expose("/<int:message_id>/reject", methods=["POST"])
    @requires(PERMISSION)
    def reject(self, message_id: int):
        m = self._message(message_id)
        return self._run(m, lambda: messages.reject(m, actor=current_user, reason=request.form.get("reason")),
                         "Rejected: nothing was sent.")

    @expose("/<int:message_id>/cancel", methods=["POST"])
    @requires(PERMISSION)
    def cancel(self, message_id: int):
        m = self._message(message_id)
        return self._run(m, lambda: messages.cancel(m, actor=current_user, reason=request.form.get("reason")),
                         "Cancelled: nothing was sent.")

    @expose("/<int:message_id>/resume", methods=["POST"])
    @requires(PERMISSION)
    def resume(self, message_id: int):
        m = self._message(message_id)
        return self._run(m, lambda: messages.resume(m, actor=current_user, reason=request.form.get("reason")),
                         "Sending again to the investors not reached yet.")

    @expose("/<int:message_id>/progress")
    def progress(self, message_id: int):
        m = db.session.get(StaffMessage, message_id)
        if m is None:
            abort(404)
        return jsonify(messages.progress(m))


def register(admin) -> None:
    admin.add_view(StaffMessageView(StaffMessage, db, name="Messages to investors", endpoint="staff_messages",
                                    url="staff_messages", category="Support"))
