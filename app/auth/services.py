"""Accounts: registration, sign-in with lockout, e-mail verification, password reset and change, blocking,
roles, API tokens. Services flush and never commit; every security event is audited."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app, g, has_request_context, request, session, url_for
from sqlalchemy import select, update

from app.auth import links, passwords
from app.auth import sessions as user_sessions
from app.auth.models import USER_ACTIVE, USER_BLOCKED, ApiToken, LoginAttempt, Role, User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from app.core.security import ADMIN, ROLES, grantable_roles
from app.extensions import db, login_manager


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def ensure_roles() -> dict[str, Role]:
    existing = {r.name: r for r in db.session.scalars(select(Role))}
    for name in ROLES:
        if name not in existing:
            existing[name] = Role(name=name, description=name.replace("_", " ").title())
            db.session.add(existing[name])
    db.session.flush()
    return existing


def _client() -> tuple[str | None, str | None]:
    if not has_request_context():
        return None, None
    return request.remote_addr, (request.user_agent.string or "")[:300] or None


# accounts -------------------------------------------------------------------------------------------------------
def create_user(email: str, password: str, *, first_name: str = "", last_name: str = "",
                roles: tuple[str, ...] = ("investor",), verified: bool = False,
                terms_accepted: bool = False) -> User:
    from email_validator import EmailNotValidError, validate_email

    try:
        email = validate_email(normalize_email(email), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError("the e-mail address is not valid", {"email": [str(exc)]}) from None
    errors: dict[str, list[str]] = {}
    found = passwords.problems(password, email=email)
    if found:
        errors["password"] = found
    if len(first_name or "") > 100:
        errors["first_name"] = ["Use at most 100 characters."]
    if len(last_name or "") > 100:
        errors["last_name"] = ["Use at most 100 characters."]
    unknown = set(roles) - set(ROLES)
    if unknown:
        errors["role"] = [f"Unknown role(s): {', '.join(sorted(unknown))}."]
    if errors:
        raise ValidationError("the account details are not valid", errors)
    if user_by_email(email) is not None:
        raise Conflict("an account with this e-mail address already exists",
                       {"email": ["An account with this e-mail address already exists."]})
    all_roles = ensure_roles()
    now = utcnow()
    user = User(email=email, first_name=(first_name or "").strip(), last_name=(last_name or "").strip(),
                password_hash=passwords.hash_password(password), status=USER_ACTIVE, email_verified=verified,
                email_verified_at=now if verified else None, terms_accepted_at=now if terms_accepted else None,
                password_changed_at=now, failed_logins=0, roles=[all_roles[r] for r in roles])
    db.session.add(user)
    db.session.flush()
    from app.ledger.services import open_user_accounts

    open_user_accounts(user)
    return user


def register(email: str, password: str, *, first_name: str, last_name: str, terms_accepted: bool) -> User:
    """Self-service sign-up of an investor: the account exists at once, unverified, and a link is mailed."""
    errors = {}
    if not terms_accepted:
        errors["accept_terms"] = ["You must accept the terms to open an account."]
    if not (first_name or "").strip():
        errors["first_name"] = ["Required."]
    if not (last_name or "").strip():
        errors["last_name"] = ["Required."]
    if errors:
        raise ValidationError("the account details are not valid", errors)
    user = create_user(email, password, first_name=first_name, last_name=last_name, roles=("investor",),
                       terms_accepted=True)
    audit.record("auth.register", actor=user, target=user, after={"email": user.email})
    send_verification(user)
    from app.notifications.services import notify

    notify(user, "welcome", link=url_for("portal.dashboard", _external=True))
    return user


def send_verification(user: User) -> None:
    from app.notifications.services import notify

    if user.email_verified:
        raise Conflict("this e-mail address is already verified")
    token = links.make(links.VERIFY_EMAIL, {"uid": user.id, "email": user.email})
    notify(user, "verify_email", link=url_for("auth.verify_email", token=token, _external=True))


def verify_email(token: str) -> User:
    payload = links.read(links.VERIFY_EMAIL, token)
    user = db.session.get(User, payload.get("uid"))
    if user is None or user.email != payload.get("email"):
        raise links.LinkError("This link is not valid.")
    if not user.email_verified:
        user.email_verified = True
        user.email_verified_at = utcnow()
        db.session.flush()
        audit.record("auth.email_verified", actor=user, target=user, after={"email": user.email})
    return user


def require_verified(user: User) -> None:
    """Deposits, investments and withdrawals need a verified e-mail address."""
    if not user.email_verified:
        raise Forbidden("Verify your e-mail address before moving money.",
                        {"email": ["The e-mail address is not verified."]})


# sign-in ----------------------------------------------------------------------------------------------------------
@dataclass
class SignIn:
    user: User | None
    ok: bool
    reason: str  # ok | needs_2fa | bad_credentials | locked | blocked

    @property
    def message(self) -> str:
        if self.reason == "locked":
            return "Too many failed attempts: this account is locked for a while. Try again later or reset your password."
        return "The e-mail address or password is not correct."


def _record_attempt(email: str, user: User | None, *, success: bool, reason: str, channel: str) -> None:
    ip, agent = _client()
    db.session.add(LoginAttempt(user_id=user.id if user else None, email=normalize_email(email)[:254], ip=ip,
                                user_agent=agent, channel=channel, success=success, reason=reason))
    db.session.flush()


def is_locked(user: User, now: datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > (now or utcnow())


def register_failure(user: User, *, email: str, reason: str, channel: str) -> None:
    """Count a failed password or code; the tenth in a row locks the account, each further one doubles the lock."""
    cfg = current_app.config
    db.session.execute(update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1)
                       .execution_options(synchronize_session=False))
    db.session.refresh(user, ["failed_logins"])
    _record_attempt(email, user, success=False, reason=reason, channel=channel)
    if user.failed_logins >= cfg["LOCKOUT_THRESHOLD"]:
        from app.notifications.services import notify

        delay = min(cfg["LOCKOUT_BASE"] * 2 ** (user.failed_logins - cfg["LOCKOUT_THRESHOLD"]), cfg["LOCKOUT_MAX"])
        user.locked_until = utcnow() + delay
        db.session.flush()
        audit.record("auth.account_locked", actor=user, target=user,
                     after={"failed_logins": user.failed_logins, "locked_until": user.locked_until})
        until = user.locked_until.strftime("%Y-%m-%d %H:%M UTC")
        notify(user, "account_locked", failures=user.failed_logins, until=until)
        notify(None, "staff_account_locked", subject_email=user.email, failures=user.failed_logins, until=until)


def check_password(email: str, password: str, *, channel: str = "portal") -> SignIn:
    """First factor. Records the attempt; counts failures toward the lockout."""
    user = user_by_email(email)
    if user is not None and is_locked(user):
        passwords.verify(None, password)  # same cost as a real check
        _record_attempt(email, user, success=False, reason="locked", channel=channel)
        return SignIn(user, False, "locked")
    if not passwords.verify(user.password_hash if user else None, password):
        if user is None:
            _record_attempt(email, None, success=False, reason="unknown_email", channel=channel)
        else:
            register_failure(user, email=email, reason="bad_password", channel=channel)
            if is_locked(user):
                return SignIn(user, False, "locked")
        return SignIn(None, False, "bad_credentials")
    if user.status == USER_BLOCKED:
        _record_attempt(email, user, success=False, reason="blocked", channel=channel)
        return SignIn(None, False, "bad_credentials")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.totp_enabled:
        return SignIn(user, False, "needs_2fa")
    return SignIn(user, True, "ok")


def complete_sign_in(user: User, *, channel: str = "portal", method: str = "password") -> None:
    """Both factors passed: clear the failure count, note the time, record and audit the sign-in."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    db.session.flush()
    _record_attempt(user.email, user, success=True, reason="ok", channel=channel)
    audit.record("auth.login", actor=user, target=user, after={"channel": channel, "method": method})


