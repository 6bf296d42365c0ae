"""Investments, their installment plans, the return calendar, paid returns, distribution runs and declared
distributions. The allowed status transitions of each live here, in one place."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
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

from app.core.db import STATEMENT_CHECKED, IdMixin, TimestampMixin, UTCDateTime, utcnow
from app.extensions import Model

# investment states -----------------------------------------------------------------------------------------------
PAYING = "paying"          # installments still due; no returns yet
ACTIVE = "active"          # fully paid; earning returns
COMPLETED = "completed"    # every return period paid (and the capital back when the terms say so)
CANCELLED = "cancelled"    # the property was cancelled: refunded in full
DEFAULTED = "defaulted"    # installments unpaid past the default period: cancelled by finance, paid part refunded
SOLD = "sold"              # every unit sold on the market: amount 0; periods due before the sale still paid to it
INVESTMENT_STATUSES = (PAYING, ACTIVE, COMPLETED, CANCELLED, DEFAULTED, SOLD)
LIVE = (PAYING, ACTIVE)    # count towards the property's raised amount
INVESTMENT_TRANSITIONS = {
    PAYING: {ACTIVE, CANCELLED, DEFAULTED},
    ACTIVE: {COMPLETED, CANCELLED, SOLD},
    COMPLETED: set(),
    SOLD: set(),
    CANCELLED: set(),
    DEFAULTED: set(),
}

# how a holding was acquired
ACQUIRED_OFFERING, ACQUIRED_TRADE = "offering", "trade"

# installment states
DUE, PAID, VOID = "due", "paid", "void"

# distribution runs
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"

# declared distributions
DRAFT, APPROVED, DIST_PAID, DISCARDED = "draft", "approved", "paid", "discarded"
DECLARED_TRANSITIONS = {
    DRAFT: {APPROVED, DISCARDED},
    APPROVED: {DIST_PAID, DISCARDED},
    DIST_PAID: set(),
    DISCARDED: set(),
}
BASIS_PAID, BASIS_DAYS = "paid_amount", "days_held"


class Investment(IdMixin, TimestampMixin, Model):
    __tablename__ = "investments"
    __table_args__ = (
        CheckConstraint("amount > 0 OR (amount = 0 AND status = 'sold')", name="amount_positive"),
        CheckConstraint("paid_amount >= 0 AND paid_amount <= amount", name="paid_within_amount"),
        CheckConstraint("escrow_amount >= 0 AND escrow_amount <= paid_amount", name="escrow_within_paid"),
        CheckConstraint("status in ('paying', 'active', 'completed', 'cancelled', 'defaulted', 'sold')",
                        name="status_valid"),
        CheckConstraint("units >= 0 AND units_listed >= 0 AND units_listed <= units", name="units_listed_within"),
        CheckConstraint("acquired_by in ('offering', 'trade')", name="acquired_by_valid"),
        Index("ix_investments_property_id_status", "property_id", "status"),
        Index("ix_investments_user_id_created_at", "user_id", "created_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)          # committed (all installments)
    paid_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    escrow_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # paid, still in escrow
    fees_paid: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # late fees charged
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=PAYING, index=True)
    invested_on: Mapped[date] = mapped_column(Date, index=True, nullable=False)
    return_anchor: Mapped[date | None] = mapped_column(Date)  # returns count from here (None: not known yet)
    # the offering documents acknowledged before investing
    documents_version: Mapped[str] = mapped_column(String(64), nullable=False)
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    acknowledged_ip: Mapped[str | None] = mapped_column(String(64))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str | None] = mapped_column(String(500))
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # units of the offering's unit price this holding owns (paid_amount // unit price) and how many of them are
    # reserved by an open market listing; `acquired_by` says whether it came from the offering or a trade, and a
    # traded holding keeps what its buyer paid (price + fee) in `cost_amount` for statements
    units: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    units_listed: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    acquired_by: Mapped[str] = mapped_column(String(10), nullable=False, default=ACQUIRED_OFFERING)
    cost_amount: Mapped[int | None] = mapped_column(BigInteger)

    user = relationship("User", lazy="select")
    property = relationship("Property", lazy="select")
    installments: Mapped[list[Installment]] = relationship(
        back_populates="investment", lazy="selectin", order_by="Installment.index")

    def __str__(self) -> str:
        return f"Investment #{self.id}"


class Installment(IdMixin, Model):
    __tablename__ = "investment_installments"
    __table_args__ = (
        UniqueConstraint("investment_id", "index", name="uq_investment_installments_investment_id_index"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status in ('due', 'paid', 'void')", name="status_valid"),
        Index("ix_investment_installments_status_due_on", "status", "due_on"),
    )

    investment_id: Mapped[int] = mapped_column(ForeignKey("investments.id"), nullable=False)
    index: Mapped[int] = mapped_column(Integer, nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default=DUE)
    late_fee: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # charged when paid late
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    reminded_before_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_after_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    investment: Mapped[Investment] = relationship(back_populates="installments")


class ScheduledReturn(IdMixin, Model):
    """The periods of an investment's return calendar still to pay, computed by investing.schedule when its anchor
    is known. A distribution run deletes the row it pays, in the transaction that inserts its ReturnPayment: the
    whole calendar is the payments plus these rows (portfolio.calendar)."""

    __tablename__ = "return_schedule"
    __table_args__ = (
        UniqueConstraint("investment_id", "period_index", name="uq_return_schedule_investment_id_period_index"),
        CheckConstraint("amount >= 0 AND capital >= 0", name="amounts_not_negative"),
        # a portfolio's next return date and amount: a user's unpaid periods, soonest first
        Index("ix_return_schedule_user_id_due_on", "user_id", "due_on"),
    )

    investment_id: Mapped[int] = mapped_column(ForeignKey("investments.id"), nullable=False)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    period_index: Mapped[int] = mapped_column(Integer, nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    capital: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    last: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ReturnPayment(IdMixin, Model):
    """A return period paid to an investor. UNIQUE(investment, period): a second, concurrent or retried run
    cannot pay the same period twice. The investor and the property are the investment's (reached through it:
    a distribution run writes a million of these, and every extra index or foreign key is paid per row). A period
    that moved no money (zero return, no capital) has no journal entry.

    On PostgreSQL the references of this table are checked once per INSERT statement by a trigger rather than
    row by row by foreign keys (migration 0011; ledger_postings likewise): the keys below are marked so
    (app.core.db.STATEMENT_CHECKED)."""

    __tablename__ = "return_payments"
    __table_args__ = (
        UniqueConstraint("investment_id", "period_index", name="uq_return_payments_investment_id_period_index"),
    )

    investment_id: Mapped[int] = mapped_column(ForeignKey("investments.id", info={STATEMENT_CHECKED: True}),
                                               nullable=False)
    period_index: Mapped[int] = mapped_column(Integer, nullable=False)
    due_on: Mapped[date] = mapped_column(Date, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    capital: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("distribution_runs.id", info={STATEMENT_CHECKED: True}))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id", info={STATEMENT_CHECKED: True}))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class DistributionRun(IdMixin, Model):
    __tablename__ = "distribution_runs"
    __table_args__ = (CheckConstraint("status in ('running', 'succeeded', 'failed')", name="status_valid"),)

    as_of: Mapped[date] = mapped_column(Date, nullable=False)
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)  # beat | cli | console
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=RUNNING, index=True)
    payments: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # the calendar rows the run set out to pay (its funded due periods), written once they are read: its progress
    planned: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    capital: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    batches: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    actor = relationship("User", lazy="select")

    @property
    def percent(self) -> int:
        if self.status == SUCCEEDED:
            return 100
        return 0 if not self.planned else min(100, 100 * (self.payments or 0) // self.planned)

    def progress(self) -> dict:
        """The progress bar's JSON (templates/_progress.html)."""
        return {"id": self.id, "status": self.status, "percent": self.percent, "done": self.payments or 0,
                "total": self.planned or 0, "label": "Payments"}


