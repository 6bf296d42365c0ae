"""Users, roles and API tokens."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString
from app.core.db import IdMixin, TimestampMixin, UTCDateTime, utcnow
from app.core.security import BLOCK_SECURITY, STAFF_ROLES
from app.extensions import Model, db

USER_ACTIVE = "active"
USER_BLOCKED = "blocked"
USER_CLOSED = "closed"  # closed by its owner or by staff on request: personal data erased, no sign-in

user_roles = Table(
    "user_roles",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Role(IdMixin, Model):
    __tablename__ = "roles"
    name: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(200), default="", nullable=False)

    def __str__(self) -> str:
        return self.name


class User(IdMixin, TimestampMixin, Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint("status in ('active', 'blocked', 'closed')", name="status_valid"),
        CheckConstraint("block_category IS NULL OR block_category in ('compliance', 'security', 'request')",
                        name="block_category_valid"),
        Index("ix_users_created_at", "created_at"),  # the dashboard's new investors by week
    )

    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    first_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    last_name: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=USER_ACTIVE)
    # why a blocked account is blocked (app.core.security.BLOCK_CATEGORIES): it decides who may lift the block
    block_category: Mapped[str | None] = mapped_column(String(16))
    email_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    terms_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # brute force across every source address (app/auth/lockout.py): failures in the window that began at
    # failures_since, and the end of the account-wide lock (accounts without 2FA only)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    phone_number: Mapped[str | None] = mapped_column(EncryptedString())  # E.164, for SMS notices
    # when the number above was proven by a code sent to it; SMS goes only to a verified number
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the language the investor chose (app.config LANGUAGES); None: the browser's Accept-Language decides
    locale: Mapped[str | None] = mapped_column(String(8))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when the account was closed (app.account)
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString())
    totp_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin", order_by=Role.name)

    # Flask-Login ------------------------------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status == USER_ACTIVE

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    # roles ------------------------------------------------------------------------------------------------------
    @property
    def role_names(self) -> set[str]:
        return {r.name for r in self.roles}

    def has_role(self, name: str) -> bool:
        return name in self.role_names

    def has_any_role(self, *names: str) -> bool:
        return bool(self.role_names.intersection(names))

    @property
    def is_staff(self) -> bool:
        return bool(self.role_names & STAFF_ROLES)

    @property
    def blocked_as(self) -> str | None:
        """The category of the block, None when active; a block without one counts as a security block."""
        if self.status != USER_BLOCKED:
            return None
        return self.block_category or BLOCK_SECURITY

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def __str__(self) -> str:
        return self.email


class ApiToken(IdMixin, Model):
    """A bearer token: only its SHA-256 is stored; it expires and can be revoked."""

    __tablename__ = "api_tokens"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False, default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # issued to a staff member (with their one-time code): it acts with their current permissions, lives
    # STAFF_API_TOKEN_TTL_HOURS, and never moves money (app.api.auth)
    staff: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())

    user: Mapped[User] = relationship(lazy="joined")

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now




class UserSession(IdMixin, Model):
    """A signed-in browser session. The cookie carries a random id; only its SHA-256 is stored here."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id_revoked_at", "user_id", "revoked_at"),)

    sid_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    remember: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    mfa_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(100))

    user: Mapped[User] = relationship(lazy="joined")


class LoginAttempt(IdMixin, Model):
    """Every sign-in attempt, successful or not, through the portal or the API."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_user_id_created_at", "user_id", "created_at"),
        Index("ix_login_attempts_ip_created_at", "ip", "created_at"),
    )

    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    email: Mapped[str] = mapped_column(String(254), nullable=False, index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(10), nullable=False, default="portal")
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)

    user = relationship(User, lazy="select")


class RecoveryCode(IdMixin, Model):
    """A single-use two-factor recovery code; only a keyed hash of it is stored (app/auth/recovery.py)."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    code_hash: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


