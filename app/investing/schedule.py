"""Return and installment schedules: from a property's terms to due dates and amounts.

Pure calculations (no database, no web framework). All money is in integer minor units (cents); rates are integer
basis points (1 % = 100 bps). The rules, in plain words:

Calendar (the month-end rule)
    Every due date is counted from one fixed starting date, the anchor, never from the previous due date, so dates
    never drift. A monthly date keeps the anchor's day of the month; when a month is too short for that day, the
    payment falls on the month's last day, and the following months go back to the anchor's day. From 31 January:
    28 February (29 in a leap year), 31 March, 30 April, 31 May ... Quarterly is every 3 months, yearly every 12
    months (29 February yearly falls on 28 February in ordinary years). "Every N days" adds exact days.

Anchor (where the return calendar starts)
    Returns count from the day the funding window closes, or from the investment date when the property has no
    funding window. When the investment is paid in installments and its last installment falls due later than that,
    returns count from the last installment's due date instead. Period 1 is due one period after the anchor.

Amounts (the rounding rule)
    With an annual rate, each period earns its share of the year: 1/12 monthly, 1/4 quarterly, the whole rate
    yearly, and N/365 for "every N days" (a year counts as 365 days). Amounts are rounded to the minor unit so that
    the total paid after any number of periods equals the exact total for those periods rounded once, half to even
    (half a cent goes to the nearest even cent). So period amounts may differ by one cent, and the rounding never
    accumulates: after every payment the investor has been paid the exact entitlement to within half a cent.
    With a fixed sum per period, every period pays exactly that sum.

Capital
    When the terms return the capital, the full principal is paid back together with the last of the set number of
    periods, and only then. Returns "for the property's lifetime" have no last period and never return capital here.

Installments
    An amount paid in installments is split into equal parts to the minor unit; when it does not divide evenly, the
    first installments are one cent larger, so the parts always add up exactly. Installment 1 is due on the first
    date; each further one falls one interval (N days, or N calendar months by the month-end rule) later.

Distributions
    A declared sum shared by weights (for example, by units held) is split in exact proportion, rounded down, and the
    cents left over go to the largest remainders, the earlier position first when remainders are equal. The parts
    always add up to the sum exactly.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.core.money import allocate, round_half_even

FREQUENCIES = ("monthly", "quarterly", "yearly", "days")
# Calendar months per period for the month-based frequencies (12 / PERIODS_PER_YEAR)
MONTHS_PER_PERIOD = {"monthly": 1, "quarterly": 3, "yearly": 12}
INSTALLMENT_UNITS = ("days", "months")
DAYS_PER_YEAR = 365
BPS = 10_000


# Terms -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Terms:
    """A snapshot of a property's investment terms; money in minor units, the rate in basis points a year.

    Exactly one of `return_rate_bps` (an annual rate) and `return_fixed_amount` (a fixed sum per period per
    investment) is set. `return_periods` None means returns for the property's lifetime. `installments_count` None
    (or 1) means the amount is paid at once. Incoherent terms are refused when the snapshot is made.
    """

    return_rate_bps: int | None
    return_fixed_amount: int | None
    return_frequency: str
    return_every_days: int | None
    return_periods: int | None
    capital_back: bool
    installments_count: int | None
    installment_interval: int | None
    installment_unit: str | None

    def __post_init__(self):
        if self.return_frequency not in FREQUENCIES:
            raise ValueError(f"unknown return frequency {self.return_frequency!r}: use monthly, quarterly, yearly "
                             f"or days")
        if self.return_frequency == "days" and (not _is_int(self.return_every_days) or self.return_every_days < 1):
            raise ValueError("return frequency 'days' needs return_every_days of at least 1")
        if (self.return_rate_bps is None) == (self.return_fixed_amount is None):
            raise ValueError("set either an annual rate (return_rate_bps) or a fixed sum per period "
                             "(return_fixed_amount), not both and not neither")
        if self.return_rate_bps is not None and (not _is_int(self.return_rate_bps) or self.return_rate_bps < 0):
            raise ValueError("the annual rate (return_rate_bps) must be a whole number of basis points, 0 or more")
        if self.return_fixed_amount is not None and (not _is_int(self.return_fixed_amount)
                                                     or self.return_fixed_amount < 0):
            raise ValueError("the fixed sum per period (return_fixed_amount) must be whole minor units, 0 or more")
        if self.return_periods is not None and (not _is_int(self.return_periods) or self.return_periods < 1):
            raise ValueError("return_periods must be at least 1, or None for the property's lifetime")
        if self.installments_count is not None:
            if not _is_int(self.installments_count) or self.installments_count < 1:
                raise ValueError("installments_count must be at least 1, or None when paid at once")
            if self.installments_count > 1:
                if not _is_int(self.installment_interval) or self.installment_interval < 1:
                    raise ValueError("installments need an interval (installment_interval) of at least 1")
                if self.installment_unit not in INSTALLMENT_UNITS:
                    raise ValueError(f"unknown installment unit {self.installment_unit!r}: use days or months")

    @classmethod
    def from_property(cls, p) -> Terms:
        """The terms of a property (any object with the Property attributes of the same names)."""
        return cls(
            return_rate_bps=p.return_rate_bps,
            return_fixed_amount=p.return_fixed_amount,
            return_frequency=p.return_frequency,
            return_every_days=p.return_every_days,
            return_periods=p.return_periods,
            capital_back=bool(p.capital_back),
            installments_count=p.installments_count,
            installment_interval=p.installment_interval,
            installment_unit=p.installment_unit,
        )

    @property
    def is_lifetime(self) -> bool:
        """Returns for as long as the property is held (no set number of periods)."""
        return self.return_periods is None

    # The fields a kind of terms requires, as __post_init__ made sure they are set (for the type checker).
    @property
    def every_days(self) -> int:
        """The period in days, of 'days' terms."""
        if self.return_every_days is None:
            raise ValueError("these terms have no period in days (return_every_days)")
        return self.return_every_days

    @property
    def rate_bps(self) -> int:
        """The annual rate, of rate terms."""
        if self.return_rate_bps is None:
            raise ValueError("these terms have no annual rate (return_rate_bps)")
        return self.return_rate_bps

    @property
    def interval(self) -> int:
        """The interval between installments, of terms paid in installments."""
        if self.installment_interval is None:
            raise ValueError("these terms have no installment interval (installment_interval)")
        return self.installment_interval


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_date(value, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a date (convert a date-time to its calendar date first)")
    return value


def _check_index(index: int, terms: Terms) -> None:
    if not _is_int(index) or index < 1:
        raise ValueError(f"period index must be 1 or more, got {index!r}")
    if terms.return_periods is not None and index > terms.return_periods:
        raise ValueError(f"period {index} is past the last period ({terms.return_periods}) of these terms")


def _check_principal(principal: int) -> None:
    if not _is_int(principal) or principal < 0:
        raise ValueError(f"principal must be whole minor units, 0 or more, got {principal!r}")


# Calendar --------------------------------------------------------------------------------------------------------
def add_months(anchor: date, months: int) -> date:
    """The date `months` calendar months after `anchor`, on the anchor's day of the month, or on the month's last
    day when the month is shorter. Always counted from the anchor itself: from 31 January, +1 is 28 February
    (29 in a leap year), +2 is 31 March, +3 is 30 April."""
    _check_date(anchor, "anchor")
    if not _is_int(months):
        raise ValueError(f"months must be a whole number, got {months!r}")
    year, month0 = divmod(anchor.year * 12 + anchor.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        raise ValueError(f"{months} months from {anchor.isoformat()} is outside the calendar")
    month = month0 + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def _add_days(start: date, days: int) -> date:
    try:
        return start + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"{days} days from {start.isoformat()} is outside the calendar") from None


def period_due_date(anchor: date, terms: Terms, index: int) -> date:
    """The due date of return period `index` (1 is the first): the anchor plus `index` periods, where a period is
    1, 3 or 12 calendar months (month-end rule, counted from the anchor) or the set number of days."""
    _check_date(anchor, "anchor")
    _check_index(index, terms)
    if terms.return_frequency == "days":
        return _add_days(anchor, index * terms.every_days)
    return add_months(anchor, index * MONTHS_PER_PERIOD[terms.return_frequency])


def periods_due(anchor: date, terms: Terms, as_of: date) -> int:
    """How many return periods fall due on or before `as_of` (never more than the terms' number of periods)."""
    _check_date(anchor, "anchor")
    _check_date(as_of, "as_of")
    if as_of <= anchor:
        return 0
    if terms.return_frequency == "days":
        count = (as_of - anchor).days // terms.every_days
    else:
        step = MONTHS_PER_PERIOD[terms.return_frequency]
        months = (as_of.year - anchor.year) * 12 + as_of.month - anchor.month
        count = months // step
        # the last candidate lies in as_of's month or earlier; only within that month can it still be ahead
        if count >= 1 and add_months(anchor, count * step) > as_of:
            count -= 1
    if terms.return_periods is not None:
        count = min(count, terms.return_periods)
    return count


def return_anchor(funding_closes_on: date | None, invested_on: date, last_installment_due: date | None) -> date:
    """The date the return calendar counts from: the day the funding window closes (the investment date when there
    is no funding window), or, for an investment paid in installments, its last installment's due date when that
    is later."""
    _check_date(invested_on, "invested_on")
    anchor = invested_on if funding_closes_on is None else _check_date(funding_closes_on, "funding_closes_on")
    if last_installment_due is not None and _check_date(last_installment_due, "last_installment_due") > anchor:
        anchor = last_installment_due
    return anchor


# Installments ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Installment:
    index: int  # 1-based
    due_on: date
    amount: int  # minor units


def installment_plan(total: int, terms: Terms, first_due: date) -> list[Installment]:
    """The installments that pay `total`: the terms' count (one installment when paid at once), the first due on
    `first_due`, each further one an interval later (days, or calendar months counted from `first_due`). Equal
    parts to the minor unit, the first ones a cent larger when it does not divide evenly; they add up to `total`
    exactly. Every installment must be at least one minor unit."""
    _check_date(first_due, "first_due")
    if not _is_int(total) or total < 1:
        raise ValueError(f"the amount to pay in installments must be at least 1 minor unit, got {total!r}")
    count = terms.installments_count or 1
    if total < count:
        raise ValueError(f"{total} minor units cannot be split into {count} installments of at least 1 each")
    amounts = allocate(total, [1] * count)
    plan = []
    for k, amount in enumerate(amounts, start=1):
        if k == 1:
            due = first_due
        elif terms.installment_unit == "months":
            due = add_months(first_due, (k - 1) * terms.interval)
        else:
            due = _add_days(first_due, (k - 1) * terms.interval)
        plan.append(Installment(index=k, due_on=due, amount=amount))
    return plan


# Returns ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduledReturn:
    index: int  # 1-based period number
    due_on: date
    amount: int  # the return only, minor units
    capital: int  # principal paid back with it: 0 except the last period when the terms return the capital


def _entitlement(principal: int, terms: Terms) -> tuple[int, int]:
    """The exact return of one period as a fraction (numerator, denominator) of minor units, for rate terms."""
    if terms.return_frequency == "days":
        return principal * terms.rate_bps * terms.every_days, BPS * DAYS_PER_YEAR
    return principal * terms.rate_bps * MONTHS_PER_PERIOD[terms.return_frequency], BPS * 12


def return_amount(principal: int, terms: Terms, index: int) -> int:
    """The return paid for period `index` (1 is the first) on `principal` minor units.

    With an annual rate: the rounded total for periods 1..index minus the rounded total for periods 1..index-1,
    each total being principal x rate x the periods' share of the year rounded once, half to even. So the sum over
    any number of periods is exactly that total rounded once. With a fixed sum: that sum, every period."""
    _check_principal(principal)
    _check_index(index, terms)
    if terms.return_fixed_amount is not None:
        return terms.return_fixed_amount
    numerator, denominator = _entitlement(principal, terms)
    return round_half_even(numerator * index, denominator) - round_half_even(numerator * (index - 1), denominator)


def promised_total(principal: int, terms: Terms, periods: int) -> int:
    """The total return over the first `periods` periods: principal x rate x their share of the year, rounded once
    half to even, or the fixed sum times the number of periods. Capital is not included."""
    _check_principal(principal)
    if not _is_int(periods) or periods < 0:
        raise ValueError(f"number of periods must be 0 or more, got {periods!r}")
    if terms.return_periods is not None and periods > terms.return_periods:
        raise ValueError(f"these terms pay {terms.return_periods} periods, not {periods}")
    if terms.return_fixed_amount is not None:
        return terms.return_fixed_amount * periods
    numerator, denominator = _entitlement(principal, terms)
    return round_half_even(numerator * periods, denominator)


def return_schedule(principal: int, terms: Terms, anchor: date, *, through: date | None = None,
                    limit: int | None = None) -> list[ScheduledReturn]:
    """The return periods of an investment of `principal` minor units whose calendar starts at `anchor`.

    With a set number of periods: periods 1 to that number, the capital paid back with the last one when the terms
    say so. For the property's lifetime there is no end, so `through` (periods due on or before that date) or
    `limit` (at most that many periods) is required. Either also shortens a schedule with a set number of periods;
    the capital then appears only if the last period is included."""
    _check_principal(principal)
    _check_date(anchor, "anchor")
    if limit is not None and (not _is_int(limit) or limit < 0):
        raise ValueError(f"limit must be 0 or more periods, got {limit!r}")
    count = terms.return_periods
    if through is not None:
        due = periods_due(anchor, terms, _check_date(through, "through"))
        count = due if count is None else min(count, due)
    if limit is not None:
        count = limit if count is None else min(count, limit)
    if count is None:  # lifetime terms, and neither `through` nor `limit`
        raise ValueError("returns for the property's lifetime have no end: give `through` or `limit`")
    return [
        ScheduledReturn(
            index=k,
            due_on=period_due_date(anchor, terms, k),
            amount=return_amount(principal, terms, k),
            capital=principal if terms.capital_back and k == terms.return_periods else 0,
        )
        for k in range(1, count + 1)
    ]


# Distributions ---------------------------------------------------------------------------------------------------
def pro_rata(total: int, weights: list[int]) -> list[int]:
    """Split `total` minor units in proportion to whole-number `weights`: each part is its exact share rounded
    down, and the minor units left over go one each to the largest remainders, the earlier position first when
    remainders are equal. A zero weight gets 0; the parts add up to `total` exactly."""
    if not _is_int(total) or total < 0:
        raise ValueError(f"the sum to split must be whole minor units, 0 or more, got {total!r}")
    weights = list(weights)
    if not weights:
        raise ValueError("no weights to split by")
    if any(not _is_int(w) or w < 0 for w in weights):
        raise ValueError("weights must be whole numbers, 0 or more")
    if sum(weights) == 0:
        raise ValueError("all weights are zero: nothing to split by")
    return allocate(total, weights)
