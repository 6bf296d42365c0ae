"""Properties on offer: content, address, amenities, FAQ, photos, documents, investment terms and the status
workflow (the one table of allowed transitions)."""
from __future__ import annotations

import builtins
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.core.db import IdMixin, TimestampMixin, UTCDateTime, utcnow
from app.extensions import Model, db

DRAFT, ACTIVE, FUNDED, COMPLETED, CANCELLED = "draft", "active", "funded", "completed", "cancelled"
ARCHIVED = "archived"  # put away, never deleted: only an offering nobody invested in (workflow.archive)
STATUSES = (DRAFT, ACTIVE, FUNDED, COMPLETED, CANCELLED, ARCHIVED)
TRANSITIONS = {
    DRAFT: {ACTIVE, CANCELLED, ARCHIVED},
    ACTIVE: {FUNDED, CANCELLED, ARCHIVED},
    FUNDED: {COMPLETED},
    COMPLETED: set(),
    CANCELLED: {ARCHIVED},
    ARCHIVED: set(),
}
TYPES = ("residential", "commercial", "industrial", "land", "mixed_use")
FREQUENCIES = ("monthly", "quarterly", "yearly", "days")

property_amenities = Table(
    "property_amenities",
    db.metadata,
    Column("property_id", ForeignKey("properties.id", ondelete="CASCADE"), primary_key=True),
    Column("amenity_id", ForeignKey("amenities.id", ondelete="CASCADE"), primary_key=True),
)


class Amenity(IdMixin, Model):
    __tablename__ = "amenities"
    name: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)

    def __str__(self) -> str:
        return self.name


class Property(IdMixin, TimestampMixin, Model):
    __tablename__ = "properties"
    __table_args__ = (
        CheckConstraint("status in ('draft', 'active', 'funded', 'completed', 'cancelled', 'archived')",
                        name="status_valid"),
        CheckConstraint("property_type in ('residential', 'commercial', 'industrial', 'land', 'mixed_use')",
                        name="type_valid"),
        CheckConstraint("target_amount > 0", name="target_positive"),
        CheckConstraint("unit_price > 0 AND units_sold >= 0", name="units_valid"),
        CheckConstraint("raised_amount >= 0 AND raised_amount <= target_amount", name="raised_within_target"),
        Index("ix_properties_status_funding_ends_at", "status", "funding_ends_at"),
    )

    slug: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    property_type: Mapped[str] = mapped_column(String(20), nullable=False, default="residential")
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")  # Markdown
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=DRAFT, index=True)

    street: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    city: Mapped[str] = mapped_column(String(100), nullable=False, default="", index=True)
    region: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    postal_code: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    country: Mapped[str] = mapped_column(String(2), nullable=False, default="US", index=True)
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    video_url: Mapped[str | None] = mapped_column(String(300))

    # terms (amounts in minor units of `currency`)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="USD")
    target_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    raised_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    fixed_amount: Mapped[int | None] = mapped_column(BigInteger)  # set: every investment is exactly this
    min_investment: Mapped[int | None] = mapped_column(BigInteger)  # set with max: a range
    max_investment: Mapped[int | None] = mapped_column(BigInteger)
    installments_count: Mapped[int | None] = mapped_column(Integer)  # None: paid at once
    installment_interval: Mapped[int | None] = mapped_column(Integer)
    installment_unit: Mapped[str | None] = mapped_column(String(6))  # days | months
    late_fee: Mapped[int | None] = mapped_column(BigInteger)
    return_rate_bps: Mapped[int | None] = mapped_column(Integer)  # annual rate, basis points
    return_fixed_amount: Mapped[int | None] = mapped_column(BigInteger)  # or a fixed sum per period per investment
    expected_return_bps: Mapped[int | None] = mapped_column(Integer, index=True)  # annualised, for sorting
    return_frequency: Mapped[str] = mapped_column(String(10), nullable=False, default="quarterly")
    return_every_days: Mapped[int | None] = mapped_column(Integer)  # with frequency "days"
    return_periods: Mapped[int | None] = mapped_column(Integer)  # None: for the property's lifetime
    capital_back: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    funding_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    funding_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resale_allowed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # the market: holdings trade in whole units of `unit_price` (a fixed-amount offering's amount; for a range,
    # set by the property manager, default 1.00); listing opens `resale_lockup_days` after the funding window
    # closed (None: the market setting's default); `units_sold` is what the offering sold, checked by ledger verify
    unit_price: Mapped[int] = mapped_column(BigInteger, nullable=False, default=100)
    resale_lockup_days: Mapped[int | None] = mapped_column(Integer)
    units_sold: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)

    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    funded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # completed or cancelled
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    amenities: Mapped[list[Amenity]] = relationship(secondary=property_amenities, lazy="selectin",
                                                    order_by=Amenity.name)
    faqs: Mapped[list[PropertyFaq]] = relationship(back_populates="property", lazy="selectin",
                                                     order_by="(PropertyFaq.position, PropertyFaq.id)",
                                                     cascade="all, delete-orphan")
    photos: Mapped[list[PropertyPhoto]] = relationship(back_populates="property", lazy="selectin",
                                                         order_by="(PropertyPhoto.position, PropertyPhoto.id)",
                                                         cascade="all, delete-orphan")
    documents: Mapped[list[PropertyDocument]] = relationship(back_populates="property", lazy="selectin",
                                                               order_by="PropertyDocument.id",
                                                               cascade="all, delete-orphan")

    @property
    def remaining_amount(self) -> int:
        return max(self.target_amount - self.raised_amount, 0)

    @property
    def cover(self) -> PropertyPhoto | None:
        covers = [p for p in self.photos if p.is_cover]
        return covers[0] if covers else (self.photos[0] if self.photos else None)

    def __str__(self) -> str:
        return self.title


