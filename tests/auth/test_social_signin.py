"""Signing in with a linked Google or GitHub identity against the fake identity provider: the rules of password
sign-in hold (blocked, locked, 2FA, the record), staff are refused, forged or replayed answers are refused cleanly."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.auth.models import LoginAttempt, SocialIdentity, User, UserSession
from app.auth.social_oauth import _SingleUseCache
from app.config import CONFIGS
from app.config_problems import social_problems
from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from tests.auth.social_support import at_provider, link_directly, sign_in_with, switch_on
from tests.support import csrf_from, totp_now


def attempts(user=None):
    db.session.expire_all()
    query = select(LoginAttempt).order_by(LoginAttempt.id)
    if user is not None:
        query = query.where(LoginAttempt.user_id == user.id)
    return db.session.scalars(query).all()


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_a_linked_google_identity_signs_in_like_a_password(client, make_user, social_on):
    user = make_user()
    link_directly(user, "google", "g-123")
    social_on.approve_as("g-123", "new-address@gmail.example")
    response = sign_in_with(client, "google")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in(client)
    [attempt] = attempts(user)
    assert attempt.success and attempt.reason == "ok" and attempt.channel == "portal"
    login = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "auth.login"))
    assert login is not None and login.after["method"] == "google"
    identity = db.session.scalar(select(SocialIdentity))
    assert identity.last_used_at is not None and identity.email == "new-address@gmail.example"
    assert db.session.get(User, user.id).last_login_at is not None
    assert db.session.scalar(select(UserSession)).user_id == user.id
    # the ID token was fetched and checked against the provider's keys
    assert {"/.well-known/openid-configuration", "/token", "/jwks"} <= set(social_on.paths())


def test_a_linked_github_identity_signs_in(client, make_user, social_on):
    user = make_user()
    link_directly(user, "github", "583231")
    social_on.approve_as("583231", "octo@example.org", login="octocat")
    response = sign_in_with(client, "github")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in(client)
    assert db.session.scalar(select(SocialIdentity)).email == "octo@example.org"  # the primary, verified one
    assert {"/login/oauth/access_token", "/user", "/user/emails"} <= set(social_on.paths())


def test_two_factor_is_still_asked(client, make_user, social_on):
    user = make_user(two_factor=True)
    link_directly(user, "google", "g-2fa")
    social_on.approve_as("g-2fa")
    response = sign_in_with(client)
    assert response.status_code == 302 and response.headers["Location"] == "/login/code"
    assert not signed_in(client) and db.session.scalar(select(UserSession)) is None
    page = client.get("/login/code")
    done = client.post("/login/code", data={"code": totp_now(user), "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert done.status_code == 302 and signed_in(client)
    assert db.session.scalar(select(UserSession)).mfa_verified


def test_a_blocked_account_is_refused_and_the_attempt_recorded(client, make_user, social_on):
    user = make_user()
    with unit_of_work():
        db.session.get(User, user.id).status = "blocked"
    link_directly(user, "google", "g-blocked")
    social_on.approve_as("g-blocked")
    response = sign_in_with(client)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not signed_in(client)
    [attempt] = attempts(user)
    assert not attempt.success and attempt.reason == "blocked"


def test_a_locked_account_stays_locked(client, make_user, social_on):
    user = make_user()
    with unit_of_work():
        db.session.get(User, user.id).locked_until = utcnow() + timedelta(minutes=10)
    link_directly(user, "google", "g-locked")
    social_on.approve_as("g-locked")
    sign_in_with(client)
    assert not signed_in(client)
    assert [a.reason for a in attempts(user)] == ["locked"]


def test_staff_cannot_sign_in_with_an_identity(client, make_user, social_on):
    staff = make_user(role="support")
    link_directly(staff, "google", "g-staff")
    social_on.approve_as("g-staff")
    response = sign_in_with(client)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not signed_in(client)
    assert [a.reason for a in attempts(staff)] == ["staff_google"]
    assert "Staff accounts sign in with their password" in client.get("/login").get_data(as_text=True)


def test_an_unknown_identity_creates_nothing_even_with_a_matching_email(client, make_user, social_on):
    user = make_user("same@gmail.example")
    social_on.approve_as("g-stranger", "same@gmail.example")
    users_before = db.session.scalar(select(func.count(User.id)))
    response = sign_in_with(client)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not signed_in(client)
    page = client.get("/login").get_data(as_text=True)
    assert "No account is linked to this Google account" in page and "link it from your account page" in page
    assert db.session.scalar(select(func.count(User.id))) == users_before
    assert db.session.scalar(select(SocialIdentity)) is None  # never linked by e-mail
    assert attempts(user) == []
    [attempt] = attempts()
    assert attempt.user_id is None and attempt.reason == "unknown_google" and not attempt.success


@pytest.mark.parametrize("forgery", ["other_key", "wrong_audience", "expired", "wrong_issuer", "wrong_nonce",
                                     "no_id_token"])
def test_a_dishonest_id_token_is_refused_cleanly(client, make_user, social_on, forgery):
    user = make_user()
    link_directly(user, "google", "g-victim")
    social_on.approve_as("g-victim")
    social_on.forge = forgery
    response = sign_in_with(client)
    assert response.status_code == 400
    assert "not genuine" in response.get_data(as_text=True)
    assert not signed_in(client) and attempts(user) == []


def test_a_replayed_state_is_refused(client, app, make_user, social_on):
    user = make_user()
    link_directly(user, "google", "g-replay")
    social_on.approve_as("g-replay")
    callback = at_provider(client.get("/login/google"))
    old_cookie = client.get_cookie("session").value
    assert client.get(callback).status_code == 302 and signed_in(client)
    tokens_asked = social_on.paths().count("/token")

    replayer = app.test_client()
    replayer.set_cookie("session", old_cookie)  # the same browser state, the same answer, again
    again = replayer.get(callback)
    assert again.status_code == 400
    assert social_on.paths().count("/token") == tokens_asked  # refused before the provider was asked
    assert not signed_in(replayer)
    assert len([a for a in attempts(user) if a.success]) == 1


def test_a_missing_or_made_up_state_is_refused(client, make_user, social_on):
    client.get("/login/google")
    assert client.get("/login/google/callback?code=abc").status_code == 400
    assert client.get("/login/google/callback?code=abc&state=made-up").status_code == 400
    assert client.get("/login/google/callback").status_code == 400
    assert not signed_in(client)


def test_a_refusal_at_the_provider_is_a_message(client, social_on):
    social_on.deny()
    response = sign_in_with(client)
    assert response.status_code == 400 and not signed_in(client)


def test_a_provider_that_is_off_is_not_there(client, app, monkeypatch, idp):
    switch_on(app, monkeypatch, idp, providers=("github",))
    assert client.get("/login/google").status_code == 404
    assert client.get("/login/google/callback?code=a&state=b").status_code == 404
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with GitHub" in page and "Sign in with Google" not in page
    switch_on(app, monkeypatch, idp, providers=())
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with" not in page
    assert client.get("/login/github").status_code == 404


def test_a_half_set_provider_is_a_configuration_problem():
    problems = social_problems({"GOOGLE_CLIENT_ID": "id", "GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "s",
                                "GITHUB_OAUTH_BASE": "https://github.com", "GITHUB_API_BASE": "http://api.github"})
    named = {problem.variable for problem in problems}
    assert named == {"GOOGLE_CLIENT_SECRET", "GITHUB_API_BASE"}
    assert all(problem.error for problem in problems)
    assert social_problems({}) == []


def test_state_data_is_handed_out_once(app):
    store = _SingleUseCache()
    with app.app_context():
        store.set("_state_google_test-once", '{"data": {}}', 60)
        assert store.get("_state_google_test-once") == '{"data": {}}'
        assert store.get("_state_google_test-once") is None  # a second reader (a replay racing) gets nothing


def test_production_configuration_check_names_a_half_set_provider(app):
    config = {**app.config, "GITHUB_CLIENT_ID": None, "GITHUB_CLIENT_SECRET": "only-the-secret"}
    named = {problem.variable for problem in CONFIGS["production"].problems(config) if problem.error}
    assert "GITHUB_CLIENT_ID" in named


def test_an_unreachable_provider_is_a_message_not_an_error(client, app, monkeypatch, idp):
    switch_on(app, monkeypatch, idp, providers=("google",))
    monkeypatch.setitem(app.config, "GOOGLE_METADATA_URL", "http://127.0.0.1:9/.well-known/openid-configuration")
    response = client.get("/login/google")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "cannot be reached just now" in client.get("/login").get_data(as_text=True)
