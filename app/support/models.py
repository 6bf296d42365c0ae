"""Support tickets: an investor's question (subject, category), the conversation with support (replies visible to
the investor, internal notes for staff only) and the files attached to a message (kept in private storage)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model

CATEGORIES = ("account", "deposits", "withdrawals", "investments", "market", "kyc", "other")
OPEN = "open"  # waiting for support
ANSWERED = "answered"  # support replied: waiting for the investor
CLOSED = "closed"
STATUSES = (OPEN, ANSWERED, CLOSED)
PRIORITIES = ("low", "normal", "high", "urgent")

SUBJECT_MAX = 150
BODY_MAX = 5000
NAME_MAX = 120


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Ticket(IdMixin, Model):
    """`waiting_since` is set while the ticket is open (waiting for support): when the investor wrote and nobody
    from support has answered since. The queue's SLA flag compares it with SUPPORT_SLA_HOURS, in SQL."""

    __tablename__ = "support_tickets"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        CheckConstraint(_in("category", CATEGORIES), name="category_known"),
        CheckConstraint(_in("priority", PRIORITIES), name="priority_known"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_when_closed"),
        CheckConstraint("(status = 'open') = (waiting_since IS NOT NULL)", name="waiting_when_open"),
        Index("ix_support_tickets_user_id_id", "user_id", "id"),
        Index("ix_support_tickets_status_id", "status", "id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX), nullable=False)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=OPEN)
    priority: Mapped[str] = mapped_column(String(8), nullable=False, default="normal")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    user = relationship("User", foreign_keys=[user_id], lazy="select")
    assignee = relationship("User", foreign_keys=[assignee_id], lazy="select")
    messages: Mapped[list[TicketMessage]] = relationship(back_populates="ticket", order_by="TicketMessage.id",
                                                         cascade="all, delete-orphan")
    # set by queries that ask for it (app.support.tickets.with_sla): waiting for support longer than the SLA
    sla_breached: Mapped[bool | None] = query_expression()


class TicketMessage(IdMixin, Model):
    """One message of the conversation. `internal` notes are for staff only: never shown to the investor, in the
    portal, the API or a notification. `by_staff` tells the two sides apart without loading the author."""

    __tablename__ = "support_ticket_messages"
    __table_args__ = (
        CheckConstraint("NOT internal OR by_staff", name="notes_by_staff"),
        Index("ix_support_ticket_messages_ticket_id_id", "ticket_id", "id"),
    )

    ticket_id: Mapped[int] = mapped_column(ForeignKey("support_tickets.id", ondelete="CASCADE"), nullable=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    internal: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    by_staff: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author = relationship("User", lazy="select")
    attachments: Mapped[list[TicketAttachment]] = relationship(back_populates="message",
                                                               order_by="TicketAttachment.id",
                                                               cascade="all, delete-orphan")


class TicketAttachment(IdMixin, Model):
    """A checked file (JPEG, PNG, WebP or PDF) attached to a message: the bytes in private storage under
    `storage_key`, the name the sender gave it (shown, never used as a path)."""

    __tablename__ = "support_ticket_attachments"

    message_id: Mapped[int] = mapped_column(ForeignKey("support_ticket_messages.id", ondelete="CASCADE"),
                                            nullable=False, index=True)
    storage_key: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    message: Mapped[TicketMessage] = relationship(back_populates="attachments")
