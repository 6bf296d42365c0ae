"""The market's notifications: the context every market event's templates are given, in one place."""
from __future__ import annotations

from typing import Any

from app.core.money import Money
from app.notifications.services import notify


def amount(minor: int, currency: str) -> str:
    return Money(minor, currency).amount_str()


def listing_context(listing, **extra: Any) -> dict[str, Any]:
    p = listing.property
    return {"title": p.title, "listing_id": listing.id, "units": listing.units_remaining,
            "price": amount(listing.price_per_unit, listing.currency), "currency": listing.currency,
            "expires": f"{listing.expires_at:%Y-%m-%d %H:%M} UTC", **extra}


def tell(users, event: str, *, link: str | None = None, **context: Any) -> None:
    """Notify each distinct user once."""
    unique = list({u.id: u for u in users if u is not None}.values())
    if unique:
        notify(unique, event, link=link, **context)
