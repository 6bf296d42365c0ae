"""Notifications in the console: the delivery log with resend, the e-mail outbox, and template overrides edited
with a live preview (rendered in the same sandbox as real sends)."""
from __future__ import annotations

import json

from flask import abort, flash, g, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup
from wtforms import ValidationError as FormValidationError

from app.admin.base import SecureModelView, requires
from app.admin.list_search import IndexedSearch
from app.auth.forms import SimpleForm
from app.core import audit
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.core.security import has_permission
from app.extensions import db
from app.notifications import catalogue, rendering, template_rules
from app.notifications import services as notifications
from app.notifications.models import CHANNELS, EMAIL, Delivery, Notification, NotificationTemplate

STATUS_BADGE = {"queued": "secondary", "sending": "info", "sent": "success", "logged": "light", "failed": "danger"}


def _status(view, context, model, name):
    return Markup('<span class="badge badge-{}">{}</span>').format(STATUS_BADGE.get(model.status, "secondary"),
                                                                 model.status)


def _email_preview(view, context, model, name):
    if not model.html:
        return Markup("<pre class='mb-0'>{}</pre>").format(model.body)
    # the HTML part is shown in a sandboxed frame: no scripts, no same-origin access
    return Markup('<iframe sandbox="" srcdoc="{}" style="width:100%;height:420px;border:1px solid #ddd">'
                  '</iframe>').format(model.html)


