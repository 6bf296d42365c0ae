"""Return and installment schedules: the calendar (month-end rule), the anchor, the rounding rule, capital back,
installments and pro-rata splits; worked examples first, then properties that hold for any terms."""
from __future__ import annotations

import calendar
import itertools
from dataclasses import replace
from datetime import date, datetime, timedelta
from fractions import Fraction
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.investing.schedule import (
    FREQUENCIES,
    MONTHS_PER_PERIOD,
    Installment,
    ScheduledReturn,
    Terms,
    add_months,
    installment_plan,
    period_due_date,
    periods_due,
    pro_rata,
    promised_total,
    return_amount,
    return_anchor,
    return_schedule,
)


def terms(**overrides) -> Terms:
    base = dict(return_rate_bps=1_200, return_fixed_amount=None, return_frequency="monthly", return_every_days=None,
                return_periods=12, capital_back=True, installments_count=None, installment_interval=None,
                installment_unit=None)
    base.update(overrides)
    return Terms(**base)


# Terms -----------------------------------------------------------------------------------------------------------
def test_from_property_reads_the_terms_columns():
    p = SimpleNamespace(return_rate_bps=None, return_fixed_amount=2_500, return_frequency="days",
                        return_every_days=30, return_periods=None, capital_back=False, installments_count=4,
                        installment_interval=2, installment_unit="months", title="ignored")
    assert Terms.from_property(p) == Terms(None, 2_500, "days", 30, None, False, 4, 2, "months")
    assert Terms.from_property(p).is_lifetime


def test_frequencies_match_the_property_model_and_terms():
    from app.properties.models import FREQUENCIES as MODEL_FREQUENCIES
    from app.properties.terms import PERIODS_PER_YEAR

    assert FREQUENCIES == MODEL_FREQUENCIES
    assert {f: 12 // m for f, m in MONTHS_PER_PERIOD.items()} == PERIODS_PER_YEAR


@pytest.mark.parametrize("overrides, message", [
    (dict(return_frequency="weekly"), "unknown return frequency"),
    (dict(return_frequency="days", return_every_days=None), "return_every_days"),
    (dict(return_frequency="days", return_every_days=0), "return_every_days"),
    (dict(return_fixed_amount=100), "not both"),
    (dict(return_rate_bps=None), "not neither"),
    (dict(return_rate_bps=-1), "annual rate"),
    (dict(return_rate_bps=None, return_fixed_amount=-5), "fixed sum"),
    (dict(return_periods=0), "return_periods"),
    (dict(installments_count=0), "installments_count"),
    (dict(installments_count=3, installment_interval=None, installment_unit="days"), "interval"),
    (dict(installments_count=3, installment_interval=1, installment_unit="weeks"), "installment unit"),
])
def test_incoherent_terms_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        terms(**overrides)


def test_one_installment_needs_no_interval():
    assert terms(installments_count=1).installments_count == 1


# Calendar: the month-end rule ------------------------------------------------------------------------------------
def test_monthly_from_31_january_keeps_to_month_ends():
    assert [add_months(date(2027, 1, 31), m) for m in (1, 2, 3, 4)] == [
        date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31)]
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    t = terms()
    assert [period_due_date(date(2027, 1, 31), t, k) for k in (1, 2, 3)] == [
        date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]
    assert period_due_date(date(2028, 1, 31), t, 1) == date(2028, 2, 29)


def test_quarterly_from_30_november():
    t = terms(return_frequency="quarterly", return_periods=8)
    assert [period_due_date(date(2026, 11, 30), t, k) for k in range(1, 6)] == [
        date(2027, 2, 28), date(2027, 5, 30), date(2027, 8, 30), date(2027, 11, 30), date(2028, 2, 29)]


def test_yearly_from_29_february():
    t = terms(return_frequency="yearly", return_periods=5)
    assert [period_due_date(date(2028, 2, 29), t, k) for k in range(1, 5)] == [
        date(2029, 2, 28), date(2030, 2, 28), date(2031, 2, 28), date(2032, 2, 29)]


def test_add_months_across_years_and_backwards():
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 3, 31), 0) == date(2026, 3, 31)
    with pytest.raises(ValueError, match="outside the calendar"):
        add_months(date(9999, 12, 1), 1)


