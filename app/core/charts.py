"""What the server-drawn charts (portal and console) share."""
from __future__ import annotations


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2, 2.5 or 5 times a power of ten (in minor units) at or above `value`: a chart axis's top."""
    if value <= 0:
        return 100
    power = 1
    while power * 10 <= value:
        power *= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return int(step * power)
    return power * 10
