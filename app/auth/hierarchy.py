"""A hierarchy among staff: who may act on whose account.

- Nobody acts on their own account (block, unblock, reset two-factor, end sessions, roles), admins included.
- Only an admin (`staff.manage`) acts on a staff account; unblocking one and resetting its two-factor
  authentication also take a second admin (app.auth.staff_requests).
- An investor's account is acted on with the action's own permission (users.block, users.unblock,
  users.reset_2fa, sessions.revoke); a block is lifted only by the roles its category allows
  (app.core.security.UNBLOCKERS).

A refused attempt by a staff member is recorded (`users.refused`) in a unit of work of its own, since the refused
one rolls back."""
from __future__ import annotations

from app.auth.models import User
from app.core import audit
from app.core.errors import Forbidden
from app.core.security import has_permission

STAFF_PERMISSION = "staff.manage"
REFUSED = "users.refused"


def require_may_act(actor: User, target: User, permission: str, *, what: str) -> None:
    """Refuse (Forbidden) unless `actor` may `what` (a verb phrase) `target`'s account with `permission`."""
    if target.id == actor.id:
        raise Forbidden(f"nobody may {what} their own account: ask another staff member")
    if target.is_staff and not has_permission(actor, STAFF_PERMISSION):
        raise Forbidden(f"only an admin may {what} a staff account")
    if not has_permission(actor, permission):
        raise Forbidden(f"you may not {what} this account: it needs the {permission} permission")


def record_refusal(attempted: str, *, actor: User, target: User, refusal: str, reason: str | None) -> None:
    """Audit a staff member's refused attempt on an account: what they tried, why it was refused, their reason."""
    audit.record(REFUSED, actor=actor, target=target,
                 after={"attempted": attempted, "refused": refusal, "target_is_staff": target.is_staff},
                 reason=(reason or "").strip()[:1000] or None)
