"""An investor makes a first investment from the property page, pays an installment, reads the portfolio and
downloads a statement, in Chromium. Screenshots go to test-artifacts/invest-*.png."""
import csv
import io
import re

import pytest
from playwright.sync_api import expect

from app.auth.services import user_by_email
from app.core.db import unit_of_work
from app.kyc.demo import approve_identity
from app.seed import seed_demo
from tests.support import PASSWORD

pytestmark = pytest.mark.e2e


def sign_in(page, live_server, email, password):
    page.goto(f"{live_server}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("available")).to_be_visible()


def test_a_first_investment_in_installments(page, live_server, artifacts_dir, make_user, fund):
    shot = lambda name: page.screenshot(path=str(artifacts_dir / f"invest-{name}.png"), full_page=True)  # noqa: E731
    seed_demo()  # the demo commits as it goes
    user = make_user("nina@example.com", first_name="Nina", last_name="Newcomer")
    with unit_of_work():
        approve_identity(user, user_by_email("compliance@example.com"))
    fund(user, "3000.00")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "nina@example.com", PASSWORD)

    page.click("text=Properties")
    page.click("text=Oak Park Family Homes")
    form = page.get_by_test_id("invest-card")
    expect(form.get_by_label("Amount (USD)")).to_have_value("1200.00")
    expect(page.get_by_test_id("first-installment")).to_contain_text("You pay the first now: $200.00")
    expect(page.get_by_test_id("invest-available")).to_have_text("$3,000.00")
    form.scroll_into_view_if_needed()
    shot("1-property-form")

    page.get_by_test_id("invest-submit").click()  # without confirming the documents
    expect(page.get_by_text("Confirm you have read the offering documents and terms.")).to_be_visible()
    page.get_by_test_id("invest-card").scroll_into_view_if_needed()
    shot("2-form-error")

    page.get_by_label("I have read the offering documents and terms").check()
    page.get_by_test_id("invest-submit").click()
    expect(page.get_by_text("You invested $1,200.00 in Oak Park Family Homes: $200.00 paid now")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("Paying installments")
    expect(page.get_by_test_id("pay-next")).to_have_text("Pay next: $200.00")
    shot("3-holding")

    page.get_by_test_id("pay-next").click()
    expect(page.get_by_text("Paid installment 2: $200.00 from your wallet.")).to_be_visible()
    expect(page.get_by_test_id("paid")).to_contain_text("$400.00 paid")
    page.get_by_test_id("pay-all").click()
    expect(page.get_by_text("Paid installments 3 to 6: $800.00 from your wallet.")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("Earning")
    expect(page.get_by_test_id("calendar")).to_contain_text("upcoming")
    shot("4-fully-paid")

    page.click("text=Portfolio")
    expect(page.get_by_test_id("total-invested")).to_have_text("$1,200.00")
    expect(page.get_by_test_id("holdings")).to_contain_text("Oak Park Family Homes")
    expect(page.get_by_test_id("available")).to_have_count(0)
    shot("5-portfolio-first")


def test_the_demo_investor_reads_the_portfolio_and_downloads_a_statement(page, live_server, artifacts_dir):
    shot = lambda name: page.screenshot(path=str(artifacts_dir / f"invest-{name}.png"), full_page=True)  # noqa: E731
    seed_demo()  # the demo commits as it goes
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, "investor@example.com", "Demo-investor-2026")

    page.click("text=Portfolio")
    expect(page.get_by_test_id("returns-chart")).to_be_visible()
    expect(page.locator("[data-testid=returns-chart] rect[fill='#1f5f4a']").first).to_be_visible()
    expect(page.get_by_test_id("returns-earned")).not_to_have_text("$0.00")
    expect(page.get_by_test_id("holdings")).to_contain_text("Northgate Logistics Park")
    expect(page.get_by_test_id("holdings")).to_contain_text("Paying installments")
    shot("6-portfolio")

    page.get_by_test_id("holdings").get_by_role("row").filter(has_text="Northgate").get_by_role(
        "link", name="Details").click()
    expect(page.get_by_test_id("calendar")).to_contain_text("paid")
    expect(page.get_by_test_id("acknowledgement")).to_contain_text("documents version")
    shot("7-holding-with-returns")

    page.click("text=Wallet")
    page.select_option("#kind", "returns")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"kind=returns"))
    expect(page.get_by_text("Deposit #1 by bank transfer")).to_have_count(0)
    shot("8-wallet-filtered")

    with page.expect_download() as info:
        page.get_by_test_id("statement-csv").click()
    download = info.value
    assert download.suggested_filename.startswith("freehold-statement-")
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0][:4] == ["Date (UTC)", "Entry", "Type", "Description"]
    assert len(rows) > 2 and {row[2] for row in rows[1:]} == {"Returns"}
