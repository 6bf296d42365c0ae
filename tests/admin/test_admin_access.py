"""Console access for every registered view (enumerated from the Admin object, so new views are covered)."""
import pytest
from flask import url_for

from app.core.security import STAFF_ROLES


def admin_urls(app) -> list[str]:
    admin = app.extensions["admin"][0] if isinstance(app.extensions["admin"], list) else app.extensions["admin"]
    urls = []
    with app.test_request_context():
        for view in admin._views:
            urls.append(url_for(f"{view.endpoint}.{view._default_view}"))
    assert len(urls) >= 6
    return urls


def test_anonymous_is_sent_to_login_from_every_view(app, client):
    for url in admin_urls(app):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login?next="), url


def test_investor_gets_403_on_every_view(app, client, make_user, login):
    login(make_user())
    for url in admin_urls(app):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_staff_get_200_on_every_view(app, client, make_user, login, role, fund):
    fund(make_user(), "10.00")  # some rows to render
    login(make_user(role=role))
    for url in admin_urls(app):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)


def test_verify_ledger_button_needs_staff_and_csrf(client, make_user, login, fund):
    fund(make_user(), "10.00")
    login(make_user(role="finance"))
    page = client.get("/admin/").get_data(as_text=True)
    assert "Verify ledger now" in page
    assert client.post("/admin/ledger/verify").status_code == 400  # no CSRF token
    from tests.conftest import csrf_from

    response = client.post("/admin/ledger/verify", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert "ledger ok: 1 entries" in response.get_data(as_text=True)


def test_dashboard_shows_live_counts(client, make_user, login, fund):
    fund(make_user(), "1234.56")
    login(make_user(role="admin"))
    html = client.get("/admin/").get_data(as_text=True)
    assert "USD 1,234.56" in html


def test_console_is_read_only_for_money(app, client, make_user, login):
    login(make_user(role="admin"))
    for url in ("/admin/ledger_accounts/new/", "/admin/ledger_entries/new/", "/admin/ledger_postings/edit/?id=1",
                "/admin/deposits/new/"):
        assert client.get(url).status_code in (302, 403, 404), url
    assert client.post("/admin/ledger_entries/delete/", data={"id": "1"}).status_code in (400, 403, 404, 405)


def test_entry_details_show_postings(client, make_user, login, fund):
    fund(make_user(), "42.00")
    login(make_user(role="finance"))
    html = client.get("/admin/ledger_entries/details/?id=1").get_data(as_text=True)
    assert "gateway_clearing:bank_transfer" in html and "USD 42.00" in html


@pytest.mark.parametrize("url", ["/admin/ledger_entries/", "/admin/ledger_accounts/", "/admin/ledger_postings/",
                                 "/admin/users/", "/admin/deposits/"])
def test_list_pages_do_not_grow_queries_with_rows(client, make_user, login, fund, count_queries, url):
    staff = make_user(role="finance")
    login(staff)
    fund(make_user(), "1.00")
    with count_queries() as few:
        assert client.get(url).status_code == 200
    for _ in range(15):
        fund(make_user(), "1.00")
    with count_queries() as many:
        assert client.get(url).status_code == 200
    assert 0 < len(many) == len(few), (len(few), len(many))
