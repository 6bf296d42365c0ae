"""Only configured hosts and proxies. An attacker who picks the Host header cannot put their address into the links
we mail or answer with (BASE_URL builds them, and nothing cached keeps theirs), a Host outside TRUSTED_HOSTS is
refused with a clear 400, and a forged X-Forwarded-For neither dodges a rate limit nor frames someone else's address
unless TRUSTED_PROXIES says a proxy in front sets it."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import create_app
from app.auth.models import LoginAttempt
from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.extensions import db, limiter
from app.notifications import services as notifications
from tests.support import PASSWORD, TEST_FERNET_KEYS, build_app, csrf_from, link_in, outbox

EVIL = "evil.example"
EVIL_HOST = {"Host": EVIL}


def base_url(app) -> str:
    return app.config["BASE_URL"].rstrip("/")


def form_post(client, path, data, *, headers=None, environ=None):
    """GET the form (for its CSRF token), then POST it, both with the same headers and client address."""
    page = client.get(path, headers=headers, environ_overrides=environ)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={**data, "csrf_token": csrf_from(page.get_data(as_text=True))}, headers=headers,
                       environ_overrides=environ)


def audited(action: str) -> list[AuditRecord]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)))


# links: BASE_URL, never the Host -------------------------------------------------------------------------------------
def test_a_password_reset_asked_for_under_a_forged_host_mails_a_link_to_our_site(app, client, make_user):
    victim = make_user()
    response = form_post(client, "/password/forgot", {"email": victim.email}, headers=EVIL_HOST)
    assert response.status_code == 302
    [mail] = outbox(victim.email, "reset_password")
    link = link_in(mail, path_only=False)
    assert link.startswith(base_url(app) + "/password/reset/")
    assert EVIL not in mail.body and EVIL not in (mail.html or "")


def test_registration_under_a_forged_host_mails_links_to_our_site(app, client):
    response = form_post(client, "/register", {
        "first_name": "Nora", "last_name": "Quist", "email": "nora@example.com", "password": PASSWORD,
        "confirm": PASSWORD, "accept_terms": "y"}, headers=EVIL_HOST)
    assert response.status_code == 302
    mails = outbox("nora@example.com")
    assert {m.event for m in mails} >= {"verify_email"}
    assert link_in(outbox("nora@example.com", "verify_email")[-1], path_only=False).startswith(base_url(app) + "/")
    assert all(EVIL not in m.body and EVIL not in (m.html or "") for m in mails)


def test_a_stripe_checkout_opened_under_a_forged_host_returns_the_investor_to_our_site(app, client, make_user,
                                                                                       token_for, stripe_config):
    response = client.post("/api/v1/deposits", json={"amount": "100.00", "gateway": "stripe"},
                           headers={**token_for(make_user()), **EVIL_HOST})
    assert response.status_code == 201, response.get_data(as_text=True)
    [session] = stripe_config.sessions.values()
    assert session["success_url"].startswith(base_url(app) + "/")
    assert session["cancel_url"].startswith(base_url(app) + "/")
    assert EVIL not in response.get_data(as_text=True)


def test_image_links_in_api_answers_and_pages_come_from_base_url_and_a_forged_host_cannot_poison_the_cache(
        app, client, make_user, token_for, make_property):
    p = make_property()
    headers = token_for(make_user())
    # the attacker asks first, so whatever is cached is built during their request
    poisoned = [client.get("/api/v1/properties", headers={**headers, **EVIL_HOST}),
                client.get(f"/api/v1/properties/{p.id}", headers={**headers, **EVIL_HOST}),
                client.get(f"/properties/{p.slug}", headers=EVIL_HOST)]
    assert all(EVIL not in r.get_data(as_text=True) for r in poisoned)
    listed = client.get("/api/v1/properties", headers=headers).get_json()["data"]
    detail = client.get(f"/api/v1/properties/{p.id}", headers=headers).get_json()["data"]
    for images in (listed[0]["images"], detail["images"]):
        assert images and all(image[size].startswith(base_url(app) + "/")
                              for image in images for size in ("thumbnail", "medium", "large"))


def test_a_notification_link_to_another_site_is_not_followed_whatever_the_host(app, make_user, login):
    """Before, a link was "ours" when it began with the request's own host: under a forged Host, the attacker's
    site passed. Now only BASE_URL's scheme and host are ours."""
    user = make_user()
    with unit_of_work():
        own = notifications.notify(user, "welcome", link=base_url(app) + "/wallet")[0]
        foreign = notifications.notify(user, "welcome", link=f"http://{EVIL}/wallet")[0]
    http = app.test_client()
    http.environ_base["HTTP_HOST"] = EVIL  # every request of this browser names the attacker's host
    login(user, http=http)
    token = csrf_from(http.get("/notifications").get_data(as_text=True))
    followed = http.post(f"/notifications/{foreign.id}/read", data={"csrf_token": token})
    assert followed.status_code == 302 and followed.headers["Location"] == "/notifications"
    mine = http.post(f"/notifications/{own.id}/read", data={"csrf_token": token})
    assert mine.headers["Location"] == base_url(app) + "/wallet"


# TRUSTED_HOSTS ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def trusted(app, monkeypatch):
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", ["freehold.example"])


