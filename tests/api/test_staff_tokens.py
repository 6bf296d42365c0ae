"""Staff API tokens: issued only with the second factor, short-lived, revoked by a block, a role change or a 2FA
change, acting with the user's current roles, and refused on every investor route that changes something."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.api.auth import STAFF_WRITABLE
from app.auth import mfa, staff
from app.auth.accounts import ensure_roles
from app.auth.models import ApiToken
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from tests.support import PASSWORD, totp_now

TOKEN = "/api/v1/auth/token"


def _issue(client, user, **extra):
    return client.post(TOKEN, json={"email": user.email, "password": PASSWORD, **extra})


def _bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def admin(make_user):
    return make_user("boss@example.com", role="admin")


# issuing ------------------------------------------------------------------------------------------------------------
def test_staff_without_two_factor_get_no_token(client, make_user):
    manager = make_user(role="property_manager", two_factor=False)
    response = _issue(client, manager)
    assert response.status_code == 403
    assert "two-factor" in response.get_json()["message"]
    assert db.session.query(ApiToken).count() == 0


def test_staff_need_a_right_fresh_code(client, manager):
    assert _issue(client, manager).status_code == 401
    assert _issue(client, manager, otp="000000").status_code == 401
    code = totp_now(manager)
    assert _issue(client, manager, otp=code).status_code == 200
    replay = _issue(client, manager, otp=code)
    assert replay.status_code == 401, "a code is accepted once"
    assert db.session.query(ApiToken).count() == 1


def test_a_staff_token_lives_the_staff_lifetime_and_is_marked(client, app, manager, make_user):
    response = _issue(client, manager, otp=totp_now(manager))
    data = response.get_json()["data"]
    token = db.session.query(ApiToken).one()
    assert token.staff is True
    hours = app.config["STAFF_API_TOKEN_TTL_HOURS"]
    assert hours == 8
    assert abs(token.expires_at - (utcnow() + timedelta(hours=hours))) < timedelta(minutes=1)
    assert data["expires_at"].startswith(token.expires_at.isoformat()[:16])
    assert client.get("/api/v1/me", headers=_bearer(data["token"])).status_code == 200
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/api/v1/me", headers=_bearer(data["token"])).status_code == 401

    investor = make_user()
    _issue(client, investor)
    investor_token = db.session.query(ApiToken).filter_by(user_id=investor.id).one()
    assert investor_token.staff is False
    assert investor_token.expires_at - utcnow() > timedelta(days=1)


# revocation ---------------------------------------------------------------------------------------------------------
def _staff_token(client, user) -> dict:
    response = _issue(client, user, otp=totp_now(user))
    assert response.status_code == 200, response.get_json()
    return _bearer(response.get_json()["data"]["token"])


def test_a_block_revokes_the_staff_token(client, manager, admin):
    headers = _staff_token(client, manager)
    with unit_of_work():
        staff.block_user(manager, actor=admin, reason="lost laptop", category="security")
    assert client.get("/api/v1/me", headers=headers).status_code == 401


@pytest.mark.parametrize("roles", [{"property_manager", "support"}, {"investor"}, {"support"}])
def test_any_role_change_revokes_the_staff_token(client, manager, admin, roles):
    headers = _staff_token(client, manager)
    with unit_of_work():
        staff.set_roles(manager, roles, actor=admin, reason="moved team")
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert db.session.query(ApiToken).filter(ApiToken.revoked_at.is_(None)).count() == 0


def test_a_two_factor_reset_or_disable_revokes_the_staff_token(client, manager, admin, make_user):
    headers = _staff_token(client, manager)
    with unit_of_work():
        mfa.staff_reset(manager, actor=admin, reason="lost phone")
    assert client.get("/api/v1/me", headers=headers).status_code == 401

    other = make_user(role="finance")
    headers = _staff_token(client, other)
    with unit_of_work():
        mfa.disable(other, PASSWORD, totp_now(other, 1))
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_token_never_keeps_powers_its_user_lost(client, manager, token_for):
    """Even without a revocation (a change made straight in the database), each request checks the user now."""
    headers = _staff_token(client, manager)
    manager.totp_enabled = False
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    manager.totp_enabled = True
    db.session.commit()
    manager.roles = []
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_an_investor_token_stops_when_its_user_becomes_staff(client, make_user, token_for):
    user = make_user()
    headers = token_for(user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    user.roles = [ensure_roles()["support"]]
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


# money routes ---------------------------------------------------------------------------------------------------------
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# every investor route that changes something: a staff token is refused on each (money moves, or an investor acts)
REFUSED = {
    ("POST", "api_deposits.create"), ("POST", "api_investments.pay"), ("POST", "api_investments.invest"),
    ("POST", "api_kyc.submit"), ("POST", "api_market.create_listing"), ("DELETE", "api_market.cancel_listing"),
    ("POST", "api_market.buy"), ("POST", "api_market.make_offer"), ("POST", "api_market.accept"),
    ("POST", "api_market.counter"), ("POST", "api_market.reject"), ("POST", "api_market.withdraw"),
    ("PATCH", "api_me.update"), ("DELETE", "api_me_data.close"), ("POST", "api_me.change_email"),
    ("POST", "api_me_data.export"), ("POST", "api_me.change_phone"), ("POST", "api_me.verify_phone"),
    ("POST", "api_payout_methods.create"), ("PUT", "api_payout_methods.update"),
    ("DELETE", "api_payout_methods.delete"), ("POST", "api_payouts.create"), ("POST", "api_payouts.cancel"),
    ("POST", "api_statements.create"), ("POST", "api_tickets.create"), ("POST", "api_tickets.reply"),
}


def _unsafe_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            for method in sorted((rule.methods or set()) & UNSAFE):
                yield method, rule


def test_every_unsafe_investor_route_refuses_a_staff_token(app, client, make_user):
    finance = make_user(role="finance")
    headers = _staff_token(client, finance)
    public = {"api_auth.register", "api_auth.create_token"}
    seen = set()
    for method, rule in _unsafe_routes(app):
        view = app.view_functions[rule.endpoint]
        if rule.endpoint in public or getattr(view, "_staff_api", False) or rule.endpoint in STAFF_WRITABLE:
            continue
        seen.add((method, rule.endpoint))
        url = rule.rule.replace("<int:", "<").replace("<", "{").replace(">", "}")
        url = url.format(**{name: 1 for name in rule.arguments})
        response = client.open(url, method=method, headers=headers, json={"amount": "10.00"})
        assert response.status_code == 403, (method, url, response.status_code)
        assert response.get_json()["message"].startswith("Staff tokens cannot move money"), (method, url)
    assert seen == REFUSED, "a new investor route: decide whether staff tokens may use it (app/api/auth.py)"


def test_staff_tokens_still_read_sign_out_and_keep_notifications(client, make_user):
    support = make_user(role="support")
    headers = _staff_token(client, support)
    assert client.get("/api/v1/wallet", headers=headers).status_code == 200
    assert client.post("/api/v1/notifications/read-all", headers=headers).status_code == 200
    assert client.delete(TOKEN, headers=headers).status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 401
