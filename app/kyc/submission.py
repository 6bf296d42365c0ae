"""Submitting a KYC form: every field checked and every file inspected before anything is stored; documents
accepted last time are carried into a resubmission."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, ValidationError
from app.core.i18n import N_
from app.core.storage import get_storage, new_key
from app.core.uploads import CleanFile, UploadRejected, clean_upload, read_limited
from app.extensions import db
from app.kyc.models import (
    APPROVED,
    DOC_ACCEPTED,
    PENDING,
    REJECTED,
    RESUBMISSION_REQUESTED,
    KycDocument,
    KycField,
    KycForm,
    KycSubmission,
    KycValue,
)
from app.kyc.status import latest_submissions
from app.notifications.services import notify

MAX_TEXT = {"text": 500, "textarea": 5000}
COUNTRY_FIELDS = ("issuing_country", "country")


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
    if suspicious_filename(storage.filename):
        raise UploadRejected(N_("This file name is not acceptable: send the file itself, named plainly."))
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
        if field.name in ("date_of_birth", "birth_date") and parsed > utcnow().date() - timedelta(days=18 * 365):
            return None, "You must be at least 18 years old."
        value = parsed.isoformat()
    if field.type == "number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None, "Enter a number."
        if not number.is_finite() or abs(number) > Decimal("1e15"):
            return None, "Enter a number."
    if field.type == "select" and value not in (field.options or []):
        return None, "Choose one of the options."
    return value, None


def submit(user: User, form: KycForm, values: dict[str, str], files: dict[str, Upload]) -> KycSubmission:
    """Validate every field and file first; store nothing unless all of it is acceptable."""
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
    clean_files: dict[int, CleanFile] = {}
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
    notify(user, "kyc_received", form=form.name)
    return submission
