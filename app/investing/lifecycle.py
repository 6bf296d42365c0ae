"""An investment's status moves (INVESTMENT_TRANSITIONS): one conditional update each, refused when not allowed or
when another transaction moved it first."""
from __future__ import annotations

from app.core.states import transition
from app.investing import clock
from app.investing.models import INVESTMENT_TRANSITIONS, Investment


def move(inv: Investment, target: str, **values) -> str:
    """Move the investment to `target`, writing `values` in the same UPDATE; returns the status it left.
    IllegalTransition when the move is not allowed or the investment changed meanwhile."""
    values.setdefault("updated_at", clock.utcnow())
    return transition(inv, target, INVESTMENT_TRANSITIONS, what=f"investment #{inv.id}", **values)
