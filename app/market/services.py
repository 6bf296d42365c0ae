"""The market's facade: every caller (portal, API, console, tasks, CLI) imports this module only.

    surveillance.py  flags on settled trades and their review
Services flush and never commit."""
from __future__ import annotations

from app.market.surveillance import flag_trade, review_flag

__all__ = ["flag_trade", "review_flag"]
