"""What staff do to other people's accounts: block and unblock, end sessions, resend a verification link, set
roles. Each is audited with the reason given; the hierarchy (app.auth.hierarchy) says who may act on whom; the last
active admin is never locked out. Unblocking a staff account takes a second admin (app.auth.staff_requests), which
applies it with `apply_unblock`."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.auth.accounts import ensure_roles, send_verification
from app.auth.hierarchy import STAFF_PERMISSION, require_may_act
from app.auth.models import USER_ACTIVE, USER_BLOCKED, USER_CLOSED, Role, User
from app.auth.security_changes import end_other_sessions
from app.core import audit
from app.core.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from app.core.security import (
    ADMIN,
    BLOCK_CATEGORIES,
    BLOCK_LABELS,
    ROLES,
    STAFF_ROLES,
    UNBLOCKERS,
    grantable_roles,
    has_permission,
    may_lift_block,
)
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


def block_user(user: User, *, actor: User, reason: str | None, category: str | None = None) -> None:
    """Block an account with a category (compliance, security, at the user's request) and a reason; its sessions
    and API tokens end. A staff account is blocked by an admin only."""
    require_may_act(actor, user, "users.block", what="block")
    reason = need_reason(reason)
    if category not in BLOCK_CATEGORIES:
        raise ValidationError("pick the kind of block", {"category": [
            "Compliance, security or at the user's request: it decides who may lift the block."]})
    if user.status == USER_BLOCKED:
        raise IllegalTransition("this user is already blocked")
    if user.status == USER_CLOSED:
        raise IllegalTransition("this account is closed")
    if user.has_role(ADMIN) and _active_admins(excluding=user.id) == 0:
        raise Conflict("this is the last active admin: it cannot be blocked")
    user.status = USER_BLOCKED
    user.block_category = category
    db.session.flush()
    ended = end_other_sessions(user, reason="blocked by staff", keep_id=None)
    audit.record("users.block", actor=actor, target=user, before={"status": USER_ACTIVE},
                 after={"status": USER_BLOCKED, "category": category, "sessions_ended": ended}, reason=reason)


def _lifters(category: str) -> str:
    roles = sorted(UNBLOCKERS.get(category, frozenset()))
    return " or ".join([*roles, "an admin"]) if roles else "an admin only"


def unblock_user(user: User, *, actor: User, reason: str | None) -> None:
    """Lift an investor's block, as far as its category allows the actor. A staff account's block is lifted only
    when a second admin approves (app.auth.staff_requests)."""
    require_may_act(actor, user, "users.unblock", what="unblock")
    if user.is_staff:
        raise Forbidden("unblocking a staff account takes a second admin: propose it, and another admin approves")
    if user.status != USER_BLOCKED:
        raise IllegalTransition("this user is not blocked")
    category = user.blocked_as
    if not may_lift_block(actor, category):
        raise Forbidden(f"a {BLOCK_LABELS.get(category or '', category)} block is lifted by "
                        f"{_lifters(category or '')}")
    apply_unblock(user, actor=actor, reason=need_reason(reason))


def apply_unblock(user: User, *, actor: User | None, reason: str, extra: dict[str, Any] | None = None) -> None:
    """Lift the block (the caller has checked who may): the account is active again, its lockout cleared."""
    if user.status != USER_BLOCKED:
        raise IllegalTransition("this user is not blocked")
    category = user.blocked_as
    user.status = USER_ACTIVE
    user.block_category = None
    user.failed_logins = 0
    user.locked_until = None
    db.session.flush()
    audit.record("users.unblock", actor=actor, target=user, before={"status": USER_BLOCKED, "category": category},
                 after={"status": USER_ACTIVE, **(extra or {})}, reason=reason)


def end_sessions(user: User, *, actor: User, reason: str | None) -> int:
    """End every session and API token of the account; a staff account's by an admin only."""
    require_may_act(actor, user, "sessions.revoke", what="end the sessions of")
    reason = need_reason(reason)
    ended = end_other_sessions(user, reason="ended by staff", keep_id=None)
    audit.record("sessions.revoke_all", actor=actor, target=user, after={"sessions_ended": ended}, reason=reason)
    return ended


def staff_resend_verification(user: User, *, actor: User) -> None:
    send_verification(user)
    audit.record("users.resend_verification", actor=actor, target=user)


def set_roles(user: User, roles: set[str], *, actor: User, reason: str | None) -> None:
    """Replace the user's roles. Only roles the actor may grant can be added or removed; nobody changes their own
    roles; a staff account (before or after) is an admin's to change; the last admin stays."""
    require_may_act(actor, user, "roles.assign", what="change the roles of")
    reason = need_reason(reason)
    unknown = roles - set(ROLES)
    if unknown or not roles:
        raise ValidationError("pick at least one known role", {"roles": ["Pick at least one known role."]})
    before = set(user.role_names)
    changed = before ^ roles
    if roles & STAFF_ROLES and not has_permission(actor, STAFF_PERMISSION):
        raise Forbidden("only an admin may make an account a staff account")
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
