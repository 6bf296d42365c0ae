"""Where a user stands with KYC: the forms in use, the newest submission per form, the overall status, what is
still missing to invest or to withdraw (the gate the investing and payout services call), the submission history
and the name the identity was verified under."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import lazyload

from app.auth.models import User
from app.core.errors import Forbidden, NotFound
from app.extensions import db
from app.kyc.models import (
    APPROVED,
    NOT_STARTED,
    PENDING,
    REJECTED,
    RESUBMISSION_REQUESTED,
    KycForm,
    KycSubmission,
)

INVEST = "invest"
WITHDRAW = "withdraw"
NAME_FIELDS = ("full_name", "legal_name")


def mask(value: str | None) -> str:
    if not value:
        return ""
    return "•" * max(len(value) - 4, 3) + value[-4:] if len(value) > 4 else "•" * len(value)


def active_forms(*, with_fields: bool = True) -> list[KycForm]:
    """The forms in use; `with_fields=False` leaves each form's fields to be loaded on first use (a status check
    never reads them)."""
    query = select(KycForm).where(KycForm.active.is_(True)).order_by(KycForm.position, KycForm.id)
    if not with_fields:
        query = query.options(lazyload(KycForm.fields))
    return list(db.session.scalars(query))


def required_forms(purpose: str | None = None) -> list[KycForm]:
    forms = active_forms(with_fields=False)
    if purpose == INVEST:
        return [f for f in forms if f.required_for_investing]
    if purpose == WITHDRAW:
        return [f for f in forms if f.required_for_withdrawing]
    required = [f for f in forms if f.required_for_investing or f.required_for_withdrawing]
    return required or forms


def latest_submissions(user_id: int) -> dict[int, KycSubmission]:
    """The newest submission of the user for each form (one query)."""
    newest = (select(func.max(KycSubmission.id)).where(KycSubmission.user_id == user_id)
              .group_by(KycSubmission.form_id))
    rows = db.session.scalars(select(KycSubmission).where(KycSubmission.id.in_(newest)))
    return {s.form_id: s for s in rows}


def latest_statuses(user_id: int) -> dict[int, str]:
    """The status of the user's newest submission for each form, {form id: status} (one query, no submission
    loaded: the status checks of every page and every investment read only this)."""
    newest = (select(func.max(KycSubmission.id)).where(KycSubmission.user_id == user_id)
              .group_by(KycSubmission.form_id))
    rows = db.session.execute(select(KycSubmission.form_id, KycSubmission.status).where(KycSubmission.id.in_(newest)))
    return {form_id: status for form_id, status in rows}


def form_status(latest: dict[int, KycSubmission] | dict[int, str], form_id: int) -> str:
    """The status of a form, from latest_submissions() or latest_statuses()."""
    found = latest.get(form_id)
    if found is None:
        return NOT_STARTED
    return found if isinstance(found, str) else found.status


def overall_status(user_id: int) -> str:
    """not_started / pending / approved / rejected / resubmission_requested, over the forms that gate anything."""
    forms = required_forms()
    if not forms:
        return NOT_STARTED
    latest = latest_statuses(user_id)
    statuses = [form_status(latest, f.id) for f in forms]
    if all(s == APPROVED for s in statuses):
        return APPROVED
    for state in (REJECTED, RESUBMISSION_REQUESTED, PENDING):
        if state in statuses:
            return state
    return NOT_STARTED


def missing_for(user_id: int, purpose: str) -> list[KycForm]:
    latest = latest_statuses(user_id)
    return [f for f in required_forms(purpose) if form_status(latest, f.id) != APPROVED]


def require_approved(user: User, purpose: str) -> None:
    """Investing and withdrawing need the forms configured for them approved."""
    missing = missing_for(user.id, purpose)
    if missing:
        names = ", ".join(f.name for f in missing)
        action = "invest" if purpose == INVEST else "withdraw"
        raise Forbidden(f"Identity verification is not complete: to {action}, {names} must be approved.",
                        {"kyc": [f"{f.name}: {form_status(latest_statuses(user.id), f.id).replace('_', ' ')}"
                                 for f in missing]})


def submission_for_owner(submission_id: int, user: User) -> KycSubmission:
    submission = db.session.get(KycSubmission, submission_id)
    if submission is None or submission.user_id != user.id:
        raise NotFound("no such submission")
    return submission


def history(user_id: int) -> list[KycSubmission]:
    return list(db.session.scalars(select(KycSubmission).where(KycSubmission.user_id == user_id)
                                   .order_by(KycSubmission.id.desc())))


def approved_full_name(user_id: int) -> str | None:
    """The name the user's identity was verified under, or None without an approved identity.

    A form that asks for the name (a `full_name` or `legal_name` field, or `first_name` + `last_name`) gives it
    from its approved submission; a form that does not (the photo ID is matched against the account) confirms the
    name on the account."""
    approved = [s for s in latest_submissions(user_id).values() if s.status == APPROVED]
    if not approved:
        return None
    for submission in sorted(approved, key=lambda s: s.form.position):
        values = {v.field.name: (v.text or "").strip() for v in submission.values}
        for name in NAME_FIELDS:
            if values.get(name):
                return values[name]
        joined = " ".join(p for p in (values.get("first_name"), values.get("last_name")) if p)
        if joined:
            return joined
    user = db.session.get(User, user_id)
    name = f"{user.first_name} {user.last_name}".strip() if user else ""
    return name or None