def recent_sign_ins(user_id: int, limit: int = 20) -> list[LoginAttempt]:
    return db.session.scalars(select(LoginAttempt).where(LoginAttempt.user_id == user_id)
                              .order_by(LoginAttempt.id.desc()).limit(limit)).all()


# passwords --------------------------------------------------------------------------------------------------------
def request_password_reset(email: str) -> None:
    """Mail a reset link when the account exists and is active; say nothing either way."""
    from app.notifications.services import notify

    user = user_by_email(email)
    if user is None or user.status != USER_ACTIVE:
        return
    token = links.make(links.RESET_PASSWORD, {"uid": user.id, "pw": links.password_fingerprint(user.password_hash)})
    notify(user, "reset_password", link=url_for("auth.reset_password", token=token, _external=True))
    audit.record("auth.password_reset_requested", actor=user, target=user)


def user_for_reset(token: str) -> User:
    payload = links.read(links.RESET_PASSWORD, token)
    user = db.session.get(User, payload.get("uid"))
    if (user is None or user.status != USER_ACTIVE
            or not secrets.compare_digest(links.password_fingerprint(user.password_hash), payload.get("pw", ""))):
        raise links.LinkError("This link is not valid any more.")
    return user


def _set_password(user: User, new_password: str) -> None:
    passwords.check(new_password, email=user.email)
    if passwords.verify(user.password_hash, new_password):
        raise ValidationError("the password is not acceptable",
                              {"password": ["Choose a password different from the current one."]})
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utcnow()
    db.session.flush()


def reset_password(token: str, new_password: str) -> User:
    user = user_for_reset(token)
    _set_password(user, new_password)
    user.failed_logins = 0
    user.locked_until = None
    ended = end_other_sessions(user, reason="password reset", keep_id=None)
    audit.record("auth.password_reset", actor=user, target=user, after={"sessions_ended": ended})
    notify_security_change(user, "Your password was reset.")
    return user


def change_password(user: User, current_password: str, new_password: str, *, keep_session_id: int | None) -> None:
    if not passwords.verify(user.password_hash, current_password):
        raise ValidationError("the current password is not correct",
                              {"current_password": ["The current password is not correct."]})
    _set_password(user, new_password)
    ended = end_other_sessions(user, reason="password changed", keep_id=keep_session_id)
    audit.record("auth.password_changed", actor=user, target=user, after={"sessions_ended": ended})
    notify_security_change(user, "Your password was changed.")


