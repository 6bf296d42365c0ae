"""The investing services' clock: the current UTC time, read through this module (`clock.utcnow()`) so that demo
data with a past (app.properties.demo.demo_clock) can set it back while demo investments are made."""
from __future__ import annotations

from app.core.db import utcnow

__all__ = ["today", "utcnow"]


def today():
    return utcnow().date()
