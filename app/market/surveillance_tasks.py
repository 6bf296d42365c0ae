"""The surveillance of a settled trade, queued by settlement after its commit ("market.surveil_trade")."""
from __future__ import annotations

from celery import shared_task

from app.core.db import unit_of_work
from app.extensions import db
from app.market import services as market
from app.market.models import Trade


@shared_task(name="market.surveil_trade")
def surveil_trade(trade_id: int) -> list[str]:
    """Raise the trade's surveillance flags (each kind once: a retry or a second delivery raises nothing new).
    Returns the kinds raised by this run."""
    with unit_of_work():
        trade = db.session.get(Trade, trade_id)
        if trade is None:
            return []
        return [flag.kind for flag in market.flag_trade(trade)]
