"""Secure base views: a signed-in staff member only. Anonymous -> /login, others -> 403. Everything a view
changes is one unit of work: console actions (run_action) and Flask-Admin's own create, edit and delete."""
from __future__ import annotations

import logging
from datetime import datetime
from functools import wraps
from typing import Any

from flask import flash, redirect, request, session, url_for
from flask_admin import AdminIndexView, BaseView
from flask_admin.babel import gettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import (
    FilterConverter,
    FilterEqual,
    FilterInList,
    IntEqualFilter,
    IntGreaterFilter,
    IntInListFilter,
    IntSmallerFilter,
)
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model import typefmt
from flask_admin.model.form import converts
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import func, literal_column, select, text
from sqlalchemy.orm import joinedload

from app.admin.list_exports import AuditedListExport
from app.admin.list_search import IndexedSearch
from app.admin.refusal import refuse
from app.admin.replica import ReplicaListsMixin
from app.admin.time_filters import COLUMN_FILTERS as UTC_COLUMN_FILTERS
from app.admin.time_filters import time_filters
from app.auth import services as auth
from app.auth.login import current_session
from app.core.db import unit_of_work
from app.core.errors import DomainError, Forbidden
from app.core.money import Money
from app.core.replica import READ_ONLY
from app.core.security import has_permission
from app.extensions import db

log = logging.getLogger("flask-admin.sqla")  # the logger Flask-Admin's own create/edit/delete write to


class FreeholdFilterConverter(FilterConverter):
    """Our column types wrap standard ones: filter them as what they wrap (never filter encrypted text)."""

    def convert(self, type_name, column, name, **kwargs):
        if type_name == "UTCDateTime":  # the column refuses naive datetimes: the typed value is UTC
            return [f(column, name, **kwargs) for f in UTC_COLUMN_FILTERS]
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
        refuse(self.permission if current_user.is_staff else None)



