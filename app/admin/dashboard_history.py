"""The dashboard's history: one grouped read per figure, whatever the number of rows (weeks and months computed by
the database, PostgreSQL or SQLite alike), each drawn as a small server-side chart with its numbers beside it, each
linking to the console list it counts, filtered the same way. A tile shows to the roles that may read its list."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import url_for
from flask_admin.contrib.sqla.filters import BooleanEqualFilter, FilterEqual, FilterInList
from sqlalchemy import case, func, literal_column, select

from app.admin.dashboard_range import Range, in_words
from app.admin.filter_links import list_url
from app.admin.time_filters import BetweenUTC
from app.admin.views.payouts import StageFilter
from app.admin.views.reports_chart import BarChart, bar_chart
from app.admin.views.users import DeviceFilter
from app.auth.devices import DEVICES, LABELS, device_of
from app.auth.models import LoginAttempt, Role, User, user_roles
from app.core.money import Money
from app.core.security import INVESTOR, has_permission
from app.extensions import db
from app.finance import reports
from app.finance.reports import AGE_BUCKETS, Report
from app.kyc.models import APPROVED, PENDING, REJECTED, RESUBMISSION_REQUESTED, KycSubmission
from app.payouts.models import PAYOUT_APPROVED, PAYOUT_REQUESTED, Payout

DECISIONS = ((APPROVED, "Approved", "#1f5f4a"), (REJECTED, "Rejected", "#b35c00"),
             (RESUBMISSION_REQUESTED, "Resubmit", "#6c8ebf"))


def week_of(column) -> Any:
    """The Monday ('YYYY-MM-DD') of the UTC week of a timestamp column, computed by the database."""
    # constants as SQL text, not bound parameters: GROUP BY must repeat the very expression of the select list
    if db.engine.dialect.name == "postgresql":
        return func.to_char(func.date_trunc(literal_column("'week'"), func.timezone(literal_column("'UTC'"), column)),
                            literal_column("'YYYY-MM-DD'"))
    # SQLite keeps UTC text ('YYYY-MM-DD HH:MM:SS.ffffff'): read its day only, as SQLite rounds times to the
    # millisecond and would move Sunday 23:59:59.9999 into Monday
    day = func.substr(column, literal_column("1"), literal_column("10"))
    return func.date(day, literal_column("'weekday 0'"), literal_column("'-6 days'"))


def _between(start: datetime, end: datetime) -> str:
    """A console list's "between" filter value for [start, end): both ends included, to the second."""
    return f"{start:%Y-%m-%d %H:%M:%S} to {end - timedelta(seconds=1):%Y-%m-%d %H:%M:%S}"


def _by_key(statement) -> dict[str, tuple[int, ...]]:
    return {str(row[0]): tuple(int(v or 0) for v in row[1:]) for row in db.session.execute(statement).all()}


# figures -------------------------------------------------------------------------------------------------------------
def new_investors(r: Range) -> Report:
    """Accounts with the investor role opened each week."""
    week = week_of(User.created_at)
    found = _by_key(select(week, func.count(User.id)).select_from(User)
                    .join(user_roles, user_roles.c.user_id == User.id).join(Role, Role.id == user_roles.c.role_id)
                    .where(Role.name == INVESTOR, User.created_at >= r.start, User.created_at < r.end)
                    .group_by(week))
    counts = [found.get(key, (0,))[0] for key in r.weeks]
    return Report("new-investors", "New investors by week", ["Week of", "New investors"],
                  [[key, n] for key, n in zip(r.weeks, counts, strict=True)], r.weeks,
                  [("New investors", "#1f5f4a", counts)], totals=["Total", sum(counts)],
                  note="Investor accounts by the week (from Monday, UTC) they were opened.")


