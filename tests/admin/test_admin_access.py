"""Console access: every view and every action, for every role, as the permission table says. Views and
actions are enumerated from the Admin object, so new ones are covered automatically."""
import re

import pytest
from flask import url_for
from flask_admin.contrib.sqla import ModelView
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.security import ROLES, STAFF_ROLES, has_permission, role_permissions
from app.extensions import db
from tests.support import csrf_from


def _admin(app):
    admins = app.extensions["admin"]
    return admins[0] if isinstance(admins, list) else admins


def admin_views(app):
    views = []
    with app.test_request_context():
        for view in _admin(app)._views:
            views.append((view, url_for(f"{view.endpoint}.{view._default_view}")))
    assert len(views) >= 8
    return views


def list_exports(app):
    """(view, export url) for every list's CSV and XLSX export."""
    found = []
    exporting = [v for v in _admin(app)._views if isinstance(v, ModelView) and v.can_export]  # outside a request
    with app.test_request_context():
        for view in exporting:
            found += [(view, url_for(f"{view.endpoint}.export", export_type=fmt)) for fmt in view.export_types]
    assert len(found) >= 80
    return found


def admin_actions(app, target_id: int):
    """(view, action url, permission) for every POST action marked with @requires."""
    found = []
    for view in _admin(app)._views:
        for url, name, methods in view._urls:
            func = getattr(view, name)
            permission = getattr(func, "required_permission", None)
            if permission is None:
                continue
            assert "POST" in methods and "GET" not in methods, f"{view.endpoint}.{name} must be POST-only"
            path = re.sub(r"<(?:int:)?\w+>", str(target_id), url)
            found.append((view, f"{view.url}{path}", permission))
    assert len(found) >= 7
    return found


class Role:
    def __init__(self, name):
        self.role_names = {name}
        self.is_authenticated = True


def test_anonymous_is_sent_to_login_from_every_view_and_action(app, client, make_user):
    target = make_user()
    for _, url in admin_views(app):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login?next="), url
    for _, url, _ in admin_actions(app, target.id):
        assert client.post(url).status_code in (302, 400), url  # never runs: login redirect or CSRF refusal


def test_investor_gets_403_everywhere(app, client, make_user, login):
    target = make_user()
    login(make_user())
    for _, url in admin_views(app):
        assert client.get(url).status_code == 403, url
    token = csrf_from(client.get("/").get_data(as_text=True))
    for _, url, _ in admin_actions(app, target.id):
        assert client.post(url, data={"csrf_token": token, "reason": "x"}).status_code == 403, url


def test_staff_without_2fa_are_sent_to_enrol(app, client, make_user, login):
    login(make_user(role="admin", two_factor=False))
    for _, url in admin_views(app):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/account/2fa/setup", url


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_role_matrix_for_every_view_and_action(app, client, make_user, login, role, fund):
    fund(make_user(), "10.00")  # rows to render
    target = make_user(email=f"target-{role}@example.com")
    staff = make_user(role=role)
    login(staff)
    who = Role(role)
    refused = 0
    for view, url in admin_views(app):
        response = client.get(url)
        expected = 200 if has_permission(who, view.permission) else 403
        assert response.status_code == expected, (role, url, response.status_code)
        if expected == 403:  # the attempt is in the audit trail: who, which page, which permission was missing
            refused += 1
            last = db.session.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
            assert (last.action, last.actor_id, last.after["permission"], last.after["method"]) == (
                "console.forbidden", staff.id, view.permission, "GET"), url
    for view, url in list_exports(app):  # the list's permission, then the export's (exports.run or stricter)
        allowed = has_permission(who, view.permission) and has_permission(who, view.export_permission)
        response = client.get(url)
        assert response.status_code == (200 if allowed else 403), (role, url, response.status_code)
        refused += not allowed
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    for view, url, permission in admin_actions(app, target.id):
        allowed = has_permission(who, view.permission) and has_permission(who, permission)
        response = client.post(url, data={"csrf_token": token, "reason": "role matrix check"})
        if allowed:  # past the permission gate: done, refused as a business rule, or no such target
            assert response.status_code in (200, 302, 404, 422), (role, url, response.status_code)
        else:
            assert response.status_code == 403, (role, url, response.status_code)
            refused += 1
    assert db.session.scalar(select(func.count(AuditRecord.id)).where(
        AuditRecord.action == "console.forbidden", AuditRecord.actor_id == staff.id)) == refused


