"""Support: the investor's own tickets, a new ticket (with files checked like identity documents), a ticket's
conversation (never the internal notes) with the reply form, and the files of their own tickets."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_login import current_user

from app.auth.forms import SimpleForm
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.extensions import limiter
from app.portal import bp
from app.support import attachments
from app.support import tickets as support
from app.support.models import BODY_MAX, CATEGORIES, SUBJECT_MAX
from app.support.views import serve_attachment

CATEGORY_LABELS = {
    "account": lazy_pgettext("ticket", "Account"), "deposits": _l("Deposits"), "withdrawals": _l("Withdrawals"),
    "investments": _l("Investments"), "market": _l("Market"), "kyc": _l("Identity verification"),
    "other": lazy_pgettext("ticket", "Other"),
}
STATUS_LABELS = {"open": _l("waiting for support"), "answered": _l("answered"), "closed": _l("closed")}
STATUS_BADGES = {"open": "warning", "answered": "success", "closed": "secondary"}
LIMITS = {"subject_max": SUBJECT_MAX, "body_max": BODY_MAX, "max_files": attachments.MAX_FILES,
          "reopen_days": support.REOPEN_DAYS}


def _labels() -> dict:
    return {"categories": CATEGORY_LABELS, "statuses": STATUS_LABELS, "badges": STATUS_BADGES, **LIMITS}


@bp.get("/support")
def support_index():
    return render_template("portal/support/index.html", tickets=support.tickets_of(current_user), **_labels())


@bp.route("/support/new", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def ticket_new():
    csrf = SimpleForm()
    errors: dict[str, list[str]] = {}
    values = {"subject": "", "category": "", "body": ""}
    if request.method == "POST":
        if not csrf.validate_on_submit():
            abort(400)
        values = {name: request.form.get(name, "") for name in values}
        try:
            files = attachments.receive(request.files.getlist("attachments"))
            with unit_of_work():
                ticket = support.open_ticket(current_user, subject=values["subject"], category=values["category"],
                                             body=values["body"], files=files)
            flash(_("Thank you: your ticket #%(id)s is open. We will answer as soon as we can.", id=ticket.id),
                  "success")
            return redirect(url_for("portal.ticket_page", ticket_id=ticket.id))
        except DomainError as exc:
            errors = exc.errors or {"body": [exc.message]}
    return render_template("portal/support/new.html", csrf=csrf, errors=errors, values=values,
                           category_choices=CATEGORIES, **_labels()), (422 if errors else 200)


def _own(ticket_id: int):
    try:
        return support.ticket_of(current_user, ticket_id)
    except DomainError:
        abort(404)


def _page(ticket, *, errors=None, body: str = "", status: int = 200):
    return render_template("portal/support/ticket.html", ticket=ticket, messages=support.conversation(ticket),
                           csrf=SimpleForm(), errors=errors or {}, body=body, **_labels()), status


@bp.get("/support/<int:ticket_id>")
def ticket_page(ticket_id: int):
    return _page(_own(ticket_id))


@bp.post("/support/<int:ticket_id>/reply")
@limiter.limit("60/hour")
def ticket_reply(ticket_id: int):
    ticket = _own(ticket_id)
    if not SimpleForm().validate_on_submit():
        abort(400)
    body = request.form.get("body", "")
    try:
        files = attachments.receive(request.files.getlist("attachments"))
        with unit_of_work():
            support.reply_as_investor(current_user, ticket, body=body, files=files)
    except DomainError as exc:
        return _page(_own(ticket_id), errors=exc.errors or {"body": [exc.message]}, body=body, status=422)
    flash(_("Your reply is sent."), "success")
    return redirect(url_for("portal.ticket_page", ticket_id=ticket_id))


@bp.get("/support/files/<int:attachment_id>")
def ticket_file(attachment_id: int):
    try:
        found = support.attachment_for_owner(current_user, attachment_id)
    except DomainError:
        abort(404)
    return serve_attachment(found)
