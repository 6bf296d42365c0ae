"""Users, passwords, roles and API tokens. Services flush and never commit."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app
from sqlalchemy import select, update

from app.auth import totp
from app.auth.models import USER_ACTIVE, ApiToken, Role, User
from app.core.db import utcnow
from app.core.errors import Conflict, ValidationError
from app.core.security import ROLES
from app.extensions import db, login_manager

MIN_PASSWORD = 12
MAX_PASSWORD = 128
# compared against when the e-mail is unknown, so both paths cost one hash
_DUMMY_HASH: dict[str, str] = {}


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_COST"],
                          parallelism=cfg["ARGON2_PARALLELISM"])


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
        raise ValidationError("the password is not acceptable",
                              {"password": [f"Use {MIN_PASSWORD} to {MAX_PASSWORD} characters."]})


def ensure_roles() -> dict[str, Role]:
    existing = {r.name: r for r in db.session.scalars(select(Role))}
    for name in ROLES:
        if name not in existing:
            existing[name] = Role(name=name, description=name.replace("_", " ").title())
            db.session.add(existing[name])
    db.session.flush()
    return existing


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def create_user(email: str, password: str, *, first_name: str = "", last_name: str = "",
                roles: tuple[str, ...] = ("investor",), verified: bool = False) -> User:
    from email_validator import EmailNotValidError, validate_email

    try:
        email = validate_email(normalize_email(email), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError("the e-mail address is not valid", {"email": [str(exc)]}) from None
    check_password_rules(password)
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValidationError("unknown role", {"role": [f"Unknown role(s): {', '.join(sorted(unknown))}."]})
    if user_by_email(email) is not None:
        raise Conflict("an account with this e-mail address already exists",
                       {"email": ["An account with this e-mail address already exists."]})
    all_roles = ensure_roles()
    now = utcnow()
    user = User(email=email, first_name=first_name.strip(), last_name=last_name.strip(),
                password_hash=hash_password(password), status=USER_ACTIVE, email_verified=verified,
                email_verified_at=now if verified else None,
                roles=[all_roles[r] for r in roles])
    db.session.add(user)
    db.session.flush()
    from app.ledger.services import open_user_accounts

    open_user_accounts(user)
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None. Costs one hash whether or not the user exists."""
    user = user_by_email(email)
    hasher = _hasher()
    if user is None:
        key = repr(hasher)
        if key not in _DUMMY_HASH:
            _DUMMY_HASH[key] = hasher.hash(secrets.token_hex(16))
        try:
            hasher.verify(_DUMMY_HASH[key], password or "")
        except VerificationError:
            pass
        return None
    try:
        hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if not user.is_active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def verify_totp(user: User, code: str) -> bool:
    """Accept a TOTP code once: the accepted time step is stored (conditional UPDATE, so two requests with the
    same code cannot both pass)."""
    if not (user.totp_enabled and user.totp_secret):
        return False
    step = totp.accepted_step(user.totp_secret, code, user.totp_last_step)
    if step is None:
        return False
    claimed = db.session.execute(
        update(User).where(User.id == user.id)
        .where((User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(user, ["totp_last_step"])
    return claimed == 1


def enable_totp(user: User, secret: str) -> None:
    user.totp_secret = secret
    user.totp_enabled = True
    db.session.flush()


def record_login(user: User) -> None:
    user.last_login_at = utcnow()
    db.session.flush()


# API tokens -----------------------------------------------------------------------------------------------------
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


# Flask-Login ----------------------------------------------------------------------------------------------------
def init_login(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str):
        if not (session_id or "").isdigit():
            return None
        user = db.session.get(User, int(session_id))
        if user is None or not user.is_active:
            return None
        return user
