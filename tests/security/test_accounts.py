"""Attacks on accounts: enumerating registered addresses through sign-up, signing in through a spent verification
link, guessing passwords from one address or from many, and reading recovery codes out of a copied database."""
import hashlib
import hmac
import importlib.util
import re
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import insert, select, text

from app import create_app
from app.auth import mfa, passwords, services
from app.auth.models import RecoveryCode, SigninFailure, User, UserSession
from app.core.audit import AuditRecord
from app.core.db import utcnow
from app.extensions import db, limiter
from tests.concurrency import run_threads
from tests.support import csrf_from, link_in, outbox, test_config, totp_now

GOOD = "Quiet-harbour-lantern-42"
ATTACKER_IP = "203.0.113.66"
OWNER_IP = "198.51.100.7"
MIGRATION = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "20261203_accounts.py"


def browser(client, ip: str):
    """A fresh browser (no cookies) whose requests come from `ip`."""
    other = type(client)(client.application)
    other.environ_base["REMOTE_ADDR"] = ip
    return other


def register_form(http, email, *, first_name="Eve", password=GOOD):
    page = http.get("/register")
    return http.post("/register", data={"first_name": first_name, "last_name": "Probe", "email": email,
                                        "password": password, "confirm": password, "accept_terms": "y",
                                        "csrf_token": csrf_from(page.get_data(as_text=True))})


def api_register(http, email, *, first_name="Eve"):
    return http.post("/api/v1/auth/register", json={"email": email, "password": GOOD, "first_name": first_name,
                                                    "last_name": "Probe"})


def snapshot(user: User) -> dict:
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    return {column: getattr(fresh, column) for column in (
        "email", "first_name", "last_name", "password_hash", "status", "email_verified", "email_verified_at",
        "terms_accepted_at", "password_changed_at", "failed_logins", "locked_until", "totp_enabled")}


def audited(action):
    db.session.expire_all()
    return db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)).all()


def page_text(response, address: str) -> str:
    """The page with the address and the per-request script nonce taken out (the nonce differs on every answer)."""
    return re.sub(r'nonce="[^"]*"', 'nonce=""', response.get_data(as_text=True)).replace(address, "ADDRESS")


# enumeration ---------------------------------------------------------------------------------------------------------
def test_enumerator_gets_the_same_portal_answer_for_a_taken_address(client, make_user):
    owner = make_user("owner@example.com", first_name="Olive")
    before = snapshot(owner)
    enumerator = browser(client, ATTACKER_IP)

    taken = register_form(enumerator, "Owner@Example.com")
    taken_page = enumerator.get(taken.headers["Location"])
    second = browser(client, ATTACKER_IP)
    fresh = register_form(second, "nobody.yet@example.com")
    fresh_page = second.get(fresh.headers["Location"])

    assert (taken.status_code, taken.headers["Location"]) == (fresh.status_code, fresh.headers["Location"])
    assert taken.status_code == 302 and taken.headers["Location"] == "/register/check-email"
    assert taken_page.status_code == fresh_page.status_code == 200
    assert page_text(taken_page, "owner@example.com") == page_text(fresh_page, "nobody.yet@example.com")
    # nothing about the existing account changed, no second account, nobody signed in
    assert snapshot(owner) == before
    assert db.session.scalar(select(db.func.count(User.id)).where(User.email == "owner@example.com")) == 1
    assert enumerator.get("/").status_code == 302
    # the owner is told, and gets no verification link; the new address gets its link
    [notice] = outbox("owner@example.com", "registration_attempted")
    assert "already has an account" in notice.body and "/login" in notice.body
    assert outbox("owner@example.com", "verify_email") == []
    assert len(outbox("nobody.yet@example.com", "verify_email")) == 1
    [record] = audited("auth.register_existing")
    assert record.target_id == str(owner.id)


