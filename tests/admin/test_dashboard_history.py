"""The console dashboard's history: each figure equals the records (weeks and months in UTC), each tile shows to the
roles that may read its list and links to that list filtered the same way, the date range is read or refused with a
message, and the page reads a fixed number of times whatever the rows."""
from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.admin import dashboard_range
from app.admin.dashboard_history import kyc_decisions, kyc_queue, new_investors, oldest_payout, sign_ins
from app.admin.dashboard_range import Range, in_words, monday
from app.core.db import unit_of_work, utcnow
from app.core.security import STAFF_ROLES, has_permission
from app.extensions import db
from app.finance.reports import Months
from app.kyc.models import PENDING, REJECTED, KycSubmission
from app.payouts import requests as payout_requests
from app.payouts.models import Payout
from tests.finance.report_books import move, waiting_payout
from tests.payouts.helpers import usable_method

MOBILE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
DESKTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"

TILE_PERMISSIONS = {"new-investors": "users.view", "deposits-withdrawals": "reports.view",
                    "funds-raised": "reports.view", "kyc-decisions": "kyc.view", "kyc-queue": "kyc.view",
                    "payouts-waiting": "payouts.view", "sign-ins": "signins.view"}


@pytest.fixture
def console(app, login):
    def _console(user):
        http = app.test_client()
        assert login(user, http=http).status_code == 302
        return http

    return _console


def _weeks(n: int = 4) -> Range:
    this = monday(utcnow().date())
    return Range(this - timedelta(weeks=n - 1), this, Months(this.replace(day=1), this.replace(day=1)))


def _week_start(weeks_back: int) -> datetime:
    d = monday(utcnow().date()) - timedelta(weeks=weeks_back)
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _link(page: str, key: str) -> str:
    found = re.search(rf'<a href="([^"]+)" data-testid="link-{key}"', page)
    assert found, key
    return html.unescape(found.group(1))


def _sign_in(user, agent: str, *, when: datetime, channel: str = "portal", success: bool = True) -> None:
    from app.auth.models import LoginAttempt  # the model only here: the other tests go through the console

    with unit_of_work():
        db.session.add(LoginAttempt(user_id=user.id, email=user.email, ip="203.0.113.5", user_agent=agent,
                                    channel=channel, success=success, reason="ok" if success else "bad_password",
                                    created_at=when))


def _submission(user) -> KycSubmission:
    return db.session.scalar(select(KycSubmission).where(KycSubmission.user_id == user.id))


@pytest.fixture
def records(make_user, make_investor):
    """Investors opened across weeks (two on each side of a Monday midnight), KYC decisions in two weeks and one
    case pending for five days, sign-ins from a phone and a desktop."""
    people = {name: make_user(f"{name}@example.com") for name in ("old", "edge-before", "edge-after", "now")}
    move(type(people["old"]), people["old"].id, created_at=_week_start(10))  # outside a four-week range
    move(type(people["old"]), people["edge-before"].id, created_at=_week_start(1) - timedelta(microseconds=1))
    move(type(people["old"]), people["edge-after"].id, created_at=_week_start(1))
    a, b, c = make_investor("10.00"), make_investor("10.00"), make_investor("10.00")
    cases = {"approved": _submission(a).id, "rejected": _submission(b).id, "pending": _submission(c).id}
    move(KycSubmission, cases["approved"], decided_at=_week_start(2) + timedelta(days=3))
    move(KycSubmission, cases["rejected"], status=REJECTED, decided_at=_week_start(0))
    move(KycSubmission, cases["pending"], status=PENDING, decided_at=None, decided_by_id=None,
         submitted_at=utcnow() - timedelta(days=5, hours=2))
    _sign_in(people["now"], MOBILE_UA, when=utcnow() - timedelta(hours=1))
    _sign_in(people["now"], MOBILE_UA, when=utcnow() - timedelta(hours=2))
    _sign_in(people["old"], DESKTOP_UA, when=utcnow() - timedelta(hours=3))
    _sign_in(people["old"], DESKTOP_UA, when=utcnow() - timedelta(hours=3), success=False)
    _sign_in(people["old"], MOBILE_UA, when=_week_start(10))  # outside the range
    return {**people, "cases": cases}


