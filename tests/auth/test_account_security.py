"""Two-factor set-up and removal, password change and reset: each ends the other sessions and API tokens."""
import re

import pyotp
from sqlalchemy import select

from app.auth.models import ApiToken, RecoveryCode, UserSession
from app.core.audit import AuditRecord
from app.extensions import db
from tests.support import PASSWORD, csrf_from, link_in, outbox, totp_now

NEW = "Another-long-secret-77"


def audited(action):
    return db.session.scalar(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id.desc()))


def second_device(client, login, user, **kw):
    other = type(client)(client.application)
    login(user, http=other, **kw)
    assert other.get("/").status_code == 200
    return other


def test_enrolment_shows_an_inline_qr_and_needs_a_code(client, make_user, login):
    user = make_user()
    login(user)
    html = client.get("/account/2fa/setup").get_data(as_text=True)
    assert 'src="data:image/png;base64,' in html  # rendered here, never by a third party
    db.session.refresh(user)
    assert user.totp_secret and not user.totp_enabled
    assert user.totp_secret in html
    stored = db.session.execute(db.text("SELECT totp_secret FROM users WHERE id = :id"), {"id": user.id}).scalar()
    assert user.totp_secret not in stored  # encrypted at rest
    refused = client.post("/account/2fa/setup", data={"code": "123456", "csrf_token": csrf_from(html)})
    assert refused.status_code == 422
    db.session.refresh(user)
    assert not user.totp_enabled


def test_enabling_2fa_shows_ten_codes_once_and_ends_other_sessions(client, make_user, login, token_for):
    user = make_user()
    login(user)
    other = second_device(client, login, user)
    headers = token_for(user)
    html = client.get("/account/2fa/setup").get_data(as_text=True)
    db.session.refresh(user)
    response = client.post("/account/2fa/setup", data={"code": pyotp.TOTP(user.totp_secret).now(),
                                                      "csrf_token": csrf_from(html)})
    page = response.get_data(as_text=True)
    codes = re.findall(r"\b[a-z2-9]{5}-[a-z2-9]{5}\b", page)
    assert len(codes) == 10
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # only hashes are kept
    assert client.get("/").status_code == 200  # this session stays
    assert other.get("/").status_code == 302  # the other one is ended
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    later = client.get("/account/security").get_data(as_text=True)
    assert not set(codes) & set(re.findall(r"\b[a-z2-9]{5}-[a-z2-9]{5}\b", later))  # shown once only
    assert audited("auth.2fa_enabled") is not None


def test_disabling_needs_password_and_code(client, make_user, login):
    user = make_user(two_factor=True)
    login(user)
    html = client.get("/account/security").get_data(as_text=True)
    token = csrf_from(html)
    wrong_pw = client.post("/account/2fa/disable", data={"password": "nope-nope-nope", "code": totp_now(user, 1),
                                                         "csrf_token": token})
    assert wrong_pw.status_code == 422
    wrong_code = client.post("/account/2fa/disable", data={"password": PASSWORD, "code": "000000",
                                                           "csrf_token": token})
    assert wrong_code.status_code == 422
    db.session.refresh(user)
    assert user.totp_enabled
    ok = client.post("/account/2fa/disable", data={"password": PASSWORD, "code": totp_now(user, 1),
                                                   "csrf_token": token})
    assert ok.status_code == 302
    db.session.refresh(user)
    assert not user.totp_enabled and user.totp_secret is None
    assert audited("auth.2fa_disabled") is not None


