"""The ledger accounts of a property that investing moves money through."""
from __future__ import annotations

from app.ledger import services as ledger
from app.ledger.models import PROPERTY_ESCROW, RETURNS_FUNDING, Account


def escrow_account(property_id: int) -> Account:
    """What the property's investors paid in and has not been paid back or refunded."""
    return ledger.platform_account(PROPERTY_ESCROW, ref=str(property_id))


def distributions_account(property_id: int) -> Account:
    """The property operator's distributions account: the operator funds it; returns and declared distributions are
    paid from it, only as far as it covers them (what it does not cover waits: a funding shortfall)."""
    return ledger.platform_account(RETURNS_FUNDING, ref=str(property_id))
