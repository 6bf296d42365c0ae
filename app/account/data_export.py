""""Download my data": an investor asks for an archive of their data; a task prepares it (a ZIP of JSON and CSV
files and their own identity documents) into private storage; they download it, signed in, until it expires.

One export is prepared at a time per user: a second request while one is queued or running is refused (409, with
the id of the one in progress), by a check and, against a concurrent request, by a partial unique index. An export
whose worker died (running for longer than STUCK_AFTER) counts as failed, so it never blocks the next one."""
from __future__ import annotations

import logging
import tempfile
import zipfile
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.account import export_sections as sections
from app.account.models import (
    EXPORT_EXPIRED,
    EXPORT_FAILED,
    EXPORT_IN_PROGRESS,
    EXPORT_QUEUED,
    EXPORT_READY,
    EXPORT_RUNNING,
    DataExport,
)
from app.auth.models import User
from app.core import audit
from app.core.db import after_commit, enqueue_after_commit, unit_of_work, utcnow
from app.core.errors import Conflict, DomainError, NotFound
from app.core.storage import StorageNotFound, get_storage, new_key
from app.core.urls import external_url
from app.extensions import db
from app.notifications import services as notifications

log = logging.getLogger(__name__)

BUILD_TASK = "account.build_export"
KEEP_FOR = timedelta(days=7)
STUCK_AFTER = timedelta(hours=1)
SPOOL_BYTES = 8 * 1024 * 1024
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf"}


class Gone(DomainError):
    """The export expired (or failed): its file is no longer offered."""

    status = 410
    code = "gone"


def in_progress(user_id: int) -> DataExport | None:
    return db.session.scalar(select(DataExport).where(DataExport.user_id == user_id,
                                                      DataExport.status.in_(EXPORT_IN_PROGRESS)))


def request_export(user: User) -> DataExport:
    """Queue a new export of the user's data (the task starts after commit). Conflict while one is prepared."""
    current = in_progress(user.id)
    if current is not None and current.status == EXPORT_RUNNING and current.started_at is not None \
            and current.started_at < utcnow() - STUCK_AFTER:
        _fail(current, "the preparation stopped; ask for a new export")
        current = None
    if current is not None:
        raise Conflict(f"your data export #{current.id} is still being prepared: wait until it is ready",
                       {"export_id": [str(current.id)]})
    export = DataExport(user_id=user.id, status=EXPORT_QUEUED, sections_total=len(sections.SECTIONS) + 1)
    try:
        with db.session.begin_nested():
            db.session.add(export)
    except IntegrityError:  # a concurrent request queued one first
        current = in_progress(user.id)
        raise Conflict("your data export is still being prepared: wait until it is ready",
                       {"export_id": [str(current.id if current else "")]}) from None
    audit.record("account.data_export", actor=user, target=export, after={"status": EXPORT_QUEUED})
    enqueue_after_commit(BUILD_TASK, export.id)
    return export


def export_for_owner(export_id: int, user: User) -> DataExport:
    """The export, when it is the user's; someone else's is NotFound."""
    export = db.session.get(DataExport, export_id)
    if export is None or export.user_id != user.id:
        raise NotFound("no such data export")
    return export


def exports_of(user_id: int, limit: int = 10) -> list[DataExport]:
    return list(db.session.scalars(select(DataExport).where(DataExport.user_id == user_id)
                                   .order_by(DataExport.id.desc()).limit(limit)))


def filename(export: DataExport) -> str:
    return f"freehold-data-{export.created_at:%Y-%m-%d}-{export.id}.zip"


def check_downloadable(export: DataExport, now: datetime | None = None) -> str:
    """The storage key of a ready, unexpired export; Gone otherwise (expired, failed) or Conflict (not ready)."""
    now = now or utcnow()
    if export.status in EXPORT_IN_PROGRESS:
        raise Conflict("this data export is still being prepared")
    if not export.is_downloadable(now) or export.storage_key is None:
        raise Gone("this download link has expired: ask for a new export of your data")
    return export.storage_key


# the task's work ---------------------------------------------------------------------------------------------------
def _fail(export: DataExport, error: str) -> None:
    export.status, export.error, export.finished_at = EXPORT_FAILED, error[:500], utcnow()
    db.session.flush()


def _claim(export_id: int) -> bool:
    """queued -> running with one conditional update: a redelivered task finds nothing to do."""
    with unit_of_work():
        claimed = db.session.execute(
            update(DataExport).where(DataExport.id == export_id, DataExport.status == EXPORT_QUEUED)
            .values(status=EXPORT_RUNNING, started_at=utcnow()).execution_options(synchronize_session=False))
        return bool(getattr(claimed, "rowcount", 0))


