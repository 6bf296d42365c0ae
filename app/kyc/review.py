"""Reviewing KYC: claim and assign cases, decide each document, decide the submission once (approve, reject or
ask for a resubmission) as a conditional state change, bulk decisions, overdue cases, the queue's counts and the
reviewer's audited view of a document."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, func, select, update

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.security import has_permission
from app.core.states import transition
from app.extensions import db
from app.kyc.models import (
    APPROVED,
    DOC_ACCEPTED,
    DOC_DECISIONS,
    DOC_PENDING,
    DOC_REDO,
    DOC_REJECTED,
    PENDING,
    REJECTED,
    RESUBMISSION_REQUESTED,
    TRANSITIONS,
    KycDocument,
    KycSubmission,
    ReasonCode,
)
from app.notifications.services import notify


def _reviewer(actor: User) -> None:
    if not has_permission(actor, "kyc.review"):
        raise Forbidden("only compliance reviewers may do this")


def reason_label(code: str | None) -> str | None:
    if not code:
        return None
    reason = db.session.scalar(select(ReasonCode).where(ReasonCode.code == code))
    return reason.label if reason else code


def _reason(code: str | None, applies_to: str, *, required: bool) -> str | None:
    code = (code or "").strip() or None
    if code is None:
        if required:
            raise ValidationError("a reason is required", {"reason_code": ["Pick a reason."]})
        return None
    reason = db.session.scalar(select(ReasonCode).where(ReasonCode.code == code, ReasonCode.active.is_(True)))
    if reason is None or reason.applies_to not in (applies_to, "both"):
        raise ValidationError("unknown reason", {"reason_code": ["Pick a reason from the list."]})
    return code


def _pending(submission: KycSubmission) -> None:
    if submission.status != PENDING:
        raise IllegalTransition(f"submission #{submission.id} is {submission.status.replace('_', ' ')}, not pending")


def claim(submission: KycSubmission, actor: User) -> KycSubmission:
    """Take an unassigned case (or keep one already yours)."""
    _reviewer(actor)
    _pending(submission)
    taken = cast("CursorResult[Any]", db.session.execute(
        update(KycSubmission).where(KycSubmission.id == submission.id,
                                    (KycSubmission.assignee_id.is_(None)) | (KycSubmission.assignee_id == actor.id))
        .values(assignee_id=actor.id, assigned_at=utcnow())
        .execution_options(synchronize_session=False))).rowcount
    db.session.refresh(submission)
    if not taken:
        raise Conflict(f"already claimed by {submission.assignee.email}")
    audit.record("kyc.claim", actor=actor, target=submission)
    return submission


def assign(submission: KycSubmission, assignee: User | None, actor: User) -> KycSubmission:
    _reviewer(actor)
    _pending(submission)
    if assignee is not None and not has_permission(assignee, "kyc.review"):
        raise ValidationError("this person does not review KYC", {"assignee": ["Not a KYC reviewer."]})
    before = submission.assignee_id
    submission.assignee_id = assignee.id if assignee else None
    submission.assigned_at = utcnow() if assignee else None
    db.session.flush()
    audit.record("kyc.assign", actor=actor, target=submission, before={"assignee_id": before},
                 after={"assignee_id": submission.assignee_id})
    return submission


def decide_document(document: KycDocument, decision: str, *, actor: User, reason_code: str | None = None,
                    comment: str | None = None) -> KycDocument:
    _reviewer(actor)
    _pending(document.submission)
    if decision not in DOC_DECISIONS or decision == DOC_PENDING:
        raise ValidationError("unknown decision", {"decision": ["Accept, reject or request a new one."]})
    code = _reason(reason_code, "document", required=decision != DOC_ACCEPTED)
    before = document.decision
    document.decision = decision
    document.reason_code = code
    document.comment = (comment or "").strip()[:2000] or None
    document.decided_by_id = actor.id
    document.decided_at = utcnow()
    db.session.flush()
    audit.record("kyc.document_decision", actor=actor, target=document, before={"decision": before},
                 after={"decision": decision, "reason_code": code, "comment": document.comment})
    return document


def documents_to_redo(submission: KycSubmission) -> list[dict]:
    return [{"label": d.field.label, "reason": reason_label(d.reason_code), "comment": d.comment}
            for d in submission.documents if d.decision in (DOC_REDO, DOC_REJECTED)]


def decide(submission: KycSubmission, decision: str, *, actor: User, reason_code: str | None = None,
           comment: str | None = None) -> KycSubmission:
    """The overall decision: approve, reject or request a resubmission. Exactly once per submission."""
    _reviewer(actor)
    if decision not in TRANSITIONS[PENDING]:
        raise ValidationError("unknown decision", {"decision": ["Approve, reject or request a resubmission."]})
    _pending(submission)
    if submission.user_id == actor.id:
        raise Forbidden("nobody reviews their own KYC")
    comment = (comment or "").strip()[:2000] or None
    code = _reason(reason_code, "submission", required=decision != APPROVED)
    if decision == APPROVED:
        blocking = [d.field.label for d in submission.documents if d.decision in (DOC_REJECTED, DOC_REDO)]
        if blocking:
            raise Conflict("documents are not accepted: " + ", ".join(blocking),
                           {"documents": [f"{label} is not accepted." for label in blocking]})
    if decision == RESUBMISSION_REQUESTED and not documents_to_redo(submission) and not comment:
        raise ValidationError("say what to redo", {"comment": ["Mark the documents to redo, or explain in a "
                                                               "comment what is missing."]})
    transition(submission, decision, TRANSITIONS, what=f"submission #{submission.id}", decided_at=utcnow(),
               decided_by_id=actor.id, reason_code=code, comment=comment)
    if decision == APPROVED:
        db.session.execute(update(KycDocument).where(KycDocument.submission_id == submission.id,
                                                     KycDocument.decision == DOC_PENDING)
                           .values(decision=DOC_ACCEPTED, decided_by_id=actor.id, decided_at=utcnow())
                           .execution_options(synchronize_session=False))
    db.session.refresh(submission)
    audit.record(f"kyc.{decision}", actor=actor, target=submission, before={"status": PENDING},
                 after={"status": decision, "reason_code": code, "comment": comment}, reason=comment or code)
    event = {APPROVED: "kyc_approved", REJECTED: "kyc_rejected", RESUBMISSION_REQUESTED: "kyc_resubmission_requested"}
    notify(submission.user, event[decision], form=submission.form.name, reason=reason_label(code), comment=comment,
           documents=documents_to_redo(submission))
    return submission


@dataclass
class BulkResult:
    submission_id: int
    ok: bool
    message: str


def bulk_decide(submission_ids: list[int], decision: str, *, actor: User, reason_code: str | None = None,
                comment: str | None = None) -> list[BulkResult]:
    """Each case in its own savepoint: one refusal does not undo the others; the result says which did what."""
    if decision not in (APPROVED, REJECTED):
        raise ValidationError("bulk decisions are approve or reject")
    results = []
    for submission_id in submission_ids:
        submission = db.session.get(KycSubmission, submission_id)
        if submission is None:
            results.append(BulkResult(submission_id, False, "not found"))
            continue
        try:
            with db.session.begin_nested():
                decide(submission, decision, actor=actor, reason_code=reason_code, comment=comment)
            results.append(BulkResult(submission_id, True, decision))
        except (ValidationError, Conflict, Forbidden, IllegalTransition) as exc:
            db.session.expire(submission)
            results.append(BulkResult(submission_id, False, exc.message))
    return results


def flag_overdue(now: datetime | None = None) -> int:
    """Mark pending cases older than KYC_REVIEW_SLA_HOURS (set-based); tell the reviewers once per case."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=current_app.config["KYC_REVIEW_SLA_HOURS"])
    ids = list(db.session.scalars(select(KycSubmission.id).where(
        KycSubmission.status == PENDING, KycSubmission.overdue_at.is_(None), KycSubmission.submitted_at < cutoff)))
    if not ids:
        return 0
    db.session.execute(update(KycSubmission).where(KycSubmission.id.in_(ids), KycSubmission.overdue_at.is_(None))
                       .values(overdue_at=now).execution_options(synchronize_session=False))
    notify(None, "kyc_overdue_staff", count=len(ids), hours=current_app.config["KYC_REVIEW_SLA_HOURS"])
    return len(ids)


def queue_counts() -> dict:
    pending, overdue = db.session.execute(select(
        select(func.count(KycSubmission.id)).where(KycSubmission.status == PENDING).scalar_subquery(),
        select(func.count(KycSubmission.id)).where(KycSubmission.status == PENDING,
                                                   KycSubmission.overdue_at.is_not(None)).scalar_subquery(),
    )).one()
    return {"pending": pending, "overdue": overdue}


def document_for(document_id: int, viewer: User) -> KycDocument:
    """The document, for its owner or a KYC reviewer; anyone else gets 404. Reviewer views are audited."""
    document = db.session.get(KycDocument, document_id)
    if document is None:
        raise NotFound("no such document")
    if document.submission.user_id == viewer.id:
        return document
    if has_permission(viewer, "kyc.review"):
        audit.record("kyc.document_viewed", actor=viewer, target=document,
                     after={"submission": document.submission_id, "field": document.field.name})
        return document
    raise NotFound("no such document")
