"""My exports: the list exports a member of staff asked for that were too large to write in the request, each with
its progress bar, its outcome and, once done, a download for 24 hours. Everyone sees only their own (admins too);
anyone else's job answers 404. Each download is audited."""
from __future__ import annotations

from flask import Response, abort, flash, jsonify, redirect, url_for
from flask_admin import expose
from flask_login import current_user
from werkzeug.utils import secure_filename

from app.admin.base import SecureBaseView
from app.admin.export_jobs import CONTENT_TYPES, ExportJob, job_of, jobs_of
from app.core.audit import record
from app.core.db import discard, unit_of_work, utcnow
from app.core.storage import StorageNotFound, content_disposition, get_storage


class MyExportsView(SecureBaseView):
    permission = "exports.run"

    def _own(self, job_id: int) -> ExportJob:
        job = job_of(current_user.id, job_id)
        if job is None:
            abort(404)
        return job

    @expose("/")
    def index(self):
        jobs = jobs_of(current_user.id)
        now = utcnow()
        page = self.render("admin/exports/mine.html", jobs=jobs, now=now, focus=None)
        discard()
        return page

    @expose("/<int:job_id>/")
    def job(self, job_id: int):
        job = self._own(job_id)
        page = self.render("admin/exports/mine.html", jobs=[job], now=utcnow(), focus=job)
        discard()
        return page

    @expose("/<int:job_id>/status")
    def status(self, job_id: int):
        answer = jsonify(self._own(job_id).progress())
        discard()
        answer.headers["Cache-Control"] = "no-store"
        return answer

    @expose("/<int:job_id>/download")
    def download(self, job_id: int):
        job = self._own(job_id)
        if not job.downloadable():
            discard()
            flash("This export is not ready, or its file has expired: export the list again.", "warning")
            return redirect(url_for(".job", job_id=job_id))
        try:
            data = get_storage().get(job.file_key or "")
        except StorageNotFound:
            discard()
            flash("This export's file is no longer kept: export the list again.", "warning")
            return redirect(url_for(".job", job_id=job_id))
        filename, fmt = secure_filename(job.filename) or f"export.{job.fmt}", job.fmt
        with unit_of_work():
            record("exports.download", target=("export_jobs", job.id), after={
                "endpoint": job.endpoint, "format": fmt, "rows": job.rows_done})
        return Response(data, mimetype=CONTENT_TYPES[fmt], headers={
            "Content-Disposition": content_disposition(filename, inline=False),
            "Cache-Control": "private, no-store"})


def register(admin) -> None:
    admin.add_view(MyExportsView(name="My exports", endpoint="my_exports", category="Operations"))
