"""Moving an account to a new e-mail address. The request sends a signed link to the NEW address (so only its
owner can confirm); the link expires (links.MAX_AGE) and is spent once used, once a newer one is issued, or once
the request is cancelled, because the row keeps only the hash of the nonce the link carries. Confirming re-checks
that no other account took the address meanwhile, marks it verified, ends every other session and API token, tells
the old address and is audited as a security event.

An address that already has an account is answered as if the request went through: the request is kept and shown
as waiting like any other, but no link is sent, so it can only expire or be replaced (audited as refused). As with
registration, neither the form, the API nor the profile tells anyone which addresses are customers."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth import links, signals
from app.auth.accounts import normalize_email, user_by_email
from app.auth.models import USER_ACTIVE, EmailChange, User
from app.auth.security_changes import end_other_sessions
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, IllegalTransition, ValidationError
from app.extensions import db


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def open_email_change(user: User) -> EmailChange | None:
    """The user's request waiting for its link to be opened, if any (expired ones are not open)."""
    change = db.session.scalar(select(EmailChange).where(
        EmailChange.user_id == user.id, EmailChange.confirmed_at.is_(None), EmailChange.cancelled_at.is_(None)))
    return change if change is not None and change.is_open(utcnow()) else None


def _token(change: EmailChange) -> str:
    """A new link token for the request; the previous one is spent (only the newest nonce's hash is kept)."""
    nonce = secrets.token_urlsafe(16)
    change.nonce_hash = _hash(nonce)
    db.session.flush()
    return links.make(links.CHANGE_EMAIL, {"cid": change.id, "uid": change.user_id, "n": nonce})


def checked_address(email: str) -> str:
    try:
        return validate_email(normalize_email(email), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError("the e-mail address is not valid", {"email": [str(exc)]}) from None


def request_email_change(user: User, email: str) -> EmailChange | None:
    """Ask to move `user` to `email`: a link goes to that address (after commit, by signal). Returns the request,
    or None when the address belongs to another account (answered like a success by the caller, see above)."""
    if user.status != USER_ACTIVE:
        raise IllegalTransition("the account is not active")
    new_email = checked_address(email)
    if new_email == user.email:
        raise ValidationError("this is already the account's address",
                              {"email": ["This is already your address."]})
    now = utcnow()
    previous = db.session.scalar(select(EmailChange).where(
        EmailChange.user_id == user.id, EmailChange.confirmed_at.is_(None), EmailChange.cancelled_at.is_(None)))
    if previous is not None:  # a new request replaces the old one: its link is spent
        previous.cancelled_at = now
        db.session.flush()
    change = EmailChange(user_id=user.id, new_email=new_email, nonce_hash="", created_at=now,
                         expires_at=now + timedelta(seconds=links.MAX_AGE[links.CHANGE_EMAIL]))
    db.session.add(change)
    db.session.flush()
    if user_by_email(new_email) is not None:
        # kept as waiting like any other (the profile shows the same), but no link exists for it: its nonce is
        # never sent anywhere
        change.nonce_hash = _hash(secrets.token_urlsafe(16))
        db.session.flush()
        audit.record("auth.email_change_refused", actor=user, target=user,
                     after={"reason": "address taken"})
        return None
    token = _token(change)
    audit.record("auth.email_change_requested", actor=user, target=user, after={"new_email": new_email})
    signals.email_change_requested.send(user, token=token, new_email=new_email)
    return change


def fresh_email_change_token(user: User) -> str:
    """A newly issued link for the user's open request (a staff resend): the old link stops working."""
    change = open_email_change(user)
    if change is None:
        raise IllegalTransition("there is no e-mail change waiting for its link: no new link is issued")
    return _token(change)


def cancel_email_change(user: User) -> bool:
    change = open_email_change(user)
    if change is None:
        return False
    change.cancelled_at = utcnow()
    db.session.flush()
    audit.record("auth.email_change_cancelled", actor=user, target=user, before={"new_email": change.new_email})
    return True


def change_for_token(token: str, user: User) -> EmailChange:
    """The open request a link is for, checked against the signed-in `user` (someone else's link is refused as
    not valid). Raises links.LinkError for an expired, spent, tampered or foreign link."""
    payload = links.read(links.CHANGE_EMAIL, token)
    change = db.session.get(EmailChange, payload.get("cid"))
    if change is None or change.user_id != user.id or payload.get("uid") != user.id:
        raise links.LinkError("This link is not valid.")
    if not secrets.compare_digest(change.nonce_hash, _hash(str(payload.get("n", "")))):
        raise links.LinkError("This link was replaced by a newer one or was already used.")
    if change.confirmed_at is not None or change.cancelled_at is not None:
        raise links.LinkError("This link was already used.")
    if not change.is_open(utcnow()):
        raise links.LinkError("This link has expired.", expired=True)
    return change


def confirm_email_change(token: str, user: User, *, keep_session_id: int | None) -> str:
    """Apply the change the link is for; returns the old address."""
    change = change_for_token(token, user)
    old_email = user.email
    now = utcnow()
    taken = user_by_email(change.new_email) is not None
    if not taken:
        try:
            with db.session.begin_nested():  # an account that takes the address at the same moment wins
                user.email = change.new_email
                db.session.flush()
        except IntegrityError:
            db.session.refresh(user)
            taken = True
    if taken:
        raise Conflict("the address has an account now",
                       {"email": ["This address now belongs to another account: ask for the change again with "
                                  "another address."]})
    change.confirmed_at = now
    user.email_verified = True
    user.email_verified_at = now
    db.session.flush()
    ended = end_other_sessions(user, reason="e-mail address changed", keep_id=keep_session_id)
    audit.record("auth.email_changed", actor=user, target=user, before={"email": old_email},
                 after={"email": user.email, "sessions_ended": ended})
    signals.email_changed.send(user, old_email=old_email, new_email=user.email)
    return old_email
