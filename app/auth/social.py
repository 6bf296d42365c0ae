"""Social sign-in's rules: which providers are on, linking and unlinking an identity, and signing in with one.

An identity (a provider's stable subject id) is linked only by its signed-in owner, never found by e-mail: an
address at Google or GitHub says nothing about who owns an account here. Signing in with a linked identity is a
first factor like the password: the same refusals (locked, blocked or closed accounts), the same second step when
2FA is on, the same record of the attempt, and the same completed sign-in (app/auth/signin.py). Staff accounts never
use it: their sign-in stays the password and the code. What the provider proved (app/auth/social_oauth.py) reaches
here as a ProviderIdentity."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.auth import passwords
from app.auth.models import SOCIAL_PROVIDERS, SocialIdentity, User
from app.auth.security_changes import notify_security_change
from app.auth.signin import is_locked, record_attempt
from app.core import audit
from app.core.db import utcnow
from app.core.errors import DomainError
from app.extensions import db

PROVIDER_NAMES = {"google": "Google", "github": "GitHub"}
_KEYS = {"google": ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"),
         "github": ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")}


@dataclass(frozen=True)
class ProviderIdentity:
    """What a provider proved about the person at its end: who (subject) and the address it showed."""

    provider: str
    subject: str
    email: str | None = None


class SocialRefusal(DomainError):
    """A link, an unlink or a social sign-in refused; `code` names why (the face words it for the user)."""

    status = 409

    def __init__(self, code: str, message: str, errors: dict[str, Any] | None = None):
        super().__init__(message, errors)
        self.code = code


def is_enabled(provider: str, config: Mapping[str, Any]) -> bool:
    """A provider is on only with both its client id and its secret set."""
    keys = _KEYS.get(provider)
    return keys is not None and all(config.get(key) for key in keys)


def enabled_providers(config: Mapping[str, Any]) -> list[str]:
    return [provider for provider in SOCIAL_PROVIDERS if is_enabled(provider, config)]


def identities_for(user_id: int) -> Sequence[SocialIdentity]:
    return db.session.scalars(select(SocialIdentity).where(SocialIdentity.user_id == user_id)
                              .order_by(SocialIdentity.provider)).all()


def identity_of(user_id: int, provider: str) -> SocialIdentity | None:
    return db.session.scalar(select(SocialIdentity).where(SocialIdentity.user_id == user_id,
                                                          SocialIdentity.provider == provider))


def _find(provider: str, subject: str) -> SocialIdentity | None:
    return db.session.scalar(select(SocialIdentity).where(SocialIdentity.provider == provider,
                                                          SocialIdentity.subject == subject))


def _require_investor(user: User) -> None:
    if user.is_staff:
        raise SocialRefusal("staff", "staff accounts sign in with their password and code only")


def link(user: User, seen: ProviderIdentity) -> SocialIdentity:
    """Link the identity the provider just proved to the signed-in `user`. Refused for staff, for an identity
    already linked to another account, and when the user already has another identity at that provider."""
    _require_investor(user)
    existing = _find(seen.provider, seen.subject)
    if existing is not None and existing.user_id != user.id:
        raise SocialRefusal("linked_elsewhere", "that identity is linked to another account")
    if existing is not None:  # linked already, to this very account
        existing.email, existing.last_used_at = seen.email, utcnow()
        db.session.flush()
        return existing
    if identity_of(user.id, seen.provider) is not None:
        raise SocialRefusal("one_per_provider", "another identity at that provider is linked; unlink it first")
    identity = SocialIdentity(user_id=user.id, provider=seen.provider, subject=seen.subject[:255],
                              email=(seen.email or None) and seen.email[:254])
    try:
        with db.session.begin_nested():  # a link racing this one for the same identity or provider
            db.session.add(identity)
            db.session.flush()
    except IntegrityError:
        raise SocialRefusal("linked_elsewhere", "that identity is linked to another account") from None
    audit.record("auth.social_linked", actor=user, target=user,
                 after={"provider": seen.provider, "subject": identity.subject, "email": identity.email})
    notify_security_change(user, f"A {PROVIDER_NAMES[seen.provider]} account was connected for signing in.")
    return identity


def unlink(user: User, provider: str, password: str) -> None:
    """Remove the user's identity at `provider`: the password must be re-entered (so the account keeps a way in
    that is its owner's own)."""
    identity = identity_of(user.id, provider)
    if identity is None:
        raise SocialRefusal("not_linked", "no identity of that provider is linked")
    if not user.password_hash:  # every account has one today; one without could not be entered again
        raise SocialRefusal("no_password", "the account has no password: set one before disconnecting")
    if not passwords.verify(user.password_hash, password or ""):
        raise SocialRefusal("bad_password", "the password is not correct",
                            {"password": ["The password is not correct."]})
    audit.record("auth.social_unlinked", actor=user, target=user,
                 before={"provider": provider, "subject": identity.subject, "email": identity.email})
    db.session.delete(identity)
    db.session.flush()
    notify_security_change(user, f"A {PROVIDER_NAMES[provider]} account was disconnected from signing in.")


def record_link_refusal(user: User, provider: str) -> None:
    """Audit a link refused because the identity belongs to another account (in its own transaction: the refused
    link's was rolled back)."""
    audit.record("auth.social_link_refused", actor=user, target=user,
                 after={"provider": provider, "why": "linked to another account"})


def record_unlink_refusal(user: User, provider: str) -> None:
    """Audit an unlink refused for a wrong password (in its own transaction, as above)."""
    audit.record("auth.social_unlink_refused", actor=user, target=user,
                 after={"provider": provider, "why": "wrong password"})


@dataclass
class SocialSignIn:
    user: User | None
    ok: bool
    reason: str  # ok | needs_2fa | unknown | locked | blocked | staff


def sign_in(seen: ProviderIdentity, *, channel: str = "portal") -> SocialSignIn:
    """First factor by a linked identity. Records the attempt; a refused one counts toward no lockout (nothing was
    guessed), a locked account stays locked. The caller completes the sign-in (or asks for the code)."""
    identity = _find(seen.provider, seen.subject)
    if identity is None:
        record_attempt(seen.email or f"{seen.provider}:{seen.subject}", None, success=False,
                       reason=f"unknown_{seen.provider}", channel=channel)
        return SocialSignIn(None, False, "unknown")
    user = identity.user
    if is_locked(user):
        record_attempt(user.email, user, success=False, reason="locked", channel=channel)
        return SocialSignIn(user, False, "locked")
    if not user.is_active:
        record_attempt(user.email, user, success=False, reason="blocked", channel=channel)
        return SocialSignIn(None, False, "blocked")
    if user.is_staff:
        record_attempt(user.email, user, success=False, reason=f"staff_{seen.provider}", channel=channel)
        audit.record("auth.social_sign_in_refused", actor=user, target=user,
                     after={"provider": seen.provider, "why": "staff account"})
        return SocialSignIn(None, False, "staff")
    identity.last_used_at = utcnow()
    if seen.email:
        identity.email = seen.email[:254]
    db.session.flush()
    if user.totp_enabled:
        return SocialSignIn(user, False, "needs_2fa")
    return SocialSignIn(user, True, "ok")
