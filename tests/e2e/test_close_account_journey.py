"""An investor downloads their data, then closes their account: with money left the page says what to do first;
with nothing left the account closes, the browser is signed out and signing in again is refused like a wrong
password. Screenshots go to test-artifacts/close-*.png."""
import zipfile

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from tests.e2e.portal import open_account_menu
from tests.support import PASSWORD

pytestmark = pytest.mark.e2e


def sign_in(page, live_server, email):
    page.goto(f"{live_server}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_an_investor_downloads_their_data_and_closes_their_account(page, live_server, artifacts_dir,
                                                                    make_investor, tmp_path):
    shot = lambda name: page.screenshot(path=str(artifacts_dir / f"close-{name}.png"), full_page=True)  # noqa: E731
    funded = make_investor(email="funded@example.com")
    leaving = make_investor(None, email="leaving@example.com")
    page.set_viewport_size({"width": 1280, "height": 900})

    sign_in(page, live_server, funded.email)
    open_account_menu(page)  # the account's pages are under the name
    page.click("nav >> text=Your data")
    page.get_by_test_id("close-account-link").click()
    expect(page.get_by_test_id("blocker-money")).to_contain_text("withdraw")
    expect(page.get_by_test_id("close-account")).to_have_count(0)
    shot("1-money-left")
    page.context.clear_cookies()

    sign_in(page, live_server, leaving.email)
    open_account_menu(page)  # the account's pages are under the name
    page.click("nav >> text=Your data")
    page.get_by_test_id("request-export").click()
    expect(page.get_by_test_id("download-export")).to_be_visible()
    shot("2-your-data")
    with page.expect_download() as download:
        page.get_by_test_id("download-export").click()
    saved = tmp_path / "data.zip"
    download.value.save_as(saved)
    assert "profile.json" in zipfile.ZipFile(saved).namelist()

    page.get_by_test_id("close-account-link").click()
    page.fill("#password", PASSWORD)
    page.check("#confirm")
    shot("3-confirm")
    page.get_by_test_id("close-account").click()
    expect(page.get_by_text("Your account is closed.")).to_be_visible()
    shot("4-closed")

    sign_in(page, live_server, "leaving@example.com")
    expect(page.locator(".alert-danger")).to_be_visible()
    assert "/login" in page.url
    db.session.expire_all()
    closed = db.session.scalar(select(User).where(User.id == leaving.id))
    assert closed.status == "closed" and closed.email == f"closed-{leaving.id}@closed.invalid"
