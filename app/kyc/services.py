"""KYC: the public face of the domain. Submit a form with its documents, review it (claim, per-document decisions,
overall decision, bulk), flag overdue cases, and gate investing and withdrawing. Services flush and never commit.

Each use case lives in its own module; this one re-exports them so callers import `app.kyc.services` only:
status.py (forms in use, where a user stands, the gate, history), submission.py (checking and storing a
submission), review.py (the reviewers' work)."""
from __future__ import annotations

from app.kyc.review import (
    BulkResult,
    assign,
    bulk_decide,
    claim,
    decide,
    decide_document,
    document_for,
    documents_to_redo,
    flag_overdue,
    queue_counts,
    reason_label,
)
from app.kyc.status import (
    INVEST,
    NAME_FIELDS,
    WITHDRAW,
    active_forms,
    approved_full_name,
    form_status,
    history,
    latest_statuses,
    latest_submissions,
    mask,
    missing_for,
    overall_status,
    require_approved,
    required_forms,
    submission_for_owner,
)
from app.kyc.submission import COUNTRY_FIELDS, MAX_TEXT, Upload, read_upload, submit, suspicious_filename

__all__ = [
    "COUNTRY_FIELDS",
    "INVEST",
    "MAX_TEXT",
    "NAME_FIELDS",
    "WITHDRAW",
    "BulkResult",
    "Upload",
    "active_forms",
    "approved_full_name",
    "assign",
    "bulk_decide",
    "claim",
    "decide",
    "decide_document",
    "document_for",
    "documents_to_redo",
    "flag_overdue",
    "form_status",
    "history",
    "latest_statuses",
    "latest_submissions",
    "mask",
    "missing_for",
    "overall_status",
    "queue_counts",
    "read_upload",
    "reason_label",
    "require_approved",
    "required_forms",
    "submission_for_owner",
    "submit",
    "suspicious_filename",
]