STAFF_REQUEST_RESET_2FA = "reset_2fa"
STAFF_REQUEST_UNBLOCK = "unblock"
STAFF_REQUEST_ACTIONS = (STAFF_REQUEST_RESET_2FA, STAFF_REQUEST_UNBLOCK)
STAFF_REQUEST_PENDING = "pending"
STAFF_REQUEST_APPROVED = "approved"
STAFF_REQUEST_REJECTED = "rejected"
STAFF_REQUEST_CANCELLED = "cancelled"
STAFF_REQUEST_TRANSITIONS = {
    STAFF_REQUEST_PENDING: (STAFF_REQUEST_APPROVED, STAFF_REQUEST_REJECTED, STAFF_REQUEST_CANCELLED),
}


class StaffActionRequest(IdMixin, TimestampMixin, Model):
    """A change to a staff account that takes a second admin (maker-checker): one admin proposes it with a reason,
    a different admin approves it (and only then is it applied) or rejects it; the proposer may cancel it. Nobody
    proposes or decides about their own account. One pending request per account and action."""

    __tablename__ = "staff_action_requests"
    __table_args__ = (
        CheckConstraint("action in ('reset_2fa', 'unblock')", name="action_valid"),
        CheckConstraint("status in ('pending', 'approved', 'rejected', 'cancelled')", name="status_valid"),
        CheckConstraint("proposer_id <> target_id", name="not_about_the_proposer"),
        CheckConstraint("decided_by_id IS NULL OR decided_by_id <> target_id", name="not_decided_by_the_target"),
        CheckConstraint("status <> 'approved' OR decided_by_id <> proposer_id", name="two_different_admins"),
        Index("ix_staff_action_requests_one_pending", "target_id", "action", unique=True,
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
    )

    action: Mapped[str] = mapped_column(String(16), nullable=False)
    target_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    proposer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=STAFF_REQUEST_PENDING, index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)

    target: Mapped[User] = relationship(foreign_keys=[target_id], lazy="joined")
    proposer: Mapped[User] = relationship(foreign_keys=[proposer_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")

    @property
    def label(self) -> str:
        return "reset two-factor authentication" if self.action == STAFF_REQUEST_RESET_2FA else "unblock"


class SigninFailure(IdMixin, Model):
    """Failed sign-ins in a row against one account from one source address, and that source's lock: an attacker
    locks out only the address they try from, never the owner elsewhere (app/auth/lockout.py)."""

    __tablename__ = "signin_failures"
    __table_args__ = (UniqueConstraint("user_id", "source"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    source: Mapped[str] = mapped_column(String(64), nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


SOCIAL_PROVIDERS = ("google", "github")


class SocialIdentity(IdMixin, Model):
    """An account at Google or GitHub its owner linked, from a signed-in session, to sign in with
    (app/auth/social.py). `subject` is the provider's stable id of that account (OpenID `sub`, GitHub's numeric
    id), never the e-mail, which can change hands. One identity per provider per user; an identity belongs to one
    user."""

    __tablename__ = "social_identities"
    __table_args__ = (
        UniqueConstraint("provider", "subject"),
        UniqueConstraint("user_id", "provider"),
        CheckConstraint("provider in ('google', 'github')", name="provider_valid"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))  # the address the provider showed when last used
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship(User, lazy="select")


class EmailChange(IdMixin, Model):
    """A request to move the account to a new e-mail address, confirmed by a signed, expiring, single-use link sent
    to that address (app/auth/email_changes.py). The link carries a random nonce of which only a hash is kept here:
    issuing a new link, confirming or cancelling spends the old one. One open request per user."""

    __tablename__ = "email_changes"
    __table_args__ = (
        Index("ix_email_changes_one_open", "user_id", unique=True,
              postgresql_where=text("confirmed_at IS NULL AND cancelled_at IS NULL"),
              sqlite_where=text("confirmed_at IS NULL AND cancelled_at IS NULL")),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    new_email: Mapped[str] = mapped_column(String(254), nullable=False)
    nonce_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def is_open(self, now: datetime) -> bool:
        return self.confirmed_at is None and self.cancelled_at is None and self.expires_at > now