def test_enumerator_gets_the_same_api_answer_for_a_taken_address(client, make_user, monkeypatch):
    owner = make_user("owner@example.com", first_name="Olive")
    before = snapshot(owner)
    hashed = []
    real_hash = passwords.hash_password
    monkeypatch.setattr(passwords, "hash_password", lambda pw: hashed.append(pw) or real_hash(pw))
    enumerator = browser(client, ATTACKER_IP)

    taken = api_register(enumerator, "OWNER@example.com", first_name="Mallory")
    work_for_taken = len(hashed)
    fresh = api_register(enumerator, "nobody.yet@example.com")

    assert taken.status_code == fresh.status_code == 201
    assert taken.get_json() == {**fresh.get_json(), "data": {"email": "owner@example.com"}}
    assert fresh.get_json()["data"] == {"email": "nobody.yet@example.com"}
    assert work_for_taken == len(hashed) - work_for_taken == 1  # a password is hashed either way: same cost
    assert snapshot(owner) == before
    assert len(outbox("owner@example.com", "registration_attempted")) == 1


def test_a_refused_registration_is_refused_alike_for_a_taken_address(client, make_user):
    make_user("owner@example.com")
    enumerator = browser(client, ATTACKER_IP)
    taken = register_form(enumerator, "owner@example.com", password="password1234")
    fresh = register_form(enumerator, "nobody.yet@example.com", password="password1234")
    assert taken.status_code == fresh.status_code == 422
    assert outbox("owner@example.com", "registration_attempted") == []  # nothing was attempted in earnest


# the verification link -----------------------------------------------------------------------------------------------
def test_registration_signs_in_nobody_until_the_link_and_the_link_signs_in_once(client):
    visitor = browser(client, OWNER_IP)
    register_form(visitor, "nora@example.com", first_name="Nora")
    assert visitor.get("/").status_code == 302  # registered, not signed in
    assert db.session.scalar(select(UserSession)) is None

    link = link_in(outbox("nora@example.com", "verify_email")[-1])
    opened = visitor.get(link)
    assert opened.status_code == 302 and opened.headers["Location"] == "/"
    assert "Welcome, Nora" in visitor.get("/").get_data(as_text=True)

    # someone who later finds the link in a mailbox, a proxy log or browser history gets no session from it
    finder = browser(client, ATTACKER_IP)
    reopened = finder.get(link)
    assert reopened.status_code == 302 and reopened.headers["Location"] == "/login"
    assert finder.get("/").status_code == 302
    assert db.session.scalar(select(db.func.count(UserSession.id))) == 1


def test_a_squatter_who_signs_up_with_someone_elses_address_cannot_have_its_owner_signed_in(client):
    """The squatter knows the password of the account they made with the victim's address; the victim clicking the
    mailed link in their own browser must not end up signed into it (and using it under the squatter's eyes)."""
    squatter = browser(client, ATTACKER_IP)
    register_form(squatter, "victim@example.com", first_name="Vic")
    link = link_in(outbox("victim@example.com", "verify_email")[-1])

    victim = browser(client, OWNER_IP)
    opened = victim.get(link)
    assert opened.status_code == 302 and opened.headers["Location"] == "/login"
    assert victim.get("/").status_code == 302  # not signed in: the owner signs in with a password, or resets it
    assert db.session.scalar(select(db.func.count(UserSession.id))) == 0
    db.session.expire_all()
    assert db.session.scalar(select(User.email_verified).where(User.email == "victim@example.com")) is True
    # the squatter's own browser gets nothing from the spent link either
    assert squatter.get(link).headers["Location"] == "/login"
    assert db.session.scalar(select(db.func.count(UserSession.id))) == 0


def test_the_link_of_an_account_with_2fa_still_asks_for_the_code(app, client, make_user):
    user = make_user("twofa@example.com", verified=False, two_factor=True)
    with app.test_request_context():  # as the resend button does
        services.send_verification(user)
        db.session.commit()
    visitor = browser(client, OWNER_IP)
    register_form(visitor, user.email)  # the browser that signed up (a taken address gets the same answer)
    opened = visitor.get(link_in(outbox(user.email, "verify_email")[-1]))
    assert opened.status_code == 302 and opened.headers["Location"] == "/login/code"
    assert visitor.get("/").status_code == 302  # the link alone is one factor
    step = visitor.get("/login/code")
    done = visitor.post("/login/code", data={"code": totp_now(user), "csrf_token": csrf_from(step.get_data(as_text=True))})
    assert done.status_code == 302 and visitor.get("/").status_code == 200


