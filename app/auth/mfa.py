"""Two-factor authentication: TOTP enrolment with a QR code, single-use recovery codes, verification with replay
protection, disabling, and a staff reset. Services flush and never commit."""
from __future__ import annotations

import base64
import io
import secrets
from typing import Any, cast

import qrcode
from qrcode.image.pil import PilImage
from sqlalchemy import CursorResult, delete, select, update

from app.auth import passwords, recovery, totp
from app.auth.models import RecoveryCode, User
from app.auth.security_changes import end_other_sessions, notify_security_change
from app.auth.staff import need_reason
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, ValidationError
from app.extensions import db

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes


def begin_enrolment(user: User) -> str:
    """A new secret, kept (encrypted) but not active until a code confirms it."""
    if user.totp_enabled:
        raise Conflict("two-factor authentication is already on")
    if not user.totp_secret:
        user.totp_secret = totp.new_secret()
        db.session.flush()
    return user.totp_secret


def qr_data_uri(user: User) -> str:
    """The provisioning URI as an inline PNG (no third party ever sees the secret)."""
    if user.totp_secret is None:  # shown only after begin_enrolment(), which keeps one
        raise RuntimeError("no TOTP secret to show: begin_enrolment() keeps one first")
    image = qrcode.make(totp.provisioning_uri(user.totp_secret, user.email), image_factory=PilImage, box_size=6,
                        border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=recovery.stored_form(user.id, c)) for c in codes)
    db.session.flush()
    return codes


def confirm_enrolment(user: User, code: str, *, keep_session_id: int | None = None) -> list[str]:
    """Turn 2FA on once a code from the app matches; returns the recovery codes, to be shown once."""
    if user.totp_enabled:
        raise Conflict("two-factor authentication is already on")
    if not user.totp_secret:
        raise Conflict("start the set-up again")
    step = totp.accepted_step(user.totp_secret, code, None)
    if step is None:
        raise ValidationError("the code is not correct", {"code": ["The code is not correct. Check the time on "
                                                                   "your phone and try the newest code."]})
    user.totp_enabled = True
    user.totp_last_step = step
    db.session.flush()
    codes = _new_recovery_codes(user)
    ended = end_other_sessions(user, reason="2FA turned on", keep_id=keep_session_id)
    audit.record("auth.2fa_enabled", actor=user, target=user, before={"totp_enabled": False},
                 after={"totp_enabled": True, "sessions_ended": ended})
    notify_security_change(user, "Two-factor authentication was turned on.")
    return codes


def verify_code(user: User, code: str) -> str | None:
    """Second factor: a fresh TOTP code (each time step accepted once) or an unused recovery code.
    Returns "totp" or "recovery" when accepted, else None."""
    if not (user.totp_enabled and user.totp_secret):
        return None
    cleaned = (code or "").strip().replace(" ", "")
    if cleaned.isdigit():
        step = totp.accepted_step(user.totp_secret, cleaned, user.totp_last_step)
        if step is None:
            return None
        claimed = cast("CursorResult[Any]", db.session.execute(
            update(User).where(User.id == user.id)
            .where((User.totp_last_step.is_(None)) | (User.totp_last_step < step))
            .values(totp_last_step=step).execution_options(synchronize_session=False)
        )).rowcount
        db.session.refresh(user, ["totp_last_step"])
        return "totp" if claimed == 1 else None
    used = cast("CursorResult[Any]", db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash.in_(recovery.candidates(user.id, cleaned)),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)
    )).rowcount
    if used == 1:
        audit.record("auth.recovery_code_used", actor=user, target=user,
                     after={"remaining": remaining_recovery_codes(user)})
        return "recovery"
    return None


def remaining_recovery_codes(user: User) -> int:
    return db.session.execute(select(db.func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).scalar_one()


def regenerate_recovery_codes(user: User, code: str) -> list[str]:
    if verify_code(user, code) is None:
        raise ValidationError("the code is not correct", {"code": ["The code is not correct."]})
    codes = _new_recovery_codes(user)
    audit.record("auth.recovery_codes_regenerated", actor=user, target=user)
    return codes


def provision(user: User, secret: str) -> None:
    """Turn 2FA on with a known secret, without a confirming code: for provisioning (demo data, tests)."""
    user.totp_secret = secret
    user.totp_enabled = True
    user.totp_last_step = None
    db.session.flush()


def _turn_off(user: User) -> None:
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.flush()


def disable(user: User, password: str, code: str, *, keep_session_id: int | None = None) -> None:
    """Turning 2FA off needs the password and a code."""
    if not user.totp_enabled:
        raise Conflict("two-factor authentication is not on")
    errors = {}
    if not passwords.verify(user.password_hash, password):
        errors["password"] = ["The password is not correct."]
    elif verify_code(user, code) is None:
        errors["code"] = ["The code is not correct."]
    if errors:
        raise ValidationError("two-factor authentication stays on", errors)
    _turn_off(user)
    ended = end_other_sessions(user, reason="2FA turned off", keep_id=keep_session_id)
    audit.record("auth.2fa_disabled", actor=user, target=user, before={"totp_enabled": True},
                 after={"totp_enabled": False, "sessions_ended": ended})
    notify_security_change(user, "Two-factor authentication was turned off.")


def staff_reset(user: User, *, actor: User | None, reason: str | None, extra: dict[str, Any] | None = None) -> int:
    """Turn a user's 2FA off (lost phone); the user sets it up again at the next sign-in. Who may is checked by
    the caller (app.auth.staff_requests); `actor` None is the server's command line. Returns the sessions ended."""
    reason = need_reason(reason)
    if not user.totp_enabled:
        raise Conflict("this user has no two-factor authentication to reset")
    if actor is not None and user.id == actor.id:
        raise Conflict("ask another staff member to reset your own two-factor authentication")
    _turn_off(user)
    ended = end_other_sessions(user, reason="2FA reset by staff", keep_id=None)
    audit.record("users.reset_2fa", actor=actor, target=user, before={"totp_enabled": True},
                 after={"totp_enabled": False, "sessions_ended": ended, **(extra or {})}, reason=reason)
    notify_security_change(user, "Our support team turned off your two-factor authentication, as you asked.")
    return ended
