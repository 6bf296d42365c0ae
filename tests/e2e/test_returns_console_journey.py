"""Finance runs returns in the console, in Chromium: the preview (funded and waiting), Run now, the run in the list,
the shortfalls with their Fund link.
Screenshots go to test-artifacts/console-returns-*.png; every period is paid once and the ledger verifies."""
import functools
from datetime import timedelta

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from app.extensions import db
from app.investing import returns as distribution
from app.investing.models import ReturnPayment
from app.seed import seed_demo
from tests.investing.test_distribution import TODAY, assert_consistent
from tests.investing.test_distribution_console import _portfolio
from tests.support import fund_distributions

pytestmark = pytest.mark.e2e


@pytest.fixture
def make_property(make_property):
    """The terms of the investing tests this portfolio comes from: eight quarterly periods."""
    return functools.partial(make_property, return_periods=8)


def test_finance_previews_and_runs_returns_in_the_browser(browser, live_server, make_property, make_user,
                                                          artifacts_dir):
    logins = {login.email: login for login in seed_demo()}  # the demo commits as it goes
    harbour, mill = _portfolio(make_property, make_user)
    fund_distributions(harbour.id, 3_000, key="journey-funding:harbour")  # its first period; the second waits
    fund_distributions(mill.id, 800, key="journey-funding:mill")
    distribution.distribute(TODAY - timedelta(days=45))  # an earlier run, for the list
    base = live_server
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{base}/login")
    page.fill("#email", "finance@example.com")
    page.fill("#password", "Demo-staff-2026")
    page.click("button[type=submit]")
    page.fill("#code", pyotp.TOTP(logins["finance@example.com"].totp_secret).now())
    page.click("button[type=submit]")
    page.goto(f"{base}/admin/returns_preview/")
    expect(page.get_by_text("Harbour Lofts").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "console-returns-preview.png"), full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Run now")
    expect(page.get_by_text("started: its run appears under Return runs")).to_be_visible()
    page.goto(f"{base}/admin/distribution_runs/")
    expect(page.get_by_text("console").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "console-returns-runs.png"), full_page=True)
    page.goto(f"{base}/admin/returns_shortfalls/")
    expect(page.get_by_text("Harbour Lofts").first).to_be_visible()
    expect(page.get_by_role("link", name="Fund", exact=True).first).to_have_attribute(
        "href", f"/admin/distribution-funding/propose?property_id={harbour.id}")
    page.screenshot(path=str(artifacts_dir / "console-returns-shortfalls.png"), full_page=True)
    page.context.close()
    db.session.expire_all()
    assert db.session.scalar(select(func.count(ReturnPayment.id))) > 0
    assert_consistent()
