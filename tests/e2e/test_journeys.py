"""What an investor and a finance officer see, clicked through in Chromium. Screenshots go to test-artifacts/."""
import re

import pyotp
import pytest
from playwright.sync_api import expect

from app.auth.services import user_by_email
from app.ledger.services import balance_of
from app.seed import seed_demo
from tests.e2e.portal import open_account_menu

pytestmark = pytest.mark.e2e


def test_investor_signs_in_and_sees_the_wallet(page, live_server, artifacts_dir):
    seed_demo()  # the demo commits as it goes
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login?next=%2F")
    page.fill("#email", "investor@example.com")
    page.fill("#password", "Demo-investor-2026")
    page.click("button[type=submit]")
    # funded with 50,000.00 by a deposit, part of it invested in the demo properties since
    investor = user_by_email("investor@example.com")
    expect(page.get_by_test_id("available")).to_have_text(balance_of(investor.id).available.local("en"))
    page.screenshot(path=str(artifacts_dir / "investor-dashboard.png"), full_page=True)

    page.click("text=Wallet")
    expect(page.get_by_text("Transactions")).to_be_visible()
    expect(page.get_by_text("Deposit to your wallet").first).to_be_visible()  # in the investor's words
    page.goto(f"{live_server}/admin/")
    expect(page.get_by_text("You do not have access to this page")).to_be_visible()

    open_account_menu(page)  # the account's pages are under the name
    page.click("text=Sign out")
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_text("You have been signed out.")).to_be_visible()


def test_finance_officer_verifies_the_ledger_from_the_console(page, live_server, artifacts_dir):
    logins = {login.email: login for login in seed_demo()}  # the demo commits as it goes
    page.goto(f"{live_server}/login")
    page.fill("#email", "finance@example.com")
    page.fill("#password", "Demo-staff-2026")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server}/login/code")
    page.fill("#code", pyotp.TOTP(logins["finance@example.com"].totp_secret).now())
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server}/admin/")
    expect(page.get_by_text("Investor wallets")).to_be_visible()
    page.click("text=Verify ledger now")
    expect(page.get_by_text(re.compile(r"ledger ok: \d+ entries, \d+ accounts"))).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "console-dashboard.png"), full_page=True)

    page.goto(f"{live_server}/admin/ledger_entries/details/?id=1")
    expect(page.get_by_text("gateway_clearing:bank_transfer")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "console-journal-entry.png"), full_page=True)
