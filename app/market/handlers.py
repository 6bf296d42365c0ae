"""The market's part in what happens to a property, subscribed to the signals of app/properties/signals.py
(properties sit below the market and never import it). Connected when the market package is imported."""
from __future__ import annotations

from app.market import listings
from app.properties.models import Property
from app.properties.signals import property_cancelled


@property_cancelled.connect
def close_listings(p: Property, *, reason: str, **_) -> None:
    """The property was cancelled: its open listings close (cancelled) and every live offer on them is released,
    in the unit of work that refunds the holdings."""
    listings.cancel_property_listings(p.id, f"the property was cancelled: {reason}"[:500])