def test_every_n_days_adds_exact_days():
    t = terms(return_frequency="days", return_every_days=30, return_periods=3)
    assert [period_due_date(date(2027, 1, 31), t, k) for k in (1, 2, 3)] == [
        date(2027, 3, 2), date(2027, 4, 1), date(2027, 5, 1)]


def test_period_due_date_refuses_a_period_that_does_not_exist():
    with pytest.raises(ValueError, match="1 or more"):
        period_due_date(date(2027, 1, 1), terms(), 0)
    with pytest.raises(ValueError, match="past the last period"):
        period_due_date(date(2027, 1, 1), terms(), 13)
    assert period_due_date(date(2027, 1, 1), terms(return_periods=None), 500) == date(2068, 9, 1)


def test_dates_must_be_dates():
    with pytest.raises(TypeError, match="must be a date"):
        period_due_date(datetime(2027, 1, 1, 12), terms(), 1)
    with pytest.raises(TypeError, match="must be a date"):
        add_months("2027-01-01", 1)


def test_periods_due_counts_due_dates_on_or_before():
    t, anchor = terms(), date(2027, 1, 31)
    assert periods_due(anchor, t, date(2027, 1, 31)) == 0
    assert periods_due(anchor, t, date(2027, 2, 27)) == 0
    assert periods_due(anchor, t, date(2027, 2, 28)) == 1
    assert periods_due(anchor, t, date(2027, 3, 30)) == 1
    assert periods_due(anchor, t, date(2027, 3, 31)) == 2
    assert periods_due(anchor, t, date(2040, 1, 1)) == 12  # capped at the terms' periods
    assert periods_due(anchor, t, date(2026, 1, 1)) == 0
    days = terms(return_frequency="days", return_every_days=10, return_periods=None)
    assert periods_due(anchor, days, anchor + timedelta(days=29)) == 2
    assert periods_due(anchor, days, anchor + timedelta(days=30)) == 3


# Anchor ----------------------------------------------------------------------------------------------------------
def test_anchor_is_the_funding_close():
    assert return_anchor(date(2027, 3, 31), date(2027, 2, 10), None) == date(2027, 3, 31)


def test_anchor_is_the_investment_date_without_a_funding_window():
    assert return_anchor(None, date(2027, 2, 10), None) == date(2027, 2, 10)


def test_anchor_moves_to_a_later_last_installment():
    assert return_anchor(date(2027, 3, 31), date(2027, 2, 10), date(2027, 6, 10)) == date(2027, 6, 10)
    assert return_anchor(date(2027, 3, 31), date(2027, 2, 10), date(2027, 3, 10)) == date(2027, 3, 31)
    assert return_anchor(None, date(2027, 2, 10), date(2027, 5, 10)) == date(2027, 5, 10)


def test_anchor_refuses_date_times():
    with pytest.raises(TypeError, match="funding_closes_on"):
        return_anchor(datetime(2027, 3, 31, 23, 0), date(2027, 2, 10), None)


# Amounts: the rounding rule --------------------------------------------------------------------------------------
def test_rate_amounts_round_cumulatively():
    # 1,000.00 at 10 % a year monthly: 833.333... cents a month -> 833, 834, 833, ... and exactly 10,000 a year
    t = terms(return_rate_bps=1_000)
    amounts = [return_amount(100_000, t, k) for k in range(1, 13)]
    assert amounts == [833, 834, 833, 833, 834, 833, 833, 834, 833, 833, 834, 833]
    assert sum(amounts) == promised_total(100_000, t, 12) == 10_000


def test_half_a_cent_rounds_to_even():
    # 5 cents at 10 % a year yearly is half a cent: 0 (even) in year 1, 1 after two years (exactly 1)
    t = terms(return_rate_bps=1_000, return_frequency="yearly", return_periods=3)
    assert promised_total(5, t, 1) == 0
    assert [return_amount(5, t, k) for k in (1, 2, 3)] == [0, 1, 1]  # cumulative 0, 1, 2 (1.5 -> 2)
    assert promised_total(15, t, 1) == 2  # 1.5 -> 2


def test_quarterly_and_days_shares_of_the_year():
    assert return_amount(1_000_000, terms(return_frequency="quarterly", return_periods=4), 1) == 30_000
    days = terms(return_frequency="days", return_every_days=73, return_periods=5)
    assert [return_amount(1_000_000, days, k) for k in range(1, 6)] == [24_000] * 5  # 73/365 = 1/5 of 12 %
    assert promised_total(1_000_000, days, 5) == 120_000


