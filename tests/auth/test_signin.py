"""Sign-in: two steps with 2FA, lockout, rate limits, sign-in records, sessions and their timeouts."""
from datetime import timedelta

import pyotp
from sqlalchemy import select

from app.auth.models import LoginAttempt, SigninFailure, UserSession
from app.core.audit import AuditRecord
from app.core.db import utcnow
from app.extensions import db
from tests.support import PASSWORD, csrf_from, totp_now


def attempts(user=None):
    db.session.expire_all()
    query = select(LoginAttempt).order_by(LoginAttempt.id)
    if user is not None:
        query = query.where(LoginAttempt.user_id == user.id)
    return db.session.scalars(query).all()


def test_password_only_user_signs_in_and_it_is_recorded(client, make_user, login):
    user = make_user()
    response = login(user)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    [attempt] = attempts(user)
    assert attempt.success and attempt.reason == "ok" and attempt.channel == "portal" and attempt.ip
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "auth.login")) is not None


def test_two_step_sign_in_creates_the_session_only_after_the_code(client, make_user, login):
    user = make_user(two_factor=True)
    page = client.get("/login")
    step1 = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                        "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert step1.headers["Location"] == "/login/code"
    assert client.get("/").status_code == 302  # not signed in yet
    assert db.session.scalar(select(UserSession)) is None
    code_page = client.get("/login/code")
    step2 = client.post("/login/code", data={"code": totp_now(user),
                                             "csrf_token": csrf_from(code_page.get_data(as_text=True))})
    assert step2.status_code == 302 and step2.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    record = db.session.scalar(select(UserSession))
    assert record.mfa_verified and record.user_id == user.id


def test_wrong_and_replayed_codes_are_refused(client, make_user, login):
    user = make_user(two_factor=True)
    assert login(user, code="000000").status_code == 401
    code = totp_now(user)
    assert login(user, code=code).status_code == 302
    other = type(client)(client.application)
    assert login(user, code=code, http=other).status_code == 401  # the same code, again: refused
    reasons = [a.reason for a in attempts(user) if not a.success]
    assert reasons.count("bad_2fa_code") == 2


def test_code_step_expires(client, make_user, app, monkeypatch):
    user = make_user(two_factor=True)
    page = client.get("/login")
    client.post("/login", data={"email": user.email, "password": PASSWORD,
                                "csrf_token": csrf_from(page.get_data(as_text=True))})
    monkeypatch.setitem(app.config, "MFA_PENDING_SECONDS", -1)
    assert client.get("/login/code").headers["Location"] == "/login"


def test_code_step_cannot_be_reached_without_the_password(client):
    assert client.get("/login/code").headers["Location"] == "/login"


def test_recovery_code_works_once(client, make_user, login):
    from app.auth import mfa

    user = make_user(two_factor=False)
    mfa.begin_enrolment(user)
    codes = mfa.confirm_enrolment(user, pyotp.TOTP(user.totp_secret).now())
    db.session.commit()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert login(user, code=codes[0].upper()).status_code == 302
    other = type(client)(client.application)
    assert login(user, code=codes[0], http=other).status_code == 401  # reused: refused
    assert mfa.remaining_recovery_codes(user) == 9


def test_blocked_user_cannot_sign_in(client, make_user, login):
    user = make_user()
    user.status = "blocked"
    db.session.commit()
    response = login(user)
    assert response.status_code == 401
    assert attempts(user)[-1].reason == "blocked"


def source_record(user, source="127.0.0.1"):
    db.session.expire_all()
    return db.session.scalar(select(SigninFailure).where(SigninFailure.user_id == user.id,
                                                         SigninFailure.source == source))


def test_ten_failures_lock_the_source_with_a_growing_delay(client, make_user, login, app, monkeypatch):
    # a generous IP limit so the lockout, not the limiter, is what stops the attempts
    user = make_user()
    for i in range(10):
        other = type(client)(client.application)
        response = login(user, "wrong-password-xx", http=other)
        assert response.status_code == 401
        if i % 5 == 4:
            from app.extensions import limiter

            limiter.reset()
    record = source_record(user)
    assert record.failures == 10 and record.locked_until is not None
    first_lock = record.locked_until - utcnow()
    assert timedelta(seconds=50) < first_lock <= timedelta(minutes=1)
    db.session.refresh(user)
    assert user.locked_until is None and user.failed_logins == 10  # counted for the account, not locked by it
    locked = login(user)  # even the right password is refused while locked
    assert locked.status_code == 401 and "locked" in locked.get_data(as_text=True)
    assert attempts(user)[-1].reason == "locked"
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "auth.source_locked")) is not None
    # the lock passes; one more failure doubles it
    record.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    login(user, "wrong-password-xx", http=type(client)(client.application))
    record = source_record(user)
    assert record.failures == 11
    assert timedelta(seconds=110) < record.locked_until - utcnow() <= timedelta(minutes=2)
    # after the lock, the right password works and clears this address's count
    record.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert login(user, http=type(client)(client.application)).status_code == 302
    assert source_record(user) is None