class ReturnNotice(IdMixin, Model):
    """What one distribution run paid one investor, to tell them once: one row per (run, investor), written
    set-based with each batch of payments (a batch adds to the row of an investor it pays again) and sent after the
    run by a task that claims it (`sent_at`). `details` is what the notice lists, one item per property and due
    date: "property_id:due_on:amount:capital" joined by ";"."""

    __tablename__ = "return_notices"
    __table_args__ = (UniqueConstraint("run_id", "user_id", name="uq_return_notices_run_id_user_id"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("distribution_runs.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    payments: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    capital: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    details: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class DeclaredDistribution(IdMixin, TimestampMixin, Model):
    """An amount finance declares for a property and a period (e.g. the quarter's rent), split pro rata."""

    __tablename__ = "declared_distributions"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status in ('draft', 'approved', 'paid', 'discarded')", name="status_valid"),
        CheckConstraint("basis in ('paid_amount', 'days_held')", name="basis_valid"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
    )

    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"), nullable=False, index=True)
    label: Mapped[str] = mapped_column(String(120), nullable=False)
    period_start: Mapped[date] = mapped_column(Date, nullable=False)
    period_end: Mapped[date] = mapped_column(Date, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    basis: Mapped[str] = mapped_column(String(12), nullable=False, default=BASIS_PAID)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=DRAFT, index=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    # payment asked for while the distributions account did not cover it: it waits (approved) until funded
    payment_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment_requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    property = relationship("Property", lazy="joined")
    created_by = relationship("User", foreign_keys=[created_by_id], lazy="select")
    approved_by = relationship("User", foreign_keys=[approved_by_id], lazy="select")
    payment_requested_by = relationship("User", foreign_keys=[payment_requested_by_id], lazy="select")
    shares: Mapped[list[DistributionShare]] = relationship(back_populates="distribution", lazy="select",
                                                             order_by="DistributionShare.id")


class DistributionShare(IdMixin, Model):
    __tablename__ = "distribution_shares"
    __table_args__ = (
        UniqueConstraint("distribution_id", "investment_id", name="uq_distribution_shares_distribution_id_investment_id"),
        Index("ix_distribution_shares_user_id", "user_id"),
        Index("ix_distribution_shares_investment_id", "investment_id"),  # returns earned per holding
    )

    distribution_id: Mapped[int] = mapped_column(ForeignKey("declared_distributions.id"), nullable=False)
    investment_id: Mapped[int] = mapped_column(ForeignKey("investments.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    weight: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)

    distribution: Mapped[DeclaredDistribution] = relationship(back_populates="shares")


# funding a property's distributions account (app/investing/funding.py)
FUNDING_PROPOSED = "proposed"
FUNDING_APPROVED = "approved"
FUNDING_REJECTED = "rejected"
FUNDING_CANCELLED = "cancelled"
FUNDING_TO_CONFIRM = "to_confirm"  # written by the migration that ended negative distributions accounts
FUNDING_STATUSES = (FUNDING_PROPOSED, FUNDING_APPROVED, FUNDING_REJECTED, FUNDING_CANCELLED, FUNDING_TO_CONFIRM)
FUNDING_TRANSITIONS = {
    FUNDING_PROPOSED: {FUNDING_APPROVED, FUNDING_REJECTED, FUNDING_CANCELLED},
    FUNDING_TO_CONFIRM: {FUNDING_APPROVED},
    FUNDING_APPROVED: set(),
    FUNDING_REJECTED: set(),
    FUNDING_CANCELLED: set(),
}
FUNDING_KIND = "funding"
MIGRATED_KIND = "migrated"


class DistributionFunding(IdMixin, Model):
    """Money an operator or sponsor sent to the platform's bank to fund a property's distributions: proposed by a
    finance user with the bank reference, posted to the ledger (operator funding -> the property's distributions
    account) when a second finance user approves it. Kind `migrated`: posted by the migration that brought the
    negative distributions accounts back to zero, waiting for finance to confirm the money came in."""

    __tablename__ = "distribution_fundings"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status in ('proposed', 'approved', 'rejected', 'cancelled', 'to_confirm')",
                        name="status_valid"),
        CheckConstraint("kind in ('funding', 'migrated')", name="kind_valid"),
    )

    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"), nullable=False, index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    bank_reference: Mapped[str] = mapped_column(String(140), nullable=False, default="")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=FUNDING_PROPOSED, index=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False, default=FUNDING_KIND)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)

    property = relationship("Property", lazy="joined")
    proposed_by = relationship("User", foreign_keys=[proposed_by_id], lazy="select")
    approved_by = relationship("User", foreign_keys=[approved_by_id], lazy="select")
