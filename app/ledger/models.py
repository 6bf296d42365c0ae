"""Double-entry ledger: accounts, journal entries, postings, holds.

Sign convention: an account's balance is the sum of its postings. A user's wallet is credited with positive
postings, so its balance is what the user owns; the platform side of each entry carries the opposite sign.
Every entry's postings sum to zero, hence the whole ledger sums to zero.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import STATEMENT_CHECKED, IdMixin, UTCDateTime, utcnow
from app.extensions import Model

# account kinds
USER_WALLET = "user_wallet"
USER_HELD = "user_held"
GATEWAY_CLEARING = "gateway_clearing"
PROPERTY_ESCROW = "property_escrow"
RETURNS_FUNDING = "returns_funding"
FEE_REVENUE = "fee_revenue"
PAYOUTS_IN_TRANSIT = "payouts_in_transit"
ROUNDING = "rounding"
ADJUSTMENTS = "adjustments"
RECEIVABLES = "receivables"  # per user: what an investor owes after a refund of money already spent
# one per platform: money received in the platform's bank from properties' operators and sponsors to fund their
# distributions. A clearing account like a gateway's: it goes negative by what was received.
OPERATOR_FUNDING = "operator_funding"

USER_KINDS = (USER_WALLET, USER_HELD)
ACCOUNT_KINDS = (
    USER_WALLET, USER_HELD, GATEWAY_CLEARING, PROPERTY_ESCROW, RETURNS_FUNDING, FEE_REVENUE,
    PAYOUTS_IN_TRANSIT, ROUNDING, ADJUSTMENTS, RECEIVABLES, OPERATOR_FUNDING,
)
# platform accounts that may never go below zero, like a wallet: a property's distributions account pays only what
# was funded into it (the CHECK on balances and the conditional balance UPDATE hold it)
NO_OVERDRAFT_KINDS = (RETURNS_FUNDING,)

HOLD_PENDING = "pending"
HOLD_SETTLED = "settled"
HOLD_RELEASED = "released"


class Account(IdMixin, Model):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("allow_negative OR balance >= 0", name="balance_not_negative"),
        CheckConstraint("(user_id IS NULL) = (kind NOT IN ('user_wallet', 'user_held'))", name="user_accounts_owned"),
        # half of each page left free: moving a balance (no indexed column changes) is then a heap-only update,
        # with no new index entries (a distribution run moves a wallet balance per investor)
        {"postgresql_with": {"fillfactor": 50}},
    )

    code: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    ref: Mapped[str | None] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    allow_negative: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    user = relationship("User", lazy="select")

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """The name as shown to staff. A user's accounts carry no personal data in their stored name
        ("wallet:user:<id>"): the owner is read from the user when shown (a closed account's reads as closed)."""
        if self.kind in USER_KINDS and self.user is not None:
            return f"{'Wallet' if self.kind == USER_WALLET else 'Held'} of {self.user.email}"
        return self.name


class JournalEntry(IdMixin, Model):
    """One balanced movement of money; never edited or deleted (a mistake is reversed by a new entry)."""

    __tablename__ = "ledger_entries"

    kind: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    memo: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
    # the day the entry counts for in the books (trial balances, closed months): the day it is posted, or an
    # earlier day for an operation made "as of" it; never on or before a closed month's end (app.ledger.periods).
    # The database's default serves a raw INSERT that names no day.
    effective_date: Mapped[date] = mapped_column(Date, nullable=False, index=True, default=lambda: utcnow().date(),
                                                 server_default=text("CURRENT_DATE"))

    postings: Mapped[list[Posting]] = relationship(
        back_populates="entry", lazy="selectin", order_by="Posting.id"
    )
    actor = relationship("User", lazy="select")
    reverses = relationship("JournalEntry", remote_side="JournalEntry.id", lazy="select")

    def __str__(self) -> str:
        return f"#{self.id} {self.kind}"


class Posting(IdMixin, Model):
    """One line of a journal entry. On PostgreSQL its references are checked once per INSERT statement, over all
    its rows, by a trigger (migration 0011) rather than by foreign-key constraints, row by row: the keys below are
    marked so (docs/decisions/0001-statement-level-ledger-guards.md)."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_postings_account_id_id", "account_id", "id"),
    )

    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id", info={STATEMENT_CHECKED: True}),
                                          nullable=False, index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id", info={STATEMENT_CHECKED: True}),
                                            nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")
    account: Mapped[Account] = relationship(lazy="joined")


class Hold(IdMixin, Model):
    """Money moved from a user's wallet to their held account, awaiting one resolution: settle or release."""

    __tablename__ = "ledger_holds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status in ('pending', 'settled', 'released')", name="status_valid"),
        UniqueConstraint("hold_entry_id", name="uq_ledger_holds_hold_entry_id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=HOLD_PENDING, index=True)
    memo: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    hold_entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), nullable=False)
    resolution_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    hold_entry = relationship(JournalEntry, foreign_keys=[hold_entry_id], lazy="select")
    resolution_entry = relationship(JournalEntry, foreign_keys=[resolution_entry_id], lazy="select")
