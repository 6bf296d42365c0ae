"""Proving a phone number by a six-digit code sent to it by SMS. The number is stored unverified at once (no SMS
but the code goes to it until it is proven); the code is kept only as a keyed hash (HMAC with the app's secret),
expires after CODE_MINUTES, allows MAX_ATTEMPTS wrong tries, is spent once used, and a newer code replaces it.
A user may ask for SENDS_PER_HOUR codes an hour (counted in the database, so every process sees the same count).
The SMS is a secret event: the stored message carries a placeholder, never the code."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, DomainError, ValidationError
from app.extensions import db
from app.notifications.channels.registry import channel_enabled
from app.notifications.models import SMS, PhoneVerification
from app.notifications.services import notify, set_phone_number

CODE_MINUTES = 10
MAX_ATTEMPTS = 5
SENDS_PER_HOUR = 3


class TooManyCodes(DomainError):
    status = 429
    code = "rate_limited"


def _hash(user_id: int, verification_id: int, code: str) -> str:
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"freehold.phone-code", hashlib.sha256).digest()
    return hmac.new(key, f"{user_id}:{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def sms_available() -> bool:
    return channel_enabled(SMS)


def new_code() -> str:
    return f"{secrets.randbelow(10 ** 6):06d}"


def sends_in_last_hour(user_id: int) -> int:
    return db.session.scalar(select(func.count(PhoneVerification.id)).where(
        PhoneVerification.user_id == user_id, PhoneVerification.created_at > utcnow() - timedelta(hours=1))) or 0


def send_code(user: User, phone: str) -> PhoneVerification:
    """Store `phone` as the user's unverified number and send it a new code (after commit)."""
    if not sms_available():
        raise Conflict("SMS is switched off", {"phone": ["We cannot send SMS messages at the moment: try again "
                                                         "later."]})
    if sends_in_last_hour(user.id) >= SENDS_PER_HOUR:
        raise TooManyCodes("too many codes were asked for", {"phone": [
            "You asked for 3 codes in the last hour: wait a little before asking again."]})
    try:
        set_phone_number(user, phone)
    except ValidationError as exc:
        raise ValidationError(exc.message, {"phone": (exc.errors or {}).get("phone_number", [])}) from None
    if user.phone_number is None:
        raise ValidationError("a phone number is needed", {"phone": ["Enter your phone number."]})
    user.phone_verified_at = None
    now = utcnow()
    db.session.execute(update(PhoneVerification).where(  # an older code stops working
        PhoneVerification.user_id == user.id, PhoneVerification.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    record = PhoneVerification(user_id=user.id, phone=user.phone_number, code_hash="", created_at=now,
                               expires_at=now + timedelta(minutes=CODE_MINUTES))
    db.session.add(record)
    db.session.flush()
    code = new_code()
    record.code_hash = _hash(user.id, record.id, code)
    db.session.flush()
    audit.record("profile.phone_code_sent", actor=user, target=user, after={"phone": mask(user.phone_number)})
    notify(user, "phone_code", link=code, minutes=CODE_MINUTES)  # a secret event: the code is never stored readable
    return record


def _open_code(user: User) -> PhoneVerification | None:
    return db.session.scalar(select(PhoneVerification).where(
        PhoneVerification.user_id == user.id, PhoneVerification.used_at.is_(None))
        .order_by(PhoneVerification.id.desc()).limit(1))


def verify_code(user: User, code: str) -> None:
    """Mark the number verified when `code` is the open one. A wrong code counts as an attempt, which the caller
    must commit even though this raises (see the views)."""
    code = (code or "").strip()
    record = _open_code(user)
    now = utcnow()
    if record is None or record.phone != user.phone_number:
        raise ValidationError("no code is waiting", {"code": ["There is no code waiting: ask for a new one."]})
    if record.expires_at <= now:
        record.used_at = now
        db.session.flush()
        raise ValidationError("the code has expired", {"code": ["This code has expired: ask for a new one."]})
    if record.attempts >= MAX_ATTEMPTS:
        raise ValidationError("too many wrong codes", {"code": ["Too many wrong codes: ask for a new one."]})
    if not (len(code) == 6 and code.isdigit()
            and hmac.compare_digest(record.code_hash, _hash(user.id, record.id, code))):
        record.attempts += 1
        if record.attempts >= MAX_ATTEMPTS:
            record.used_at = now
        db.session.flush()
        raise ValidationError("the code is not correct", {"code": ["This code is not correct."]})
    record.used_at = now
    user.phone_verified_at = now
    db.session.flush()
    audit.record("profile.phone_verified", actor=user, target=user, after={"phone": mask(user.phone_number)})


def mask(phone: str | None) -> str | None:
    """A number as shown back: its country code's first digits and its last two, "+1••••••••23"."""
    if not phone:
        return None
    return phone[:2] + "•" * max(len(phone) - 4, 0) + phone[-2:]
