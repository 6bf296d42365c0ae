"""The console's dashboard in Chromium: an admin signs in with 2FA and sees the history tiles, each a chart with its
numbers beside it; changes the date range; follows the new-investors tile to the users list, filtered to the investors
opened in those weeks. Finance and support see the tiles their roles read. Screenshots go to
test-artifacts/dashboard-*.png."""
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from app.admin.dashboard_range import monday
from app.auth.models import LoginAttempt, User
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.seed import seed_demo
from tests.e2e.staff import staff_page

pytestmark = pytest.mark.e2e

AGENTS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
          "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148")


def _history() -> None:
    """Spread the demo investors over the last weeks, with sign-ins from a few devices."""
    with unit_of_work():
        for weeks_back, email in enumerate(("coinvestor1@example.com", "coinvestor2@example.com",
                                            "coinvestor3@example.com"), start=1):
            db.session.execute(update(User).where(User.email == email)
                               .values(created_at=utcnow() - timedelta(weeks=weeks_back)))
        for n in range(12):
            db.session.add(LoginAttempt(email="investor@example.com", ip="203.0.113.9", user_agent=AGENTS[n % 3],
                                        channel="portal", success=True, reason="ok",
                                        created_at=utcnow() - timedelta(days=n * 3)))


def test_staff_read_the_dashboard_change_its_range_and_follow_a_tile(app, browser, live_server, artifacts_dir):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"dashboard-{name}.png"), full_page=True)  # noqa: E731
    logins = {login.email: login for login in seed_demo()}
    _history()

    page = staff_page(browser, live_server, logins["admin@example.com"])
    for key in ("new-investors", "deposits-withdrawals", "funds-raised", "kyc-decisions", "kyc-queue",
                "payouts-waiting", "sign-ins"):
        tile = page.get_by_test_id(f"tile-{key}")
        expect(tile).to_be_visible()
        expect(tile.locator("svg[role=img]")).to_be_visible()
        expect(tile.get_by_test_id(f"numbers-{key}")).to_be_visible()
    expect(page.get_by_test_id("numbers-sign-ins")).to_contain_text("Mobile")
    shot(page, "admin")

    # a range of four weeks ending today: the weeks shown follow it
    today = utcnow().date()
    start = today - timedelta(days=27)
    page.fill("#from", f"{start:%Y-%m-%d}")
    page.fill("#to", f"{today:%Y-%m-%d}")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("range-shown")).to_contain_text(
        f"Weeks of {monday(start):%Y-%m-%d} to {monday(today):%Y-%m-%d}")
    expect(page.get_by_test_id("numbers-new-investors").locator("tbody tr")).to_have_count(5 if monday(start) != start
                                                                                          else 4)
    shot(page, "admin-range")

    # a bad range: said so, and the default shown
    page.goto(f"{live_server}/admin/?from=2026-02-30")
    expect(page.locator(".alert")).to_contain_text("a date is written YYYY-MM-DD")

    # the new-investors tile leads to the users list, filtered to investors opened in those weeks
    page.goto(f"{live_server}/admin/?from={start:%Y-%m-%d}&to={today:%Y-%m-%d}")
    page.get_by_test_id("link-new-investors").click()
    expect(page.locator("table.model-list")).to_contain_text("coinvestor1@example.com")
    expect(page.locator("table.model-list")).to_contain_text("coinvestor3@example.com")
    expect(page.locator("table.model-list")).not_to_contain_text("admin@example.com")
    assert "/admin/users/" in page.url and "flt1_" in page.url
    shot(page, "users-filtered")

    # the sign-ins tile's rows lead to the sign-in attempts of that device
    page.goto(f"{live_server}/admin/")
    page.get_by_test_id("numbers-sign-ins").get_by_role("link", name="Tablet").click()
    expect(page.locator("table.model-list")).to_contain_text("iPad")
    expect(page.locator("table.model-list")).not_to_contain_text("Windows NT")

    for email, shown, hidden in (("finance@example.com", "tile-deposits-withdrawals", "tile-kyc-queue"),
                                 ("support@example.com", "tile-sign-ins", "tile-funds-raised")):
        other = staff_page(browser, live_server, logins[email])
        expect(other.get_by_test_id(shown)).to_be_visible()
        expect(other.get_by_test_id(hidden)).to_have_count(0)
        shot(other, email.split("@")[0])
