"""Secure base views: a signed-in staff member only. Anonymous -> /login, others -> 403."""
from __future__ import annotations

from datetime import datetime

from flask import abort, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView
from flask_admin.contrib.sqla import ModelView
from flask_admin.model import typefmt
from flask_admin.contrib.sqla.filters import FilterConverter
from flask_login import current_user
from flask_wtf import FlaskForm

from app.core.money import Money


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


class SecureMixin:
    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_staff)

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(403)


class SecureBaseView(SecureMixin, BaseView):
    pass


class SecureIndexView(SecureMixin, AdminIndexView):
    pass


class SecureModelView(SecureMixin, ModelView):
    """Read-only by default: state changes that matter are actions that call services."""

    filter_converter = FreeholdFilterConverter()
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
