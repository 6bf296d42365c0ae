"""The background export's work (the task admin.run_export): rebuild the list's query from the stored query string
inside a request context of the app, with the requester as the current user, find the view by its endpoint in the
app's Admin, and write the rows through the one export writer (app/core/csvfile.py) into a file kept in private
storage.

- The requester must still be active staff holding the view's permission (and its export permission) when the
  task runs: otherwise the job fails and nothing is written.
- The list's ids are read once, in the list's order; the rows are then read chunk by chunk (CHUNK_ROWS ids at a
  time, each chunk its own short read) and rows_done is committed after each chunk, for the progress bar.
- Idempotent: a done (or failed) job is not redone. A worker claims a job by a conditional UPDATE (queued to
  running, or running but started more than STALE_AFTER ago: its worker died and the broker gave the message back),
  so a task delivered twice at once is written by one worker; the other returns "running". A reclaimed job runs
  again from the start and overwrites its own file (its key is fixed by the job)."""
from __future__ import annotations

import logging
import os
import tempfile
from array import array
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from flask import current_app, g

from app.admin.export_jobs import (
    CONTENT_TYPES,
    DONE,
    EXPIRES_AFTER,
    FAILED,
    FINAL,
    QUEUED,
    RUNNING,
    ExportJob,
    list_query,
)
from app.core.csvfile import write_csv, write_xlsx
from app.core.db import discard, unit_of_work, utcnow
from app.core.security import has_permission
from app.core.storage import get_storage
from app.extensions import db

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

log = logging.getLogger(__name__)

CHUNK_ROWS = 1_000
STALE_AFTER = timedelta(minutes=30)  # a running job started longer ago than this lost its worker


def file_key(job: ExportJob) -> str:
    """Fixed by the job (its id and creation time): a rerun overwrites its own file."""
    return f"exports/console/{job.id}-{job.created_at:%Y%m%d%H%M%S%f}.{job.fmt}"


def find_view(endpoint: str):
    """The console view registered under this endpoint in the app's Admin."""
    for admin in current_app.extensions.get("admin", ()):
        for view in admin._views:
            if view.endpoint == endpoint:
                return view
    return None


def refusal(user, view) -> str | None:
    """Why this requester may no longer have this export, or None."""
    if view is None:
        return "the list this export was made from no longer exists"
    if user is None or not user.is_active or not user.is_staff:
        return "the account that asked for this export is no longer active staff"
    for permission in filter(None, (getattr(view, "permission", None), getattr(view, "export_permission", None))):
        if not has_permission(user, permission):
            return f"the account that asked for this export no longer holds {permission}"
    if not view.can_export:
        return "this list no longer offers an export"
    return None


def run(job_id: int) -> str:
    with unit_of_work():
        job = db.session.get(ExportJob, job_id)
        if job is None:
            return "missing"
        if job.status in FINAL:
            return job.status
        user, endpoint, fmt, query_string, key = job.user, job.endpoint, job.fmt, job.query_string, file_key(job)
        view = find_view(endpoint)
        with current_app.test_request_context("/admin/", query_string=query_string):
            g._login_user = user  # flask_login's current user for the view's own checks
            problem = refusal(user, view)
        if problem:
            _fail(job, problem)
            return FAILED
        now = utcnow()
        claimed = cast("CursorResult[Any]", db.session.execute(
            db.update(ExportJob).where(ExportJob.id == job_id, db.or_(
                ExportJob.status == QUEUED,
                db.and_(ExportJob.status == RUNNING, ExportJob.started_at < now - STALE_AFTER)))
            .values(status=RUNNING, started_at=now, rows_done=0, error=None)
            .execution_options(synchronize_session=False))).rowcount
        if not claimed:  # another worker has it (or has just finished it)
            return RUNNING
    try:
        rows_done = _write(job_id, view, user, fmt, query_string, key)
    except Exception as exc:
        discard()
        log.exception("export job #%s failed", job_id)
        with unit_of_work():
            _fail(db.session.get_one(ExportJob, job_id), f"{type(exc).__name__}: {exc}"[:2000])
        return FAILED
    with unit_of_work():
        job = db.session.get_one(ExportJob, job_id)
        now = utcnow()
        job.status, job.rows_done, job.rows_total = DONE, rows_done, rows_done
        job.file_key, job.finished_at, job.expires_at = key, now, now + EXPIRES_AFTER
    return DONE


def _fail(job: ExportJob, error: str) -> None:
    job.status, job.error, job.finished_at, job.file_key = FAILED, error, utcnow(), None


def _write(job_id: int, view, user, fmt: str, query_string: str, key: str) -> int:
    """Write the file into a temporary file, then into storage under the job's key; the number of rows."""
    with current_app.test_request_context("/admin/", query_string=query_string):
        g._login_user = user
        args = view._get_list_extra_args()
        query = list_query(view, args)
        pk = getattr(view.model, view._primary_key)
        ids = array("q", (row[0] for row in query.enable_eagerloads(False).with_entities(pk)))
        discard()  # the ids are read: each chunk is a read of its own
        with unit_of_work():
            db.session.execute(db.update(ExportJob).where(ExportJob.id == job_id)
                               .values(rows_total=len(ids), rows_done=0))
        handle, path = tempfile.mkstemp(suffix=f".{fmt}")
        try:
            header = view.export_header()
            rows = _rows(job_id, view, pk, ids)
            if fmt == "xlsx":
                os.close(handle)
                write_xlsx(path, header, rows, sheet=str(view.name or "Export"))
            else:
                with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                    write_csv(out, header, rows)
            with open(path, "rb") as written:
                get_storage().put(key, written.read(), CONTENT_TYPES[fmt])
        finally:
            os.unlink(path)
    return len(ids)


def _rows(job_id: int, view, pk, ids: array) -> Iterator[list]:
    """The export's rows in the list's order, CHUNK_ROWS at a time, rows_done committed after each chunk."""
    for start in range(0, len(ids), CHUNK_ROWS):
        chunk = ids[start:start + CHUNK_ROWS]
        found = {getattr(m, view._primary_key): m for m in view.get_query().filter(pk.in_(list(chunk))).all()}
        models = [found[i] for i in chunk if i in found]  # a row deleted since the ids were read is left out
        rows = view.export_rows(models)
        discard()
        with unit_of_work():
            db.session.execute(db.update(ExportJob).where(ExportJob.id == job_id)
                               .values(rows_done=start + len(chunk)))
        yield from rows
