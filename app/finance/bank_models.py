"""Bank statements as the bank sent them (camt.053 or CSV), their lines, the matches finance proposes and confirms,
and the saved CSV column mappings per bank.

Amounts are positive integer minor units; `direction` says which way the money went. A line is matched to at most
one deposit, payout or bank-file batch, and each of those to at most one line (partial unique indexes below)."""
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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import IdMixin, TimestampMixin, UTCDateTime, utcnow
from app.extensions import Model

FORMAT_CAMT053, FORMAT_CSV = "camt053", "csv"
FORMATS = (FORMAT_CAMT053, FORMAT_CSV)

CREDIT, DEBIT = "credit", "debit"

# line states
UNMATCHED, PROPOSED, MATCHED, IGNORED = "unmatched", "proposed", "matched", "ignored"
LINE_STATUSES = (UNMATCHED, PROPOSED, MATCHED, IGNORED)
CLAIMING = (PROPOSED, MATCHED)  # a line in these states holds its deposit, payout or batch

# what a line is matched to
KIND_DEPOSIT, KIND_PAYOUT, KIND_BATCH = "deposit", "payout", "batch"
MATCH_KINDS = (KIND_DEPOSIT, KIND_PAYOUT, KIND_BATCH)
RULE_REFERENCE, RULE_AMOUNT, RULE_MANUAL = "reference", "amount", "manual"

_CLAIMING_SQL = "status IN ('proposed', 'matched')"


class CsvMapping(IdMixin, TimestampMixin, Model):
    """How one bank's CSV export reads: which column holds what. A column is named by its header text, or by its
    position (1 for the first) when the file has no header row."""

    __tablename__ = "bank_csv_mappings"
    __table_args__ = (
        CheckConstraint("decimal_separator in ('.', ',')", name="decimal_separator_valid"),
        CheckConstraint("header_rows >= 0 AND header_rows <= 20", name="header_rows_valid"),
    )

    bank_name: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    date_column: Mapped[str] = mapped_column(String(80), nullable=False)
    amount_column: Mapped[str | None] = mapped_column(String(80))  # signed: negative is money out
    credit_column: Mapped[str | None] = mapped_column(String(80))  # or money in and money out in two columns
    debit_column: Mapped[str | None] = mapped_column(String(80))
    currency_column: Mapped[str | None] = mapped_column(String(80))
    currency: Mapped[str | None] = mapped_column(String(3))  # when the file has no currency column
    reference_column: Mapped[str] = mapped_column(String(80), nullable=False)
    counterparty_column: Mapped[str | None] = mapped_column(String(80))
    description_column: Mapped[str | None] = mapped_column(String(80))
    date_format: Mapped[str] = mapped_column(String(40), nullable=False, default="%Y-%m-%d")
    decimal_separator: Mapped[str] = mapped_column(String(1), nullable=False, default=".")
    delimiter: Mapped[str] = mapped_column(String(2), nullable=False, default=",")
    header_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    def __str__(self) -> str:
        return self.bank_name


class BankStatement(IdMixin, Model):
    """One uploaded file, kept privately under `file_key`; the same file (its SHA-256) is imported once."""

    __tablename__ = "bank_statements"
    __table_args__ = (
        CheckConstraint("format in ('camt053', 'csv')", name="format_valid"),
    )

    format: Mapped[str] = mapped_column(String(10), nullable=False)
    csv_mapping_id: Mapped[int | None] = mapped_column(ForeignKey("bank_csv_mappings.id"))
    file_name: Mapped[str] = mapped_column(String(255), nullable=False)
    file_key: Mapped[str] = mapped_column(String(300), nullable=False)
    file_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    file_size: Mapped[int] = mapped_column(Integer, nullable=False)
    statement_ref: Mapped[str | None] = mapped_column(String(200))  # the bank's statement id (camt.053 Stmt/Id)
    account: Mapped[str | None] = mapped_column(String(64))  # the account's IBAN or other id
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    line_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # lines created by this file
    known_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # lines an earlier file brought
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)

    csv_mapping = relationship("CsvMapping")
    uploaded_by = relationship("User", foreign_keys=[uploaded_by_id])
    lines = relationship("StatementLine", back_populates="statement", order_by="StatementLine.line_index")

    def __str__(self) -> str:
        return f"Statement #{self.id} ({self.file_name})"


class StatementLine(IdMixin, Model):
    __tablename__ = "bank_statement_lines"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("direction in ('credit', 'debit')", name="direction_valid"),
        CheckConstraint("status in ('unmatched', 'proposed', 'matched', 'ignored')", name="status_valid"),
        CheckConstraint("match_kind IS NULL OR match_kind in ('deposit', 'payout', 'batch')", name="kind_valid"),
        CheckConstraint("status not in ('proposed', 'matched') OR (CASE WHEN deposit_id IS NULL THEN 0 ELSE 1 END"
                        " + CASE WHEN payout_id IS NULL THEN 0 ELSE 1 END"
                        " + CASE WHEN batch_id IS NULL THEN 0 ELSE 1 END) = 1", name="claim_has_one_target"),
        Index("uq_bank_statement_lines_deposit_claimed", "deposit_id", unique=True,
              postgresql_where=text(_CLAIMING_SQL), sqlite_where=text(_CLAIMING_SQL)),
        Index("uq_bank_statement_lines_payout_claimed", "payout_id", unique=True,
              postgresql_where=text(_CLAIMING_SQL), sqlite_where=text(_CLAIMING_SQL)),
        Index("uq_bank_statement_lines_batch_claimed", "batch_id", unique=True,
              postgresql_where=text(_CLAIMING_SQL), sqlite_where=text(_CLAIMING_SQL)),
        Index("ix_bank_statement_lines_status_booking_date", "status", "booking_date"),
    )

    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statements.id"), nullable=False, index=True)
    line_index: Mapped[int] = mapped_column(Integer, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    booking_date: Mapped[date] = mapped_column(Date, nullable=False)
    value_date: Mapped[date | None] = mapped_column(Date)
    direction: Mapped[str] = mapped_column(String(6), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reference: Mapped[str | None] = mapped_column(String(500))
    end_to_end_id: Mapped[str | None] = mapped_column(String(200))
    entry_ref: Mapped[str | None] = mapped_column(String(200))
    servicer_ref: Mapped[str | None] = mapped_column(String(200))
    counterparty: Mapped[str | None] = mapped_column(String(300))
    remittance: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=UNMATCHED, index=True)
    match_kind: Mapped[str | None] = mapped_column(String(10))
    match_rule: Mapped[str | None] = mapped_column(String(10))
    match_note: Mapped[str | None] = mapped_column(String(500))  # why an obvious candidate was not proposed
    deposit_id: Mapped[int | None] = mapped_column(ForeignKey("deposits.id"), index=True)
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("payout_batches.id"), index=True)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # null: proposed on import
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ignored_reason: Mapped[str | None] = mapped_column(String(1000))
    ignored_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    statement = relationship("BankStatement", back_populates="lines")
    deposit = relationship("Deposit")
    payout = relationship("Payout")
    batch = relationship("PayoutBatch")

    @property
    def target_id(self) -> int | None:
        return self.deposit_id or self.payout_id or self.batch_id

    def __str__(self) -> str:
        return f"Line #{self.id}"
