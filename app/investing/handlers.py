"""Investing's part in what happens to a property, subscribed to the signals of app/properties/signals.py
(properties sit below investing and never import it). Connected when the investing package is imported."""
from __future__ import annotations

from app.investing import services as investing
from app.properties.models import Property
from app.properties.signals import investments_asked, property_cancelled


@property_cancelled.connect
def refund_investments(p: Property, *, actor, reason: str, **_) -> None:
    """The property was cancelled: every live investment is refunded in the same unit of work."""
    investing.cancel_property_investments(p, actor=actor, reason=reason)


@investments_asked.connect
def answer_has_investments(p: Property, **_) -> bool:
    return investing.has_investments(p.id)