class DeliveryView(IndexedSearch, SecureModelView):
    permission = "notifications.view"
    simple_list_pager = True
    details_template = "admin/delivery_details.html"
    column_list = ("id", "created_at", "notification.event", "channel", "to_address", "status", "attempts",
                   "last_error", "sent_at")
    column_details_list = ("id", "notification.event", "channel", "to_address", "status", "attempts", "last_error",
                           "provider_id", "resent_from_id", "created_at", "claimed_at", "next_attempt_at", "sent_at",
                           "subject", "body")
    column_filters = ("status", "channel", "notification.event", "to_address", "created_at")
    column_searchable_list = ("to_address",)
    column_default_sort = ("id", True)
    column_labels = {"notification.event": "Event", "to_address": "To", "provider_id": "Provider id"}
    column_formatters = {"status": _status}
    form_excluded_columns = column_export_exclude_list = ("secret",)  # the encrypted link is never shown

    def render(self, template, **kwargs):
        if template == self.details_template:
            kwargs["form"] = SimpleForm()
            kwargs["can_resend"] = self._can("notifications.resend")
        return super().render(template, **kwargs)

    @staticmethod
    def _can(permission: str) -> bool:
        return has_permission(current_user, permission)

    @expose("/<int:delivery_id>/resend", methods=["POST"])
    @requires("notifications.resend")
    def resend(self, delivery_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        delivery = db.session.get(Delivery, delivery_id)
        if delivery is None:
            abort(404)
        try:
            with unit_of_work():
                copy = notifications.resend(delivery, actor=current_user)
        except DomainError as exc:
            flash(exc.message[:1].upper() + exc.message[1:] + ".", "error")
            return redirect(url_for(".details_view", id=delivery_id))
        flash(f"Queued again as delivery #{copy.id}.", "success")
        return redirect(url_for(".details_view", id=copy.id))


class OutboxView(IndexedSearch, SecureModelView):
    """Every e-mail, as sent (or, without SMTP, as written to the log): the dev outbox."""

    permission = "notifications.view"
    simple_list_pager = True
    column_list = ("id", "created_at", "to_address", "subject", "notification.event", "status")
    column_details_list = ("id", "created_at", "to_address", "subject", "notification.event", "status",
                           "last_error", "body", "html")
    column_filters = ("status", "to_address", "notification.event", "created_at")
    column_searchable_list = ("to_address",)  # the start of the address (indexed): a big table
    column_default_sort = ("id", True)
    column_labels = {"notification.event": "Event", "to_address": "To", "html": "HTML part", "body": "Text part"}
    column_formatters = {"status": _status}
    form_excluded_columns = column_export_exclude_list = ("secret",)  # the encrypted link is never shown
    column_formatters_detail = {"html": _email_preview,
                                "body": lambda v, c, m, n: Markup("<pre class='mb-0'>{}</pre>").format(m.body)}

    def get_query(self):
        return super().get_query().filter(Delivery.channel == EMAIL)

    def get_count_query(self):
        return super().get_count_query().filter(Delivery.channel == EMAIL)


class NotificationView(IndexedSearch, SecureModelView):
    permission = "notifications.view"
    simple_list_pager = True
    can_view_details = False
    column_list = ("id", "created_at", "user", "event", "in_app", "title", "read_at")
    column_filters = ("event", "user_id", "in_app", "read_at", "created_at")
    column_searchable_list = ("id",)  # the exact id, or the investor (IndexedSearch)
    investor_columns = ("user_id",)
    column_default_sort = ("id", True)


class _CostlyTemplate(FormValidationError):
    """A template refused because it would compute huge values or run too long (audited as an attempt)."""

    def __init__(self, message: str, template_id: int | None, fields: dict):
        super().__init__(message)
        self.template_id = template_id
        self.fields = fields  # as typed: the row itself is rolled back before the refusal is recorded


class TemplateView(SecureModelView):
    """Staff overrides of the file templates. Generic create/edit is fine here: templates are reference data;
    every save is checked by rendering it in the sandbox, and audited."""

    permission = "notifications.templates"
    can_create = True
    can_edit = True
    can_delete = True
    action_disallowed_list = []
    can_view_details = False
    create_template = "admin/notification_template_edit.html"
    edit_template = "admin/notification_template_edit.html"
    column_list = ("event", "channel", "subject", "active", "updated_by", "updated_at")
    column_filters = ("event", "channel", "active")
    column_searchable_list = ("event", "subject")
    form_columns = ("event", "channel", "subject", "body", "html", "active")
    form_choices = {"event": [(key, f"{key} — {e.description}" + (" (security message: not editable)"
                                                                   if e.locked else ""))
                              for key, e in sorted(catalogue.EVENTS.items())],
                    "channel": [(c, c) for c in CHANNELS]}
    form_widget_args = {"body": {"rows": 10, "class": "form-control text-monospace"},
                        "html": {"rows": 14, "class": "form-control text-monospace"}}
    column_descriptions = {
        "subject": "E-mail subject, or the in-app or push title. Jinja: {{ user.first_name }}, {{ link }} …",
        "body": "Text part of the e-mail, in-app body, SMS text or push body.",
        "html": "HTML part of the e-mail (escaped automatically). Links and images may only point at this site.",
    }

    # a refused save is rolled back with its unit of work; the attempt is then audited in one of its own
    def create_model(self, form):
        return self._audit_refusal(super().create_model(form))

    def update_model(self, form, model):
        return self._audit_refusal(super().update_model(form, model))

    @staticmethod
    def _audit_refusal(result):
        refused = g.pop("template_refused", None)
        if refused is not None:
            with unit_of_work():
                audit.record("notifications.template_refused", target=("notification_templates", refused["id"]),
                             after={k: v for k, v in refused.items() if k != "id"})
        return result

    def on_model_change(self, form, model, is_created):
        spec = catalogue.EVENTS.get(model.event)
        if spec is None:
            raise FormValidationError("Unknown event.")
        try:
            rendering.check_override(model.event, model.channel, subject=model.subject, body=model.body,
                                     html=model.html)
        except template_rules.TemplateRefused as exc:
            g.template_refused = {"id": model.id, "event": model.event, "channel": model.channel,
                                  "subject": model.subject, "body": model.body, "html": model.html,
                                  "why": str(exc)}
            raise FormValidationError(str(exc)) from None
        except rendering.TemplateProblem as exc:  # too costly: huge values or past the time budget
            raise _CostlyTemplate(f"The template does not render: {exc}", model.id, {
                "event": model.event, "channel": model.channel, "subject": model.subject, "body": model.body,
                "html": model.html}) from None
        if model.channel not in spec.channels:
            raise FormValidationError(f"{model.event} is not sent on {model.channel}; it uses: "
                                      f"{', '.join(spec.channels)}.")
        if model.html and model.channel != EMAIL:
            raise FormValidationError("Only e-mail has an HTML part.")
        model.updated_by_id = current_user.id
        audit.record("notifications.template_saved", target=("notification_templates", model.id),
                     after={"event": model.event, "channel": model.channel, "subject": model.subject,
                            "body": model.body, "html": model.html, "active": model.active,
                            "created": is_created})

    def handle_view_exception(self, exc):
        """A save refused as too costly is recorded (after the refused unit of work has rolled back), then shown
        as any refused save is."""
        if isinstance(exc, _CostlyTemplate):
            with unit_of_work():
                audit.record("notifications.template_refused", target=("notification_templates", exc.template_id),
                             after=exc.fields, reason=str(exc))
        return super().handle_view_exception(exc)

    def on_model_delete(self, model):
        audit.record("notifications.template_deleted", target=model,
                     before={"event": model.event, "channel": model.channel, "body": model.body})

    @expose("/preview", methods=["POST"])
    @requires("notifications.templates")
    def preview(self):
        """Render what is being typed with the event's sample data, in the sandbox real sends use."""
        event = request.form.get("event", "")
        channel = request.form.get("channel", "")
        if event not in catalogue.EVENTS or channel not in CHANNELS:
            return jsonify(ok=False, error="Choose an event and a channel."), 422
        context = catalogue.sample_context(event)
        try:
            rendered = rendering.render_isolated(request.form.get("subject"), request.form.get("body"),
                                                 request.form.get("html"), context)
        except rendering.TemplateProblem as exc:
            return jsonify(ok=False, error=str(exc)), 200
        try:  # what saving it would refuse: a security message, links elsewhere than this site
            rendering.check_rendered(event, subject=request.form.get("subject"), body=request.form.get("body"),
                                     html=request.form.get("html"), rendered=rendered)
        except template_rules.TemplateRefused as exc:
            return jsonify(ok=False, error=str(exc)), 200
        result = {"subject": rendered.subject, "body": rendered.body or None, "html": rendered.html}
        return jsonify(ok=True, sample=json.dumps(context, indent=1), **result)

    @expose("/source", methods=["GET"])
    def source(self):
        """The file templates' text for an event and channel, to start an override from."""
        event, channel = request.args.get("event", ""), request.args.get("channel", "")
        if event not in catalogue.EVENTS or channel not in CHANNELS:
            return jsonify(ok=False, error="Choose an event and a channel."), 422
        return jsonify(ok=True, **rendering.file_sources(event, channel))


def register(admin) -> None:
    admin.add_view(DeliveryView(Delivery, db, name="Delivery log", endpoint="deliveries", category="Notifications"))
    admin.add_view(OutboxView(Delivery, db, name="E-mail outbox", endpoint="outbox", category="Notifications"))
    admin.add_view(NotificationView(Notification, db, name="Notifications", endpoint="notifications",
                                    category="Notifications"))
    admin.add_view(TemplateView(NotificationTemplate, db, name="Templates", endpoint="notification_templates",
                                category="Notifications"))
