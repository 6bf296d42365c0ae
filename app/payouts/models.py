"""Payout methods: where an investor's withdrawals go. Account numbers are encrypted at rest."""
from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.crypto import EncryptedString
from app.core.db import IdMixin, TimestampMixin
from app.extensions import db


def mask(value: str | None) -> str | None:
    if not value:
        return value
    tail = value[-4:]
    return "•" * max(len(value) - 4, 4) + tail


class PayoutMethod(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "payout_methods"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="bank")
    holder_name: Mapped[str] = mapped_column(String(200), nullable=False)
    bank_name: Mapped[str] = mapped_column(String(200), nullable=False)
    account_number: Mapped[str] = mapped_column(EncryptedString(), nullable=False)
    routing_number: Mapped[str | None] = mapped_column(EncryptedString())
    iban: Mapped[str | None] = mapped_column(EncryptedString())
    country: Mapped[str] = mapped_column(String(2), nullable=False)

    @property
    def account_number_masked(self) -> str | None:
        return mask(self.account_number)

    def __str__(self) -> str:
        return f"{self.bank_name} {mask(self.account_number)}"