def kyc_decisions(r: Range) -> Report:
    """KYC cases decided each week, by decision."""
    week = week_of(KycSubmission.decided_at)
    found = _by_key(select(week, *[func.sum(case((KycSubmission.status == status, 1), else_=0))
                                   for status, _label, _colour in DECISIONS])
                    .where(KycSubmission.status.in_([s for s, _l, _c in DECISIONS]),
                           KycSubmission.decided_at >= r.start, KycSubmission.decided_at < r.end).group_by(week))
    per = {key: found.get(key, (0,) * len(DECISIONS)) for key in r.weeks}
    series = [(label, colour, [per[key][i] for key in r.weeks]) for i, (_s, label, colour) in enumerate(DECISIONS)]
    return Report("kyc-decisions", "KYC decisions by week", ["Week of", *[label for _s, label, _c in DECISIONS]],
                  [[key, *per[key]] for key in r.weeks], r.weeks, series,
                  totals=["Total", *[sum(values) for _l, _c, values in series]],
                  note="Cases by the week (from Monday, UTC) they were decided and the decision they still carry.")


def _age_bucket(column, now: datetime):
    return case(*[(column > now - timedelta(days=lo), literal_column(str(i - 1)))
                  for i, (lo, _hi, _label) in enumerate(AGE_BUCKETS) if i > 0],
                else_=literal_column(str(len(AGE_BUCKETS) - 1)))


def kyc_queue(now: datetime) -> tuple[Report, timedelta | None]:
    """Cases waiting for a decision by how long they have waited, and the oldest one's wait: one grouped read."""
    waiting = select(_age_bucket(KycSubmission.submitted_at, now).label("bucket"),
                     KycSubmission.submitted_at).where(KycSubmission.status == PENDING).subquery()
    found = {int(b): (int(n), oldest) for b, n, oldest in db.session.execute(
        select(waiting.c.bucket, func.count(), func.min(waiting.c.submitted_at)).group_by(waiting.c.bucket)).all()}
    counts = [found.get(i, (0, None))[0] for i in range(len(AGE_BUCKETS))]
    labels = [label for _lo, _hi, label in AGE_BUCKETS]
    firsts = [oldest for _n, oldest in found.values() if oldest is not None]
    oldest = now - _aware(min(firsts)) if firsts else None
    return Report("kyc-queue", "KYC queue by age", ["Waiting since", "Cases"],
                  [[label, n] for label, n in zip(labels, counts, strict=True)], labels,
                  [("Cases", "#b35c00", counts)], totals=["Total", sum(counts)],
                  note="Cases pending a decision, by the time since they were submitted (as of now)."), oldest


