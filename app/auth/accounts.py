"""Accounts: creation (staff, command line, demo data), self-service registration, e-mail verification.
Registration answers the same whether or not the address already has an account: its owner is mailed instead, so
the sign-up form cannot tell anyone which addresses are customers. Services flush and never commit; every security
event is audited."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

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


def _checked(email: str, password: str, *, first_name: str, last_name: str, roles: tuple[str, ...]) -> str:
    """The account details checked as for a new account; returns the normalized address."""
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
    return email


def create_user(email: str, password: str, *, first_name: str = "", last_name: str = "",
                roles: tuple[str, ...] = ("investor",), verified: bool = False,
                terms_accepted: bool = False) -> User:
    email = _checked(email, password, first_name=first_name, last_name=last_name, roles=roles)
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


def register(email: str, password: str, *, first_name: str, last_name: str, terms_accepted: bool) -> str:
    """Self-service sign-up of an investor. A new address gets its account at once, unverified, and a link that
    verifies it and signs in; an address that already has an account changes nothing, and its owner is told
    someone tried. Both take the same steps' time (a password is hashed either way) and return only the
    normalized address, so the caller answers both alike."""
    errors = {}
    if not terms_accepted:
        errors["accept_terms"] = ["You must accept the terms to open an account."]
    if not (first_name or "").strip():
        errors["first_name"] = ["Required."]
    if not (last_name or "").strip():
        errors["last_name"] = ["Required."]
    if errors:
        raise ValidationError("the account details are not valid", errors)
    email = _checked(email, password, first_name=first_name, last_name=last_name, roles=("investor",))
    existing = user_by_email(email)
    if existing is None:
        try:
            with db.session.begin_nested():  # a registration of the same address at the same moment wins
                user = create_user(email, password, first_name=first_name, last_name=last_name,
                                   roles=("investor",), terms_accepted=True)
        except IntegrityError:
            existing = user_by_email(email)
            if existing is None:
                raise
        else:
            audit.record("auth.register", actor=user, target=user, after={"email": user.email})
            send_verification(user)
            signals.user_registered.send(user)
            return email
    passwords.hash_password(password)  # the work a new account costs, so the time taken does not tell
    audit.record("auth.register_existing", actor=None, target=existing, after={"email": email})
    signals.registration_attempted.send(existing)
    return email


def send_verification(user: User) -> None:
    if user.email_verified:
        raise Conflict("this e-mail address is already verified")
    token = links.make(links.VERIFY_EMAIL, {"uid": user.id, "email": user.email})
    signals.verification_requested.send(user, token=token)


@dataclass(frozen=True)
class Verified:
    user: User
    first_use: bool  # this opening of the link is the one that verified the address


def verify_email(token: str) -> Verified:
    """Mark the address verified. Exactly one opening of a link (the one whose conditional update matched) is the
    first use: only that one may sign anyone in; the link opened again verifies nothing and signs in nobody."""
    payload = links.read(links.VERIFY_EMAIL, token)
    user = db.session.get(User, payload.get("uid"))
    if user is None or user.email != payload.get("email"):
        raise links.LinkError("This link is not valid.")
    now = utcnow()
    claimed = cast("CursorResult[Any]", db.session.execute(
        update(User).where(User.id == user.id, User.email == payload.get("email"), User.email_verified.is_(False))
        .values(email_verified=True, email_verified_at=now).execution_options(synchronize_session=False)
    )).rowcount
    db.session.refresh(user, ["email_verified", "email_verified_at"])
    if claimed == 1:
        audit.record("auth.email_verified", actor=user, target=user, after={"email": user.email})
    return Verified(user, claimed == 1)


def require_verified(user: User) -> None:
    """Deposits, investments and withdrawals need a verified e-mail address."""
    if not user.email_verified:
        raise Forbidden("Verify your e-mail address before moving money.",
                        {"email": ["The e-mail address is not verified."]})
