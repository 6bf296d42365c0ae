"""Messages staff send to one investor or a segment of them (app/support/messages.py), and their recipients: one row
per investor, written when sending starts, each claimed once as its notification is recorded."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model

DRAFT = "draft"
AWAITING_APPROVAL = "awaiting_approval"
APPROVED = "approved"
SENDING = "sending"
SENT = "sent"
CANCELLED = "cancelled"
FAILED = "failed"
STATUSES = (DRAFT, AWAITING_APPROVAL, APPROVED, SENDING, SENT, CANCELLED, FAILED)
TRANSITIONS = {
    DRAFT: {AWAITING_APPROVAL, SENDING, CANCELLED},
    AWAITING_APPROVAL: {APPROVED, CANCELLED},
    APPROVED: {SENDING},
    SENDING: {SENT, FAILED},
    FAILED: {SENDING},  # resumed: the recipients not reached yet
    SENT: set(),
    CANCELLED: set(),
}

# who receives it: one investor, or a segment (app/support/segments.py)
ONE_INVESTOR = "investor"
PROPERTY = "property"
KYC_PENDING = "kyc_pending"
KYC_NOT_STARTED = "kyc_not_started"
INACTIVE = "inactive"
SEGMENTS = (ONE_INVESTOR, PROPERTY, KYC_PENDING, KYC_NOT_STARTED, INACTIVE)


class StaffMessage(IdMixin, Model):
    """What staff wrote (`subject` and `body`: plain text, always rendered escaped), to whom, on which channels
    (in-app always, e-mail when `send_email`), and how far its sending got (`sent_count` and `skipped_count` out of
    `recipients_total`, known once sending starts). Above the approval threshold a second messages.send holder
    approves it; the database refuses an approval by its proposer."""

    __tablename__ = "staff_messages"
    __table_args__ = (
        CheckConstraint("status in ('draft', 'awaiting_approval', 'approved', 'sending', 'sent', 'cancelled', "
                        "'failed')", name="status_valid"),
        CheckConstraint("segment in ('investor', 'property', 'kyc_pending', 'kyc_not_started', 'inactive')",
                        name="segment_valid"),
        CheckConstraint("approved_by_id IS NULL OR approved_by_id <> proposed_by_id", name="four_eyes"),
        CheckConstraint("inactive_days IS NULL OR (inactive_days >= 1 AND inactive_days <= 3650)",
                        name="inactive_days_range"),
        CheckConstraint("sent_count >= 0 AND skipped_count >= 0", name="counts_positive"),
    )

    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    send_email: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    segment: Mapped[str] = mapped_column(String(20), nullable=False)
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    property_id: Mapped[int | None] = mapped_column(ForeignKey("properties.id"))
    inactive_days: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=DRAFT, index=True)
    confirmed_count: Mapped[int | None] = mapped_column(Integer)  # the count its proposer confirmed
    recipients_total: Mapped[int | None] = mapped_column(Integer)  # written when sending starts
    sent_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # closed or blocked meanwhile
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))

    proposed_by = relationship("User", foreign_keys=[proposed_by_id], lazy="select")
    approved_by = relationship("User", foreign_keys=[approved_by_id], lazy="select")
    cancelled_by = relationship("User", foreign_keys=[cancelled_by_id], lazy="select")
    target_user = relationship("User", foreign_keys=[target_user_id], lazy="select")
    offering = relationship("Property", foreign_keys=[property_id], lazy="select")

    @property
    def done(self) -> int:
        return self.sent_count + self.skipped_count

    @property
    def percent(self) -> int:
        if self.status == SENT:
            return 100
        if not self.recipients_total:
            return 0
        return min(100, self.done * 100 // self.recipients_total)


class StaffMessageRecipient(IdMixin, Model):
    """One investor a message goes to. `sent_at` is set by the conditional UPDATE that claims it (sent_at IS NULL),
    in the unit of work that records its notification: a retried or duplicated task reaches each investor once."""

    __tablename__ = "staff_message_recipients"
    __table_args__ = (UniqueConstraint("message_id", "user_id"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("staff_messages.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    skipped: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"))
