"""Support viewing an investor's portal read-only: who may, what renders as the investor, what is refused (every
unsafe method, downloads, secrets), the banner, expiry, the audit trail, and nothing written to the investor."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, update

from app.account.view_as import READ_ONLY_PAGES
from app.account.view_as_models import ViewAsPage, ViewAsSession
from app.auth.models import USER_CLOSED, Role, UserSession
from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.notifications.models import Notification
from app.notifications.services import notify
from tests.support import csrf_from

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
SAMPLE_ARGS = {"provider": "google", "token": "abc", "slug": "harbour-lofts", "what": "pdf"}


@pytest.fixture
def investor_options():
    return {"first_name": "Ivy", "last_name": "Viewed"}


@pytest.fixture
def support(make_user):
    return make_user("support-va@example.com", role="support", first_name="Sam", last_name="Support")


def _audits(action: str) -> list[AuditRecord]:
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)
                                   .order_by(AuditRecord.id)))


def _token(client) -> str:
    return csrf_from(client.get("/admin/user-tools/").get_data(as_text=True))


def start(client, target, reason="Ticket 4411: the investor cannot find a statement"):
    return client.post(f"/admin/user-tools/{target.id}/view-as", data={"csrf_token": _token(client),
                                                                        "reason": reason})


@pytest.fixture
def viewing(client, login, support, investor):
    login(support)
    response = start(client, investor)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    return investor


def _portal_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("portal", "auth"):
            yield rule


def _url(rule) -> str:
    def value(match):
        kind, name = match.group(1) or "", match.group(2)
        return "1" if kind.startswith("int") else SAMPLE_ARGS.get(name, "x")

    return re.sub(r"<(?:([a-z]+(?:\([^)]*\))?):)?(\w+)>", value, rule.rule)


def test_the_dashboard_renders_as_the_investor_with_the_banner(client, viewing, support):
    page = client.get("/").get_data(as_text=True)
    assert 'data-testid="view-as-banner"' in page
    assert "You are viewing Ivy Viewed's portal as support, read-only." in page
    assert "Welcome, Ivy" in page and "Sam" not in page
    assert 'class="d-flex flex-column min-vh-100 bg-body-tertiary view-as"' in page  # controls shown disabled
    started = _audits("users.view_as_started")
    assert [(a.actor_id, a.target_id, a.reason) for a in started] == [
        (support.id, str(viewing.id), "Ticket 4411: the investor cannot find a statement")]


def test_a_hostile_name_in_the_banner_is_escaped(client, viewing):
    with unit_of_work():
        db.session.get(type(viewing), viewing.id).first_name = "<script>alert(1)</script>"
    page = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; Viewed" in page


def test_every_read_only_page_renders_and_is_noted(app, client, viewing):
    seen = 0
    for rule in _portal_rules(app):
        if rule.endpoint not in READ_ONLY_PAGES or rule.arguments:
            continue
        response = client.get(_url(rule))
        assert response.status_code == 200, rule.rule
        seen += 1
    assert seen >= 10
    assert db.session.scalar(select(func.count(ViewAsPage.id))) == seen


def test_every_unsafe_method_anywhere_in_the_portal_and_sign_in_is_refused(app, client, viewing):
    token = csrf_from(client.get("/").get_data(as_text=True))
    checked = 0
    for rule in _portal_rules(app):
        if rule.endpoint == "auth.logout":  # signs the staff member out: below
            continue
        for method in UNSAFE:
            response = client.open(_url(rule), method=method, data={"csrf_token": token, "reason": "x",
                                                                  "amount": "10.00", "units": "1"})
            if method in rule.methods:
                assert response.status_code == 403, (method, rule.rule, response.status_code)
                assert 'data-testid="view-as-refused"' in response.get_data(as_text=True)
                checked += 1
            else:
                assert response.status_code in (403, 405), (method, rule.rule)
    assert checked >= 40
    refusals = _audits("users.view_as_refused")
    assert len(refusals) >= checked and {r.target_id for r in refusals} == {str(viewing.id)}
    # the investor is still viewed and untouched: still signed in as staff in the console
    assert client.get("/admin/user-tools/").status_code == 200


@pytest.mark.parametrize("url", ["/account/security", "/account/2fa/setup", "/account/connections",
                                 "/account/data", "/account/data/1/download", "/statements/1/statement.pdf",
                                 "/wallet/statement.csv", "/kyc/documents/1", "/properties/documents/1",
                                 "/payout-methods", "/account/notifications", "/deposits/new",
                                 "/market/sell/1", "/account/close"])
def test_downloads_secrets_and_forms_are_refused_on_get(client, viewing, url):
    response = client.get(url)
    assert response.status_code == 403, url
    assert 'data-testid="view-as-refused"' in response.get_data(as_text=True)


def test_nothing_is_written_to_the_investor(client, viewing):
    with unit_of_work():
        notify(viewing, "welcome", link="https://freehold.example/")
    before = db.session.get(type(viewing), viewing.id)
    last_login = before.last_login_at
    assert client.get("/notifications").status_code == 200
    assert client.get("/").status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == viewing.id, Notification.read_at.is_not(None))) == 0
    assert db.session.scalar(select(func.count(UserSession.id)).where(UserSession.user_id == viewing.id)) == 0
    assert db.session.get(type(viewing), viewing.id).last_login_at == last_login


def test_stop_viewing_returns_to_the_console_and_is_audited(client, viewing, support):
    client.get("/")
    client.get("/wallet")
    page = client.get("/").get_data(as_text=True)
    response = client.post("/admin/user-tools/view-as/stop", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302 and f"id={viewing.id}" in response.headers["Location"]
    stopped = _audits("users.view_as_stopped")
    assert len(stopped) == 1 and stopped[0].after["pages"] == 3 and stopped[0].actor_id == support.id
    page = client.get("/").get_data(as_text=True)  # their own portal again
    assert "view-as-banner" not in page and "Welcome, Sam" in page


def test_signing_out_ends_the_viewing_and_signs_out_the_staff_member_only(client, viewing, support, login):
    investor_browser = client.application.test_client()
    login(viewing, http=investor_browser)
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    ended = _audits("users.view_as_ended")
    assert len(ended) == 1 and ended[0].after["how"] == "signed_out"
    assert client.get("/admin/user-tools/").status_code == 302  # the staff member is signed out
    assert "Welcome, Ivy" in investor_browser.get("/").get_data(as_text=True)  # the investor is not


def test_the_viewing_ends_after_thirty_minutes(client, viewing):
    with unit_of_work():
        db.session.execute(update(ViewAsSession).values(expires_at=utcnow()))
    response = client.get("/wallet")
    assert response.status_code == 302 and f"id={viewing.id}" in response.headers["Location"]
    ended = _audits("users.view_as_ended")
    assert len(ended) == 1 and ended[0].after["how"] == "expired"
    assert "view-as-banner" not in client.get("/").get_data(as_text=True)


def test_the_viewing_ends_when_the_staff_member_loses_the_permission(client, viewing, support):
    with unit_of_work():
        staff = db.session.get(type(support), support.id)
        staff.roles = [db.session.scalar(select(Role).where(Role.name == "finance"))]
    response = client.get("/wallet")
    assert response.status_code == 302 and f"id={viewing.id}" in response.headers["Location"]
    ended = _audits("users.view_as_ended")
    assert len(ended) == 1 and ended[0].after["how"] == "refused"


def test_the_viewing_is_bound_to_the_staff_session(app, client, viewing, support, login):
    other = app.test_client()
    login(support, http=other)  # the same staff member in another browser: their own portal there
    assert "view-as-banner" not in other.get("/").get_data(as_text=True)
    assert "view-as-banner" in client.get("/").get_data(as_text=True)


def test_the_api_and_the_console_are_unaffected(client, viewing, support):
    assert client.get("/admin/users/").status_code == 200  # staff stay staff in the console
    assert client.get("/api/v1/me").status_code == 401  # the API takes tokens, never the browser's viewing


def test_refused_for_staff_targets_oneself_and_closed_accounts(client, login, support, make_user, make_investor):
    login(support)
    colleague = make_user(role="finance")
    closed = make_investor(balance=None)
    with unit_of_work():
        db.session.get(type(closed), closed.id).status = USER_CLOSED
    for target in (colleague, support, closed):
        response = start(client, target)
        assert response.status_code == 302 and "/admin/users/details/" in response.headers["Location"]
        assert "view-as-banner" not in client.get("/").get_data(as_text=True)
    assert not _audits("users.view_as_started")
    assert len(_audits("users.refused")) == 3


def test_a_reason_is_required(client, login, support, investor):
    login(support)
    response = start(client, investor, reason="  ")
    assert response.status_code == 302 and "/admin/users/details/" in response.headers["Location"]
    assert db.session.scalar(select(func.count(ViewAsSession.id))) == 0


@pytest.mark.parametrize("role", ["compliance", "finance", "property_manager"])
def test_refused_without_the_permission(client, login, make_user, investor, role):
    login(make_user(role=role))
    response = client.post(f"/admin/user-tools/{investor.id}/view-as",
                           data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True)), "reason": "x"})
    assert response.status_code == 403
    assert db.session.scalar(select(func.count(ViewAsSession.id))) == 0


def test_the_button_shows_only_where_it_may_be_used(client, login, support, investor, make_user):
    login(support)
    assert 'data-testid="start-view-as"' in client.get(f"/admin/users/details/?id={investor.id}").get_data(
        as_text=True)
    colleague = make_user(role="finance")
    for user in (colleague, support):
        assert 'data-testid="start-view-as"' not in client.get(
            f"/admin/users/details/?id={user.id}").get_data(as_text=True)


def test_the_list_of_viewings(client, viewing):
    client.get("/")
    page = client.get("/admin/user-tools/").get_data(as_text=True)
    assert viewing.email in page and "Ticket 4411" in page


def test_pages_while_viewing_take_a_constant_number_of_queries(client, viewing, count_queries, fund):
    client.get("/")
    with count_queries() as first:
        assert client.get("/notifications").status_code == 200
    with unit_of_work():
        for _ in range(5):
            notify(viewing, "welcome", link="https://freehold.example/")
    with count_queries() as second:
        assert client.get("/notifications").status_code == 200
    assert len(second) == len(first)
