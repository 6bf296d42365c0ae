"""Secure base views: a signed-in staff member only. Anonymous -> /login, others -> 403."""
from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, request, session, url_for
from flask_admin import AdminIndexView, BaseView
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterConverter
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model import typefmt
from flask_admin.model.form import converts
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm

from app.core.money import Money
from app.core.security import has_permission


class FreeholdFilterConverter(FilterConverter):
    """Our column types wrap standard ones: filter them as what they wrap (never filter encrypted text)."""

    def convert(self, type_name, column, name, **kwargs):
        if type_name == "UTCDateTime":
            type_name = "DateTime"
        if type_name == "EncryptedString":
            return None
        return super().convert(type_name, column, name, **kwargs)


def _datetime(view, value, name):
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


TYPE_FORMATTERS = {**typefmt.BASE_FORMATTERS, datetime: _datetime}
DETAIL_TYPE_FORMATTERS = {**typefmt.DETAIL_FORMATTERS, datetime: _datetime}


class FreeholdModelConverter(AdminModelConverter):
    """Form fields for our wrapping column types: UTC datetimes and encrypted text."""

    @converts("UTCDateTime")
    def conv_utc_datetime(self, column, field_args, **extra):
        return self.convert_datetime(column=column, field_args=field_args, **extra)

    @converts("EncryptedString")
    def conv_encrypted(self, column, field_args, **extra):
        return self.conv_Text(column=column, field_args=field_args, **extra)


class SecureMixin:
    """A staff role, two-factor authentication on the account *and* proven in this session, and the view's
    permission (app.core.security.PERMISSIONS). Anonymous -> /login; staff without 2FA -> enrolment; else 403."""

    permission = "dashboard.view"

    def _access(self) -> str:
        if not current_user.is_authenticated:
            return "anonymous"
        if not current_user.is_staff:
            return "forbidden"
        from app.auth.services import current_session

        record = current_session()
        if not current_user.totp_enabled or record is None or not record.mfa_verified:
            return "needs_2fa"
        return "ok" if has_permission(current_user, self.permission) else "forbidden"

    def is_accessible(self) -> bool:
        return self._access() == "ok"

    def inaccessible_callback(self, name, **kwargs):
        state = self._access()
        if state == "anonymous":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if state == "needs_2fa":
            if current_user.totp_enabled:  # on, but not proven in this session: sign in again with a code
                logout_user()
                session.clear()
                flash("Sign in again with your two-factor code to use the console.", "warning")
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            flash("Staff accounts need two-factor authentication: turn it on to use the console.", "warning")
            return redirect(url_for("portal.two_factor_setup"))
        abort(403)



def requires(permission: str):
    """Mark and guard an action inside a view that needs more than the view's own permission. The mark lets
    tests enumerate every action with the permission it needs."""
    from functools import wraps

    def decorator(func):
        @wraps(func)
        def wrapped(*args, **kwargs):
            if not has_permission(current_user, permission):
                abort(403)
            return func(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


class SecureBaseView(SecureMixin, BaseView):
    pass


class SecureIndexView(SecureMixin, AdminIndexView):
    pass


class SecureModelView(SecureMixin, ModelView):
    """Read-only by default: state changes that matter are actions that call services."""

    filter_converter = FreeholdFilterConverter()
    model_form_converter = FreeholdModelConverter
    form_base_class = FlaskForm  # CSRFProtect checks every POST, including delete and bulk actions
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    can_set_page_size = True
    column_type_formatters = TYPE_FORMATTERS
    column_type_formatters_detail = DETAIL_TYPE_FORMATTERS
    page_size = 50
    action_disallowed_list = ["delete"]


def money_formatter(field: str, currency_field: str = "currency"):
    """Column formatter: integer minor units shown as a currency amount."""

    def formatter(view, context, model, name):
        value = getattr(model, field)
        if value is None:
            return ""
        return Money(value, getattr(model, currency_field)).display()

    return formatter


def describe(exc) -> str:
    """A refused action in one sentence for the flash: the message, then what each field needs."""
    details = " ".join(m for messages in (exc.errors or {}).values() for m in messages)
    return f"{exc.message[:1].upper()}{exc.message[1:]}. {details}".strip()


def run_action(func, message, back_url: str):
    """Run a console action as one unit of work: commit and say so, or roll back and say why. Then go back."""
    from app.core.db import commit
    from app.core.errors import DomainError
    from app.extensions import db

    try:
        result = func()
        commit()
        flash(message(result) if callable(message) else message, "success")
    except DomainError as exc:
        db.session.rollback()
        flash(describe(exc), "error")
    return redirect(back_url)
