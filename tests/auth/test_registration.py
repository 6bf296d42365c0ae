"""Registration in the portal and the API, e-mail verification, and what an unverified account may not do."""

import pytest
from sqlalchemy import select

from app.auth.services import user_by_email
from app.core.audit import AuditRecord
from app.core.errors import Forbidden
from app.core.money import Money
from app.extensions import db
from app.payments import services as payments
from tests.support import csrf_from, link_in, outbox

GOOD = "Quiet-harbour-lantern-42"


def register_form(client, **overrides):
    page = client.get("/register")
    data = {"first_name": "Nora", "last_name": "Quist", "email": "nora@example.com", "password": GOOD,
            "confirm": GOOD, "accept_terms": "y", "csrf_token": csrf_from(page.get_data(as_text=True))}
    data.update(overrides)
    return client.post("/register", data={k: v for k, v in data.items() if v is not None})


def mailed_link(to, event="verify_email"):
    return link_in(outbox(to, event)[-1])


def test_portal_registration_mails_a_link_and_signs_in_nobody(client):
    response = register_form(client)
    assert response.status_code == 302 and response.headers["Location"] == "/register/check-email"
    user = user_by_email("nora@example.com")
    assert user.role_names == {"investor"} and not user.email_verified and user.terms_accepted_at
    assert "nora@example.com" in client.get("/register/check-email").get_data(as_text=True)
    assert client.get("/").status_code == 302  # not signed in before the address is verified
    [message] = outbox("nora@example.com", "verify_email")
    assert message.status == "logged"  # no SMTP configured: written to the log, kept in the outbox
    assert "/verify-email/" in message.body and message.html
    assert outbox("nora@example.com", "welcome")
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "auth.register")) is not None


@pytest.mark.parametrize("overrides,field,words", [
    ({"password": "short-pw", "confirm": "short-pw"}, "password", "at least 12"),
    ({"password": "password1234", "confirm": "password1234"}, "password", "most common"),
    ({"password": "Iloveyou2026", "confirm": "Iloveyou2026"}, None, None),  # fine: not on the list
    ({"password": "x" * 129, "confirm": "x" * 129}, "password", "at most 128"),
    ({"confirm": "Something-else-entirely"}, "confirm", "differ"),
    ({"accept_terms": None}, "accept_terms", "accept the terms"),
    ({"email": "not-an-email"}, "email", ""),
    ({"first_name": ""}, "first_name", ""),
])
def test_portal_registration_refusals(client, overrides, field, words):
    response = register_form(client, **overrides)
    if field is None:
        assert response.status_code == 302
        return
    assert response.status_code == 422, response.status_code
    assert words in response.get_data(as_text=True)
    assert user_by_email(overrides.get("email", "nora@example.com")) is None


def test_common_password_check_is_case_insensitive(client):
    response = register_form(client, password="PASSWORD1234", confirm="PASSWORD1234")
    assert response.status_code == 422


def test_the_link_verifies_signs_in_once_and_expires(client, app, monkeypatch):
    register_form(client)
    link = mailed_link("nora@example.com")
    response = client.get(link)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    user = user_by_email("nora@example.com")
    db.session.refresh(user)
    assert user.email_verified and user.email_verified_at
    html = client.get("/").get_data(as_text=True)
    assert "Welcome, Nora" in html and 'data-testid="verify-banner"' not in html
    again = type(client)(client.application)
    reopened = again.get(link)  # opening it again verifies nothing and signs in nobody
    assert reopened.status_code == 302 and reopened.headers["Location"] == "/login"
    assert again.get("/").status_code == 302
    assert client.get(link[:-3] + "abc").status_code == 400  # tampered
    from app.auth import links

    monkeypatch.setitem(links.MAX_AGE, links.VERIFY_EMAIL, -1)
    expired = client.get(link)
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)


def test_unverified_users_cannot_move_money(make_user):
    user = make_user(verified=False)
    with pytest.raises(Forbidden):
        payments.create_deposit(user.id, Money.parse("10.00", "USD"), "bank_transfer")


def test_resend_is_rate_limited(client, login):
    register_form(client)
    login("nora@example.com", GOOD)  # unverified accounts may sign in with their password
    token = csrf_from(client.get("/").get_data(as_text=True))
    for _ in range(3):
        assert client.post("/verify-email/resend", data={"csrf_token": token}).status_code == 302
    assert client.post("/verify-email/resend", data={"csrf_token": token}).status_code == 429
    assert len(outbox(event="verify_email")) == 4


def test_api_registration(client):
    response = client.post("/api/v1/auth/register", json={"email": "Api@Example.com", "password": GOOD,
                                                         "first_name": "Ana", "last_name": "Pi"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "success"
    assert body["data"] == {"email": "api@example.com"}
    assert not user_by_email("api@example.com").email_verified
    token = client.post("/api/v1/auth/token", json={"email": "api@example.com", "password": GOOD})
    assert token.status_code == 200  # unverified users can sign in


@pytest.mark.parametrize("body,status,field", [
    ({"password": "password1234"}, 422, "password"),
    ({"password": "short"}, 422, "password"),
    ({"email": "bad"}, 422, "email"),
    ({"first_name": ""}, 422, "first_name"),
    ({"accept_terms": False}, 422, "accept_terms"),
    ({"password": None}, 422, "password"),
])
def test_api_registration_refusals(client, body, status, field):
    payload = {"email": "api@example.com", "password": GOOD, "first_name": "Ana", "last_name": "Pi"}
    payload.update(body)
    payload = {k: v for k, v in payload.items() if v is not None}
    response = client.post("/api/v1/auth/register", json=payload)
    assert response.status_code == status
    assert field in response.get_json()["errors"]
    assert user_by_email("api@example.com") is None


def test_common_password_list_is_large():
    from app.auth.passwords import common_passwords

    assert len(common_passwords()) >= 10_000
