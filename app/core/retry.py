"""The one retry schedule: exponential backoff with a cap and a little jitter.

Used by every task that tries again later (notification deliveries, webhook events, image processing), so a burst
of failures does not come back as one stampede.
"""
from __future__ import annotations

import random


def backoff_seconds(attempt: int, *, base: int = 30, cap: int = 3600, jitter: float = 0.1) -> int:
    """`base` after the first failed attempt, doubling each time, never more than `cap`; up to `jitter` of the delay
    is added at random (0 for an exact schedule)."""
    delay = min(base * 2 ** max(attempt - 1, 0), cap)
    return int(delay + random.uniform(0, delay * jitter)) if jitter else int(delay)  # noqa: S311 - not a secret
