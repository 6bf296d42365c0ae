"""CSRF on every portal form; field-encryption key rotation."""
import re

from cryptography.fernet import Fernet
from sqlalchemy import text

from app.auth import mfa, totp
from app.payouts import services as payouts


def portal_post_routes(app):
    """Every POST route outside the API, webhooks and console, as a concrete URL."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith(("/api/", "/webhooks/", "/admin")):
            continue
        urls.append(re.sub(r"<int:\w+>", "1", re.sub(r"<(?:string:)?\w+>", "x", rule.rule)))
    assert len(urls) >= 10
    return urls


def test_every_portal_form_refuses_a_post_without_csrf(app, client, make_user, login):
    login(make_user())
    for url in portal_post_routes(app):
        response = client.post(url, data={"email": "a@b.co", "password": "x", "code": "123456"})
        assert response.status_code == 400, url
    anonymous = type(client)(app)
    for url in ("/login", "/register", "/password/forgot", "/login/code"):
        assert anonymous.post(url, data={"email": "a@b.co"}).status_code == 400, url


def test_key_rotation_reencrypts_under_the_newest_key(app, make_user):
    from app.extensions import db

    user = make_user()
    mfa.provision(user, totp.new_secret())
    payouts.add_bank_method(user.id, holder_name="A", bank_name="B", account_number="12345678",
                            routing_number="021000021", country="US")
    db.session.commit()
    secret = user.totp_secret
    new_key = Fernet.generate_key().decode()
    old_keys = app.config["FIELD_ENCRYPTION_KEYS"]
    app.config["FIELD_ENCRYPTION_KEYS"] = f"{new_key},{old_keys}"
    try:
        result = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "users.totp_secret: 1 re-encrypted" in result.output
        assert "payout_methods.account_number: 1 re-encrypted" in result.output
        raw = db.session.execute(text("SELECT totp_secret FROM users WHERE id = :id"), {"id": user.id}).scalar()
        assert Fernet(new_key.encode()).decrypt(raw.encode()).decode() == secret  # the newest key alone reads it
        db.session.expire_all()
        assert user.totp_secret == secret
    finally:
        app.config["FIELD_ENCRYPTION_KEYS"] = old_keys
    # and nothing readable by the old keys alone is left behind
    from app.core import crypto

    app.config["FIELD_ENCRYPTION_KEYS"] = old_keys
    crypto._cache.clear()
    try:
        db.session.expire_all()
        import pytest

        with pytest.raises(RuntimeError):
            _ = user.totp_secret
    finally:
        db.session.rollback()