def _aware(moment) -> datetime:
    """min() over a subquery's column comes back as the driver gives it (SQLite: text, no zone)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def oldest_payout(now: datetime, currency: str) -> timedelta | None:
    """How long the oldest payout requested or approved, not yet paid, has waited (those the age report counts)."""
    first = db.session.scalar(select(func.min(Payout.created_at))
                              .where(Payout.status.in_((PAYOUT_REQUESTED, PAYOUT_APPROVED)), Payout.currency == currency))
    return now - _aware(first) if first is not None else None


def sign_ins(r: Range) -> Report:
    """Successful sign-ins in the weeks shown, by the kind of device (app/auth/devices.py)."""
    attempts = select(device_of(LoginAttempt.user_agent, LoginAttempt.channel).label("device")).where(
        LoginAttempt.success.is_(True), LoginAttempt.created_at >= r.start, LoginAttempt.created_at < r.end).subquery()
    found = _by_key(select(attempts.c.device, func.count()).group_by(attempts.c.device))
    counts = [found.get(device, (0,))[0] for device in DEVICES]
    labels = [LABELS[d] for d in DEVICES]
    return Report("sign-ins", "Sign-ins by device", ["Device", "Sign-ins"],
                  [[label, n] for label, n in zip(labels, counts, strict=True)], labels,
                  [("Sign-ins", "#6c8ebf", counts)], totals=["Total", sum(counts)],
                  note="Successful sign-ins (portal and API) in the weeks shown, by the device their browser or app "
                       "names; API sign-ins count as API whatever they name.")


# tiles ---------------------------------------------------------------------------------------------------------------
@dataclass
class Tile:
    report: Report
    chart: BarChart
    headline: str
    href: str | None  # the filtered list, for those who may open it
    header: list[str]  # the numbers beside the chart: one row a bar group, one column a series
    rows: list[list[str]]
    totals: list[str]
    links: list[str]  # a filtered list for each row, when there is one (else empty)


def _tile(report: Report, headline: str, href: str | None, links: list[tuple[str, str]] | None = None) -> Tile:
    def show(value: int) -> str:
        return Money(value, report.currency).display() if report.currency else f"{value:,}"

    series = [values for _name, _colour, values in report.series]
    return Tile(report, bar_chart(report, width=560, height=200, compact=True), headline, href,
                [report.header[0], *[name for name, _colour, _values in report.series]],
                [[label, *[show(values[i]) for values in series]] for i, label in enumerate(report.labels)],
                ["Total", *[show(sum(values)) for values in series]], [url for _label, url in links or []])


def _may_open(admin, endpoint: str, user) -> bool:
    return any(v.endpoint == endpoint and has_permission(user, v.permission) for v in admin._views)


def _report_url(key: str, r: Range) -> str:
    args: dict[str, Any] = {"key": key, **r.months.args}
    return url_for("finance_reports.report", **args)


def _sum(report: Report, series: int = 0) -> int:
    return sum(report.series[series][2])


def tiles(admin, user, r: Range, now: datetime) -> list[Tile]:
    """The history tiles this user may read, in the page's order."""
    can = lambda permission: has_permission(user, permission)  # noqa: E731
    opens: Callable[[str], bool] = lambda endpoint: _may_open(admin, endpoint, user)  # noqa: E731
    out: list[Tile] = []
    weeks = _between(r.start, r.end)
    if can("users.view"):
        report = new_investors(r)
        out.append(_tile(report, f"{_sum(report)} in {len(r.weeks)} weeks", list_url(
            admin, "users", (Role.name, FilterEqual, INVESTOR), (User.created_at, BetweenUTC, weeks))
            if opens("users") else None))
    if can("reports.view"):
        report = reports.deposits_withdrawals(r.months)
        net = Money(_sum(report, 0) - _sum(report, 1), report.currency)
        out.append(_tile(report, f"{net.display()} net", _report_url(report.key, r)
            if opens("finance_reports") else None))
        report = reports.funds_raised(r.months)
        out.append(_tile(report, f"{Money(_sum(report), report.currency).display()} raised", _report_url(report.key, r)
            if opens("finance_reports") else None))
    if can("kyc.view"):
        report = kyc_decisions(r)
        decided = sum(_sum(report, i) for i in range(len(DECISIONS)))
        out.append(_tile(report, f"{decided} decided in {len(r.weeks)} weeks", list_url(
            admin, "kyc_queue", (KycSubmission.status, FilterInList, ",".join(s for s, _l, _c in DECISIONS)))
            if opens("kyc_queue") else None))
        report, oldest = kyc_queue(now)
        out.append(_tile(report, f"{_sum(report)} waiting · oldest {in_words(oldest)}", list_url(
            admin, "kyc_queue", (KycSubmission.status, FilterEqual, PENDING)) if opens("kyc_queue") else None))
    if can("payouts.view"):
        report = reports.payouts_waiting(now=now)
        waiting = sum(row[1] for row in report.rows)
        out.append(_tile(report, f"{waiting} waiting · oldest {in_words(oldest_payout(now, report.currency))}",
                         list_url(admin, "payouts", (Payout.status, StageFilter, "waiting"))
                         if opens("payouts") else None))
    if can("signins.view"):
        report = sign_ins(r)
        signed_in = ((LoginAttempt.success, BooleanEqualFilter, "1"), (LoginAttempt.created_at, BetweenUTC, weeks))
        links = [(LABELS[d], list_url(admin, "sign_ins", *signed_in, (LoginAttempt.user_agent, DeviceFilter, d)))
                 for d in DEVICES] if opens("sign_ins") else []
        out.append(_tile(report, f"{_sum(report)} in {len(r.weeks)} weeks",
                         list_url(admin, "sign_ins", *signed_in) if opens("sign_ins") else None, links))
    return out
