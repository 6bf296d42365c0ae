"""The investor's in-app notifications and their delivery preferences."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.auth.forms import SimpleForm
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.core.urls import is_own_url
from app.notifications import services as notifications
from app.notifications.models import CHANNELS
from app.portal import bp

PER_PAGE = 20
CHANNEL_LABELS = {"email": _l("E-mail"), "in_app": _l("In the app"), "sms": "SMS", "push": _l("Push")}


@bp.get("/notifications")
def notifications_inbox():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = notifications.inbox(current_user.id, page=page, per_page=PER_PAGE)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    return render_template("portal/notifications/inbox.html", rows=rows, page=page, pages=pages, total=total,
                           form=SimpleForm())


@bp.post("/notifications/<int:notification_id>/read")
def notification_read(notification_id: int):
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        with unit_of_work():
            notification = notifications.mark_read(current_user.id, notification_id)
    except DomainError:
        abort(404)
    if notification.link and is_own_url(notification.link):
        return redirect(notification.link)
    return redirect(url_for("portal.notifications_inbox"))


@bp.post("/notifications/read-all")
def notifications_read_all():
    if not SimpleForm().validate_on_submit():
        abort(400)
    with unit_of_work():
        count = notifications.mark_all_read(current_user.id)
    flash(_("%(count)s notification(s) marked as read.", count=count), "success")
    return redirect(url_for("portal.notifications_inbox"))


@bp.route("/account/notifications", methods=["GET", "POST"])
def notification_settings():
    form = SimpleForm()
    errors = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        choices = {}
        for key in request.form:
            if key.startswith("pref:"):
                _prefix, group, channel = key.split(":", 2)
                choices[(group, channel)] = True
        try:
            with unit_of_work():
                notifications.set_preferences(current_user, choices)
                notifications.set_phone_number(current_user, request.form.get("phone_number"))
            flash(_("Your notification settings are saved."), "success")
            return redirect(url_for("portal.notification_settings"))
        except DomainError as exc:
            errors = exc.errors or {}
    return render_template("portal/notifications/settings.html", matrix=notifications.preference_matrix(current_user),
                           channels=CHANNELS, labels=CHANNEL_LABELS, form=form, errors=errors,
                           phone=request.form.get("phone_number") if errors else current_user.phone_number), \
        (422 if errors else 200)


