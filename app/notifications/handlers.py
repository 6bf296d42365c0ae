"""The notifications domain's answers to what other domains announce. Accounts (app.auth) sit below
notifications and do not call them: they send signals, and each receiver here records the same notification as
ever, building the link it carries. Receivers run in the sender's transaction, so nothing is sent if it rolls
back. `connect()` is called once at start-up by the app factory (connecting twice changes nothing)."""
from __future__ import annotations

from app.auth import signals as auth_signals
from app.auth.models import User
from app.core.db import utcnow
from app.core.urls import external_url
from app.notifications.secrets import email_change_link, reset_link, verification_link
from app.notifications.services import notify


def on_user_registered(user: User, **_) -> None:
    notify(user, "welcome", link=external_url("portal.dashboard"))


def on_registration_attempted(user: User, **_) -> None:
    notify(user, "registration_attempted", link=external_url("auth.login"),
           reset_link=external_url("auth.forgot_password"))


def on_verification_requested(user: User, *, token: str, **_) -> None:
    notify(user, "verify_email", link=verification_link(token))  # a secret event: the link is stored encrypted


def on_password_reset_requested(user: User, *, token: str, **_) -> None:
    notify(user, "reset_password", link=reset_link(token))  # a secret event: the link is stored encrypted


def on_account_locked(user: User, *, failures: int, until: str, scope: str = "account", source: str | None = None,
                      **_) -> None:
    notify(user, "account_locked", failures=failures, until=until, scope=scope, source=source)
    notify(None, "staff_account_locked", subject_email=user.email, failures=failures, until=until, scope=scope,
           source=source)


def on_security_changed(user: User, *, what: str, ip: str | None, user_agent: str | None, when: str, **_) -> None:
    notify(user, "security_notice", what=what, ip=ip, user_agent=user_agent, when=when)


def on_email_change_requested(user: User, *, token: str, new_email: str, **_) -> None:
    # a secret event: the link is stored encrypted; it goes to the new address only
    notify(user, "confirm_email_change", link=email_change_link(token), new_email=new_email)


def on_email_changed(user: User, *, old_email: str, new_email: str, **_) -> None:
    notify(user, "email_changed", old_email=old_email, new_email=new_email,
           when=utcnow().strftime("%Y-%m-%d %H:%M UTC"))


RECEIVERS = (
    (auth_signals.user_registered, on_user_registered),
    (auth_signals.registration_attempted, on_registration_attempted),
    (auth_signals.verification_requested, on_verification_requested),
    (auth_signals.password_reset_requested, on_password_reset_requested),
    (auth_signals.account_locked, on_account_locked),
    (auth_signals.security_changed, on_security_changed),
    (auth_signals.email_change_requested, on_email_change_requested),
    (auth_signals.email_changed, on_email_changed),
)


def connect() -> None:
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, weak=False)
