"""Console list exports too large to write inside a request: an ExportJob, written by a task (export_runner.py) into
private storage, followed on "My exports" (views/exports.py) and downloaded by the member of staff who asked for it.

A list export whose capped count is above EXPORT_INLINE_ROWS becomes a job: the request stores who asked, the
view's endpoint, the format and the list's arguments (search, filters, sort) as the URL query string, audits it
exactly as an inline export is audited (with the job's id), and queues the task after its commit."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.audit import record
from app.core.csvfile import XLSX_MIMETYPE
from app.core.db import IdMixin, UTCDateTime, after_commit, enqueue_after_commit, unit_of_work, utcnow
from app.core.storage import get_storage
from app.extensions import Model, db

EXPORT_INLINE_ROWS = 5_000        # a list export with more rows than this is written by a task
EXPIRES_AFTER = timedelta(hours=24)  # a finished export's file can be downloaded this long
RUN_TASK = "admin.run_export"     # app/admin/export_tasks.py

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)
FINAL = (DONE, FAILED)
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_MIMETYPE}


class ExportJob(IdMixin, Model):
    """One background export of a console list. `rows_total` is the request's capped estimate until the task
    reads the list's ids, then the exact number; `rows_done` moves after each chunk (committed, so the status page
    sees it)."""

    __tablename__ = "export_jobs"
    __table_args__ = (
        CheckConstraint("status in ('queued', 'running', 'done', 'failed')", name="status_valid"),
        CheckConstraint("fmt in ('csv', 'xlsx')", name="fmt_valid"),
        Index("ix_export_jobs_user_id_created_at", "user_id", "created_at"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(80), nullable=False)
    view_name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    fmt: Mapped[str] = mapped_column(String(8), nullable=False)
    query_string: Mapped[str] = mapped_column(Text, nullable=False, default="")
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default=QUEUED)
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    file_key: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User", lazy="select")

    @property
    def percent(self) -> int:
        if self.status == DONE:
            return 100
        return 0 if not self.rows_total else min(100, 100 * self.rows_done // self.rows_total)

    def downloadable(self, now: datetime | None = None) -> bool:
        return (self.status == DONE and bool(self.file_key) and self.expires_at is not None
                and self.expires_at > (now or utcnow()))

    def progress(self) -> dict[str, Any]:
        """The progress bar's JSON (templates/_progress.html)."""
        return {"id": self.id, "status": self.status, "percent": self.percent, "done": self.rows_done,
                "total": self.rows_total, "label": "Rows"}


def capped_rows(query, cap: int) -> int:
    """How many rows the list query has, counting no further than cap + 1 (never a count of a whole big table)."""
    rows = query.order_by(None).limit(cap + 1).subquery()  # Query.subquery() drops the eager loads
    return db.session.execute(select(func.count()).select_from(rows)).scalar_one()


def list_query(view, args):
    """The list's query as its page builds it (search, filters, sort), without paging."""
    sort = view._get_column_by_idx(args.sort)
    _count, query = view.get_list(0, sort[0] if sort else None, args.sort_desc, args.search, args.filters,
                                  execute=False, page_size=0)
    return query


def in_background(view, fmt: str):
    """The hook of the list export (list_exports.py): when the list has more than EXPORT_INLINE_ROWS rows, a job
    is created, audited like an inline export and queued, and the answer is a redirect to its page; else None."""
    threshold = EXPORT_INLINE_ROWS
    with unit_of_work():
        args = view._get_list_extra_args()
        rows = capped_rows(list_query(view, args), threshold)
        if rows <= threshold:
            return None
        sort = view._get_column_by_idx(args.sort)
        job = ExportJob(user_id=current_user.id, endpoint=view.endpoint, view_name=str(view.name or view.endpoint),
                        fmt=fmt, query_string=request.query_string.decode("latin-1"),
                        filename=view.get_export_name(export_type=fmt), status=QUEUED, rows_done=0,
                        rows_total=rows, created_at=utcnow())
        db.session.add(job)
        db.session.flush()
        record(view.export_action or f"{view.endpoint}.export", target=(view.model.__tablename__, None), after={
            "format": fmt,
            "filters": view._active_filters(args.filters),
            "search": args.search,
            "sort": {"column": sort[0], "desc": bool(args.sort_desc)} if sort else None,
            "rows": f"more than {threshold}",
            "background": job.id,
        })
        enqueue_after_commit(RUN_TASK, job.id)
        job_id = job.id
    flash(f"This list has more than {threshold:,} rows: it is being exported in the background. "
          f"Download it from My exports when it is ready.", "info")
    return redirect(url_for("my_exports.job", job_id=job_id))


def jobs_of(user_id: int, limit: int = 50) -> list[ExportJob]:
    return list(db.session.scalars(select(ExportJob).where(ExportJob.user_id == user_id)
                                   .order_by(ExportJob.id.desc()).limit(limit)))


def job_of(user_id: int, job_id: int) -> ExportJob | None:
    """The job, only when it is this member of staff's own (anyone else's is as if it did not exist)."""
    job = db.session.get(ExportJob, job_id)
    return job if job is not None and job.user_id == user_id else None


def prune(now: datetime) -> dict[str, int]:
    """The nightly retention (app/retention.py): the files of exports past their 24 hours are deleted once that is
    committed (the job stays, as expired)."""
    due = list(db.session.scalars(select(ExportJob).where(ExportJob.status == DONE, ExportJob.file_key.isnot(None),
                                                          ExportJob.expires_at <= now)))
    for job in due:
        after_commit(get_storage().delete, job.file_key)
        job.file_key = None
    db.session.flush()
    return {"expired_console_exports": len(due)}