def test_fixed_sum_every_period():
    t = terms(return_rate_bps=None, return_fixed_amount=2_500, return_periods=4)
    assert [r.amount for r in return_schedule(50_000, t, date(2027, 1, 1))] == [2_500] * 4
    assert promised_total(50_000, t, 4) == 10_000
    assert promised_total(50_000, t, 0) == 0


def test_amount_and_total_refuse_bad_input():
    with pytest.raises(ValueError, match="principal"):
        return_amount(-1, terms(), 1)
    with pytest.raises(ValueError, match="1 or more"):
        return_amount(100, terms(), 0)
    with pytest.raises(ValueError, match="past the last period"):
        return_amount(100, terms(), 13)
    with pytest.raises(ValueError, match="principal"):
        promised_total(-5, terms(), 1)
    with pytest.raises(ValueError, match="0 or more"):
        promised_total(100, terms(), -1)
    with pytest.raises(ValueError, match="pay 12 periods"):
        promised_total(100, terms(), 13)


# Schedules and capital -------------------------------------------------------------------------------------------
def test_capital_comes_back_with_the_last_period_only():
    schedule = return_schedule(100_000, terms(), date(2027, 1, 31))
    assert len(schedule) == 12
    assert [r.capital for r in schedule] == [0] * 11 + [100_000]
    assert schedule[-1] == ScheduledReturn(index=12, due_on=date(2028, 1, 31), amount=1_000, capital=100_000)


def test_no_capital_when_the_terms_keep_it():
    schedule = return_schedule(100_000, terms(capital_back=False), date(2027, 1, 31))
    assert all(r.capital == 0 for r in schedule)


def test_a_shortened_fixed_schedule_has_no_capital_until_its_last_period():
    schedule = return_schedule(100_000, terms(), date(2027, 1, 31), through=date(2027, 6, 30))
    assert [r.index for r in schedule] == [1, 2, 3, 4, 5]
    assert all(r.capital == 0 for r in schedule)
    assert len(return_schedule(100_000, terms(), date(2027, 1, 31), limit=30)) == 12


def test_lifetime_schedule_needs_an_end():
    lifetime = terms(return_periods=None, capital_back=False)
    with pytest.raises(ValueError, match="through` or `limit"):
        return_schedule(100_000, lifetime, date(2027, 1, 31))
    through = return_schedule(100_000, lifetime, date(2027, 1, 31), through=date(2027, 4, 30))
    assert [r.due_on for r in through] == [date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]
    assert len(return_schedule(100_000, lifetime, date(2027, 1, 31), limit=40)) == 40
    both = return_schedule(100_000, lifetime, date(2027, 1, 31), through=date(2030, 1, 1), limit=2)
    assert [r.index for r in both] == [1, 2]
    assert return_schedule(100_000, lifetime, date(2027, 1, 31), through=date(2027, 1, 1)) == []
    assert return_schedule(100_000, lifetime, date(2027, 1, 31), limit=0) == []


def test_lifetime_never_returns_capital():
    lifetime = terms(return_periods=None, capital_back=True)
    assert all(r.capital == 0 for r in return_schedule(100_000, lifetime, date(2027, 1, 1), limit=24))


def test_schedule_refuses_bad_input():
    with pytest.raises(ValueError, match="principal"):
        return_schedule(-100, terms(), date(2027, 1, 1))
    with pytest.raises(ValueError, match="limit"):
        return_schedule(100, terms(), date(2027, 1, 1), limit=-1)


# Installments ----------------------------------------------------------------------------------------------------
def test_paid_at_once_is_one_installment():
    for count in (None, 1):
        assert installment_plan(100_000, terms(installments_count=count), date(2027, 1, 31)) == [
            Installment(index=1, due_on=date(2027, 1, 31), amount=100_000)]


def test_installments_in_months_keep_to_month_ends():
    t = terms(installments_count=4, installment_interval=1, installment_unit="months")
    plan = installment_plan(100_001, t, date(2027, 1, 31))
    assert [(i.index, i.due_on, i.amount) for i in plan] == [
        (1, date(2027, 1, 31), 25_001), (2, date(2027, 2, 28), 25_000), (3, date(2027, 3, 31), 25_000),
        (4, date(2027, 4, 30), 25_000)]


