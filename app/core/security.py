"""Roles and the permission table: the one place that says who may do what, in the console and beyond."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from functools import wraps
from typing import ParamSpec, Protocol, TypeVar

from flask import abort
from flask_login import current_user

INVESTOR = "investor"
ADMIN = "admin"
COMPLIANCE = "compliance"
FINANCE = "finance"
PROPERTY_MANAGER = "property_manager"
SUPPORT = "support"

ROLES = (INVESTOR, ADMIN, COMPLIANCE, FINANCE, PROPERTY_MANAGER, SUPPORT)
STAFF_ROLES = frozenset({ADMIN, COMPLIANCE, FINANCE, PROPERTY_MANAGER, SUPPORT})

# Why an account is blocked decides who may lift the block (UNBLOCKERS). Blocks made before categories existed
# count as security blocks.
BLOCK_COMPLIANCE = "compliance"
BLOCK_SECURITY = "security"
BLOCK_REQUEST = "request"  # at the user's request
BLOCK_CATEGORIES = (BLOCK_COMPLIANCE, BLOCK_SECURITY, BLOCK_REQUEST)
BLOCK_LABELS = {BLOCK_COMPLIANCE: "compliance", BLOCK_SECURITY: "security", BLOCK_REQUEST: "at the user's request"}

# permission -> the roles that hold it. Admins hold every permission.
PERMISSIONS: dict[str, frozenset[str]] = {
    "dashboard.view": STAFF_ROLES,
    "users.view": frozenset({COMPLIANCE, FINANCE, SUPPORT}),
    "users.block": frozenset({COMPLIANCE, SUPPORT}),  # investors; staff accounts need staff.manage
    "users.unblock": frozenset({COMPLIANCE, SUPPORT}),  # within UNBLOCKERS; staff accounts need staff.manage
    "users.reset_2fa": frozenset({SUPPORT}),  # investors; a staff member's takes two admins (staff.manage)
    "users.resend_verification": frozenset({SUPPORT}),
    # closing an investor's account at their request: proposed by one, approved by a different holder
    "users.close": frozenset({COMPLIANCE, SUPPORT}),
    # support's tools for people: correct profile fields with a reason (never the e-mail; names after approved KYC go
    # to compliance as a case), a read-only "view as investor", messages to one investor or a segment (above 100
    # recipients a second holder approves)
    "users.edit_profile": frozenset({SUPPORT, COMPLIANCE}),
    "users.view_as": frozenset({SUPPORT}),
    "messages.send": frozenset({SUPPORT}),
    # support tickets: compliance may read the queue; replies, notes, assigning, closing and reopening are support's
    "tickets.view": frozenset({SUPPORT, COMPLIANCE}),
    "tickets.reply": frozenset({SUPPORT}),
    # exporting a console list (CSV, XLSX): on top of the list's own permission, audited
    "exports.run": STAFF_ROLES,
    "roles.view": frozenset(),
    "roles.assign": frozenset(),
    "sessions.view": frozenset({COMPLIANCE, SUPPORT}),
    "sessions.revoke": frozenset({SUPPORT}),  # investors; staff accounts need staff.manage
    # act on a staff account (block, unblock, reset 2FA, end sessions, roles); propose and approve the changes
    # that take a second admin (unblocking, resetting 2FA). Nobody acts on their own account.
    "staff.manage": frozenset(),
    "signins.view": frozenset({COMPLIANCE, SUPPORT}),
    "audit.view": frozenset({COMPLIANCE}),
    "audit.export": frozenset({COMPLIANCE}),
    "ledger.view": frozenset({FINANCE}),
    "ledger.verify": frozenset({FINANCE}),
    "deposits.view": frozenset({FINANCE, SUPPORT}),
    "deposits.approve": frozenset({FINANCE}),
    "payments.settings": frozenset({FINANCE}),
    # settings that guard money (app/settings/registry.py): finance proposes and a second finance user approves;
    # the keys marked admin-only (the rate cap) take two admins
    "settings.propose": frozenset({FINANCE}),
    "settings.approve": frozenset({FINANCE}),
    "payouts.view": frozenset({FINANCE, SUPPORT}),
    "payouts.approve": frozenset({FINANCE}),
    "kyc.view": frozenset({COMPLIANCE, SUPPORT}),
    "kyc.review": frozenset({COMPLIANCE}),
    "kyc.forms": frozenset({COMPLIANCE}),
    "investments.view": frozenset({FINANCE, SUPPORT, PROPERTY_MANAGER}),
    "investments.manage": frozenset({FINANCE}),
    "distributions.declare": frozenset({FINANCE}),
    "distributions.approve": frozenset({FINANCE}),
    # fund a property's distributions account from operator funding: every funding approved by a second person
    "distributions.fund": frozenset({FINANCE}),
    "returns.view": frozenset({FINANCE}),
    "returns.run": frozenset({FINANCE}),
    "properties.view": frozenset({PROPERTY_MANAGER, FINANCE, SUPPORT}),
    "properties.edit": frozenset({PROPERTY_MANAGER}),  # set up drafts; complete or cancel an offering
    # publication and changes of published terms take two people: a manager submits, finance (not the
    # submitter) approves (app/properties/approval.py)
    "properties.submit": frozenset({PROPERTY_MANAGER}),
    "properties.approve": frozenset({FINANCE}),
    "notifications.view": frozenset({COMPLIANCE, SUPPORT}),
    "notifications.resend": frozenset({SUPPORT}),
    "notifications.templates": frozenset({SUPPORT}),
    # operations: the jobs page (queues, workers, beat jobs, failed tasks) and alerts; Retry and Discard of failed tasks
    "ops.view": frozenset({FINANCE}),
    "market.view": frozenset({FINANCE, COMPLIANCE, SUPPORT}),
    "market.halt": frozenset({FINANCE, COMPLIANCE}),
    "market.surveillance": frozenset({COMPLIANCE}),
    "ops.jobs": frozenset(),
    # finance operations: disputes and chargebacks; bank statements (matches above the two-person threshold take a
    # second finance user); balance adjustments (always two people); period close (reopening: two admins)
    "disputes.manage": frozenset({FINANCE}),
    "statements.import": frozenset({FINANCE}),
    "adjustments.propose": frozenset({FINANCE}),
    "adjustments.approve": frozenset({FINANCE}),
    "periods.close": frozenset({FINANCE}),
    "periods.reopen": frozenset(),
    "reports.view": frozenset({FINANCE}),
    "reports.export": frozenset({FINANCE}),
}


# block category -> the roles, besides admins, that may lift a block of it (they need users.unblock too)
UNBLOCKERS: dict[str, frozenset[str]] = {
    BLOCK_COMPLIANCE: frozenset({COMPLIANCE}),
    BLOCK_SECURITY: frozenset(),
    BLOCK_REQUEST: frozenset({COMPLIANCE, SUPPORT}),
}


class RoleHolder(Protocol):
    """Whom a permission is asked about: a user, signed in or not, and the names of the roles it holds."""

    @property
    def is_authenticated(self) -> bool: ...

    @property
    def role_names(self) -> Set[str]: ...


P = ParamSpec("P")
R = TypeVar("R")


def role_permissions(role: str) -> frozenset[str]:
    if role == ADMIN:
        return frozenset(PERMISSIONS)
    return frozenset(p for p, roles in PERMISSIONS.items() if role in roles)


def permissions_of(roles: Iterable[str]) -> frozenset[str]:
    held: set[str] = set()
    for role in roles:
        held |= role_permissions(role)
    return frozenset(held)


def has_permission(user: RoleHolder, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    if not getattr(user, "is_authenticated", False):
        return False
    return permission in permissions_of(user.role_names)


def may_lift_block(user: RoleHolder, category: str | None) -> bool:
    """May `user` lift a block of this category (None: a block from before categories, a security block)?"""
    if not has_permission(user, "users.unblock"):
        return False
    roles = user.role_names
    return ADMIN in roles or bool(roles & UNBLOCKERS.get(category or BLOCK_SECURITY, frozenset()))


def grantable_roles(granter: RoleHolder) -> frozenset[str]:
    """Roles `granter` may give or take: only with roles.assign, and only roles whose every permission the
    granter holds (so nobody can hand out more than they have)."""
    if not has_permission(granter, "roles.assign"):
        return frozenset()
    held = permissions_of(granter.role_names)
    return frozenset(role for role in ROLES if role_permissions(role) <= held)


def role_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Allow the view only to a signed-in user holding one of `roles` (401 -> login, 403 otherwise)."""

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if not current_user.is_authenticated:
                abort(401)
            if not current_user.has_any_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
