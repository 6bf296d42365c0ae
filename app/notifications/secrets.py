"""Links that grant access (e-mail verification, password reset, and any event the catalogue marks `secret`) are
never stored readable. Their messages are rendered and kept with PLACEHOLDER where the link goes; the link itself
waits on its delivery encrypted (Delivery.secret), is put into the message only as it is handed to the channel,
and is cleared once the delivery is over. Staff resending such a message get a freshly issued link, never the old
one. Nothing here logs a link."""
from __future__ import annotations

from collections.abc import Callable

from markupsafe import escape

from app.auth import services as auth
from app.auth.models import USER_ACTIVE, User
from app.core.errors import IllegalTransition
from app.core.urls import external_url

PLACEHOLDER = "[link hidden: sent to the recipient only]"


def verification_link(token: str) -> str:
    return external_url("auth.verify_email", token=token)


def reset_link(token: str) -> str:
    return external_url("auth.reset_password", token=token)


def email_change_link(token: str) -> str:
    return external_url("portal.confirm_email_change", token=token)


def _fresh_email_change(user: User, address: str | None) -> str:
    """Only for the address the request is about: a link must never prove one address by mail sent to another."""
    if user.status != USER_ACTIVE:
        raise IllegalTransition("the account is not active: no link is issued")
    change = auth.open_email_change(user)
    if change is None or address is None or change.new_email != address:
        raise IllegalTransition("this e-mail change is no longer waiting for a link at this address")
    return email_change_link(auth.fresh_email_change_token(user))


def _fresh_verification(user: User, address: str | None) -> str:
    if user.email_verified:
        raise IllegalTransition("this e-mail address is already verified: no new link is needed")
    return verification_link(auth.verification_token(user))


def _fresh_reset(user: User, address: str | None) -> str:
    if user.status != USER_ACTIVE:
        raise IllegalTransition("the account is not active: no reset link is issued")
    return reset_link(auth.reset_token(user))


# event -> how a new link is issued for the user, given the address the message goes to (a new secret event adds
# its entry here)
REISSUE: dict[str, Callable[[User, str | None], str]] = {
    "verify_email": _fresh_verification,
    "reset_password": _fresh_reset,
    "confirm_email_change": _fresh_email_change,
}


def fresh_link(event: str, user: User, address: str | None = None) -> str:
    """A newly issued link of `event` for `user`, to go to `address` (a resend never copies the old one)."""
    issue = REISSUE.get(event)
    if issue is None:
        raise IllegalTransition("this message's link cannot be issued again")
    return issue(user, address)


def reveal(text: str | None, secret: str | None, *, html: bool = False) -> str | None:
    """The message as the recipient gets it: the placeholder replaced by the link (escaped in HTML)."""
    if text is None or secret is None:
        return text
    return text.replace(PLACEHOLDER, str(escape(secret)) if html else secret)