def test_the_permission_table_is_consistent():
    assert role_permissions("admin") >= role_permissions("finance") | role_permissions("compliance")
    assert role_permissions("investor") == frozenset()
    for role in ROLES:
        for permission in role_permissions(role):
            assert has_permission(Role(role), permission)


def test_actions_need_csrf(client, make_user, login):
    target = make_user()
    login(make_user(role="admin"))
    assert client.post(f"/admin/users/{target.id}/block", data={"reason": "no token"}).status_code == 400


def test_verify_ledger_button(client, make_user, login, fund):
    fund(make_user(), "10.00")
    login(make_user(role="finance"))
    page = client.get("/admin/").get_data(as_text=True)
    assert "Verify ledger now" in page
    response = client.post("/admin/ledger/verify", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert "ledger ok: 1 entries" in response.get_data(as_text=True)


def test_dashboard_shows_live_counts(client, make_user, login, fund):
    fund(make_user(), "1234.56")
    login(make_user(role="admin"))
    assert "USD 1,234.56" in client.get("/admin/").get_data(as_text=True)


def test_console_is_read_only_for_money(client, make_user, login):
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


LIST_PAGES = ["/admin/users/", "/admin/roles/", "/admin/sign_ins/", "/admin/sessions/", "/admin/staff_requests/",
              "/admin/closure_requests/", "/admin/kyc_queue/", "/admin/kyc_forms/", "/admin/kyc_reasons/",
              "/admin/name_changes/", "/admin/properties/", "/admin/amenities/", "/admin/property_approvals/",
              "/admin/investments/", "/admin/installments/", "/admin/return_payments/",
              "/admin/declared_distributions/", "/admin/distribution_runs/", "/admin/distribution-funding/",
              "/admin/deposits/", "/admin/webhooks_inbox/", "/admin/reconciliation/", "/admin/receivables/",
              "/admin/gateway_settings/", "/admin/disputes/", "/admin/payouts/", "/admin/payout_batches/",
              "/admin/payout_methods/", "/admin/market_listings/", "/admin/market_offers/", "/admin/market_trades/",
              "/admin/market_flags/", "/admin/csv_mappings/", "/admin/adjustments/", "/admin/ledger_accounts/",
              "/admin/ledger_entries/", "/admin/ledger_postings/", "/admin/ledger_holds/", "/admin/deliveries/",
              "/admin/outbox/", "/admin/notifications/", "/admin/notification_templates/", "/admin/audit/",
              "/admin/alerts/", "/admin/tickets/", "/admin/staff_messages/"]


def test_the_query_count_check_covers_every_list(app):
    with app.test_request_context():
        lists = {url_for(f"{v.endpoint}.index_view") for v in _admin(app)._views if isinstance(v, ModelView)}
    assert lists == set(LIST_PAGES)


@pytest.mark.parametrize("url", LIST_PAGES)
def test_list_pages_do_not_grow_queries_with_rows(client, make_user, login, fund, count_queries, url):
    login(make_user(role="admin"))
    fund(make_user(), "1.00")
    with count_queries() as few:
        assert client.get(url).status_code == 200
    for _ in range(15):
        fund(make_user(), "1.00")
        login(make_user(), http=type(client)(client.application))  # more sign-ins and sessions
    with count_queries() as many:
        assert client.get(url).status_code == 200
    assert 0 < len(many) == len(few), (len(few), len(many))
