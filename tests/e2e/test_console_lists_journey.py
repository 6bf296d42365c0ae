"""An admin in the console's lists: searches users by the start of an address, filters, opens the Export menu and
downloads the list as CSV and XLSX. Screenshots go to test-artifacts/lists-*.png."""
import pytest
from playwright.sync_api import expect

from app.seed import seed_demo
from tests.e2e.staff import staff_page

pytestmark = pytest.mark.e2e


def test_an_admin_searches_filters_and_exports_a_list(browser, live_server, artifacts_dir):
    shot = lambda p, name: p.screenshot(path=str(artifacts_dir / f"lists-{name}.png"), full_page=True)  # noqa: E731
    logins = {login.email: login for login in seed_demo()}
    page = staff_page(browser, live_server, logins["admin@example.com"])

    page.goto(f"{live_server}/admin/users/")
    search = page.locator("input[name=search]")
    expect(search).to_be_visible()
    search.fill("investor")
    search.press("Enter")
    expect(page.locator("table.model-list")).to_contain_text("investor@example.com")
    expect(page.locator("table.model-list")).not_to_contain_text("admin@example.com")
    shot(page, "users-search")

    page.get_by_role("button", name="Export").click()
    with page.expect_download() as csv_download:
        page.get_by_text("Export CSV").click()
    assert csv_download.value.suggested_filename.endswith(".csv")
    page.get_by_role("button", name="Export").click()
    shot(page, "users-export-menu")
    with page.expect_download() as xlsx_download:
        page.get_by_text("Export XLSX").click()
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")

    for path in ("audit", "deposits", "sign_ins", "kyc_reasons"):
        page.goto(f"{live_server}/admin/{path}/")
        expect(page.get_by_role("button", name="Export")).to_be_visible()
        shot(page, path)
