"""Support's tools on a user's page: editing the profile on the investor's behalf (users.edit_profile) and viewing
their portal read-only (users.view_as). The page itself lists the recent viewings: who viewed whom, why, how long
and how many pages. Each action takes a reason and is audited; a refusal by the hierarchy is audited too."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_admin import expose
from flask_login import current_user

from app.account import staff_edits, view_as
from app.admin.base import SecureBaseView, describe, requires
from app.admin.refusal import refuse
from app.auth import services as auth
from app.auth.forms import SimpleForm
from app.auth.login import current_session
from app.auth.models import User
from app.core.db import unit_of_work, utcnow
from app.core.errors import DomainError, Forbidden
from app.core.security import has_permission
from app.extensions import db
from app.notifications.phone import mask

FIELDS = staff_edits.EDITABLE
FIELD_LABELS = {"first_name": "first name", "last_name": "last name", "phone": "phone number", "locale": "language"}


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _details(user: User):
    return url_for("users.details_view", id=user.id)


class UserToolsView(SecureBaseView):
    permission = "users.view"

    @expose("/")
    def index(self):
        rows = view_as.recent(100)
        return self.render("admin/view_as_sessions.html", rows=rows, pages=view_as.pages_of([r.id for r in rows]),
                           minutes=view_as.VIEW_MINUTES, now=utcnow())

    # editing a profile --------------------------------------------------------------------------------------------
    def _edit_page(self, user: User, values: dict, errors: dict, status: int = 200):
        return self.render("admin/user_profile_edit.html", user=user, values=values, errors=errors,
                           languages=current_app.config["LANGUAGES"], form=SimpleForm(),
                           phone_verified=user.phone_number is not None and user.phone_verified_at is not None,
                           masked_phone=mask(user.phone_number)), status

    @expose("/<int:user_id>/profile", methods=["GET"])
    def profile_form(self, user_id: int):
        if not has_permission(current_user, staff_edits.PERMISSION):
            refuse(staff_edits.PERMISSION)
        user = _user(user_id)
        return self._edit_page(user, {name: self._current(user, name) for name in FIELDS}, {})

    @staticmethod
    def _current(user: User, name: str):
        return {"phone": user.phone_number, "locale": user.locale}.get(name, getattr(user, name, None)) or ""

    @expose("/<int:user_id>/profile", methods=["POST"])
    @requires(staff_edits.PERMISSION)
    def save_profile(self, user_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        user = _user(user_id)
        # only the editable fields are read: an "email" (or anything else) in the request is ignored
        values = {name: request.form[name] for name in FIELDS if name in request.form}
        reason = request.form.get("reason")
        try:
            with unit_of_work():
                edit = staff_edits.edit_profile(user, values, actor=current_user._get_current_object(),
                                                reason=reason)
        except Forbidden as exc:
            with unit_of_work():
                auth.record_refusal("users.edit_profile", actor=current_user._get_current_object(), target=user,
                                    refusal=exc.message, reason=reason)
            flash(describe(exc), "error")
            return redirect(_details(user))
        except DomainError as exc:
            shown = {name: request.form.get(name, "") for name in FIELDS}
            errors = dict(exc.errors or {})
            if not errors:
                errors["reason"] = [describe(exc)]
            return self._edit_page(user, {**shown, "reason": reason or ""}, errors, 422)
        if not edit.changed:
            flash("Nothing was changed: the profile already reads so.", "info")
        else:
            changed = sorted({FIELD_LABELS.get(k, "name") for k in edit.after if k != "phone_verified"})
            parts = [f"The profile of {user.email} is updated ({', '.join(changed)}); they are told."]
            if edit.name_request is not None:
                parts.append(f"The identity is approved, so the new name waits for compliance (name change request "
                             f"#{edit.name_request.id}).")
            if "phone" in edit.after and user.phone_number:
                parts.append("The new phone number is unverified until its owner confirms it with the SMS code.")
            flash(" ".join(parts), "success")
        return redirect(_details(user))

    # viewing as the investor --------------------------------------------------------------------------------------
    @expose("/<int:user_id>/view-as", methods=["POST"])
    @requires(view_as.PERMISSION)
    def start_view_as(self, user_id: int):
        if not SimpleForm().validate_on_submit():
            abort(400)
        user = _user(user_id)
        record = current_session()
        staff = current_user._get_current_object()
        reason = request.form.get("reason")
        try:
            with unit_of_work():
                row = view_as.start(user, actor=staff, staff_session_id=record.id if record is not None else None,
                                    reason=reason)
        except Forbidden as exc:
            with unit_of_work():
                auth.record_refusal("users.view_as", actor=staff, target=user, refusal=exc.message, reason=reason)
            flash(describe(exc), "error")
            return redirect(_details(user))
        except DomainError as exc:
            flash(describe(exc), "error")
            return redirect(_details(user))
        session[view_as.SESSION_KEY] = row.id  # the banner on each portal page says the rest
        return redirect(url_for("portal.dashboard"))

    @expose("/view-as/stop", methods=["POST"])
    def stop_view_as(self):
        if not SimpleForm().validate_on_submit():
            abort(400)
        view_as_id = session.pop(view_as.SESSION_KEY, None)
        record = current_session()
        row = view_as.open_for(view_as_id, actor=current_user._get_current_object(),
                               staff_session_id=record.id if record is not None else None)
        if row is None:
            flash("You were not viewing an investor's portal.", "info")
            return redirect(url_for(".index"))
        with unit_of_work():
            view_as.stop(row, actor=current_user._get_current_object())
        flash(f"You stopped viewing {row.user.email}'s portal.", "success")
        return redirect(url_for("users.details_view", id=row.user_id))


def register(admin) -> None:
    admin.add_view(UserToolsView(name="Viewing as investors", endpoint="user_tools", url="/admin/user-tools",
                                 category="People"))
