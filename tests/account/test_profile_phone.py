"""Verifying a phone number by SMS code: the code is sent to the new (unverified) number and kept only hashed;
wrong, expired and reused codes are refused; sends are limited; no other SMS goes to an unverified number."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.auth.models import User
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.notifications.models import SMS, Delivery, PhoneVerification
from app.notifications.secrets import PLACEHOLDER
from app.notifications.services import notify
from tests.account.conftest import code_in, sms_sent
from tests.support import csrf_from

PHONE = "+14155550123"


def _user(user_id) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def _post(client, path, **data):
    token = csrf_from(client.get("/account/profile").get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def test_portal_sends_a_code_and_verifies_the_number(client, login, investor, sms):
    login(investor)
    response = _post(client, "/account/profile/phone", phone="+1 415 555 0123")
    assert response.status_code == 302
    user = _user(investor.id)
    assert user.phone_number == PHONE and user.phone_verified_at is None
    assert "Not verified" in client.get("/account/profile").get_data(as_text=True)
    body = sms_sent(sms, PHONE)[-1]
    code = code_in(body)
    # the code is stored only as a keyed hash, and the kept message hides it
    record = db.session.scalar(select(PhoneVerification))
    assert code not in record.code_hash
    delivery = db.session.scalar(select(Delivery).where(Delivery.channel == SMS))
    assert code not in (delivery.body or "") and PLACEHOLDER in delivery.body and delivery.secret is None

    wrong = "000000" if code != "000000" else "111111"
    assert _post(client, "/account/profile/phone/verify", code=wrong).status_code == 422
    assert _post(client, "/account/profile/phone/verify", code=code).status_code == 302
    assert _user(investor.id).phone_verified_at is not None
    assert "Verified" in client.get("/account/profile").get_data(as_text=True)
    reused = _post(client, "/account/profile/phone/verify", code=code)
    assert reused.status_code == 422 and "no code waiting" in reused.get_data(as_text=True)


def test_api_phone_flow(client, investor, token_for, sms):
    headers = token_for(investor)
    assert client.post("/api/v1/me/phone", json={"phone": "0123"}, headers=headers).status_code == 422
    response = client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers)
    assert response.status_code == 202
    assert response.json["data"]["phone"] != PHONE and response.json["data"]["phone"].endswith("23")
    assert response.json["data"]["phone_verified"] is False
    code = code_in(sms_sent(sms, PHONE)[-1])
    bad = client.post("/api/v1/me/phone/verify", json={"code": "12345x"}, headers=headers)
    assert bad.status_code == 422
    ok = client.post("/api/v1/me/phone/verify", json={"code": code}, headers=headers)
    assert ok.status_code == 200 and ok.json["data"]["phone_verified"] is True
    assert client.get("/api/v1/me", headers=headers).json["data"]["phone_verified"] is True
    assert client.post("/api/v1/me/phone/verify", json={"code": code}, headers=headers).status_code == 422
    assert client.post("/api/v1/me/phone", json={"phone": PHONE}).status_code == 401


def test_expired_code_is_refused(client, investor, token_for, sms):
    headers = token_for(investor)
    client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers)
    code = code_in(sms_sent(sms, PHONE)[-1])
    with unit_of_work():
        db.session.scalar(select(PhoneVerification)).expires_at = utcnow() - timedelta(seconds=1)
    response = client.post("/api/v1/me/phone/verify", json={"code": code}, headers=headers)
    assert response.status_code == 422 and "expired" in response.json["errors"]["code"][0]
    assert _user(investor.id).phone_verified_at is None


def test_five_wrong_codes_spend_it(client, investor, token_for, sms):
    headers = token_for(investor)
    client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers)
    code = code_in(sms_sent(sms, PHONE)[-1])
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert client.post("/api/v1/me/phone/verify", json={"code": wrong}, headers=headers).status_code == 422
    assert db.session.scalar(select(PhoneVerification)).attempts == 5
    late = client.post("/api/v1/me/phone/verify", json={"code": code}, headers=headers)
    assert late.status_code == 422
    assert _user(investor.id).phone_verified_at is None


def test_a_newer_code_replaces_the_older(client, investor, token_for, sms):
    headers = token_for(investor)
    client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers)
    first = code_in(sms_sent(sms, PHONE)[-1])
    client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers)
    second = code_in(sms_sent(sms, PHONE)[-1])
    if first != second:
        assert client.post("/api/v1/me/phone/verify", json={"code": first}, headers=headers).status_code == 422
    assert client.post("/api/v1/me/phone/verify", json={"code": second}, headers=headers).status_code == 200


def test_sends_are_limited_per_hour(client, login, investor, token_for, sms):
    headers = token_for(investor)
    for _ in range(3):
        assert client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers).status_code == 202
    refused = client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers)
    assert refused.status_code == 429 and "3 codes" in refused.json["errors"]["phone"][0]
    assert len(sms_sent(sms, PHONE)) == 3
    login(investor)
    page = _post(client, "/account/profile/phone", phone=PHONE)
    assert page.status_code == 429 and "3 codes" in page.get_data(as_text=True)
    assert len(sms_sent(sms, PHONE)) == 3


def test_unverified_phone_gets_no_other_sms(client, investor, token_for, sms):
    headers = token_for(investor)
    client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers)
    code = code_in(sms_sent(sms, PHONE)[-1])
    with unit_of_work():
        notify(_user(investor.id), "security_notice", what="Your password was changed.", ip=None, user_agent=None,
               when="2026-12-05 09:00 UTC")
    assert len(sms_sent(sms, PHONE)) == 1  # the code only
    client.post("/api/v1/me/phone/verify", json={"code": code}, headers=headers)
    with unit_of_work():
        notify(_user(investor.id), "security_notice", what="Your password was changed.", ip=None, user_agent=None,
               when="2026-12-05 09:00 UTC")
    assert len(sms_sent(sms, PHONE)) == 2 and "password was changed" in sms_sent(sms, PHONE)[-1]


def test_a_new_number_loses_the_verification(client, investor, token_for, sms):
    headers = token_for(investor)
    client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers)
    client.post("/api/v1/me/phone/verify", json={"code": code_in(sms_sent(sms, PHONE)[-1])}, headers=headers)
    assert _user(investor.id).phone_verified_at is not None
    client.post("/api/v1/me/phone", json={"phone": "+447700900123"}, headers=headers)
    user = _user(investor.id)
    assert user.phone_number == "+447700900123" and user.phone_verified_at is None
    assert len(sms_sent(sms, "+447700900123")) == 1


def test_without_sms_the_number_is_not_taken(client, investor, token_for):
    headers = token_for(investor)
    response = client.post("/api/v1/me/phone", json={"phone": PHONE}, headers=headers)
    assert response.status_code == 409 and "cannot send SMS" in response.json["errors"]["phone"][0]
    assert _user(investor.id).phone_number is None
    assert db.session.scalar(select(PhoneVerification)) is None
