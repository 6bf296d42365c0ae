"""Changing one's e-mail address: a link to the new address, confirmed while signed in; the old address told,
other sessions and tokens ended. Expired, reused, replaced, tampered and foreign links; an address taken before
the request (answered as a success) or meanwhile (a clear error)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.auth.models import EmailChange, User
from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.core.errors import IllegalTransition
from app.extensions import db
from app.notifications.models import Delivery
from app.notifications.secrets import PLACEHOLDER
from app.notifications.services import resend
from tests.support import PASSWORD, csrf_from, link_in, outbox

NEW = "iris.new@example.com"


def _token(client, path="/account/profile") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def _ask(client, email=NEW, password=PASSWORD):
    return client.post("/account/profile/email", data={"email": email, "password": password,
                                                       "csrf_token": _token(client)})


def _confirm(client, path):
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def _user(user_id) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def test_the_link_goes_to_the_new_address_and_confirms_it(app, client, login, investor, token_for):
    other_browser = app.test_client()
    login(investor, http=other_browser)
    api = token_for(investor)
    old = investor.email
    login(investor)
    assert _ask(client).status_code == 302
    assert "Check your new address" in client.get("/account/profile").get_data(as_text=True)
    assert outbox(to=investor.email, event="confirm_email_change") == []  # never to the old address
    mail = outbox(to=NEW, event="confirm_email_change")[-1]
    # staff see the stored message without the link
    delivery = db.session.scalar(select(Delivery).where(Delivery.to_address == NEW))
    assert PLACEHOLDER in delivery.body and "/account/email/confirm/" not in delivery.body
    assert delivery.secret is None  # spent once sent

    response = _confirm(client, link_in(mail))
    assert response.status_code == 302
    user = _user(investor.id)
    assert user.email == NEW and user.email_verified
    # the old address is told; this session stays, the others and the API tokens end
    assert outbox(to=old, event="email_changed") and outbox(to=NEW, event="email_changed") == []
    assert client.get("/account/profile").status_code == 200
    assert other_browser.get("/account/profile").status_code == 302
    assert client.get("/api/v1/me", headers=api).status_code == 401
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "auth.email_changed")) is not None

    again = _confirm(client, link_in(mail))  # a link works once
    assert again.status_code == 400 and "not valid" in again.get_data(as_text=True)


def test_wrong_password_changes_nothing(client, login, investor):
    login(investor)
    response = _ask(client, password="not-my-password")
    assert response.status_code == 422 and "password is not correct" in response.get_data(as_text=True)
    assert db.session.scalar(select(EmailChange)) is None and outbox(to=NEW) == []


def test_a_taken_address_is_answered_like_a_free_one(client, login, investor, make_user):
    make_user(NEW)
    old = investor.email
    login(investor)
    response = _ask(client)
    assert response.status_code == 302
    assert outbox(to=NEW, event="confirm_email_change") == []
    # the profile shows the same waiting state as for a free address: nothing tells the address is taken
    assert NEW in client.get("/account/profile").get_data(as_text=True)
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "auth.email_change_refused"))
    assert _user(investor.id).email == old


def test_an_address_taken_meanwhile_is_a_clear_error(client, login, investor, make_user):
    login(investor)
    _ask(client)
    mail = outbox(to=NEW, event="confirm_email_change")[-1]
    make_user(NEW)  # someone registered it since
    response = _confirm(client, link_in(mail))
    assert response.status_code == 409
    assert "belongs to another account" in response.get_data(as_text=True)
    assert _user(investor.id).email != NEW


def test_expired_link(client, login, investor):
    login(investor)
    _ask(client)
    with unit_of_work():
        change = db.session.scalar(select(EmailChange))
        change.expires_at = utcnow() - timedelta(minutes=1)
    response = _confirm(client, link_in(outbox(to=NEW, event="confirm_email_change")[-1]))
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert _user(investor.id).email != NEW


def test_a_newer_request_spends_the_older_link(client, login, investor):
    login(investor)
    _ask(client)
    first = link_in(outbox(to=NEW, event="confirm_email_change")[-1])
    _ask(client, email="iris.other@example.com")
    assert _confirm(client, first).status_code == 400
    assert _user(investor.id).email != NEW


def test_tampered_link(client, login, investor):
    login(investor)
    _ask(client)
    path = link_in(outbox(to=NEW, event="confirm_email_change")[-1])
    assert _confirm(client, path[:-3] + "abc").status_code == 400
    assert _user(investor.id).email != NEW


def test_another_users_link_is_refused(app, client, login, investor, make_investor):
    login(investor)
    _ask(client)
    path = link_in(outbox(to=NEW, event="confirm_email_change")[-1])
    other = make_investor(email="mallory@example.com")
    mallory = app.test_client()
    login(other, http=mallory)
    response = _confirm(mallory, path)
    assert response.status_code == 400
    assert _user(other.id).email == "mallory@example.com" and _user(investor.id).email != NEW


def test_the_link_needs_a_signed_in_owner(app, client, login, investor):
    login(investor)
    _ask(client)
    path = link_in(outbox(to=NEW, event="confirm_email_change")[-1])
    anonymous = app.test_client()
    assert anonymous.get(path).status_code == 302  # to the sign-in page
    assert _user(investor.id).email != NEW


def test_api_asks_with_the_token_only(client, investor, token_for, make_user):
    headers = token_for(investor)
    response = client.post("/api/v1/me/email", json={"email": NEW}, headers=headers)
    assert response.status_code == 202
    assert outbox(to=NEW, event="confirm_email_change")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    make_user("taken@example.com")
    taken = client.post("/api/v1/me/email", json={"email": "taken@example.com"}, headers=headers)
    assert taken.status_code == 202 and taken.json["message"] == response.json["message"]
    assert outbox(to="taken@example.com") == []
    patched = client.patch("/api/v1/me", json={}, headers=headers).json["data"]
    assert patched["pending_email"] == "taken@example.com"  # as for a free address
    assert client.post("/api/v1/me/email", json={"email": "not an address"}, headers=headers).status_code == 422
    assert client.post("/api/v1/me/email", json={"email": investor.email}, headers=headers).status_code == 422
    assert client.post("/api/v1/me/email", json={"email": NEW}).status_code == 401


def test_staff_resend_issues_a_fresh_link(client, login, investor, make_user):
    login(investor)
    _ask(client)
    first = link_in(outbox(to=NEW, event="confirm_email_change")[-1])
    support = make_user("support@example.com", role="support")
    delivery = db.session.scalar(select(Delivery).where(Delivery.to_address == NEW))
    with unit_of_work():
        resend(delivery, actor=support)
    second = link_in(outbox(to=NEW, event="confirm_email_change")[-1])
    assert second != first
    assert _confirm(client, first).status_code == 400
    assert _confirm(client, second).status_code == 302
    assert _user(investor.id).email == NEW


def test_staff_resend_of_an_older_request_issues_nothing(client, login, investor, make_user):
    login(investor)
    _ask(client)
    _ask(client, email="iris.other@example.com")  # the request to NEW is replaced
    support = make_user("support@example.com", role="support")
    old_delivery = db.session.scalar(select(Delivery).where(Delivery.to_address == NEW))
    with pytest.raises(IllegalTransition), unit_of_work():
        resend(old_delivery, actor=support)
    assert len(outbox(to=NEW, event="confirm_email_change")) == 1
