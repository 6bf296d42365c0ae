"""KYC: forms designed by staff (ordered fields), investors' submissions with their values and documents,
reason codes, and the one table of allowed status transitions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.crypto import EncryptedString
from app.core.db import IdMixin, TimestampMixin, UTCDateTime, utcnow
from app.extensions import Model

NOT_STARTED = "not_started"
PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
RESUBMISSION_REQUESTED = "resubmission_requested"
SUBMISSION_STATES = (PENDING, APPROVED, REJECTED, RESUBMISSION_REQUESTED)

# the one place KYC transitions are allowed (a resubmission is a new submission that starts pending)
TRANSITIONS = {
    PENDING: {APPROVED, REJECTED, RESUBMISSION_REQUESTED},
    APPROVED: set(),
    REJECTED: set(),
    RESUBMISSION_REQUESTED: set(),
}

FIELD_TYPES = ("text", "textarea", "date", "number", "select", "file")

DOC_PENDING = "pending"
DOC_ACCEPTED = "accepted"
DOC_REJECTED = "rejected"
DOC_REDO = "redo"  # a new one is requested
DOC_DECISIONS = (DOC_PENDING, DOC_ACCEPTED, DOC_REJECTED, DOC_REDO)


class KycForm(IdMixin, TimestampMixin, Model):
    __tablename__ = "kyc_forms"

    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    required_for_investing: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    required_for_withdrawing: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    fields: Mapped[list[KycField]] = relationship(back_populates="form", lazy="selectin",
                                                    order_by="(KycField.position, KycField.id)",
                                                    cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.name


class KycField(IdMixin, Model):
    __tablename__ = "kyc_fields"
    __table_args__ = (
        UniqueConstraint("form_id", "name", name="uq_kyc_fields_form_id_name"),
        CheckConstraint("type in ('text', 'textarea', 'date', 'number', 'select', 'file')", name="type_valid"),
    )

    form_id: Mapped[int] = mapped_column(ForeignKey("kyc_forms.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(60), nullable=False)  # machine name, e.g. document_number
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(10), nullable=False, default="text")
    required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # encrypted, masked in lists
    help_text: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    options: Mapped[list | None] = mapped_column(JSON)  # select choices: ["passport", "id_card", ...]
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    form: Mapped[KycForm] = relationship(back_populates="fields")

    def __str__(self) -> str:
        return f"{self.label} ({self.type})"


class ReasonCode(IdMixin, Model):
    """A managed list of reasons for decisions on documents and submissions."""

    __tablename__ = "kyc_reason_codes"
    __table_args__ = (CheckConstraint("applies_to in ('document', 'submission', 'both')", name="applies_to_valid"),)

    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    applies_to: Mapped[str] = mapped_column(String(10), nullable=False, default="both")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def __str__(self) -> str:
        return f"{self.code}: {self.label}"


class KycSubmission(IdMixin, Model):
    __tablename__ = "kyc_submissions"
    __table_args__ = (
        CheckConstraint("status in ('pending', 'approved', 'rejected', 'resubmission_requested')",
                        name="status_valid"),
        Index("ix_kyc_submissions_status_submitted_at", "status", "submitted_at"),
        Index("ix_kyc_submissions_decided_at", "decided_at"),  # the dashboard's decisions by week
        Index("ix_kyc_submissions_user_id_form_id", "user_id", "form_id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    form_id: Mapped[int] = mapped_column(ForeignKey("kyc_forms.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default=PENDING)
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("kyc_submissions.id"), unique=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)  # flagged by the beat job
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)

    user = relationship("User", foreign_keys=[user_id], lazy="joined")
    form: Mapped[KycForm] = relationship(lazy="joined")
    assignee = relationship("User", foreign_keys=[assignee_id], lazy="joined")
    decided_by = relationship("User", foreign_keys=[decided_by_id], lazy="select")
    values: Mapped[list[KycValue]] = relationship(back_populates="submission", lazy="selectin",
                                                    cascade="all, delete-orphan")
    documents: Mapped[list[KycDocument]] = relationship(back_populates="submission", lazy="selectin",
                                                          order_by="KycDocument.id", cascade="all, delete-orphan")
    previous = relationship("KycSubmission", remote_side="KycSubmission.id", lazy="select")

    def __str__(self) -> str:
        return f"#{self.id} {self.form.name if self.form else ''}"


class KycValue(IdMixin, Model):
    """One entered (non-file) field. Sensitive fields are stored only encrypted."""

    __tablename__ = "kyc_values"
    __table_args__ = (UniqueConstraint("submission_id", "field_id", name="uq_kyc_values_submission_id_field_id"),)

    submission_id: Mapped[int] = mapped_column(ForeignKey("kyc_submissions.id", ondelete="CASCADE"), nullable=False)
    field_id: Mapped[int] = mapped_column(ForeignKey("kyc_fields.id"), nullable=False)
    value: Mapped[str | None] = mapped_column(Text)
    secret_value: Mapped[str | None] = mapped_column(EncryptedString())

    submission: Mapped[KycSubmission] = relationship(back_populates="values")
    field: Mapped[KycField] = relationship(lazy="joined")

    @property
    def text(self) -> str | None:
        return self.secret_value if self.field.sensitive else self.value


class KycDocument(IdMixin, Model):
    __tablename__ = "kyc_documents"
    __table_args__ = (
        CheckConstraint("decision in ('pending', 'accepted', 'rejected', 'redo')", name="decision_valid"),
    )

    submission_id: Mapped[int] = mapped_column(ForeignKey("kyc_submissions.id", ondelete="CASCADE"), nullable=False,
                                               index=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("kyc_fields.id"), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(300), nullable=False)
    content_type: Mapped[str] = mapped_column(String(60), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # image | pdf
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("kyc_documents.id"))  # kept from a resubmission
    decision: Mapped[str] = mapped_column(String(10), nullable=False, default=DOC_PENDING)
    reason_code: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    submission: Mapped[KycSubmission] = relationship(back_populates="documents")
    field: Mapped[KycField] = relationship(lazy="joined")


NAME_PROPOSED = "proposed"
NAME_APPROVED = "approved"
NAME_REJECTED = "rejected"
NAME_CHANGE_STATES = (NAME_PROPOSED, NAME_APPROVED, NAME_REJECTED)
NAME_CHANGE_TRANSITIONS = {NAME_PROPOSED: {NAME_APPROVED, NAME_REJECTED}, NAME_APPROVED: set(), NAME_REJECTED: set()}


class NameChangeRequest(IdMixin, TimestampMixin, Model):
    """A change of name after the identity was approved: payouts compare names, so compliance approves it before it
    applies (app/kyc/name_changes.py). One open (proposed) request per user; a rejection says why."""

    __tablename__ = "name_change_requests"
    __table_args__ = (
        CheckConstraint("status in ('proposed', 'approved', 'rejected')", name="status_valid"),
        Index("ix_name_change_requests_one_open", "user_id", unique=True,
              postgresql_where=text("status = 'proposed'"), sqlite_where=text("status = 'proposed'")),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    old_first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    old_last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    new_first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    new_last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=NAME_PROPOSED, index=True)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)

    user = relationship("User", foreign_keys=[user_id], lazy="joined")
    proposed_by = relationship("User", foreign_keys=[proposed_by_id], lazy="joined")
    decided_by = relationship("User", foreign_keys=[decided_by_id], lazy="select")

    @property
    def old_name(self) -> str:
        return f"{self.old_first_name} {self.old_last_name}".strip()

    @property
    def new_name(self) -> str:
        return f"{self.new_first_name} {self.new_last_name}".strip()
