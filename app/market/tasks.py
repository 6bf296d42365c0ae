"""Market jobs: the every-minute expiry of listings and offers (server-side deadlines, never the browser's)."""
from __future__ import annotations

import logging

from celery import shared_task

from app.core.db import unit_of_work
from app.market import services

log = logging.getLogger(__name__)


@shared_task(name="market.expire")
def expire() -> dict[str, int]:
    """Expire the listings and the offers past their expiry, releasing what they held exactly once (a retried or
    duplicated run finds nothing left to do). Listings first: their live offers end with them."""
    with unit_of_work():
        listings = services.expire_listings()
        offers = services.expire_offers()
    if listings or offers:
        log.info("market: %s listing(s) and %s offer(s) expired", listings, offers)
    return {"listings": listings, "offers": offers}
