"""The console as a staff member sees it in the browser: signed in with the password and a fresh 2FA code."""
import pyotp
from playwright.sync_api import expect


def staff_page(browser, live_server, login):
    """A new browser context signed in as `login` (a seeded staff member with 2FA), on the console's home page.
    Confirmation dialogs (`data-confirm`) are accepted, as the staff member would."""
    page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server}/login")
    page.fill("#email", login.email)
    page.fill("#password", login.password)
    page.click("button[type=submit]")
    page.fill("#code", pyotp.TOTP(login.totp_secret).now())
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server}/admin/")
    return page
