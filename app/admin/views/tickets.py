"""People -> Support tickets: the queue (status, priority, assignee, age, the SLA flag computed by the database),
filters (status, priority, assignee: me or nobody, SLA breached), search by subject or the investor's e-mail, sorting
by age, an audited CSV/XLSX export; a ticket's page with the whole conversation, internal notes marked, and support's
actions: reply (the investor is notified), internal note, assign, priority, close and reopen, each audited.
Compliance reads (tickets.view); support answers and acts (tickets.reply)."""
from __future__ import annotations

from flask import abort, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import joinedload, with_expression

from app.admin.base import BigListMixin, SecureModelView, requires, run_action
from app.admin.views.market_common import EmailIs, StatusIs, details_url
from app.auth.forms import SimpleForm
from app.auth.models import User
from app.core.db import unit_of_work, utcnow
from app.core.errors import DomainError
from app.extensions import db
from app.support import tickets
from app.support.models import CATEGORIES, PRIORITIES, STATUSES, Ticket
from app.support.views import serve_attachment

STATUS_BADGE = {"open": "warning", "answered": "success", "closed": "secondary"}
PRIORITY_BADGE = {"low": "light", "normal": "secondary", "high": "warning", "urgent": "danger"}
EXPORT_HEADER = ("id", "subject", "investor", "category", "status", "priority", "assignee", "opened",
                 "last message", "waiting since", "closed", "age (days)", "SLA breached", "messages")


class AssigneeIs(BaseSQLAFilter):
    """Tickets assigned to the signed-in staff member, or to nobody."""

    def __init__(self, column, name):
        super().__init__(column, name, options=[("me", "me"), ("nobody", "nobody")])

    def apply(self, query, value, alias=None):
        if value == "me":
            return query.filter(Ticket.assignee_id == current_user.id)
        return query.filter(Ticket.assignee_id.is_(None))

    def operation(self):
        return "is"

    def validate(self, value):
        return value in ("me", "nobody")


class SlaBreached(BaseSQLAFilter):
    """Waiting for support longer than SUPPORT_SLA_HOURS (or not), in SQL."""

    def __init__(self, column, name):
        super().__init__(column, name, options=[("yes", "yes"), ("no", "no")])

    def apply(self, query, value, alias=None):
        breached = tickets.breached_clause()
        return query.filter(breached if value == "yes" else ~breached)

    def operation(self):
        return "is"

    def validate(self, value):
        return value in ("yes", "no")


