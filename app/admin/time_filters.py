"""Console filters on time columns. A date and time typed in the console is UTC: the columns (UTCDateTime) refuse
naive datetimes, so the value is made timezone-aware before it reaches the query."""
from __future__ import annotations

from datetime import UTC

from flask_admin.contrib.sqla.filters import (
    DateTimeBetweenFilter,
    DateTimeEqualFilter,
    DateTimeGreaterFilter,
    DateTimeNotBetweenFilter,
    DateTimeNotEqualFilter,
    DateTimeSmallerFilter,
    FilterEmpty,
)


class _InUTC:
    def clean(self, value):
        cleaned = super().clean(value)
        if isinstance(cleaned, list):
            return [moment.replace(tzinfo=UTC) for moment in cleaned]
        return cleaned.replace(tzinfo=UTC)


class AfterUTC(_InUTC, DateTimeGreaterFilter):
    pass


class BeforeUTC(_InUTC, DateTimeSmallerFilter):
    pass


class BetweenUTC(_InUTC, DateTimeBetweenFilter):
    pass


class EqualUTC(_InUTC, DateTimeEqualFilter):
    pass


class NotEqualUTC(_InUTC, DateTimeNotEqualFilter):
    pass


class NotBetweenUTC(_InUTC, DateTimeNotBetweenFilter):
    pass


# what Flask-Admin offers on a datetime column named in column_filters, in its order, read as UTC
COLUMN_FILTERS = (EqualUTC, NotEqualUTC, AfterUTC, BeforeUTC, BetweenUTC, NotBetweenUTC, FilterEmpty)


def time_filters(column, name: str) -> tuple:
    """After, before, between (UTC) on an indexed time column."""
    return AfterUTC(column, name), BeforeUTC(column, name), BetweenUTC(column, name)
