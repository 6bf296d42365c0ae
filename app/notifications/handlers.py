"""The notifications domain's answers to what other domains announce. Accounts (app.auth) sit below
notifications and do not call them: they send signals, and each receiver here records the same notification as
ever, building the link it carries. Receivers run in the sender's transaction, so nothing is sent if it rolls
back. `connect()` is called once at start-up by the app factory (connecting twice changes nothing)."""
from __future__ import annotations

from flask import url_for

from app.auth import signals as auth_signals
from app.auth.models import User
from app.core.urls import external_url
from app.notifications.services import notify


def on_user_registered(user: User, **_) -> None:
    notify(user, "welcome", link=url_for("portal.dashboard", _external=True))


def on_registration_attempted(user: User, **_) -> None:
    notify(user, "registration_attempted", link=external_url("auth.login"),
           reset_link=external_url("auth.forgot_password"))


def on_verification_requested(user: User, *, token: str, **_) -> None:
    notify(user, "verify_email", link=url_for("auth.verify_email", token=token, _external=True))


def on_password_reset_requested(user: User, *, token: str, **_) -> None:
    notify(user, "reset_password", link=url_for("auth.reset_password", token=token, _external=True))


def on_account_locked(user: User, *, failures: int, until: str, scope: str = "account", source: str | None = None,
                      **_) -> None:
    notify(user, "account_locked", failures=failures, until=until, scope=scope, source=source)
    notify(None, "staff_account_locked", subject_email=user.email, failures=failures, until=until, scope=scope,
           source=source)


def on_security_changed(user: User, *, what: str, ip: str | None, user_agent: str | None, when: str, **_) -> None:
    notify(user, "security_notice", what=what, ip=ip, user_agent=user_agent, when=when)


RECEIVERS = (
    (auth_signals.user_registered, on_user_registered),
    (auth_signals.registration_attempted, on_registration_attempted),
    (auth_signals.verification_requested, on_verification_requested),
    (auth_signals.password_reset_requested, on_password_reset_requested),
    (auth_signals.account_locked, on_account_locked),
    (auth_signals.security_changed, on_security_changed),
)


def connect() -> None:
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, weak=False)
