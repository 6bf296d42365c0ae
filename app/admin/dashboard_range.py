"""The dashboard's date range: ?from=YYYY-MM-DD&to=YYYY-MM-DD, read into whole UTC weeks (from Monday) for the weekly
figures and whole months for the monthly ones. Nothing asked: the last 12 weeks and the last 6 months."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.finance.reports import Months, add_months

DEFAULT_WEEKS = 12
DEFAULT_MONTHS = 6
MAX_DAYS = 731  # two years at a time
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadRange(ValueError):
    """A range that cannot be read: the page says why and shows the default one."""


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def at(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


@dataclass(frozen=True)
class Range:
    """First and last Monday of the weeks shown, and the months shown. `chosen`: the dates the request gave."""

    first_week: date
    last_week: date
    months: Months
    chosen: tuple[date, date] | None = None

    @property
    def weeks(self) -> list[str]:
        out, d = [], self.first_week
        while d <= self.last_week:
            out.append(f"{d:%Y-%m-%d}")
            d += timedelta(days=7)
        return out

    @property
    def start(self) -> datetime:
        """The first instant of the weekly figures."""
        return at(self.first_week)

    @property
    def end(self) -> datetime:
        """The first instant after the weekly figures."""
        return at(self.last_week + timedelta(days=7))

    @property
    def args(self) -> dict[str, str]:
        """The URL arguments that ask for this range again (none for the default one)."""
        if self.chosen is None:
            return {}
        return {"from": f"{self.chosen[0]:%Y-%m-%d}", "to": f"{self.chosen[1]:%Y-%m-%d}"}


def default(today: date) -> Range:
    last = monday(today)
    first_month = add_months(today.replace(day=1), -(DEFAULT_MONTHS - 1))
    return Range(last - timedelta(weeks=DEFAULT_WEEKS - 1), last, Months(first_month, today.replace(day=1)))


def _day(text: str, name: str) -> date:
    text = text.strip()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        parsed = date.fromisoformat(text)
    except ValueError:
        raise BadRange(f"{name}: a date is written YYYY-MM-DD") from None
    if not 2000 <= parsed.year <= 2999:
        raise BadRange(f"{name}: a date from 2000 to 2999")
    return parsed


def parse(from_text: str | None, to_text: str | None, today: date) -> Range:
    """The range a request asks for; BadRange says what is wrong with it."""
    from_text, to_text = (from_text or "").strip(), (to_text or "").strip()
    if not from_text and not to_text:
        return default(today)
    last = _day(to_text, "to") if to_text else today
    first = _day(from_text, "from") if from_text else last - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
    if first > last:
        raise BadRange("from: the first day comes after the last")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRange(f"at most {MAX_DAYS} days at a time")
    return Range(monday(first), monday(last), Months(first.replace(day=1), last.replace(day=1)), (first, last))


def presets(today: date) -> list[tuple[str, dict[str, str]]]:
    """The quick ranges above the dashboard: (label, URL arguments)."""
    month = today.replace(day=1)
    return [("4 weeks", {"from": f"{today - timedelta(days=27):%Y-%m-%d}", "to": f"{today:%Y-%m-%d}"}),
            ("3 months", {"from": f"{add_months(month, -2):%Y-%m-%d}", "to": f"{today:%Y-%m-%d}"}),
            ("12 months", {"from": f"{add_months(month, -11):%Y-%m-%d}", "to": f"{today:%Y-%m-%d}"})]


def in_words(delta: timedelta | None) -> str:
    """An age as people say it: "under an hour", "5 hours", "1 day", "3 days"."""
    if delta is None:
        return "—"
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return "under an hour"
    if hours < 24:
        return "1 hour" if hours == 1 else f"{hours} hours"
    days = hours // 24
    return "1 day" if days == 1 else f"{days} days"
