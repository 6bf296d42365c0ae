"""Card deposits for the card-funds hold's tests (payments, payouts, market, API, portal): credited through the
deposit service as a gateway's confirmation would, and the hold's clock moved on."""
from __future__ import annotations

from datetime import timedelta
from itertools import count

from app.core.db import unit_of_work, utcnow
from app.core.money import Money
from app.ledger.services import platform_currency
from app.payments import card_funds
from app.payments import services as payments

_refs = count(1)


def card_deposit(user, amount: str, gateway: str = "stripe"):
    """A card deposit of `amount` credited to the user's wallet (its money inside the hold)."""
    with unit_of_work():
        deposit = payments.create_deposit(user.id, Money.parse(amount, platform_currency()), gateway,
                                          reference=f"test-{gateway}-{next(_refs)}")
        payments.complete_deposit(deposit)
    return deposit


def move_clock(monkeypatch, days: float) -> None:
    """The card-funds hold's clock `days` from now."""
    moved = utcnow() + timedelta(days=days)
    monkeypatch.setattr(card_funds, "utcnow", lambda: moved)