def _progress(export_id: int, done: int, rows: int) -> None:
    with unit_of_work():
        db.session.execute(update(DataExport).where(DataExport.id == export_id)
                           .values(sections_done=done, rows=rows).execution_options(synchronize_session=False))


def _write_zip(export_id: int, user_id: int, out: zipfile.ZipFile) -> int:
    """Write every part of the archive; returns the number of rows written."""
    rows = 0
    out.writestr("profile.json", sections.dumps(sections.profile(user_id)))
    out.writestr("kyc/details.json", sections.dumps(sections.kyc_values(user_id)))
    manifest: dict[str, object] = {}
    storage = get_storage()
    missing = []
    for doc_id, field, key, content_type in sections.documents(user_id):
        try:
            data = storage.get(key)
        except StorageNotFound:
            missing.append(doc_id)
            continue
        out.writestr(f"kyc/documents/{doc_id}-{field}.{_EXTENSIONS.get(content_type, 'bin')}", data)
    _progress(export_id, 1, rows)
    for done, section in enumerate(sections.SECTIONS, start=2):
        with out.open(section.filename, "w") as member:
            count = sections.write_csv(section, user_id, member)
        manifest[section.filename] = count
        rows += count
        _progress(export_id, done, rows)
    out.writestr("manifest.json", sections.dumps({
        "export": export_id, "user": user_id, "created_at": utcnow().isoformat(), "rows": manifest,
        "documents_missing_from_storage": missing,
        "notes": "Amounts are decimal strings in major units of the currency column. Bank account numbers are "
                 "masked. Dates and times are UTC (ISO 8601)."}))
    return rows


def build(export_id: int) -> str:
    """Prepare the archive (the task's body): claim, stream each section into a ZIP, store it, mark it ready and
    tell the investor. A failure marks the export failed (the investor may ask again)."""
    if not _claim(export_id):
        return "skipped"
    export = db.session.get(DataExport, export_id, populate_existing=True)
    if export is None:
        return "skipped"
    user_id = export.user_id
    try:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                rows = _write_zip(export_id, user_id, archive)
            spool.seek(0)
            data = spool.read()
        key = new_key("exports", "zip")
        get_storage().put(key, data, "application/zip")
    except Exception as exc:  # recorded on the export; the investor asks again
        log.exception("data export %s failed", export_id)
        with unit_of_work():
            failed = db.session.get(DataExport, export_id, populate_existing=True)
            if failed is not None:
                _fail(failed, f"{type(exc).__name__}")
        return EXPORT_FAILED
    with unit_of_work():
        export = db.session.get(DataExport, export_id, populate_existing=True)
        if export is None or export.status != EXPORT_RUNNING:  # the account was closed meanwhile
            get_storage().delete(key)
            return "skipped"
        now = utcnow()
        export.status, export.storage_key, export.size = EXPORT_READY, key, len(data)
        export.rows, export.finished_at, export.expires_at = rows, now, now + KEEP_FOR
        export.sections_done = export.sections_total
        db.session.flush()
        notifications.notify(export.user, "data_export_ready", link=external_url("portal.your_data"),
                             export_id=export.id, expires_at=f"{export.expires_at:%Y-%m-%d %H:%M} UTC")
    return EXPORT_READY


def expire_due(now: datetime) -> int:
    """Ready exports past their time: the file is deleted, the export marked expired. Returns how many."""
    due = list(db.session.scalars(select(DataExport).where(DataExport.status == EXPORT_READY,
                                                           DataExport.expires_at <= now)))
    for export in due:
        discard_file(export)
        export.status = EXPORT_EXPIRED
    db.session.flush()
    return len(due)


def discard_file(export: DataExport) -> None:
    """Forget the archive; its file is deleted once that is committed."""
    if export.storage_key:
        after_commit(get_storage().delete, export.storage_key)
        export.storage_key = None


def end_exports_of(user_id: int) -> int:
    """The account closes: its archives are deleted and no export is offered any more."""
    exports = list(db.session.scalars(select(DataExport).where(
        DataExport.user_id == user_id, DataExport.status.in_((*EXPORT_IN_PROGRESS, EXPORT_READY)))))
    for export in exports:
        discard_file(export)
        export.status = EXPORT_EXPIRED if export.status == EXPORT_READY else EXPORT_FAILED
        export.expires_at = export.expires_at or utcnow()
    db.session.flush()
    return len(exports)