def end_other_sessions(user: User, *, reason: str, keep_id: int | None) -> int:
    """End every other browser session and revoke every API token of the user."""
    ended = user_sessions.revoke_all(user.id, reason, keep_id=keep_id)
    revoke_all_tokens(user.id)
    return ended


def notify_security_change(user: User, what: str) -> None:
    """A security notice on every channel the user has: it cannot be turned off."""
    from app.notifications.services import notify

    ip, agent = _client()
    notify(user, "security_notice", what=what, ip=ip, user_agent=agent,
           when=utcnow().strftime("%Y-%m-%d %H:%M UTC"))


# staff actions ----------------------------------------------------------------------------------------------------
def _need_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why: it goes into the audit trail."]})
    return reason.strip()[:1000]


def _active_admins(excluding: int | None = None) -> int:
    query = (select(db.func.count(User.id)).join(User.roles)
             .where(Role.name == ADMIN, User.status == USER_ACTIVE))
    if excluding is not None:
        query = query.where(User.id != excluding)
    return db.session.scalar(query)


def block_user(user: User, *, actor: User, reason: str) -> None:
    reason = _need_reason(reason)
    if user.id == actor.id:
        raise Forbidden("you cannot block yourself")
    if user.status == USER_BLOCKED:
        raise IllegalTransition("this user is already blocked")
    if user.has_role(ADMIN) and _active_admins(excluding=user.id) == 0:
        raise Conflict("this is the last active admin: it cannot be blocked")
    user.status = USER_BLOCKED
    db.session.flush()
    ended = end_other_sessions(user, reason="blocked by staff", keep_id=None)
    audit.record("users.block", actor=actor, target=user, before={"status": USER_ACTIVE},
                 after={"status": USER_BLOCKED, "sessions_ended": ended}, reason=reason)


def unblock_user(user: User, *, actor: User, reason: str) -> None:
    reason = _need_reason(reason)
    if user.status != USER_BLOCKED:
        raise IllegalTransition("this user is not blocked")
    user.status = USER_ACTIVE
    user.failed_logins = 0
    user.locked_until = None
    db.session.flush()
    audit.record("users.unblock", actor=actor, target=user, before={"status": USER_BLOCKED},
                 after={"status": USER_ACTIVE}, reason=reason)


def staff_resend_verification(user: User, *, actor: User) -> None:
    send_verification(user)
    audit.record("users.resend_verification", actor=actor, target=user)


def set_roles(user: User, roles: set[str], *, actor: User, reason: str) -> None:
    """Replace the user's roles. Only roles the actor may grant can be added or removed; the last admin stays."""
    reason = _need_reason(reason)
    unknown = roles - set(ROLES)
    if unknown or not roles:
        raise ValidationError("pick at least one known role", {"roles": ["Pick at least one known role."]})
    before = set(user.role_names)
    changed = before ^ roles
    allowed = grantable_roles(actor)
    if not changed <= allowed:
        raise Forbidden(f"you may not grant or remove: {', '.join(sorted(changed - allowed))}")
    if ADMIN in before and ADMIN not in roles and _active_admins(excluding=user.id) == 0:
        raise Conflict("this is the last admin: the admin role cannot be removed")
    all_roles = ensure_roles()
    user.roles = [all_roles[r] for r in sorted(roles)]
    db.session.flush()
    if changed:
        end_other_sessions(user, reason="roles changed", keep_id=None)
    audit.record("roles.assign", actor=actor, target=user, before={"roles": sorted(before)},
                 after={"roles": sorted(roles)}, reason=reason)


# API tokens -------------------------------------------------------------------------------------------------------
def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(user: User, *, name: str = "api") -> tuple[str, ApiToken]:
    raw = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, token_hash=_token_hash(raw), name=name[:100],
                     expires_at=utcnow() + current_app.config["API_TOKEN_TTL"])
    db.session.add(token)
    db.session.flush()
    return raw, token


def token_for(raw: str, *, now: datetime | None = None) -> ApiToken | None:
    """The valid token for this raw bearer value, or None (unknown, expired, revoked, or its user blocked)."""
    if not raw or len(raw) > 200:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(raw)))
    if token is None or not token.is_valid(now or utcnow()) or not token.user.is_active:
        return None
    return token


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()


def revoke_all_tokens(user_id: int) -> int:
    return db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False)).rowcount


# Flask-Login ------------------------------------------------------------------------------------------------------
SESSION_KEY = "sid"


def current_session():
    """The UserSession record behind this request's login, if any."""
    return g.get("user_session")


def init_login(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        """A user is signed in only through a live server-side session record of theirs."""
        if not (user_id or "").isdigit():
            return None
        record = user_sessions.find_valid(session.get(SESSION_KEY))
        if record is None or record.user_id != int(user_id) or not record.user.is_active:
            return None
        if user_sessions.touch(record):
            db.session.commit()
        g.user_session = record
        return record.user