def test_figures_equal_the_records_with_utc_week_edges(records):
    r = _weeks(4)
    weekly = dict(zip(r.weeks, (row[1] for row in new_investors(r).rows), strict=True))
    this, last = f"{_week_start(0):%Y-%m-%d}", f"{_week_start(1):%Y-%m-%d}"
    before = f"{_week_start(2):%Y-%m-%d}"
    # the last instant of a Sunday is in its week; Monday 00:00 UTC starts the next; "old" is out of the range
    assert weekly[before] == 1 and weekly[last] == 1
    assert weekly[this] == 1 + 3  # "now" and the three made as investors today
    assert sum(weekly.values()) == 6
    decisions = {row[0]: row[1:] for row in kyc_decisions(r).rows}
    want = {key: [0, 0, 0] for key in r.weeks}
    for case in db.session.scalars(select(KycSubmission).where(KycSubmission.decided_at.is_not(None))):
        want[f"{monday(case.decided_at.date()):%Y-%m-%d}"][["approved", "rejected", "resubmission_requested"]
                                                           .index(case.status)] += 1
    assert decisions == want and decisions[before][0] >= 1 and decisions[this][1] == 1
    queue, oldest = kyc_queue(utcnow())
    assert {row[0]: row[1] for row in queue.rows}["3-7 days"] == 1 and queue.totals == ["Total", 1]
    assert in_words(oldest) == "5 days"
    devices = {row[0]: row[1] for row in sign_ins(r).rows}
    assert devices == {"Desktop": 1, "Mobile": 2, "Tablet": 0, "API": 0, "Unknown": 0}  # no failed, none older


def test_payouts_waiting_and_their_age(make_investor):
    a = make_investor("500.00")
    method = usable_method(a)
    old = waiting_payout(a, method, "40.00")
    move(Payout, old.id, created_at=utcnow() - timedelta(days=3, hours=1))
    waiting_payout(a, method, "15.00")
    assert in_words(oldest_payout(utcnow(), "USD")) == "3 days"


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_each_tile_shows_to_the_roles_that_may_read_its_list(console, make_user, role):
    page = console(make_user(role=role)).get("/admin/").get_data(as_text=True)

    class Who:
        role_names = {role}
        is_authenticated = True

    for key, permission in TILE_PERMISSIONS.items():
        assert (f'data-testid="tile-{key}"' in page) == has_permission(Who(), permission), (role, key)
        assert f'data-testid="chart-{key}"' in page or not has_permission(Who(), permission)
    if role == "support":  # sees the KYC figures, but the review queue is compliance's: no link to it
        assert 'data-testid="link-kyc-queue"' not in page and 'data-testid="link-payouts-waiting"' in page


def test_links_carry_the_filters_and_the_lists_show_the_right_rows(console, make_user, records):
    http = console(make_user(role="admin"))
    page = http.get("/admin/?" + "&".join(f"{k}={v}" for k, v in {
        "from": f"{_week_start(3):%Y-%m-%d}", "to": f"{utcnow():%Y-%m-%d}"}.items())).get_data(as_text=True)
    users = http.get(_link(page, "new-investors"))
    listing = users.get_data(as_text=True)
    assert users.status_code == 200
    assert "edge-before@example.com" in listing and "edge-after@example.com" in listing
    assert "old@example.com" not in listing and "compliance" not in listing.split("<tbody")[-1]
    case = records["cases"]
    queue = http.get(_link(page, "kyc-queue")).get_data(as_text=True)
    assert f"Open case #{case['pending']}<" in queue and f"Open case #{case['approved']}<" not in queue
    decided = http.get(_link(page, "kyc-decisions")).get_data(as_text=True)
    assert f"Open case #{case['approved']}<" in decided and f"Open case #{case['rejected']}<" in decided
    assert f"Open case #{case['pending']}<" not in decided
    mobile = re.search(r'<a href="([^"]+)">Mobile</a>', page)
    assert mobile
    rows = http.get(html.unescape(mobile.group(1))).get_data(as_text=True).split("<tbody")[-1]
    assert rows.count("CPU iPhone OS") == 2 and "Windows NT" not in rows
    signed = http.get(_link(page, "sign-ins")).get_data(as_text=True).split("<tbody")[-1]
    assert signed.count("CPU iPhone OS") == 2 and signed.count("Windows NT") == 1  # the failed attempt is left out


