"""The console's investment filters: by property (options read per request), investor e-mail, status,
installment state and days overdue."""
from __future__ import annotations

from datetime import date, timedelta

from flask import current_app
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from sqlalchemy import func, select

from app.auth.models import User
from app.core.db import utcnow
from app.extensions import db
from app.investing.models import (
    INVESTMENT_STATUSES,
    Installment,
    Investment,
)
from app.properties.models import Property


def _today() -> date:
    return utcnow().date()


def _days(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def _property_options():
    return [(str(i), title) for i, title in db.session.execute(
        select(Property.id, Property.title).where(Property.id.in_(select(Investment.property_id)))
        .order_by(Property.title))]


class LiveFilterOptions:
    """Filters whose options come from the database (`live_options()`) are filled in per request: Flask-Admin
    builds its filter cache once, at start-up, outside any request."""

    def _get_filter_groups(self):
        groups = super()._get_filter_groups()
        for items in (groups or {}).values():
            for item in items:
                flt = self._filters[item["index"]]
                if hasattr(flt, "live_options"):
                    item["options"] = [(k, str(v)) for k, v in flt.live_options()]
        return groups


class PropertyFilter(BaseSQLAFilter):
    """The investment's property (the list queries join it already). Its options are live (LiveFilterOptions)."""

    def apply(self, query, value, alias=None):
        return query.filter(Investment.property_id == value)

    def operation(self):
        return "is"

    def validate(self, value):
        return str(value).isdigit()

    def clean(self, value):
        return int(value)

    def live_options(self):
        return _property_options()


class InvestorEmailFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        return query.filter(func.lower(User.email).contains(value.strip().lower(), autoescape=True))

    def operation(self):
        return "contains"


class InvestorEmailIsFilter(InvestorEmailFilter):
    """The investor's whole address, as stored (lower case): the users' unique index answers it, where a substring
    would read every user."""

    def apply(self, query, value, alias=None):
        return query.filter(Investment.user_id.in_(select(User.id).where(User.email == value.strip().lower())))

    def operation(self):
        return "is"


class InvestmentStatusFilter(BaseSQLAFilter):
    def apply(self, query, value, alias=None):
        return query.filter(Investment.status == value)

    def operation(self):
        return "is"

    def validate(self, value):
        return value in INVESTMENT_STATUSES

    def get_options(self, view):
        return [(s, s) for s in INVESTMENT_STATUSES]


INSTALLMENT_STATES = {
    "due": "due (not yet past its date)",
    "overdue": "overdue (past its due date)",
    "late_fee": "late fee applies (past the grace period)",
    "default": "in default (finance may cancel)",
}


class InstallmentStateFilter(BaseSQLAFilter):
    """Due or overdue, by the configured grace and default periods."""

    def apply(self, query, value, alias=None):
        today = _today()
        if value == "due":
            return query.filter(Installment.due_on >= today)
        if value == "overdue":
            return query.filter(Installment.due_on < today)
        if value == "late_fee":
            return query.filter(Installment.due_on < today - timedelta(days=_days("INSTALLMENT_GRACE_DAYS", 3)))
        return query.filter(Installment.due_on < today - timedelta(days=_days("INSTALLMENT_DEFAULT_DAYS", 30)))

    def operation(self):
        return "is"

    def validate(self, value):
        return value in INSTALLMENT_STATES

    def get_options(self, view):
        return list(INSTALLMENT_STATES.items())


class DaysOverdueFilter(BaseSQLAFilter):
    def __init__(self, column, name, *, at_least: bool):
        super().__init__(column, name)
        self.at_least = at_least

    def apply(self, query, value, alias=None):
        day = _today() - timedelta(days=value)
        return query.filter(Installment.due_on <= day if self.at_least else Installment.due_on >= day)

    def operation(self):
        return "at least" if self.at_least else "at most"

    def validate(self, value):
        return str(value).strip().isdigit()

    def clean(self, value):
        return int(str(value).strip())


# investments -------------------------------------------------------------------------------------------------------