# guessing passwords --------------------------------------------------------------------------------------------------
def guess(login, user, ip, client, times):
    """`times` wrong passwords from `ip`; the per-minute rate limiter is reset between bursts so that the lockout,
    not the limiter, is what is tested."""
    statuses = []
    for i in range(times):
        statuses.append(login(user, "wrong-password-xx", http=browser(client, ip)).status_code)
        if i % 5 == 4:
            limiter.reset()
    limiter.reset()
    return statuses


def source_record(user, ip):
    db.session.expire_all()
    return db.session.scalar(select(SigninFailure).where(SigninFailure.user_id == user.id,
                                                         SigninFailure.source == ip))


def test_one_source_locks_itself_out_but_never_the_owner_elsewhere(client, make_user, login):
    owner = make_user("owner@example.com")
    assert set(guess(login, owner, ATTACKER_IP, client, 50)) == {401}
    attacker = source_record(owner, ATTACKER_IP)
    assert attacker.locked_until is not None
    assert attacker.failures == 10  # refused while locked: the password is not even tried
    # the attacker holding the right password now is still refused from that address
    refused = login(owner, http=browser(client, ATTACKER_IP))
    assert refused.status_code == 401 and "locked" in refused.get_data(as_text=True)
    # the owner, from home, signs in
    db.session.refresh(owner)
    assert owner.locked_until is None
    assert login(owner, http=browser(client, OWNER_IP)).status_code == 302
    assert len(audited("auth.source_locked")) == 1 and audited("auth.account_locked") == []
    [notice] = outbox(owner.email, "account_locked")  # told once, not at every doubling
    assert ATTACKER_IP in notice.body and "still sign in from anywhere else" in notice.body


def test_an_ipv6_attacker_cannot_pose_as_new_sources_within_its_own_64(client, make_user, login):
    owner = make_user("owner@example.com", two_factor=True)
    for n in range(12):  # a fresh address of the same /64 for every guess
        login(owner, "wrong-password-xx", http=browser(client, f"2001:db8:5:7::{n + 1:x}"))
        if n % 5 == 4:
            limiter.reset()
    limiter.reset()
    [record] = db.session.scalars(select(SigninFailure).where(SigninFailure.user_id == owner.id)).all()
    assert record.source == "2001:db8:5:7::/64" and record.failures == 10 and record.locked_until is not None
    refused = login(owner, http=browser(client, "2001:db8:5:7::beef"))
    assert refused.status_code == 401 and "locked" in refused.get_data(as_text=True)
    assert login(owner, http=browser(client, "2001:db8:9:9::1")).status_code == 302  # another network


