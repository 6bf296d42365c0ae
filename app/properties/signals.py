"""What properties tell the domains above them, which subscribe instead of being imported from here.

- `property_cancelled(p, actor=..., reason=...)`: sent inside the unit of work that cancelled `p`, after its
  status changed; a receiver does its own part of the cancellation in the same transaction (investing refunds
  every live investment). An error in a receiver refuses the whole cancellation.
- `investments_asked(p)`: a receiver returns True when someone has invested in `p` (investing knows); properties
  decide from their own raised amount first and ask only when it is zero.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

property_cancelled = _signals.signal("property-cancelled")
investments_asked = _signals.signal("property-investments-asked")
