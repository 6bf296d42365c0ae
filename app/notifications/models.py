"""Notifications: one row per recipient and event (the in-app message when that channel is on), one delivery row
per channel with its status and attempts, staff-edited template overrides, preferences, push devices."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString
from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model

EMAIL, IN_APP, SMS, PUSH = "email", "in_app", "sms", "push"
CHANNELS = (EMAIL, IN_APP, SMS, PUSH)

QUEUED = "queued"
SENDING = "sending"  # claimed by one worker
SENT = "sent"
FAILED = "failed"
LOGGED = "logged"  # e-mail with no SMTP configured: written to the log, kept in the dev outbox
DELIVERY_STATES = (QUEUED, SENDING, SENT, FAILED, LOGGED)


class Notification(IdMixin, Model):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_read_at", "user_id", "read_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    event: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    context: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    in_app: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False, default="")
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User", lazy="select")
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="notification", lazy="selectin",
                                                        order_by="Delivery.id")


class Delivery(IdMixin, Model):
    """One attempt to reach a recipient on one channel, with its rendered content (the console's outbox for
    e-mail); the link of a secret event is never part of that content."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        CheckConstraint("status in ('queued', 'sending', 'sent', 'failed', 'logged')", name="status_valid"),
        CheckConstraint("channel in ('email', 'in_app', 'sms', 'push')", name="channel_valid"),
        Index("ix_notification_deliveries_status_claimed_at", "status", "claimed_at"),
    )

    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False,
                                                 index=True)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    to_address: Mapped[str] = mapped_column(String(300), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    html: Mapped[str | None] = mapped_column(Text)
    # the access-granting link of a secret event, encrypted; subject, body and html hold a placeholder in its
    # place (app/notifications/secrets.py). Cleared once the delivery is over.
    secret: Mapped[str | None] = mapped_column(EncryptedString())
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=QUEUED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_id: Mapped[str | None] = mapped_column(String(200))
    resent_from_id: Mapped[int | None] = mapped_column(ForeignKey("notification_deliveries.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when a retry is due
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    notification: Mapped[Notification] = relationship(back_populates="deliveries", lazy="joined")

    @property
    def event(self) -> str:
        return self.notification.event


class NotificationTemplate(IdMixin, Model):
    """A staff override of one event's template on one channel; rendered in a sandbox."""

    __tablename__ = "notification_templates"
    __table_args__ = (
        UniqueConstraint("event", "channel", name="uq_notification_templates_event_channel"),
        CheckConstraint("channel in ('email', 'in_app', 'sms', 'push')", name="channel_valid"),
    )

    event: Mapped[str] = mapped_column(String(60), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(300))  # e-mail subject, in-app or push title
    body: Mapped[str] = mapped_column(Text, nullable=False)  # e-mail text, in-app body, SMS, push body
    html: Mapped[str | None] = mapped_column(Text)  # e-mail HTML
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)

    updated_by = relationship("User", lazy="select")


class NotificationPreference(IdMixin, Model):
    """An investor's choice for one event group on one channel; no row means on."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "group", "channel", name="uq_notification_preferences_choice"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    group: Mapped[str] = mapped_column(String(40), nullable=False)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)


class PushDevice(IdMixin, Model):
    __tablename__ = "push_devices"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token: Mapped[str] = mapped_column(String(500), unique=True, nullable=False)
    platform: Mapped[str] = mapped_column(String(10), nullable=False, default="android")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PhoneVerification(IdMixin, Model):
    """A code sent by SMS to prove a phone number (app/notifications/phone.py). Only a keyed hash of the code is
    kept; it expires, allows a few attempts, and is spent once used or once a newer code is sent."""

    __tablename__ = "phone_verifications"
    __table_args__ = (Index("ix_phone_verifications_user_id_created_at", "user_id", "created_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    phone: Mapped[str] = mapped_column(EncryptedString(), nullable=False)
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