def test_the_payouts_link_lists_the_payouts_it_counts_oldest_first(console, make_user, make_investor):
    a = make_investor("500.00")
    method = usable_method(a)
    old = waiting_payout(a, method, "40.00")
    move(Payout, old.id, created_at=utcnow() - timedelta(days=9))
    new = waiting_payout(a, method, "15.00")
    approved = waiting_payout(a, method, "25.00")
    move(Payout, approved.id, status="approved")  # approved, not yet paid: still waiting, counted by the tile
    rejected = waiting_payout(a, method, "10.00")
    with unit_of_work():
        payout_requests.cancel(db.session.get(Payout, rejected.id), user=db.session.get(type(a), a.id))
    http = console(make_user(role="finance"))
    page = http.get("/admin/").get_data(as_text=True)
    assert "3 waiting" in page and "oldest 9 days" in page
    listing = http.get(_link(page, "payouts-waiting")).get_data(as_text=True)
    assert listing.index(f"#{old.id}<") < listing.index(f"#{new.id}<") < listing.index(f"#{approved.id}<")
    assert f"#{rejected.id}<" not in listing


@pytest.mark.parametrize("args", ["from=2026-13-01", "from=yesterday", "to=2026-02-30", "from=2026-05-01&to=2026-04-01",
                                  "from=2020-01-01&to=2026-01-01", "from=1999-12-31&to=2000-01-02",
                                  "from=%00&to=%3Cscript%3E"])
def test_bad_ranges_show_the_default_one_with_a_message(console, make_user, args):
    response = console(make_user(role="admin")).get(f"/admin/?{args}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Showing the last 12 weeks and 6 months instead" in page and "<script>" not in page.split("</nav>")[-1]
    default = dashboard_range.default(utcnow().date())
    assert f"Weeks of {default.weeks[0]} to {default.weeks[-1]}" in page


def test_a_range_is_read_into_weeks_and_months():
    r = dashboard_range.parse("2026-03-04", "2026-05-20", date(2026, 6, 1))
    assert r.weeks[0] == "2026-03-02" and r.weeks[-1] == "2026-05-18" and len(r.weeks) == 12
    assert r.months.keys == ["2026-03", "2026-04", "2026-05"]
    assert r.args == {"from": "2026-03-04", "to": "2026-05-20"}
    default = dashboard_range.parse(None, "", date(2026, 6, 3))
    assert len(default.weeks) == 12 and default.weeks[-1] == "2026-06-01" and len(default.months.keys) == 6
    labels = [label for label, _args in dashboard_range.presets(date(2026, 6, 3))]
    assert labels == ["4 weeks", "3 months", "12 months"]
    assert dashboard_range.presets(date(2026, 6, 3))[1][1] == {"from": "2026-04-01", "to": "2026-06-03"}
    assert [in_words(timedelta(minutes=5)), in_words(timedelta(hours=1)), in_words(timedelta(hours=30))] == [
        "under an hour", "1 hour", "1 day"]


def test_the_dashboard_reads_a_fixed_number_of_times(console, make_user, make_investor, count_queries):
    http = console(make_user(role="admin"))
    with count_queries() as few:
        assert http.get("/admin/").status_code == 200
    for n in range(4):
        a = make_investor("50.00")
        move(type(a), a.id, created_at=_week_start(n))
        _sign_in(a, MOBILE_UA if n % 2 else DESKTOP_UA, when=_week_start(n) + timedelta(hours=1))
        waiting_payout(a, usable_method(a), "15.00")
        move(KycSubmission, _submission(a).id, decided_at=_week_start(n) + timedelta(hours=2))
    with count_queries() as many:
        assert http.get("/admin/").status_code == 200
    assert 0 < len(many) == len(few), (len(few), len(many))