def requires(permission: str):
    """Mark and guard an action inside a view that needs more than the view's own permission. The mark lets
    tests enumerate every action with the permission it needs."""

    def decorator(func):
        @wraps(func)
        def wrapped(*args, **kwargs):
            if not has_permission(current_user, permission):
                refuse(permission)
            return func(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


class SecureBaseView(SecureMixin, BaseView):
    pass


class SecureIndexView(SecureMixin, AdminIndexView):
    pass


class SecureModelView(AuditedListExport, ReplicaListsMixin, SecureMixin, ModelView):
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
    # Every list exports (app/admin/list_exports.py): CSV and XLSX through app.core.csvfile only, audited under
    # export_action (default "<endpoint>.export"); export_permission is needed on top of the view's own permission
    # (a view may ask for a stricter one, e.g. audit.export). Exports stop at export_max_rows rows (the audit says
    # how many were written).
    export_types = ["csv", "xlsx"]
    export_permission: str | None = "exports.run"
    export_action: str | None = None
    export_max_rows = 50_000

    # Flask-Admin's create, edit and delete (reference data only), each as one unit of work: the same steps,
    # hooks, messages and answers as Flask-Admin 2's ModelView, whose own commit and rollback are the unit's.
    def create_model(self, form):
        try:
            with unit_of_work():
                model = self.build_new_instance()
                form.populate_obj(model)
                db.session.add(model)
                self._on_model_change(form, model, True)
        except Exception as ex:
            if not self.handle_view_exception(ex):
                flash(gettext("Failed to create record. %(error)s", error=str(ex)), "error")
                log.exception("Failed to create record.")
            return False
        self.after_model_change(form, model, True)
        return model

    def update_model(self, form, model) -> bool:
        try:
            with unit_of_work():
                form.populate_obj(model)
                self._on_model_change(form, model, False)
        except Exception as ex:
            if not self.handle_view_exception(ex):
                flash(gettext("Failed to update record. %(error)s", error=str(ex)), "error")
                log.exception("Failed to update record.")
            return False
        self.after_model_change(form, model, False)
        return True

    def delete_model(self, model) -> bool:
        try:
            with unit_of_work():
                self.on_model_delete(model)
                db.session.flush()
                db.session.delete(model)
        except Exception as ex:
            if not self.handle_view_exception(ex):
                flash(gettext("Failed to delete record. %(error)s", error=str(ex)), "error")
                log.exception("Failed to delete record.")
            return False
        self.after_model_delete(model)
        return True


class ListCount(int):
    """A list's row count that is not exact: `about` PostgreSQL's estimate, or `more than` the cap of a count that
    stopped there. It is an int for Flask-Admin's pager arithmetic and reads as its label in a template."""

    qualifier: str

    def __new__(cls, value: int, qualifier: str):
        self = super().__new__(cls, value)
        self.qualifier = qualifier
        return self

    approximate = True

    def __str__(self) -> str:
        return f"{self.qualifier} {int(self):,}"

    __html__ = __str__


READS_ONLY = {READ_ONLY: True}  # the estimates below only read: on the replica in a list's replica_reads()


class BigListMixin(IndexedSearch):
    """A console list over a table of millions of rows, each page in a bounded number of index reads:

    - no count(*) over the table: unfiltered, PostgreSQL's own estimate (pg_class.reltuples, or the planner's row
      estimate when the view's query narrows the table) shown as "about N"; searched or filtered, a count that stops
      at `count_cap` (`SELECT count(*) FROM (SELECT 1 ... LIMIT cap + 1)`), "more than N" beyond it. A list the
      estimate puts under the cap is counted exactly (by the same capped count). SQLite counts exactly;
    - pages stop at `max_list_rows` rows (the offset stays small): older rows are reached by filtering, by ID or date;
    - the view offers sorting and filtering only on indexed columns (see each view), newest first by id by default;
    - search, where a view offers it, is IndexedSearch: the start of an indexed text column or an exact id.
    """

    model: Any
    page_size: int
    list_template = "admin/model/big_list.html"
    simple_list_pager = False
    count_cap = 1_000
    max_list_rows = 10_000

    def _is_postgres(self) -> bool:
        return db.engine.dialect.name == "postgresql"  # the engine: asking the session would pin it to the primary

    def _estimated_rows(self, count_query) -> int:
        """PostgreSQL's own idea of how many rows the (unfiltered) list has, without reading them."""
        if count_query.whereclause is None:
            reltuples = db.session.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)").execution_options(**READS_ONLY),
                {"table": self.model.__table__.name}).scalar()
            if reltuples is not None and reltuples >= 0:  # -1: never analysed
                return int(reltuples)
        source = count_query.with_entities(literal_column("1")).statement
        compiled = source.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
        explain = text(f"EXPLAIN (FORMAT JSON) {compiled}").execution_options(**READS_ONLY)
        plan: Any = db.session.execute(explain).scalar()
        return int(plan[0]["Plan"]["Plan Rows"])

    def _capped_count(self, count_query) -> int:
        rows = count_query.with_entities(literal_column("1")).order_by(None).limit(self.count_cap + 1).subquery()
        return db.session.execute(select(func.count()).select_from(rows)).scalar_one()

    def list_count(self, count_query, *, narrowed: bool) -> int:
        if not self._is_postgres():
            return count_query.scalar()
        if not narrowed:
            estimate = self._estimated_rows(count_query)
            if estimate > self.count_cap:
                return ListCount(estimate, "about")
        counted = self._capped_count(count_query)
        return ListCount(self.count_cap, "more than") if counted > self.count_cap else counted

    def max_page(self, page_size: int | None) -> int:
        """The last page number (from 0) a list shows."""
        return max(0, self.max_list_rows // (page_size or self.page_size) - 1)

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        """Flask-Admin 2.2's ModelView.get_list, with the count above and the page number held to max_page."""
        joins: dict = {}
        count_joins: dict = {}
        query = self.get_query()
        count_query = self.get_count_query()
        if self._search_supported and search:
            query, count_query, joins, count_joins = self._apply_search(query, count_query, joins, count_joins,
                                                                        search)
        if filters and self._filters:
            query, count_query, joins, count_joins = self._apply_filters(query, count_query, joins, count_joins,
                                                                         filters)
        count = self.list_count(count_query, narrowed=bool(search or filters)) if execute else None
        for j in self._auto_joins:
            query = query.options(joinedload(j))
        query, joins = self._apply_sorting(query, joins, sort_column, sort_desc)
        if page:
            page = min(page, self.max_page(page_size))
        query = self._apply_pagination(query, page, page_size)
        return count, (query.all() if execute else query)

    def _get_list_extra_args(self):
        args = super()._get_list_extra_args()
        if args.page:
            args.page = min(args.page, self.max_page(self.get_safe_page_size(args.page_size)))
        return args


def exact_filters(column, name: str, *, options=None, integer: bool = False) -> tuple:
    """Filters that an index answers: equal to one value or to one of a list (no `contains`: a substring cannot
    use an index and would read the whole table)."""
    if integer:
        return IntEqualFilter(column, name), IntInListFilter(column, name)
    return FilterEqual(column, name, options=options), FilterInList(column, name, options=options)


def range_filters(column, name: str, *, integer: bool = False) -> tuple:
    """Filters an ordered index answers: after, before, between (ids: greater and smaller than)."""
    if integer:
        return IntEqualFilter(column, name), IntGreaterFilter(column, name), IntSmallerFilter(column, name)
    return time_filters(column, name)


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
    try:
        with unit_of_work():
            result = func()
        flash(message(result) if callable(message) else message, "success")
    except DomainError as exc:
        flash(describe(exc), "error")
    return redirect(back_url)


def act_on_account(user, attempted: str, func, message, back_url: str):
    """run_action for a staff action on someone's account: when the hierarchy refuses it (who may act on whom), the
    attempt is audited in a unit of work of its own, since the refused one rolls back."""
    try:
        with unit_of_work():
            result = func()
        flash(message(result) if callable(message) else message, "success")
    except Forbidden as exc:
        with unit_of_work():
            auth.record_refusal(attempted, actor=current_user._get_current_object(), target=user,
                                refusal=exc.message, reason=request.form.get("reason"))
        flash(describe(exc), "error")
    except DomainError as exc:
        flash(describe(exc), "error")
    return redirect(back_url)