class PropertyFaq(IdMixin, Model):
    __tablename__ = "property_faqs"

    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    question: Mapped[str] = mapped_column(String(300), nullable=False)
    answer: Mapped[str] = mapped_column(Text, nullable=False)

    property: Mapped[Property] = relationship(back_populates="faqs")


PHOTO_PROCESSING, PHOTO_READY, PHOTO_FAILED = "processing", "ready", "failed"


class PropertyPhoto(IdMixin, Model):
    __tablename__ = "property_photos"
    __table_args__ = (CheckConstraint("status in ('processing', 'ready', 'failed')", name="status_valid"),)

    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_cover: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    caption: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    original_key: Mapped[str] = mapped_column(String(300), nullable=False)
    thumbnail_key: Mapped[str | None] = mapped_column(String(300))
    medium_key: Mapped[str | None] = mapped_column(String(300))
    large_key: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(12), nullable=False, default=PHOTO_PROCESSING)
    error: Mapped[str | None] = mapped_column(String(300))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    property: Mapped[Property] = relationship(back_populates="photos")


class PropertyDocument(IdMixin, Model):
    __tablename__ = "property_documents"

    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(300), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    pages: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    property: Mapped[Property] = relationship(back_populates="documents")


class DocumentDownload(IdMixin, Model):
    """Who downloaded which offering document, when, from where."""

    __tablename__ = "property_document_downloads"

    document_id: Mapped[int] = mapped_column(ForeignKey("property_documents.id", ondelete="CASCADE"),
                                             nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class PropertyFollower(Model):
    __tablename__ = "property_followers"
    __table_args__ = (UniqueConstraint("property_id", "user_id", name="uq_property_followers_property_id_user_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


APPROVAL_PUBLISH, APPROVAL_TERMS_CHANGE = "publish", "terms_change"
APPROVAL_KINDS = (APPROVAL_PUBLISH, APPROVAL_TERMS_CHANGE)
APPROVAL_PENDING, APPROVAL_APPROVED, APPROVAL_REJECTED, APPROVAL_WITHDRAWN = (
    "pending", "approved", "rejected", "withdrawn")
APPROVAL_TRANSITIONS = {
    APPROVAL_PENDING: (APPROVAL_APPROVED, APPROVAL_REJECTED, APPROVAL_WITHDRAWN),
}


class PropertyApproval(IdMixin, Model):
    """A request for a second person's approval: publishing a draft, or changing the terms of a published offering
    (`proposed`: the new values of the changed term fields, as JSON). A property manager submits it, a finance user
    who is not the submitter approves or rejects it; the submitter may withdraw it. One pending request per
    property. `fingerprint` is the terms' fingerprint at submission: an approval is refused when they changed."""

    __tablename__ = "property_approvals"
    __table_args__ = (
        CheckConstraint("kind in ('publish', 'terms_change')", name="kind_valid"),
        CheckConstraint("status in ('pending', 'approved', 'rejected', 'withdrawn')", name="status_valid"),
        CheckConstraint("status <> 'approved' OR decided_by_id <> submitted_by_id", name="two_people"),
        Index("ix_property_approvals_one_pending", "property_id", unique=True,
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
    )

    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    proposed: Mapped[dict | None] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=APPROVAL_PENDING, index=True)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)

    property: Mapped[Property] = relationship(lazy="joined")
    submitted_by: Mapped[User] = relationship(foreign_keys=[submitted_by_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")

    @builtins.property
    def label(self) -> str:
        return "publication" if self.kind == APPROVAL_PUBLISH else "terms change"
