"""Listings, offers, trades, trading halts and surveillance flags. The allowed status transitions live here.

Amounts are integer minor units of the property's currency; `price_per_unit` is the price of one unit."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
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

from app.core.db import IdMixin, UTCDateTime, utcnow
from app.extensions import Model

# listing states
OPEN, SOLD, CANCELLED, EXPIRED = "open", "sold", "cancelled", "expired"
LISTING_STATUSES = (OPEN, SOLD, CANCELLED, EXPIRED)
LISTING_TRANSITIONS = {OPEN: {SOLD, CANCELLED, EXPIRED}, SOLD: set(), CANCELLED: set(), EXPIRED: set()}

# offer states (OPEN and EXPIRED shared with listings)
COUNTERED, ACCEPTED, REJECTED, WITHDRAWN = "countered", "accepted", "rejected", "withdrawn"
OFFER_STATUSES = (OPEN, COUNTERED, ACCEPTED, REJECTED, WITHDRAWN, EXPIRED)
OFFER_LIVE = (OPEN, COUNTERED)  # money held, waiting for one side
OFFER_TRANSITIONS = {
    OPEN: {COUNTERED, ACCEPTED, REJECTED, WITHDRAWN, EXPIRED},
    COUNTERED: {OPEN, ACCEPTED, REJECTED, WITHDRAWN, EXPIRED},  # OPEN again: the buyer accepted the counter
    ACCEPTED: set(), REJECTED: set(), WITHDRAWN: set(), EXPIRED: set(),
}
MESSAGE_MAX = 500

# surveillance
FLAG_SHARED_IP = "shared_ip"
FLAG_SHARED_DEVICE = "shared_device"
FLAG_FAR_FROM_NOMINAL = "far_from_nominal"
FLAG_FAR_FROM_LAST = "far_from_last"
FLAG_ROUND_TRIP = "round_trip"
FLAG_KINDS = (FLAG_SHARED_IP, FLAG_SHARED_DEVICE, FLAG_FAR_FROM_NOMINAL, FLAG_FAR_FROM_LAST, FLAG_ROUND_TRIP)
FLAG_OPEN, FLAG_CLEARED, FLAG_ESCALATED = "open", "cleared", "escalated"


class Listing(IdMixin, Model):
    __tablename__ = "market_listings"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("units_remaining >= 0 AND units_remaining <= units", name="remaining_within_units"),
        CheckConstraint("price_per_unit > 0", name="price_positive"),
        CheckConstraint("status in ('open', 'sold', 'cancelled', 'expired')", name="status_valid"),
        CheckConstraint("status <> 'open' OR units_remaining > 0", name="open_has_units"),
        Index("ix_market_listings_property_id_status", "property_id", "status"),
        Index("ix_market_listings_seller_id_created_at", "seller_id", "created_at"),
        Index("ix_market_listings_status_expires_at", "status", "expires_at"),
    )

    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"), nullable=False)
    investment_id: Mapped[int] = mapped_column(ForeignKey("investments.id"), nullable=False, index=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    units: Mapped[int] = mapped_column(BigInteger, nullable=False)
    units_remaining: Mapped[int] = mapped_column(BigInteger, nullable=False)
    unit_price: Mapped[int] = mapped_column(BigInteger, nullable=False)  # nominal value of one unit when listed
    price_per_unit: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the asking price
    # the fee terms in force when listed: a trade of this listing is charged these
    seller_fee_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    seller_fee_min: Mapped[int] = mapped_column(BigInteger, nullable=False)
    buyer_fee_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    buyer_fee_min: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=OPEN)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str | None] = mapped_column(String(500))

    property = relationship("Property", lazy="select")
    seller = relationship("User", lazy="select")
    investment = relationship("Investment", lazy="select")

    def __str__(self) -> str:
        return f"Listing #{self.id}"


class Offer(IdMixin, Model):
    """A buyer's prefunded offer: price x units plus the buyer's fee is held from their wallet (ledger hold) from the
    moment it is made until it is settled (accepted) or released (rejected, withdrawn, expired, listing closed)."""

    __tablename__ = "market_offers"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("price_per_unit > 0", name="price_positive"),
        CheckConstraint("counter_price_per_unit IS NULL OR counter_price_per_unit > 0", name="counter_positive"),
        CheckConstraint("held_amount >= 0", name="held_not_negative"),
        CheckConstraint("status in ('open', 'countered', 'accepted', 'rejected', 'withdrawn', 'expired')",
                        name="status_valid"),
        Index("ix_market_offers_listing_id_status", "listing_id", "status"),
        Index("ix_market_offers_buyer_id_created_at", "buyer_id", "created_at"),
        Index("ix_market_offers_status_expires_at", "status", "expires_at"),
    )

    listing_id: Mapped[int] = mapped_column(ForeignKey("market_listings.id"), nullable=False)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    units: Mapped[int] = mapped_column(BigInteger, nullable=False)
    price_per_unit: Mapped[int] = mapped_column(BigInteger, nullable=False)
    buyer_fee: Mapped[int] = mapped_column(BigInteger, nullable=False)  # at price_per_unit
    held_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)  # what the pending hold holds now
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_holds.id"))  # the pending hold, if any
    counter_price_per_unit: Mapped[int | None] = mapped_column(BigInteger)
    countered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    countered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=OPEN)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    buyer_message: Mapped[str | None] = mapped_column(String(MESSAGE_MAX))
    seller_message: Mapped[str | None] = mapped_column(String(MESSAGE_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_reason: Mapped[str | None] = mapped_column(String(500))
    trade_id: Mapped[int | None] = mapped_column(ForeignKey("market_trades.id", use_alter=True,
                                                            name="fk_market_offers_trade_id_market_trades"))

    listing: Mapped[Listing] = relationship(lazy="select")
    buyer = relationship("User", foreign_keys=[buyer_id], lazy="select")

    def __str__(self) -> str:
        return f"Offer #{self.id}"


class Trade(IdMixin, Model):
    """A settled trade: `units` moved from the seller's holding to a new holding of the buyer, the buyer paid
    amount + buyer_fee, the seller received amount - seller_fee, both fees went to fee revenue; one journal entry."""

    __tablename__ = "market_trades"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("price_per_unit > 0", name="price_positive"),
        CheckConstraint("amount = units * price_per_unit", name="amount_is_units_times_price"),
        CheckConstraint("buyer_fee >= 0 AND seller_fee >= 0 AND seller_fee < amount", name="fees_valid"),
        CheckConstraint("buyer_id <> seller_id", name="not_self"),
        Index("ix_market_trades_property_id_settled_at", "property_id", "settled_at"),
        Index("ix_market_trades_buyer_id_settled_at", "buyer_id", "settled_at"),
        Index("ix_market_trades_seller_id_settled_at", "seller_id", "settled_at"),
    )

    listing_id: Mapped[int] = mapped_column(ForeignKey("market_listings.id"), nullable=False, index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("market_offers.id"), unique=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"), nullable=False)
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    seller_investment_id: Mapped[int] = mapped_column(ForeignKey("investments.id"), nullable=False)
    buyer_investment_id: Mapped[int | None] = mapped_column(ForeignKey("investments.id"))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    units: Mapped[int] = mapped_column(BigInteger, nullable=False)
    unit_price: Mapped[int] = mapped_column(BigInteger, nullable=False)  # nominal value of one unit
    price_per_unit: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)  # units x price_per_unit
    buyer_fee: Mapped[int] = mapped_column(BigInteger, nullable=False)
    seller_fee: Mapped[int] = mapped_column(BigInteger, nullable=False)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    @property
    def buyer_cost(self) -> int:
        return self.amount + self.buyer_fee

    @property
    def seller_proceeds(self) -> int:
        return self.amount - self.seller_fee

    # after the properties above: this attribute shadows the builtin in the class body
    listing: Mapped[Listing] = relationship(lazy="select")
    property = relationship("Property", lazy="select")
    seller = relationship("User", foreign_keys=[seller_id], lazy="select")
    buyer = relationship("User", foreign_keys=[buyer_id], lazy="select")

    def __str__(self) -> str:
        return f"Trade #{self.id}"


class TradingHalt(IdMixin, Model):
    """Trading in one property halted by finance or compliance, with a reason; resumed the same way. At most one
    halt per property is in force (resumed_at IS NULL), held by a partial unique index."""

    __tablename__ = "market_halts"
    __table_args__ = (
        Index("uq_market_halts_property_id_in_force", "property_id", unique=True,
              postgresql_where=text("resumed_at IS NULL"), sqlite_where=text("resumed_at IS NULL")),
    )

    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    halted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    halted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    resumed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resume_reason: Mapped[str | None] = mapped_column(Text)

    property = relationship("Property", lazy="select")
    halted_by = relationship("User", foreign_keys=[halted_by_id], lazy="select")
    resumed_by = relationship("User", foreign_keys=[resumed_by_id], lazy="select")


class SurveillanceFlag(IdMixin, Model):
    """A trade that looks wrong (buyer and seller sharing a sign-in address or device, a price far from nominal
    or from the last trade, units coming back to their seller within 30 days), for compliance to review."""

    __tablename__ = "market_flags"
    __table_args__ = (
        UniqueConstraint("trade_id", "kind", name="uq_market_flags_trade_id_kind"),
        CheckConstraint("status in ('open', 'cleared', 'escalated')", name="status_valid"),
        Index("ix_market_flags_status_created_at", "status", "created_at"),
    )

    trade_id: Mapped[int] = mapped_column(ForeignKey("market_trades.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    detail: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=FLAG_OPEN)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_note: Mapped[str | None] = mapped_column(Text)

    trade: Mapped[Trade] = relationship(lazy="joined")
    reviewed_by = relationship("User", lazy="select")
