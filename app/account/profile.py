"""The investor's profile: name, language, e-mail address and phone number, one use case each, for the portal
and the API alike. Names go through the KYC domain (compliance reviews a change after approved KYC), the address
through accounts (a link to the new one), the phone through notifications (an SMS code). Services flush and
never commit."""
from __future__ import annotations

from flask import current_app

from app.auth import passwords
from app.auth import services as auth
from app.auth.models import User
from app.core import audit
from app.core.errors import ValidationError
from app.extensions import db
from app.kyc import services as kyc
from app.notifications import phone


def set_locale(user: User, locale: str | None) -> None:
    """The language of the portal and of the user's messages: one of LANGUAGES, or None to follow the browser."""
    locale = (locale or "").strip() or None
    if locale is not None and locale not in current_app.config["LANGUAGES"]:
        raise ValidationError("unknown language", {"locale": [
            f"One of {', '.join(current_app.config['LANGUAGES'])}."]})
    if locale != user.locale:
        before = user.locale
        user.locale = locale
        db.session.flush()
        audit.record("profile.locale_changed", actor=user, target=user, before={"locale": before},
                     after={"locale": locale})


def update_profile(user: User, *, first_name: str | None = None, last_name: str | None = None,
                   locale: str | None = None, set_locale_to: bool = False):
    """Apply what was given: a name (both parts; the current one fills a missing part), and the locale when
    `set_locale_to`. Returns the name change request opened, or None."""
    request = None
    if first_name is not None or last_name is not None:
        request = kyc.propose_name_change(
            user, user.first_name if first_name is None else first_name,
            user.last_name if last_name is None else last_name, by=user)
    if set_locale_to:
        set_locale(user, locale)
    return request


def ask_email_change(user: User, email: str, *, password: str | None = None, check_password: bool = True) -> None:
    """Ask for a new address; the portal re-asks the password (check_password), the API's token suffices. The
    answer is the same whether the address is free or taken (nothing tells whose address it is)."""
    if check_password and not passwords.verify(user.password_hash, password or ""):
        raise ValidationError("the password is not correct", {"password": ["The password is not correct."]})
    auth.request_email_change(user, email)


def pending_email(user: User) -> str | None:
    change = auth.open_email_change(user)
    return change.new_email if change is not None else None


def profile_of(user: User) -> dict:
    """The profile as the API answers it (the phone masked)."""
    request = kyc.open_request(user.id)
    return {
        "id": user.id, "email": user.email, "first_name": user.first_name, "last_name": user.last_name,
        "locale": user.locale, "phone": phone.mask(user.phone_number),
        "phone_verified": user.phone_number is not None and user.phone_verified_at is not None,
        "pending_email": pending_email(user),
        "pending_name_change": None if request is None else {
            "first_name": request.new_first_name, "last_name": request.new_last_name,
            "requested_at": request.created_at},
    }


send_phone_code = phone.send_code
verify_phone_code = phone.verify_code
confirm_email_change = auth.confirm_email_change
change_for_token = auth.change_for_token
cancel_email_change = auth.cancel_email_change
