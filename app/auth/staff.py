"""What staff do to other people's accounts: block and unblock, resend a verification link, set roles. Each is
audited with the reason given; the last active admin is never locked out."""
from __future__ import annotations

from sqlalchemy import select

from app.auth.accounts import ensure_roles, send_verification
from app.auth.models import USER_ACTIVE, USER_BLOCKED, Role, User
from app.auth.security_changes import end_other_sessions
from app.core import audit
from app.core.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from app.core.security import ADMIN, ROLES, grantable_roles
from app.extensions import db


def need_reason(reason: str | None) -> str:
    """The reason a staff member gives for an action (it goes into the audit trail): required, trimmed."""
    if not reason or not reason.strip():
        raise ValidationError("a reason is required", {"reason": ["Say why: it goes into the audit trail."]})
    return reason.strip()[:1000]


def _active_admins(excluding: int | None = None) -> int:
    query = (select(db.func.count(User.id)).join(User.roles)
             .where(Role.name == ADMIN, User.status == USER_ACTIVE))
    if excluding is not None:
        query = query.where(User.id != excluding)
    return db.session.execute(query).scalar_one()


def block_user(user: User, *, actor: User, reason: str | None) -> None:
    reason = need_reason(reason)
    if user.id == actor.id:
        raise Forbidden("you cannot block yourself")
    if user.status == USER_BLOCKED:
        raise IllegalTransition("this user is already blocked")
    if user.has_role(ADMIN) and _active_admins(excluding=user.id) == 0:
        raise Conflict("this is the last active admin: it cannot be blocked")
    user.status = USER_BLOCKED
    db.session.flush()
    ended = end_other_sessions(user, reason="blocked by staff", keep_id=None)
    audit.record("users.block", actor=actor, target=user, before={"status": USER_ACTIVE},
                 after={"status": USER_BLOCKED, "sessions_ended": ended}, reason=reason)


def unblock_user(user: User, *, actor: User, reason: str | None) -> None:
    reason = need_reason(reason)
    if user.status != USER_BLOCKED:
        raise IllegalTransition("this user is not blocked")
    user.status = USER_ACTIVE
    user.failed_logins = 0
    user.locked_until = None
    db.session.flush()
    audit.record("users.unblock", actor=actor, target=user, before={"status": USER_BLOCKED},
                 after={"status": USER_ACTIVE}, reason=reason)


def staff_resend_verification(user: User, *, actor: User) -> None:
    send_verification(user)
    audit.record("users.resend_verification", actor=actor, target=user)


def set_roles(user: User, roles: set[str], *, actor: User, reason: str | None) -> None:
    """Replace the user's roles. Only roles the actor may grant can be added or removed; the last admin stays."""
    reason = need_reason(reason)
    unknown = roles - set(ROLES)
    if unknown or not roles:
        raise ValidationError("pick at least one known role", {"roles": ["Pick at least one known role."]})
    before = set(user.role_names)
    changed = before ^ roles
    allowed = grantable_roles(actor)
    if not changed <= allowed:
        raise Forbidden(f"you may not grant or remove: {', '.join(sorted(changed - allowed))}")
    if ADMIN in before and ADMIN not in roles and _active_admins(excluding=user.id) == 0:
        raise Conflict("this is the last admin: the admin role cannot be removed")
    all_roles = ensure_roles()
    user.roles = [all_roles[r] for r in sorted(roles)]
    db.session.flush()
    if changed:
        end_other_sessions(user, reason="roles changed", keep_id=None)
    audit.record("roles.assign", actor=actor, target=user, before={"roles": sorted(before)},
                 after={"roles": sorted(roles)}, reason=reason)