def test_regenerating_recovery_codes_needs_a_code(client, make_user, login):
    from app.auth import mfa

    user = make_user()
    mfa.begin_enrolment(user)
    old = mfa.confirm_enrolment(user, pyotp.TOTP(user.totp_secret).now())
    db.session.commit()
    login(user, code=old[0])
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    assert client.post("/account/2fa/recovery-codes", data={"code": "000000", "csrf_token": token}).status_code == 422
    response = client.post("/account/2fa/recovery-codes", data={"code": totp_now(user, 1), "csrf_token": token})
    new = re.findall(r"\b[a-z2-9]{5}-[a-z2-9]{5}\b", response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert login(user, code=old[1], http=type(client)(client.application)).status_code == 401


def test_password_change_ends_other_sessions_and_tokens(client, make_user, login, token_for):
    user = make_user()
    login(user)
    other = second_device(client, login, user)
    headers = token_for(user)
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    bad = client.post("/account/password", data={"current_password": "wrong-one-here", "password": NEW,
                                                  "confirm": NEW, "csrf_token": token})
    assert bad.status_code == 422 and "not correct" in bad.get_data(as_text=True)
    common = client.post("/account/password", data={"current_password": PASSWORD, "password": "qwertyuiop123",
                                                     "confirm": "qwertyuiop123", "csrf_token": token})
    assert common.status_code == 422
    ok = client.post("/account/password", data={"current_password": PASSWORD, "password": NEW, "confirm": NEW,
                                                "csrf_token": token})
    assert ok.status_code == 302
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert login(user, NEW, http=type(client)(client.application)).status_code == 302
    assert outbox(user.email, "security_notice")
    assert audited("auth.password_changed").after["sessions_ended"] == 1


def test_password_reset_by_link_once(client, make_user, login, token_for):
    user = make_user()
    other = second_device(client, login, user)
    headers = token_for(user)
    page = client.get("/password/forgot")
    client.post("/password/forgot", data={"email": user.email.upper(), "csrf_token": csrf_from(page.get_data(as_text=True))})
    link = link_in(outbox(user.email, "reset_password")[-1])
    form = client.get(link)
    assert form.status_code == 200
    done = client.post(link, data={"password": NEW, "confirm": NEW, "csrf_token": csrf_from(form.get_data(as_text=True))})
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert other.get("/").status_code == 302
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert client.get(link).status_code == 400  # spent: the password it was made for is gone
    assert login(user, NEW).status_code == 302
    assert audited("auth.password_reset") is not None


def test_password_reset_says_nothing_about_unknown_addresses(client):
    page = client.get("/password/forgot")
    response = client.post("/password/forgot", data={"email": "ghost@example.com",
                                                     "csrf_token": csrf_from(page.get_data(as_text=True))},
                           follow_redirects=True)
    assert "If an account uses that address" in response.get_data(as_text=True)
    assert outbox() == []


def test_password_reset_link_expires_and_is_tamper_proof(client, make_user, monkeypatch):
    from app.auth import links

    user = make_user()
    token = links.make(links.RESET_PASSWORD, {"uid": user.id, "pw": links.password_fingerprint(user.password_hash)})
    assert client.get(f"/password/reset/{token}").status_code == 200
    assert client.get(f"/password/reset/{token[:-2]}xx").status_code == 400
    forged = links.make(links.RESET_PASSWORD, {"uid": user.id, "pw": "0" * 20})
    assert client.get(f"/password/reset/{forged}").status_code == 400
    monkeypatch.setitem(links.MAX_AGE, links.RESET_PASSWORD, -1)
    assert client.get(f"/password/reset/{token}").status_code == 400


def test_password_reset_is_rate_limited_per_address(client, make_user):
    user = make_user()
    for _ in range(3):
        page = client.get("/password/forgot")
        client.post("/password/forgot", data={"email": user.email, "csrf_token": csrf_from(page.get_data(as_text=True))})
    page = client.get("/password/forgot")
    response = client.post("/password/forgot", data={"email": user.email,
                                                     "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 429


def test_sessions_list_and_revoke_only_your_own(client, make_user, login):
    user, stranger = make_user(), make_user()
    login(user)
    other = second_device(client, login, user)
    theirs = second_device(client, login, stranger)
    html = client.get("/account/security").get_data(as_text=True)
    assert "This session" in html
    token = csrf_from(html)
    stranger_session = db.session.scalar(select(UserSession).where(UserSession.user_id == stranger.id))
    assert client.post(f"/account/sessions/{stranger_session.id}/revoke", data={"csrf_token": token}).status_code == 404
    assert theirs.get("/").status_code == 200
    mine = db.session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)).all()
    assert client.post(f"/account/sessions/{mine[1].id}/revoke", data={"csrf_token": token}).status_code == 302
    assert other.get("/").status_code == 302
    assert client.get("/").status_code == 200


def test_sign_out_everywhere_else(client, make_user, login, token_for):
    user = make_user()
    login(user)
    devices = [second_device(client, login, user) for _ in range(2)]
    headers = token_for(user)
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    client.post("/account/sessions/revoke-others", data={"csrf_token": token})
    assert all(d.get("/").status_code == 302 for d in devices)
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert db.session.scalar(select(ApiToken).where(ApiToken.revoked_at.is_(None))) is None
