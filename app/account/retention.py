"""The nightly retention job's part for closed accounts and data exports: identity documents of an account closed
more than KYC_RETENTION_DAYS ago are deleted (files, then their rows, once the deletion commits), and archives of
"Download my data" past their time are deleted and marked expired. The KYC submissions themselves (their status
and decision) stay, as the ledger and the audit trail do."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from app.account import data_export
from app.account.export_sections import table
from app.auth.models import USER_CLOSED
from app.core.db import after_commit
from app.core.storage import get_storage
from app.extensions import db


def _delete_files(keys: list[str]) -> None:
    storage = get_storage()
    for key in keys:
        storage.delete(key)


def prune_kyc_documents(now: datetime) -> int:
    """Delete the identity documents of accounts closed before now - KYC_RETENTION_DAYS; returns how many."""
    days = int(current_app.config.get("KYC_RETENTION_DAYS") or 1825)
    users, submissions, documents = table("users"), table("kyc_submissions"), table("kyc_documents")
    due = (select(submissions.c.id).join(users, users.c.id == submissions.c.user_id)
           .where(users.c.status == USER_CLOSED, users.c.closed_at <= now - timedelta(days=days)))
    rows = db.session.execute(select(documents.c.id, documents.c.storage_key)
                              .where(documents.c.submission_id.in_(due))).all()
    if not rows:
        return 0
    ids = [row.id for row in rows]
    # documents carried into a later submission point at the earlier row: clear those links first
    db.session.execute(documents.update().where(documents.c.carried_from_id.in_(ids)).values(carried_from_id=None)
                       .execution_options(synchronize_session=False))
    db.session.execute(delete(documents).where(documents.c.id.in_(ids)).execution_options(synchronize_session=False))
    after_commit(_delete_files, [row.storage_key for row in rows])
    return len(rows)


def prune(now: datetime) -> dict[str, int]:
    return {"closed_account_kyc_documents": prune_kyc_documents(now),
            "expired_data_exports": data_export.expire_due(now)}