def test_sign_in_is_rate_limited_per_account(client, make_user, login):
    user = make_user()
    for _ in range(10):
        login(user, "wrong-password-xx")
    response = login(user)
    assert response.status_code == 429


def test_sign_in_is_rate_limited_per_ip(client, make_user, login):
    for i in range(30):
        login(f"nobody{i}@example.com", "whatever-password")
    refused = login("someone@example.com", "whatever-password")
    assert refused.status_code == 429
    assert "Too many requests" in refused.get_data(as_text=True)


def test_new_session_id_on_every_sign_in(client, make_user, login):
    user = make_user()
    login(user)
    first = client.get_cookie("session").value
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").get_data(as_text=True))})
    login(user)
    second = client.get_cookie("session").value
    assert first != second
    hashes = db.session.scalars(select(UserSession.sid_hash)).all()
    assert len(set(hashes)) == 2
    revoked = db.session.scalars(select(UserSession).where(UserSession.revoked_at.is_not(None))).all()
    assert [r.revoked_reason for r in revoked] == ["signed out"]


def test_a_stolen_cookie_dies_with_sign_out(client, make_user, login):
    user = make_user()
    login(user)
    cookie = client.get_cookie("session").value
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/logout").get_data(as_text=True))})
    thief = type(client)(client.application)
    thief.set_cookie("session", cookie)
    assert thief.get("/").status_code == 302


def test_idle_timeout(client, make_user, login, app):
    user = make_user()
    login(user)
    record = db.session.scalar(select(UserSession))
    record.last_seen_at = utcnow() - app.config["SESSION_IDLE_TIMEOUT"] - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/").status_code == 302


def test_absolute_timeout(client, make_user, login):
    user = make_user()
    login(user)
    record = db.session.scalar(select(UserSession))
    record.expires_at = utcnow() - timedelta(seconds=1)
    record.last_seen_at = utcnow()
    db.session.commit()
    assert client.get("/").status_code == 302


def test_remember_me_for_investors_not_for_staff(client, make_user, login, app):
    investor = make_user()
    login(investor, remember=True)
    record = db.session.scalar(select(UserSession).where(UserSession.user_id == investor.id))
    assert record.remember and record.expires_at - record.created_at == app.config["SESSION_REMEMBER_LIFETIME"]
    staff = make_user(role="finance")
    login(staff, remember=True, http=type(client)(client.application))
    record = db.session.scalar(select(UserSession).where(UserSession.user_id == staff.id))
    assert not record.remember
    assert record.expires_at - record.created_at == app.config["SESSION_ABSOLUTE_TIMEOUT"]


def test_activity_keeps_a_session_alive(client, make_user, login, app):
    user = make_user()
    login(user)
    record = db.session.scalar(select(UserSession))
    record.last_seen_at = utcnow() - timedelta(minutes=29)
    db.session.commit()
    assert client.get("/").status_code == 200
    db.session.refresh(record)
    assert utcnow() - record.last_seen_at < timedelta(seconds=5)


def test_api_token_needs_both_factors_and_records_attempts(client, make_user):
    user = make_user(two_factor=True)
    assert client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}).status_code == 401
    bad = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD, "otp": "123456"})
    assert bad.status_code == 401
    good = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD,
                                                    "otp": totp_now(user)})
    assert good.status_code == 200
    channels = {(a.channel, a.success, a.reason) for a in attempts(user)}
    assert ("api", False, "bad_2fa_code") in channels and ("api", True, "ok") in channels


def test_api_token_refused_while_the_account_is_locked(client, make_user):
    user = make_user()
    user.failed_logins = 50
    user.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401 and "locked" in response.get_json()["message"]


def test_api_token_refused_while_the_source_is_locked(client, make_user):
    user = make_user()
    db.session.add(SigninFailure(user_id=user.id, source="127.0.0.1", failures=10, last_failure_at=utcnow(),
                                 locked_until=utcnow() + timedelta(minutes=5)))
    db.session.commit()
    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401 and "locked" in response.get_json()["message"]
    elsewhere = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD},
                            environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert elsewhere.status_code == 200


def test_recent_sign_ins_are_shown_to_the_user(client, make_user, login):
    user = make_user()
    login(user, "wrong-password-xx")
    login(user)
    html = client.get("/account/security").get_data(as_text=True)
    assert "bad password" in html and "signed in" in html
