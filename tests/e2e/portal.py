"""Steps shared by the portal's journeys."""
from playwright.sync_api import Page, expect


def open_account_menu(page: Page) -> None:
    """Open the menu under the investor's name (the account's own pages and sign-out), once the page's scripts run:
    a click on the toggle before Bootstrap has loaded would do nothing."""
    page.wait_for_load_state("load")
    toggle = page.get_by_test_id("account-menu")
    menu = page.locator("#account-menu + .dropdown-menu")
    toggle.click()
    if not menu.is_visible():
        toggle.click()
    expect(menu).to_be_visible()