def test_installments_in_days_larger_parts_first():
    t = terms(installments_count=3, installment_interval=14, installment_unit="days")
    plan = installment_plan(100, t, date(2027, 1, 1))
    assert [(i.due_on, i.amount) for i in plan] == [
        (date(2027, 1, 1), 34), (date(2027, 1, 15), 33), (date(2027, 1, 29), 33)]


def test_installments_refuse_amounts_too_small():
    t = terms(installments_count=3, installment_interval=1, installment_unit="months")
    assert [i.amount for i in installment_plan(3, t, date(2027, 1, 1))] == [1, 1, 1]
    with pytest.raises(ValueError, match="cannot be split into 3"):
        installment_plan(2, t, date(2027, 1, 1))
    with pytest.raises(ValueError, match="at least 1 minor unit"):
        installment_plan(0, terms(), date(2027, 1, 1))
    with pytest.raises(ValueError, match="at least 1 minor unit"):
        installment_plan(-100, terms(), date(2027, 1, 1))


# Pro rata --------------------------------------------------------------------------------------------------------
def test_pro_rata_examples():
    assert pro_rata(100, [1, 1, 1]) == [34, 33, 33]
    assert pro_rata(10, [0, 1, 1, 0]) == [0, 5, 5, 0]
    assert pro_rata(7, [1, 0, 2]) == [2, 0, 5]  # 2.33 / 4.67: the larger remainder takes the cent
    assert pro_rata(0, [3, 4]) == [0, 0]


@pytest.mark.parametrize("total, weights, message", [
    (100, [0, 0], "all weights are zero"),
    (100, [], "no weights"),
    (100, [1, -1], "0 or more"),
    (-1, [1], "0 or more"),
])
def test_pro_rata_refuses(total, weights, message):
    with pytest.raises(ValueError, match=message):
        pro_rata(total, weights)


# Properties ------------------------------------------------------------------------------------------------------
PROPERTY = settings(derandomize=True, max_examples=150, deadline=None, database=None)

anchors = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
principals = st.integers(min_value=0, max_value=10**13)


@st.composite
def any_terms(draw, *, fixed_periods: bool | None = None, rate_only: bool = False):
    frequency = draw(st.sampled_from(FREQUENCIES))
    every_days = draw(st.integers(1, 3_650)) if frequency == "days" else None
    if rate_only or draw(st.booleans()):
        rate, fixed = draw(st.integers(0, 10_000)), None
    else:
        rate, fixed = None, draw(st.integers(0, 10**9))
    lifetime = (not fixed_periods) if fixed_periods is not None else draw(st.booleans())
    periods = None if lifetime else draw(st.integers(1, 120))
    count = draw(st.none() | st.integers(1, 120))
    return Terms(rate, fixed, frequency, every_days, periods, draw(st.booleans()), count,
                 draw(st.integers(1, 90)), draw(st.sampled_from(["days", "months"])))


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


@PROPERTY
@given(total=st.integers(1, 10**13), t=any_terms(), first=anchors)
def test_installments_add_up_and_differ_by_at_most_one(total, t, first):
    count = t.installments_count or 1
    if total < count:
        with pytest.raises(ValueError):
            installment_plan(total, t, first)
        return
    plan = installment_plan(total, t, first)
    amounts = [i.amount for i in plan]
    assert len(plan) == count and [i.index for i in plan] == list(range(1, count + 1))
    assert sum(amounts) == total
    assert min(amounts) >= 1 and max(amounts) - min(amounts) <= 1
    assert amounts == sorted(amounts, reverse=True)  # larger parts first
    assert plan[0].due_on == first
    assert all(a.due_on < b.due_on for a, b in itertools.pairwise(plan))


@PROPERTY
@given(anchor=anchors, months=st.integers(0, 1_200))
def test_add_months_is_on_the_calendar_rule(anchor, months):
    due = add_months(anchor, months)
    assert (due.year * 12 + due.month) - (anchor.year * 12 + anchor.month) == months
    assert due.day == min(anchor.day, _last_day(due.year, due.month))


@PROPERTY
@given(anchor=anchors, t=any_terms(fixed_periods=True))
def test_period_dates_follow_the_calendar_rule_and_increase(anchor, t):
    dates = [period_due_date(anchor, t, k) for k in range(1, t.return_periods + 1)]
    for k, due in enumerate(dates, start=1):
        if t.return_frequency == "days":
            assert due == anchor + timedelta(days=k * t.return_every_days)
        else:
            assert due == add_months(anchor, k * MONTHS_PER_PERIOD[t.return_frequency])
            assert due.day == min(anchor.day, _last_day(due.year, due.month))
    assert anchor < dates[0]
    assert all(a < b for a, b in itertools.pairwise(dates))


