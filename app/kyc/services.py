"""KYC: submit a form with its documents, review it (claim, per-document decisions, overall decision, bulk), flag
overdue cases, and gate investing and withdrawing. Services flush and never commit."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import func, select, update

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.security import has_permission
from app.extensions import db
from app.kyc.models import (
    APPROVED,
    DOC_ACCEPTED,
    DOC_DECISIONS,
    DOC_PENDING,
    DOC_REDO,
    DOC_REJECTED,
    NOT_STARTED,
    PENDING,
    REJECTED,
    RESUBMISSION_REQUESTED,
    TRANSITIONS,
    KycDocument,
    KycField,
    KycForm,
    KycSubmission,
    KycValue,
    ReasonCode,
)

INVEST = "invest"
WITHDRAW = "withdraw"
MAX_TEXT = {"text": 500, "textarea": 5000}
COUNTRY_FIELDS = ("issuing_country", "country")


def mask(value: str | None) -> str:
    if not value:
        return ""
    return "•" * max(len(value) - 4, 3) + value[-4:] if len(value) > 4 else "•" * len(value)


# forms and status ------------------------------------------------------------------------------------------------
def active_forms() -> list[KycForm]:
    return list(db.session.scalars(select(KycForm).where(KycForm.active.is_(True))
                                   .order_by(KycForm.position, KycForm.id)))


def required_forms(purpose: str | None = None) -> list[KycForm]:
    forms = active_forms()
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


def form_status(latest: dict[int, KycSubmission], form_id: int) -> str:
    submission = latest.get(form_id)
    return submission.status if submission else NOT_STARTED


def overall_status(user_id: int) -> str:
    """not_started / pending / approved / rejected / resubmission_requested, over the forms that gate anything."""
    forms = required_forms()
    if not forms:
        return NOT_STARTED
    latest = latest_submissions(user_id)
    statuses = [form_status(latest, f.id) for f in forms]
    if all(s == APPROVED for s in statuses):
        return APPROVED
    for state in (REJECTED, RESUBMISSION_REQUESTED, PENDING):
        if state in statuses:
            return state
    return NOT_STARTED


def missing_for(user_id: int, purpose: str) -> list[KycForm]:
    latest = latest_submissions(user_id)
    return [f for f in required_forms(purpose) if form_status(latest, f.id) != APPROVED]


def require_approved(user: User, purpose: str) -> None:
    """Investing and withdrawing need the forms configured for them approved."""
    missing = missing_for(user.id, purpose)
    if missing:
        names = ", ".join(f.name for f in missing)
        action = "invest" if purpose == INVEST else "withdraw"
        raise Forbidden(f"Identity verification is not complete: to {action}, {names} must be approved.",
                        {"kyc": [f"{f.name}: {form_status(latest_submissions(user.id), f.id).replace('_', ' ')}"
                                 for f in missing]})


# submission -----------------------------------------------------------------------------------------------------
@dataclass
class Upload:
    """A file as received: the bytes (already size-limited) and nothing else we trust."""

    data: bytes


def suspicious_filename(name: str | None) -> bool:
    """Browsers send a bare file name; a path, a traversal or a control character means a crafted request."""
    if not name:
        return False
    return any(part in name for part in ("/", "\\", "..", "\x00")) or any(ord(ch) < 32 for ch in name)


def read_upload(storage, max_bytes: int) -> Upload:
    """A multipart file part, refused when its name is a path or it is larger than allowed (nothing is kept)."""
    from app.core.uploads import UploadRejected, read_limited

    if suspicious_filename(storage.filename):
        raise UploadRejected("This file name is not acceptable: send the file itself, named plainly.")
    return Upload(read_limited(storage.stream, max_bytes))


def _check_value(field: KycField, raw: str | None) -> tuple[str | None, str | None]:
    """(clean value, error)"""
    value = (raw or "").strip()
    if not value:
        return None, ("This field is required." if field.required else None)
    if field.type in MAX_TEXT and len(value) > MAX_TEXT[field.type]:
        return None, f"Use at most {MAX_TEXT[field.type]} characters."
    if field.type == "text" and re.search(r"[\x00-\x1f]", value):
        return None, "Use plain text on one line."
    if field.type == "date":
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            return None, "Use a date like 1990-04-21."
        if not date(1900, 1, 1) <= parsed <= date(2100, 12, 31):
            return None, "This date is out of range."
        if field.name in ("date_of_birth", "birth_date") and parsed > date.today() - timedelta(days=18 * 365):
            return None, "You must be at least 18 years old."
        value = parsed.isoformat()
    if field.type == "number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None, "Enter a number."
        if not number.is_finite() or abs(number) > Decimal("1e15"):
            return None, "Enter a number."
    if field.type == "select":
        if value not in (field.options or []):
            return None, "Choose one of the options."
    return value, None


def submit(user: User, form: KycForm, values: dict[str, str], files: dict[str, Upload]) -> KycSubmission:
    """Validate every field and file first; store nothing unless all of it is acceptable."""
    from app.core.storage import get_storage, new_key
    from app.core.uploads import UploadRejected, clean_upload

    if not form.active:
        raise NotFound("this form is not in use")
    latest = latest_submissions(user.id).get(form.id)
    if latest is not None and latest.status == PENDING:
        raise Conflict("this form is already being reviewed", {"form_id": ["Already submitted and under review."]})
    if latest is not None and latest.status == APPROVED:
        raise Conflict("this form is already approved", {"form_id": ["Already approved."]})
    if latest is not None and latest.status == REJECTED:
        raise Conflict("this form was rejected; please contact support", {"form_id": ["Rejected: contact support."]})
    carried = {}
    if latest is not None and latest.status == RESUBMISSION_REQUESTED:
        carried = {d.field_id: d for d in latest.documents if d.decision == DOC_ACCEPTED}

    errors: dict[str, list[str]] = {}
    clean_values: dict[int, str] = {}
    clean_files: dict[int, object] = {}
    for field in form.fields:
        if field.type == "file":
            upload = files.get(field.name)
            if upload is None or not upload.data:
                if field.required and field.id not in carried:
                    errors[field.name] = ["Attach this document."]
                continue
            try:
                clean_files[field.id] = clean_upload(upload.data)
            except UploadRejected as exc:
                errors[field.name] = [exc.message]
            continue
        value, error = _check_value(field, values.get(field.name))
        if error:
            errors[field.name] = [error]
        elif value is not None:
            clean_values[field.id] = value
    unknown = (set(values) | set(files)) - {f.name for f in form.fields} - {"form_id", "csrf_token"}
    for name in sorted(unknown)[:5]:
        errors[name] = ["This form has no such field."]
    if errors:
        raise ValidationError("the submission is not complete", errors)

    by_id = {f.id: f for f in form.fields}
    country = next((clean_values[f.id] for f in form.fields if f.name in COUNTRY_FIELDS and f.id in clean_values),
                   None)
    submission = KycSubmission(user_id=user.id, form_id=form.id, status=PENDING, submitted_at=utcnow(),
                               previous_id=latest.id if latest is not None else None,
                               country=country[:2].upper() if country else None)
    db.session.add(submission)
    db.session.flush()
    for field_id, value in clean_values.items():
        sensitive = by_id[field_id].sensitive
        db.session.add(KycValue(submission_id=submission.id, field_id=field_id,
                                value=None if sensitive else value, secret_value=value if sensitive else None))
    storage = get_storage()
    written = []
    try:
        for field_id, clean in clean_files.items():
            key = new_key(f"kyc/{user.id}", clean.extension)
            storage.put(key, clean.data, clean.content_type)
            written.append(key)
            db.session.add(KycDocument(submission_id=submission.id, field_id=field_id, storage_key=key,
                                       content_type=clean.content_type, kind=clean.kind, size=clean.size,
                                       sha256=clean.sha256, width=clean.width, height=clean.height,
                                       pages=clean.pages))
        for field_id, old in carried.items():
            if field_id not in clean_files:
                db.session.add(KycDocument(submission_id=submission.id, field_id=field_id,
                                           storage_key=old.storage_key, content_type=old.content_type, kind=old.kind,
                                           size=old.size, sha256=old.sha256, width=old.width, height=old.height,
                                           pages=old.pages, carried_from_id=old.id, decision=DOC_ACCEPTED,
                                           reason_code=None, comment="Accepted in the previous submission."))
        db.session.flush()
    except Exception:
        for key in written:  # leave no orphan file behind a failed submission
            storage.delete(key)
        raise
    db.session.refresh(submission)
    audit.record("kyc.submitted", actor=user, target=submission,
                 after={"form": form.name, "documents": len(clean_files), "carried": len(carried)})
    from app.notifications.services import notify

    notify(user, "kyc_received", form=form.name)
    return submission


# review ---------------------------------------------------------------------------------------------------------
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
    taken = db.session.execute(
        update(KycSubmission).where(KycSubmission.id == submission.id,
                                    (KycSubmission.assignee_id.is_(None)) | (KycSubmission.assignee_id == actor.id))
        .values(assignee_id=actor.id, assigned_at=utcnow()).execution_options(synchronize_session=False)).rowcount
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
    from app.notifications.services import notify

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
    moved = db.session.execute(
        update(KycSubmission).where(KycSubmission.id == submission.id, KycSubmission.status == PENDING)
        .values(status=decision, decided_at=utcnow(), decided_by_id=actor.id, reason_code=code, comment=comment)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        db.session.refresh(submission)
        raise IllegalTransition(f"submission #{submission.id} was decided meanwhile")
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
    from app.notifications.services import notify

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


def submission_for_owner(submission_id: int, user: User) -> KycSubmission:
    submission = db.session.get(KycSubmission, submission_id)
    if submission is None or submission.user_id != user.id:
        raise NotFound("no such submission")
    return submission


def history(user_id: int) -> list[KycSubmission]:
    return list(db.session.scalars(select(KycSubmission).where(KycSubmission.user_id == user_id)
                                   .order_by(KycSubmission.id.desc())))


NAME_FIELDS = ("full_name", "legal_name")


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
