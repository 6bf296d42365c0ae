""""View as investor": support sees an investor's portal read-only, for at most VIEW_MINUTES, with a reason.

A viewing is a row (ViewAsSession) bound to the staff member's own signed-in session: another browser, a later
session or a copied cookie does not carry it. Starting and stopping are audited (with the reason, and the number
of pages seen); each page shown is a lightweight ViewAsPage row rather than an audit record, so reading pages does
not take the audit chain's append lock (see docs/decisions/0032). Only GET/HEAD of the read-only pages in
READ_ONLY_PAGES render as the investor; the portal's hook (app/portal/view_as.py) refuses everything else.
Services flush and never commit."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select, update

from app.account.view_as_models import ViewAsPage, ViewAsSession
from app.auth.models import USER_CLOSED, User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Forbidden, NotFound, ValidationError
from app.core.security import has_permission
from app.extensions import db

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

PERMISSION = "users.view_as"
VIEW_MINUTES = 30
SESSION_KEY = "view_as"  # the Flask session key holding the open viewing's id (set by the console)
STARTED, STOPPED, ENDED = "users.view_as_started", "users.view_as_stopped", "users.view_as_ended"
REFUSED = "users.view_as_refused"

# the portal pages that only read: rendered as the investor while viewing (GET and HEAD only)
READ_ONLY_PAGES = frozenset({
    "portal.dashboard", "portal.wallet", "portal.portfolio", "portal.portfolio_holding", "portal.catalogue",
    "portal.property_detail", "portal.market_index", "portal.market_listing", "portal.market_mine",
    "portal.statements_index", "portal.statement_detail", "portal.statement_status", "portal.notifications_inbox",
    "portal.profile_page", "portal.kyc_overview",
})


def may_view(actor: User, target: User) -> str | None:
    """Why `actor` may not view `target`'s portal, or None when they may."""
    if target.id == actor.id:
        return "nobody may view their own account as an investor"
    if target.is_staff:
        return "a staff account has no investor portal to view"
    if target.status == USER_CLOSED:
        return "the account is closed"
    if not has_permission(actor, PERMISSION):
        return f"viewing as an investor needs the {PERMISSION} permission"
    return None


def start(target: User, *, actor: User, staff_session_id: int | None, reason: str | None) -> ViewAsSession:
    """Open a viewing of `target`'s portal by `actor`, ending any other open viewing of the same staff session."""
    refusal = may_view(actor, target)
    if refusal is not None:
        raise Forbidden(refusal)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("a reason is needed", {"reason": ["Say why you view this investor's portal."]})
    if staff_session_id is None:
        raise Forbidden("viewing as an investor needs a signed-in console session")
    now = utcnow()
    for previous in db.session.scalars(select(ViewAsSession).where(
            ViewAsSession.staff_session_id == staff_session_id, ViewAsSession.ended_at.is_(None),
            ViewAsSession.expires_at > now)):
        stop(previous, actor=actor, how="replaced")
    row = ViewAsSession(staff_id=actor.id, user_id=target.id, staff_session_id=staff_session_id,
                        reason=reason[:1000], started_at=now, expires_at=now + timedelta(minutes=VIEW_MINUTES))
    db.session.add(row)
    db.session.flush()
    audit.record(STARTED, actor=actor, target=target, reason=row.reason,
                 after={"view_as_id": row.id, "expires_at": row.expires_at})
    return row


def open_for(view_as_id, *, actor: User, staff_session_id: int | None) -> ViewAsSession | None:
    """The viewing `view_as_id` when it belongs to this staff member and this session (open or just expired)."""
    if not isinstance(view_as_id, int) or staff_session_id is None:
        return None
    row = db.session.get(ViewAsSession, view_as_id)
    if row is None or row.staff_id != actor.id or row.staff_session_id != staff_session_id or row.ended_at:
        return None
    return row


def pages_seen(row: ViewAsSession) -> int:
    return db.session.scalar(select(func.count(ViewAsPage.id)).where(ViewAsPage.view_as_id == row.id)) or 0


def stop(row: ViewAsSession, *, actor: User, how: str = "stopped") -> ViewAsSession:
    """End a viewing: "stopped" by its staff member, "replaced" by a new one, "expired" after VIEW_MINUTES,
    "signed_out" with its staff member, "refused" when the staff member or the investor no longer qualifies."""
    if row.staff_id != actor.id:
        raise NotFound("no such viewing")
    if row.ended_at is not None:
        return row
    now = utcnow()
    ended_at = min(now, row.expires_at)
    updated = cast("CursorResult[Any]", db.session.execute(update(ViewAsSession).where(
        ViewAsSession.id == row.id, ViewAsSession.ended_at.is_(None)).values(ended_at=ended_at, end_reason=how[:16])
        .execution_options(synchronize_session=False))).rowcount
    db.session.refresh(row)
    if updated:  # once, whoever ends it first (two tabs stopping at the same moment)
        audit.record(STOPPED if how == "stopped" else ENDED, actor=actor, target=row.user,
                     after={"view_as_id": row.id, "how": how, "pages": pages_seen(row),
                            "minutes": round((ended_at - row.started_at).total_seconds() / 60, 1)})
    return row


def note_page(row: ViewAsSession, *, endpoint: str, path: str) -> None:
    db.session.add(ViewAsPage(view_as_id=row.id, endpoint=endpoint[:80], path=path[:300]))
    db.session.flush()


def record_refusal(row: ViewAsSession, *, actor: User, endpoint: str | None, method: str, path: str) -> None:
    """Something beyond reading was tried while viewing: kept in the audit trail."""
    audit.record(REFUSED, actor=actor, target=row.user,
                 after={"view_as_id": row.id, "endpoint": endpoint, "method": method, "path": path[:300]})


def recent(limit: int = 50) -> list[ViewAsSession]:
    return list(db.session.scalars(select(ViewAsSession).order_by(ViewAsSession.id.desc()).limit(limit)))


def pages_of(view_as_ids: list[int]) -> dict[int, int]:
    if not view_as_ids:
        return {}
    rows = db.session.execute(select(ViewAsPage.view_as_id, func.count(ViewAsPage.id)).where(
        ViewAsPage.view_as_id.in_(view_as_ids)).group_by(ViewAsPage.view_as_id))
    return {view_as_id: count for view_as_id, count in rows}


def pages_for(view_as_id: int) -> list[ViewAsPage]:
    return list(db.session.scalars(select(ViewAsPage).where(ViewAsPage.view_as_id == view_as_id)
                                   .order_by(ViewAsPage.id).limit(500)))