def test_with_trusted_hosts_a_foreign_host_gets_a_clear_400_and_nothing_is_written(app, client, make_user, trusted):
    user = make_user()
    page = client.get("/login", headers=EVIL_HOST)
    assert page.status_code == 400 and page.mimetype == "text/html" and "not served here" in page.get_data(as_text=True)
    api = client.get("/api/v1/me", headers=EVIL_HOST)
    assert api.status_code == 400 and api.get_json() == {"status": "error", "message": "This address is not served "
                                                         "here.", "errors": None}
    hook = client.post("/webhooks/stripe", data=b"{}", headers=EVIL_HOST)
    assert hook.status_code == 400 and hook.get_json()["status"] == "error"
    # a sign-in under a foreign host is refused before anything looks at it: no attempt recorded, no session
    refused = client.post("/login", data={"email": user.email, "password": PASSWORD}, headers=EVIL_HOST)
    assert refused.status_code == 400 and "Set-Cookie" not in refused.headers
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt)) == 0
    # the probes too: a probe sends a trusted Host (docs/operations.md)
    assert client.get("/healthz", headers=EVIL_HOST).status_code == 400
    # Host headers that are not host names at all are refused as well, never a 500
    assert client.get("/login", headers={"Host": "freehold.example/<script>"}).status_code == 400


def test_with_trusted_hosts_the_trusted_host_is_served(app, client, make_user, trusted):
    assert client.get("/login", headers={"Host": "freehold.example"}).status_code == 200
    assert client.get("/login", headers={"Host": "freehold.example:8443"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "freehold.example"}).get_json() == {"status": "ok"}


# TRUSTED_PROXIES -------------------------------------------------------------------------------------------------------
ATTACKER = "198.51.100.66"


def test_without_trusted_proxies_rotating_x_forwarded_for_does_not_dodge_the_limit(client):
    """/password/forgot allows 10 POSTs a minute per address; a new forged X-Forwarded-For each time changes
    nothing."""
    environ = {"REMOTE_ADDR": ATTACKER}
    answers = []
    for n in range(11):
        answers.append(form_post(client, "/password/forgot", {"email": f"nobody{n}@example.com"}, environ=environ,
                                 headers={"X-Forwarded-For": f"203.0.113.{n + 1}"}).status_code)
    assert answers[:10] == [302] * 10 and answers[10] == 429
    # someone else, from their own address, is not affected
    assert form_post(client, "/password/forgot", {"email": "else@example.com"},
                     environ={"REMOTE_ADDR": "192.0.2.10"}).status_code == 302


def test_without_trusted_proxies_a_forged_x_forwarded_for_cannot_frame_another_address(app, client, make_user):
    victim_ip = "192.0.2.44"
    user = make_user()
    forged = {"X-Forwarded-For": victim_ip}
    environ = {"REMOTE_ADDR": ATTACKER}
    form_post(client, "/login", {"email": user.email, "password": "wrong-password-1"}, headers=forged,
              environ=environ)
    form_post(client, "/password/forgot", {"email": user.email}, headers=forged, environ=environ)
    db.session.expire_all()
    [attempt] = db.session.scalars(select(LoginAttempt)).all()
    assert attempt.ip == ATTACKER and not attempt.success
    [requested] = audited("auth.password_reset_requested")
    assert requested.ip == ATTACKER


def test_behind_one_trusted_proxy_two_clients_get_their_own_buckets_and_records(proxied_app, make_user):
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request reaches the app from the proxy
    http = proxied_app.test_client()
    with proxied_app.app_context():
        limiter.reset()
    one, two = "198.51.100.1", "198.51.100.2"
    answers = [form_post(http, "/password/forgot", {"email": f"nobody{n}@example.com"}, environ=proxy,
                         headers={"X-Forwarded-For": one}).status_code for n in range(11)]
    assert answers[:10] == [302] * 10 and answers[10] == 429
    # the second client behind the same proxy has its own bucket
    assert form_post(http, "/password/forgot", {"email": "other@example.com"}, environ=proxy,
                     headers={"X-Forwarded-For": two}).status_code == 302
    # a value the client put in front of the proxy's is not believed: the proxy's own entry (the last) is
    user = make_user()
    form_post(http, "/login", {"email": user.email, "password": "wrong-password-1"}, environ=proxy,
              headers={"X-Forwarded-For": f"192.0.2.44, {two}"})
    db.session.expire_all()
    [attempt] = db.session.scalars(select(LoginAttempt).where(LoginAttempt.user_id == user.id)).all()
    assert attempt.ip == two
    form_post(http, "/password/forgot", {"email": user.email}, environ=proxy,
              headers={"X-Forwarded-For": f"192.0.2.44, {two}"})
    [requested] = audited("auth.password_reset_requested")
    assert requested.ip == two


def test_a_negative_proxy_count_refuses_to_start(database_url):
    with pytest.raises(RuntimeError, match="TRUSTED_PROXIES"):
        build_app(database_url, TRUSTED_PROXIES=-1)


def test_production_without_base_url_refuses_to_start(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://freehold@db.internal/freehold")
    monkeypatch.delenv("BASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="BASE_URL"):
        create_app({"CONFIG": "production", "SECRET_KEY": "x" * 40, "FIELD_ENCRYPTION_KEYS": TEST_FERNET_KEYS,
                    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://freehold@db.internal/freehold"})