def age_days(model: Ticket) -> int:
    return max(((model.closed_at or utcnow()) - model.created_at).days, 0)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _subject(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(url_for(".details_view", id=model.id), model.subject)


def _investor(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(details_url("users", model.user.id), model.user.email)


def _assignee(view, context, model, name):
    if model.assignee is None:
        return Markup('<span class="text-muted">nobody</span>')
    return model.assignee.email


def _status(view, context, model, name):
    flag = Markup(' <span class="badge badge-danger" data-testid="sla-{}" title="waiting longer than {} hours">'
                  'SLA</span>').format(model.id, tickets.sla_hours()) if model.sla_breached else ""
    return Markup('<span class="badge badge-{}">{}</span>{}').format(STATUS_BADGE.get(model.status, "secondary"),
                                                                    model.status, flag)


def _priority(view, context, model, name):
    return Markup('<span class="badge badge-{}">{}</span>').format(PRIORITY_BADGE.get(model.priority, "light"),
                                                                  model.priority)


def _age(view, context, model, name):
    return f"{age_days(model)} d"


def export_row(model: Ticket) -> list:
    return [model.id, model.subject, model.user.email, model.category, model.status, model.priority,
            model.assignee.email if model.assignee else "", _when(model.created_at), _when(model.last_message_at),
            _when(model.waiting_since), _when(model.closed_at), age_days(model),
            "yes" if model.sla_breached else "no", model.message_count]


class TicketView(BigListMixin, SecureModelView):
    permission = "tickets.view"
    can_export = True
    export_types = ["csv", "xlsx"]
    export_action = "tickets.export"
    details_template = "admin/ticket_details.html"
    column_list = ("id", "subject", "user", "category", "status", "priority", "assignee", "created_at",
                   "waiting_since", "last_message_at", "age")
    column_labels = {"user": "Investor", "created_at": "Opened", "waiting_since": "Waiting since",
                     "last_message_at": "Last message", "assignee": "Assignee", "message_count": "Messages",
                     "closed_at": "Closed"}
    column_sortable_list = ("id", "created_at", "waiting_since", "last_message_at")
    column_default_sort = ("id", True)
    column_filters = (
        StatusIs(Ticket.status, "Status", statuses=STATUSES),
        StatusIs(Ticket.priority, "Priority", statuses=PRIORITIES),
        StatusIs(Ticket.category, "Category", statuses=CATEGORIES),
        AssigneeIs(Ticket.assignee_id, "Assignee"),
        SlaBreached(Ticket.waiting_since, "SLA breached"),
        EmailIs(Ticket.user_id, "Investor"),
    )
    # by the start of the subject or a ticket number (an index answers both); the investor by the filter
    column_searchable_list = ("id", "subject")
    column_formatters = {"subject": _subject, "user": _investor, "assignee": _assignee, "status": _status,
                         "priority": _priority, "age": _age}
    column_details_list = ("id", "subject", "user", "category", "status", "priority", "assignee", "created_at",
                           "waiting_since", "last_message_at", "closed_at", "message_count")
    column_formatters_detail = {"user": _investor, "assignee": _assignee, "status": _status,
                                "priority": _priority}

    def get_query(self):
        # the people's roles are not shown here: not loaded (their eager load would add a query per relationship)
        return super().get_query().options(joinedload(Ticket.user).lazyload(User.roles),
                                           joinedload(Ticket.assignee).lazyload(User.roles),
                                           with_expression(Ticket.sla_breached, tickets.breached_clause()))

    def get_one(self, id):
        return self.get_query().filter(Ticket.id == int(id)).one_or_none() if str(id).isdigit() else None

    def render(self, template, **kwargs):
        if template == self.details_template and kwargs.get("model") is not None:
            model = kwargs["model"]
            kwargs.update(form=SimpleForm(), messages=tickets.conversation(model, staff=True),
                          staff=tickets.support_staff(), priorities=PRIORITIES, sla_hours=tickets.sla_hours(),
                          may_act=tickets.may_act(current_user, model))
        return super().render(template, **kwargs)

    def _ticket(self, ticket_id: int) -> Ticket:
        if not SimpleForm().validate_on_submit():
            abort(400)
        ticket = db.session.get(Ticket, ticket_id)
        if ticket is None:
            abort(404)
        return ticket

    def _back(self, ticket_id: int) -> str:
        return url_for(".details_view", id=ticket_id)

    # support's actions -----------------------------------------------------------------------------------------------
    @expose("/<int:ticket_id>/reply", methods=["POST"])
    @requires("tickets.reply")
    def reply(self, ticket_id: int):
        ticket = self._ticket(ticket_id)
        return run_action(lambda: tickets.reply_as_staff(current_user, ticket, body=request.form.get("body")),
                          "Reply sent; the investor is notified.", self._back(ticket_id))

    @expose("/<int:ticket_id>/note", methods=["POST"])
    @requires("tickets.reply")
    def note(self, ticket_id: int):
        ticket = self._ticket(ticket_id)
        return run_action(lambda: tickets.add_note(current_user, ticket, body=request.form.get("body")),
                          "Internal note added.", self._back(ticket_id))

    @expose("/<int:ticket_id>/assign", methods=["POST"])
    @requires("tickets.reply")
    def assign(self, ticket_id: int):
        ticket = self._ticket(ticket_id)
        raw = request.form.get("assignee", "")
        assignee = current_user.id if raw == "me" else (int(raw) if raw.isdigit() else None)
        return run_action(lambda: tickets.assign(current_user, ticket, assignee),
                          lambda t: f"Assigned to {t.assignee.email}." if t.assignee else "Unassigned.",
                          self._back(ticket_id))

    @expose("/<int:ticket_id>/priority", methods=["POST"])
    @requires("tickets.reply")
    def priority(self, ticket_id: int):
        ticket = self._ticket(ticket_id)
        return run_action(lambda: tickets.set_priority(current_user, ticket, request.form.get("priority")),
                          lambda t: f"Priority: {t.priority}.", self._back(ticket_id))

    @expose("/<int:ticket_id>/close", methods=["POST"])
    @requires("tickets.reply")
    def close(self, ticket_id: int):
        ticket = self._ticket(ticket_id)
        return run_action(lambda: tickets.close(current_user, ticket, reason=request.form.get("reason")),
                          "Ticket closed.", self._back(ticket_id))

    @expose("/<int:ticket_id>/reopen", methods=["POST"])
    @requires("tickets.reply")
    def reopen(self, ticket_id: int):
        ticket = self._ticket(ticket_id)
        return run_action(lambda: tickets.reopen(current_user, ticket, reason=request.form.get("reason")),
                          "Ticket reopened.", self._back(ticket_id))

    # files: any ticket's, for tickets.view holders; each opening audited ----------------------------------------------
    @expose("/file/<int:attachment_id>")
    def attachment(self, attachment_id: int):
        try:
            with unit_of_work():
                found = tickets.attachment_for_staff(current_user, attachment_id)
        except DomainError:
            abort(404)
        return serve_attachment(found)

    # export: CSV or XLSX through the console's one audited export
    def export_header(self) -> list:
        return list(EXPORT_HEADER)

    def export_rows(self, models) -> list[list]:
        return [export_row(model) for model in models]

    def get_export_name(self, export_type="csv"):
        return f"tickets-{utcnow():%Y%m%d-%H%M%S}.{export_type}"


def register(admin) -> None:
    admin.add_view(TicketView(Ticket, db, name="Support tickets", endpoint="tickets", category="People"))
