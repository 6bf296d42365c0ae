"""Closed months of the ledger: each close with the trial balance it froze, the proposals to reopen one, and the
one row the database's guard of journal entries reads (the last day of the latest month closed)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model

REOPEN_PENDING = "pending"
REOPEN_APPROVED = "approved"
REOPEN_REFUSED = "refused"


class ClosedThrough(Model):
    """At most one row (id 1): no journal entry may carry an effective date on or before `through`. Read by the
    trigger on ledger_entries, written only by a close or an approved reopening."""

    __tablename__ = "ledger_closed_through"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    through: Mapped[date | None] = mapped_column(Date)


class PeriodClose(IdMixin, Model):
    """One close of one month; `reopened_at` set when a reopening was approved (kept, with its trial balance, for
    history). At most one close of a month is in force."""

    __tablename__ = "ledger_period_closes"
    __table_args__ = (
        CheckConstraint("month_end >= month_start", name="month_valid"),
        Index("uq_ledger_period_closes_month_in_force", "month_start", unique=True,
              postgresql_where="reopened_at IS NULL", sqlite_where="reopened_at IS NULL"),
    )

    month_start: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    month_end: Mapped[date] = mapped_column(Date, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    closed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    entries: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    closed_by = relationship("User", lazy="select")
    lines: Mapped[list[TrialBalanceLine]] = relationship(back_populates="close", lazy="select",
                                                          order_by="TrialBalanceLine.account_id")

    @property
    def label(self) -> str:
        return self.month_start.strftime("%Y-%m")


class TrialBalanceLine(IdMixin, Model):
    """The balance of one account as of a closed month's end (the sum of the postings of entries dated on or
    before it), frozen by the close."""

    __tablename__ = "ledger_trial_balance_lines"
    __table_args__ = (UniqueConstraint("close_id", "account_id", name="uq_ledger_trial_balance_lines_close_account"),)

    close_id: Mapped[int] = mapped_column(ForeignKey("ledger_period_closes.id"), nullable=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), nullable=False)
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False)

    close: Mapped[PeriodClose] = relationship(back_populates="lines")
    account = relationship("Account", lazy="joined")


class PeriodReopen(IdMixin, Model):
    """A proposal to reopen a closed month: one admin proposes with a reason, a different admin approves."""

    __tablename__ = "ledger_period_reopens"
    __table_args__ = (
        CheckConstraint("status in ('pending', 'approved', 'refused')", name="status_valid"),
        Index("uq_ledger_period_reopens_close_pending", "close_id", unique=True,
              postgresql_where="status = 'pending'", sqlite_where="status = 'pending'"),
    )

    close_id: Mapped[int] = mapped_column(ForeignKey("ledger_period_closes.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=REOPEN_PENDING)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)

    close: Mapped[PeriodClose] = relationship(lazy="joined")
    proposed_by = relationship("User", foreign_keys=[proposed_by_id], lazy="select")
    decided_by = relationship("User", foreign_keys=[decided_by_id], lazy="select")