def test_many_sources_hit_the_ceiling_of_an_account_without_2fa(client, make_user, login):
    owner = make_user("owner@example.com")
    for n in range(5):  # five addresses, ten guesses each: fifty in all
        guess(login, owner, f"203.0.113.{n + 10}", client, 10)
    db.session.refresh(owner)
    assert owner.failed_logins == 50 and owner.locked_until is not None
    refused = login(owner, http=browser(client, OWNER_IP))
    assert refused.status_code == 401 and "locked" in refused.get_data(as_text=True)
    [record] = audited("auth.account_locked")
    assert record.after["scope"] == "account"
    assert any("locked" in m.subject.lower() for m in outbox(owner.email, "account_locked"))
    # a password reset through the mailed link ends the lock
    page = client.get("/password/forgot")
    client.post("/password/forgot", data={"email": owner.email, "csrf_token": csrf_from(page.get_data(as_text=True))})
    reset_link = link_in(outbox(owner.email, "reset_password")[-1])
    page = client.get(reset_link)
    client.post(reset_link, data={"password": GOOD, "confirm": GOOD,
                                  "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert login(owner, GOOD, http=browser(client, OWNER_IP)).status_code == 302
    assert source_record(owner, "203.0.113.10") is None


def test_many_sources_never_lock_an_account_with_2fa_though_each_source_is_locked(client, make_user, login):
    owner = make_user("owner@example.com", two_factor=True)
    for n in range(6):
        guess(login, owner, f"203.0.113.{n + 10}", client, 10)
    db.session.refresh(owner)
    assert owner.failed_logins == 60 and owner.locked_until is None
    assert all(source_record(owner, f"203.0.113.{n + 10}").locked_until is not None for n in range(6))
    assert login(owner, http=browser(client, "203.0.113.10")).status_code == 401  # that source stays locked
    assert login(owner, http=browser(client, OWNER_IP)).status_code == 302  # password and code from home
    assert audited("auth.account_locked") == []


# recovery codes ------------------------------------------------------------------------------------------------------
def key_for(app) -> bytes:
    return hmac.new(app.config["SECRET_KEY"].encode(), b"freehold.recovery-codes", hashlib.sha256).digest()


def enrolled(make_user):
    user = make_user("owner@example.com", two_factor=False)
    mfa.begin_enrolment(user)
    codes = mfa.confirm_enrolment(user, totp_now(user))
    db.session.commit()
    return user, codes


def test_the_nightly_job_forgets_quiet_sources_but_keeps_recent_guessing_and_running_locks(app, make_user):
    """signin_failures holds recent guessing only: a source quiet for SIGNIN_FAILURES_KEPT with no lock running is
    forgotten by the nightly job; a recent source, and an old one still locked, stay. Running it twice changes
    nothing more."""
    from datetime import timedelta

    from app.auth.tasks import prune_signin_failures
    from app.tasks import BEAT_SCHEDULE

    assert any(e["task"] == "auth.prune_signin_failures" for e in BEAT_SCHEDULE.values())
    owner = make_user()
    now, kept = utcnow(), app.config["SIGNIN_FAILURES_KEPT"]
    rows = {"quiet": dict(last_failure_at=now - kept - timedelta(days=1), locked_until=None),
            "lock-over": dict(last_failure_at=now - kept - timedelta(days=2), locked_until=now - kept),
            "recent": dict(last_failure_at=now - timedelta(days=1), locked_until=None),
            "still-locked": dict(last_failure_at=now - kept - timedelta(days=1), locked_until=now + timedelta(hours=1))}
    for source, values in rows.items():
        db.session.execute(insert(SigninFailure).values(user_id=owner.id, source=source, failures=3, **values))
    db.session.commit()
    assert prune_signin_failures.delay().get() == 2
    assert sorted(db.session.scalars(select(SigninFailure.source))) == ["recent", "still-locked"]
    assert prune_signin_failures.delay().get() == 0


def test_a_copied_database_does_not_reveal_recovery_codes(app, make_user, monkeypatch):
    user, codes = enrolled(make_user)
    stored = {c.code_hash for c in db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id))}
    assert len(stored) == 10
    for code in codes:
        plain = code.replace("-", "")
        for unkeyed in (hashlib.sha256(plain.encode()).hexdigest(),
                        hashlib.sha256(f"{user.id}:{plain}".encode()).hexdigest()):
            assert not any(unkeyed in value for value in stored)
        keyed = hmac.new(key_for(app), f"{user.id}:{plain}".encode(), hashlib.sha256).hexdigest()
        assert "hmac1$" + keyed in stored  # the server, with its key, recomputes it
    assert not any(value.startswith(("$2", "$argon2")) for value in stored)
    # with another key (a thief's guess of it), a right code does not verify
    monkeypatch.setitem(app.config, "SECRET_KEY", "not-the-server-secret")
    assert mfa.verify_code(user, codes[0]) is None
    monkeypatch.setitem(app.config, "SECRET_KEY", "testing-secret-key-not-for-production")
    assert mfa.verify_code(user, codes[0]) == "recovery"
    db.session.rollback()