@PROPERTY
@given(principal=principals, t=any_terms(fixed_periods=True), anchor=anchors)
def test_returns_over_the_life_equal_the_promised_total(principal, t, anchor):
    schedule = return_schedule(principal, t, anchor)
    assert [r.index for r in schedule] == list(range(1, t.return_periods + 1))
    assert sum(r.amount for r in schedule) == promised_total(principal, t, t.return_periods)
    assert all(r.amount >= 0 for r in schedule)
    assert sum(r.capital for r in schedule) == (principal if t.capital_back else 0)
    assert all(r.capital == 0 for r in schedule[:-1])


def _exact_share_of_year(t: Terms) -> Fraction:
    if t.return_frequency == "days":
        return Fraction(t.return_every_days, 365)
    return Fraction(MONTHS_PER_PERIOD[t.return_frequency], 12)


@PROPERTY
@given(principal=principals, t=any_terms(fixed_periods=True, rate_only=True), anchor=anchors)
def test_cumulative_rate_returns_stay_within_half_a_cent_of_the_entitlement(principal, t, anchor):
    paid = 0
    per_period = Fraction(principal * t.return_rate_bps, 10_000) * _exact_share_of_year(t)
    for r in return_schedule(principal, t, anchor):
        paid += r.amount
        exact = per_period * r.index
        assert abs(paid - exact) <= Fraction(1, 2)
        assert paid == promised_total(principal, t, r.index)
    assert promised_total(principal, t, t.return_periods) == round(per_period * t.return_periods)  # half-even


@PROPERTY
@given(anchor=anchors, t=any_terms(), offset=st.integers(-400, 20_000))
def test_periods_due_agrees_with_the_schedule(anchor, t, offset):
    as_of = anchor + timedelta(days=offset)
    due = periods_due(anchor, t, as_of)
    if t.return_periods is not None:
        dates = [r.due_on for r in return_schedule(1_000, t, anchor)]
    else:
        dates = [r.due_on for r in return_schedule(1_000, t, anchor, limit=due + 2)]
        assert [r.due_on for r in return_schedule(1_000, t, anchor, through=as_of)] == dates[:due]
    assert due == sum(1 for d in dates if d <= as_of)


weight_lists = st.lists(st.integers(0, 10**6), min_size=1, max_size=12).filter(lambda ws: sum(ws) > 0)


@PROPERTY
@given(total=st.integers(0, 10**13), weights=weight_lists)
def test_pro_rata_sums_exactly_and_follows_the_weights(total, weights):
    parts = pro_rata(total, weights)
    assert sum(parts) == total
    whole = sum(weights)
    for part, w in zip(parts, weights):
        assert abs(part - Fraction(total * w, whole)) < 1
        if w == 0:
            assert part == 0
    for i in range(len(weights)):
        for j in range(len(weights)):
            if weights[i] > weights[j] or (weights[i] == weights[j] and i < j):
                assert parts[i] >= parts[j]


@PROPERTY
@given(total=st.integers(0, 10**9), weights=weight_lists, data=st.data())
def test_pro_rata_a_larger_weight_never_gets_less(total, weights, data):
    i = data.draw(st.integers(0, len(weights) - 1))
    more = weights.copy()
    more[i] += data.draw(st.integers(1, 10**6))
    assert pro_rata(total, more)[i] >= pro_rata(total, weights)[i]


@PROPERTY
@given(principal=principals, t=any_terms(fixed_periods=False), anchor=anchors, n=st.integers(0, 60))
def test_lifetime_limit_is_a_prefix_of_any_longer_schedule(principal, t, anchor, n):
    short = return_schedule(principal, t, anchor, limit=n)
    assert short == return_schedule(principal, t, anchor, limit=n + 5)[:n]
    assert all(r.capital == 0 for r in short)
    assert sum(r.amount for r in short) == promised_total(principal, t, n)


def test_terms_are_frozen():
    t = terms()
    with pytest.raises(AttributeError):
        t.return_periods = 3  # type: ignore[misc]
    assert replace(t, return_periods=3).return_periods == 3
