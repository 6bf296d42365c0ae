"""Operations → Jobs: the broker's queues, the workers that answer, every beat job with its latest run (late ones
marked), and the tasks that failed for good, with Retry and Discard for those who may (ops.jobs, a reason each,
audited). Finance sees the page; the actions are admins'."""
from __future__ import annotations

import json

from flask import abort, current_app, request, url_for
from flask_admin import expose
from flask_login import current_user

from app.admin.base import SecureBaseView, requires, run_action
from app.auth.forms import SimpleForm
from app.core.db import discard, utcnow
from app.core.security import has_permission
from app.extensions import db
from app.ops import failed_tasks
from app.ops.models import FailedTask
from app.ops.queues import broker_report, workers_online
from app.ops.schedule import grace, job_statuses


def ago(moment, now) -> str:
    """"3 min ago", "2 h ago", "4 d ago"."""
    if moment is None:
        return ""
    seconds = max(int((now - moment).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def pretty(raw: str) -> str:
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except ValueError:
        return raw


class JobsView(SecureBaseView):
    permission = "ops.view"

    @expose("/")
    def index(self):
        celery = current_app.extensions["celery"]
        now = utcnow()
        jobs = job_statuses(now)
        failed = failed_tasks.listing()
        open_count = failed_tasks.open_count()
        discard()  # read only: hand the connection back before asking the broker and the workers
        return self.render("admin/ops_jobs.html", broker=broker_report(celery), workers=workers_online(celery),
                           jobs=jobs, failed=failed, open_count=open_count, now=now, ago=ago, pretty=pretty,
                           grace_minutes=int(grace().total_seconds() // 60), form=SimpleForm(),
                           may_act=has_permission(current_user, "ops.jobs"))

    def _row(self, failed_id: int) -> FailedTask:
        if not SimpleForm().validate_on_submit():
            abort(400)
        row = db.session.get(FailedTask, failed_id)
        if row is None:
            abort(404)
        return row

    @expose("/failed/<int:failed_id>/retry", methods=["POST"])
    @requires("ops.jobs")
    def retry(self, failed_id: int):
        row = self._row(failed_id)
        return run_action(lambda: failed_tasks.retry(row, actor=current_user,
                                                     reason=request.form.get("reason")),
                          lambda row: f"Sent again: {row.task_name} as {row.retried_task_id}.",
                          url_for(".index"))

    @expose("/failed/<int:failed_id>/discard", methods=["POST"])
    @requires("ops.jobs")
    def discard_task(self, failed_id: int):
        row = self._row(failed_id)
        return run_action(lambda: failed_tasks.discard(row, actor=current_user,
                                                       reason=request.form.get("reason")),
                          lambda row: f"Discarded: {row.task_name} ({row.task_id}).", url_for(".index"))


def register(admin) -> None:
    admin.add_view(JobsView(name="Jobs", endpoint="ops_jobs", url="/admin/ops", category="Operations"))