def test_a_dedicated_recovery_code_key_is_used_when_set(app, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "RECOVERY_CODE_KEY", "k" * 40)
    user, codes = enrolled(make_user)
    plain = codes[0].replace("-", "")
    expected = "hmac1$" + hmac.new(b"k" * 40, f"{user.id}:{plain}".encode(), hashlib.sha256).hexdigest()
    assert db.session.scalar(select(RecoveryCode).where(RecoveryCode.code_hash == expected)) is not None


@pytest.fixture
def migration():
    spec = importlib.util.spec_from_file_location("accounts_migration", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_legacy_recovery_code_is_wrapped_by_the_migration_and_still_works(app, client, make_user, login,
                                                                           migration):
    user, _ = enrolled(make_user)
    legacy_code = "abcde-fghjk"
    legacy = hashlib.sha256(f"{user.id}:abcdefghjk".encode()).hexdigest()  # as codes were stored before
    db.session.add(RecoveryCode(user_id=user.id, code_hash=legacy))
    db.session.commit()

    assert migration.wrap_plain_hashes(db.session.connection(), migration.recovery_key(app.config)) == 1
    db.session.commit()

    values = [c.code_hash for c in db.session.scalars(select(RecoveryCode))]
    assert legacy not in values and all(v.startswith("hmac1") for v in values)
    wrapped = "hmac1w$" + hmac.new(key_for(app), legacy.encode(), hashlib.sha256).hexdigest()
    assert wrapped in values
    assert migration.wrap_plain_hashes(db.session.connection(), migration.recovery_key(app.config)) == 0
    db.session.commit()
    # its owner signs in with it, once
    assert login(user, code=legacy_code.upper()).status_code == 302
    assert login(user, code=legacy_code, http=browser(client, OWNER_IP)).status_code == 401


def test_guesses_racing_from_one_source_are_all_counted(app, make_user, postgres):
    """An attacker fires twelve guesses at the same instant, hoping concurrent attempts slip past the count."""
    owner = make_user("owner@example.com")
    owner_id = owner.id  # read here: the threads never touch this session's objects

    def attempt(_):
        with app.test_request_context(environ_base={"REMOTE_ADDR": ATTACKER_IP}):
            user = db.session.get(User, owner_id)
            services.register_failure(user, email=user.email, reason="bad_password", channel="api")

    results = run_threads(app, 12, attempt)
    assert all(r is None for r in results), results
    record = source_record(owner, ATTACKER_IP)
    assert record.failures == 12 and record.locked_until is not None
    db.session.refresh(owner)
    assert owner.failed_logins == 12 and owner.locked_until is None


def test_flask_db_upgrade_leaves_no_unkeyed_recovery_code(tmp_path):
    """A copy of the database taken after the upgrade holds no plain hash of a code made before it."""
    scratch = create_app(test_config(f"sqlite:///{tmp_path}/scratch.db"))
    migrations = str(MIGRATION.parents[1])
    with scratch.app_context():
        upgrade(directory=migrations, revision="0011_calendar_consumed")
        now = utcnow()
        uid = db.session.execute(insert(User.__table__).values(
            email="old@example.com", first_name="Old", last_name="Codes", password_hash="x", status="active",
            email_verified=True, failed_logins=0, totp_enabled=True, created_at=now, updated_at=now,
        ).returning(User.__table__.c.id)).scalar_one()
        legacy = hashlib.sha256(f"{uid}:abcdefghjk".encode()).hexdigest()
        db.session.execute(text("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (:u, :h, :t)"),
                           {"u": uid, "h": legacy, "t": now})
        db.session.commit()

        upgrade(directory=migrations)

        [stored] = db.session.execute(text("SELECT code_hash FROM recovery_codes")).scalars()
        assert stored == "hmac1w$" + hmac.new(key_for(scratch), legacy.encode(), hashlib.sha256).hexdigest()
        user = db.session.get(User, uid)
        user.totp_secret = "JBSWY3DPEHPK3PXP"
        assert mfa.verify_code(user, "ABCDE-FGHJK") == "recovery"
        db.session.remove()
