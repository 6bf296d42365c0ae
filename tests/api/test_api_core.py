"""API v1: envelope shapes for success and every error code, tokens, rate limits, OpenAPI."""
from datetime import timedelta

import pytest
from flask import abort
from flask_smorest import Blueprint

from app.auth.models import ApiToken
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden
from app.extensions import db
from tests.support import PASSWORD, build_app


def assert_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == "error"
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_token_me_and_wallet_success_envelopes(client, make_user, fund):
    user = make_user(first_name="Ivy", last_name="Stone")
    fund(user, "250.00")
    response = client.post("/api/v1/auth/token", json={"email": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "success" and body["message"] is None
    token = body["data"]["token"]
    assert body["data"]["expires_at"]
    headers = {"Authorization": f"Bearer {token}"}

    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["status"] == "success"
    assert me["data"]["email"] == user.email
    assert me["data"]["two_factor_enabled"] is False
    assert me["data"]["kyc_status"] == "not_started"
    assert "password_hash" not in me["data"]

    wallet = client.get("/api/v1/wallet", headers=headers).get_json()
    assert wallet["data"] == {"available": {"amount": "250.00", "currency": "USD"},
                              "held": {"amount": "0.00", "currency": "USD"}, "currency": "USD",
                              # bank money: all of it withdrawable now, none waiting for the card-funds hold
                              "withdrawable": {"amount": "250.00", "currency": "USD"}, "withdrawable_later": []}


def test_transactions_are_paginated_newest_first(client, make_user, fund, token_for):
    user = make_user()
    for amount in ("1.00", "2.00", "3.00"):
        fund(user, amount)
    headers = token_for(user)
    body = client.get("/api/v1/wallet/transactions?per_page=2", headers=headers).get_json()
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    assert [line["amount"]["amount"] for line in body["data"]] == ["3.00", "2.00"]
    assert body["data"][0]["direction"] == "credit" and body["data"][0]["account"] == "wallet"
    page2 = client.get("/api/v1/wallet/transactions?per_page=2&page=2", headers=headers).get_json()
    assert [line["amount"]["amount"] for line in page2["data"]] == ["1.00"]
    assert_error(client.get("/api/v1/wallet/transactions?per_page=1000", headers=headers), 422)
    assert_error(client.get("/api/v1/wallet/transactions?page=0", headers=headers), 422)


def test_transactions_show_only_the_callers_lines(client, make_user, fund, token_for):
    mine, theirs = make_user(), make_user()
    fund(mine, "1.00")
    fund(theirs, "999.00")
    body = client.get("/api/v1/wallet/transactions", headers=token_for(mine)).get_json()
    assert [line["amount"]["amount"] for line in body["data"]] == ["1.00"]


def test_400_malformed_json(client):
    assert_error(client.post("/api/v1/auth/token", data="{not json", content_type="application/json"), 400)


def test_401_without_or_with_bad_token(client):
    assert_error(client.get("/api/v1/me"), 401)
    assert_error(client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}), 401)
    assert_error(client.get("/api/v1/wallet", headers={"Authorization": "Basic abc"}), 401)


def test_401_bad_credentials_and_blocked_user(client, make_user):
    user = make_user()
    assert_error(client.post("/api/v1/auth/token", json={"email": user.email, "password": "wrong-password-1"}), 401)
    assert_error(client.post("/api/v1/auth/token", json={"email": "nobody@example.com", "password": PASSWORD}), 401)
    user.status = "blocked"
    db.session.commit()
    assert_error(client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}), 401)


def test_token_needs_a_fresh_otp_when_two_factor_is_on(client, make_user):
    import pyotp

    user = make_user(two_factor=True)
    body = assert_error(client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}), 401)
    assert "two-factor" in body["message"]
    assert_error(client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD,
                                                        "otp": "000000"}), 401)
    code = pyotp.TOTP(user.totp_secret).now()
    ok = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD, "otp": code})
    assert ok.status_code == 200
    replay = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD, "otp": code})
    assert_error(replay, 401)


def test_404_and_405_are_envelopes(client, make_user, token_for):
    assert_error(client.get("/api/v1/does-not-exist"), 404)
    assert_error(client.put("/api/v1/me", headers=token_for(make_user())), 405)


def test_422_lists_field_errors(client):
    body = assert_error(client.post("/api/v1/auth/token", json={"email": "a@b.co"}), 422)
    assert "password" in body["errors"]


def test_expired_and_revoked_tokens_are_refused(client, make_user, token_for):
    user = make_user()
    headers = token_for(user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    db.session.execute(db.update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert_error(client.get("/api/v1/me", headers=headers), 401)

    headers = token_for(user)
    revoked = client.delete("/api/v1/auth/token", headers=headers)
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "success"
    assert_error(client.get("/api/v1/me", headers=headers), 401)
    assert_error(client.delete("/api/v1/auth/token", headers=headers), 401)


def test_blocking_a_user_kills_their_tokens(client, make_user, token_for):
    user = make_user()
    headers = token_for(user)
    user.status = "blocked"
    db.session.commit()
    assert_error(client.get("/api/v1/me", headers=headers), 401)


def test_429_anonymous_limit_with_retry_after(client):
    for i in range(20):
        body = {"email": f"x{i}@example.com", "password": "y"}
        assert client.post("/api/v1/auth/token", json=body).status_code == 401
    response = client.post("/api/v1/auth/token", json={"email": "another@example.com", "password": "y"})
    assert_error(response, 429)
    assert int(response.headers["Retry-After"]) > 0


def test_token_attempts_are_limited_per_account(client, make_user):
    user = make_user()
    for _ in range(10):
        assert client.post("/api/v1/auth/token", json={"email": user.email, "password": "wrong"}).status_code == 401
    assert_error(client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}), 429)


def test_authenticated_limit_is_per_user(client, make_user, token_for):
    alice, bob = make_user(), make_user()
    a, b = token_for(alice), token_for(bob)
    for _ in range(100):
        assert client.get("/api/v1/me", headers=a).status_code == 200
    assert_error(client.get("/api/v1/me", headers=a), 429)
    assert client.get("/api/v1/me", headers=b).status_code == 200  # another user has their own budget


@pytest.fixture
def error_app(database_url):
    """An app with routes that raise each remaining error, to check their envelopes."""
    application = build_app(database_url, PROPAGATE_EXCEPTIONS=False)
    blp = Blueprint("api_errors", __name__)

    @blp.get("/forbidden")
    def forbidden():
        raise Forbidden("not yours")

    @blp.get("/conflict")
    def conflict():
        raise Conflict("already done", {"status": ["is final"]})

    @blp.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @blp.get("/abort403")
    def abort403():
        abort(403)

    application.extensions["freehold_api"].register_blueprint(blp, url_prefix="/api/v1/_errors")
    return application


def test_403_409_500_envelopes(error_app):
    http = error_app.test_client()
    with error_app.app_context():
        assert_error(http.get("/api/v1/_errors/forbidden"), 403)
        assert_error(http.get("/api/v1/_errors/abort403"), 403)
        body = assert_error(http.get("/api/v1/_errors/conflict"), 409)
        assert body["errors"] == {"status": ["is final"]}
        body = assert_error(http.get("/api/v1/_errors/boom"), 500)
        assert "secret" not in body["message"]


def test_openapi_document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["info"]["title"] == "Freehold API"
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/wallet", "/api/v1/wallet/transactions"):
        assert path in spec["paths"]
    assert "bearerAuth" in spec["components"]["securitySchemes"]
