"""Accounts: creation (staff, command line, demo data), self-service registration, e-mail verification.
Services flush and never commit; every security event is audited."""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from app.auth import links, passwords, signals
from app.auth.models import USER_ACTIVE, Role, User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, ValidationError
from app.core.security import ROLES
from app.extensions import db
from app.ledger.services import open_user_accounts


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


def create_user(email: str, password: str, *, first_name: str = "", last_name: str = "",
                roles: tuple[str, ...] = ("investor",), verified: bool = False,
                terms_accepted: bool = False) -> User:
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
    signals.user_registered.send(user)
    return user


def send_verification(user: User) -> None:
    if user.email_verified:
        raise Conflict("this e-mail address is already verified")
    signals.verification_requested.send(user, token=links.verification_token(user))


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
