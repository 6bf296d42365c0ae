"""Console list exports too large for the request: written by a task into private storage, followed on "My
exports", downloaded once ready by the member of staff who asked, each step audited. The threshold is lowered
here so that a handful of audit records makes a "large" list."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import openpyxl
import pytest
from sqlalchemy import delete, select

from app.admin import export_jobs, export_runner
from app.admin.export_jobs import ExportJob
from app.auth.models import Role
from app.core.audit import AuditRecord, record
from app.core.db import unit_of_work, utcnow
from app.core.storage import get_storage
from app.extensions import db
from tests.concurrency import run_threads
from tests.security.test_exports import HOSTILE, assert_no_formula

NOTE = "user.note"


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def xlsx_rows(data: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    return [["" if cell is None else cell for cell in row] for row in sheet.iter_rows(values_only=True)]


def audit_view(app):
    return next(v for v in app.extensions["admin"][0]._views if v.endpoint == "audit")


def notes_url(app, fmt: str = "csv") -> str:
    """The audit list's export, filtered to the notes (rows that do not grow while the test exports)."""
    view = audit_view(app)
    index = next(i for i, flt in enumerate(view._filters) if str(flt.name) == "Action"
                 and str(flt.operation()) == "equals")
    return f"/admin/audit/export/{fmt}/?flt0_{index}={NOTE}"


@pytest.fixture
def notes(make_user):
    target = make_user()
    with unit_of_work():
        for reason in HOSTILE:
            record(NOTE, target=target, reason=reason)
    return target


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(export_jobs, "EXPORT_INLINE_ROWS", 3)


@pytest.fixture
def compliance(make_user, login):
    staff = make_user(role="compliance")
    assert login(staff).status_code == 302
    return staff


def only_job() -> ExportJob:
    jobs = db.session.scalars(select(ExportJob)).all()
    assert len(jobs) == 1, jobs
    db.session.refresh(jobs[0])
    return jobs[0]


def download(client, job) -> bytes:
    response = client.get(f"/admin/my_exports/{job.id}/download")
    assert response.status_code == 200, response.status_code
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Disposition"].startswith("attachment")
    return response.get_data()


def test_a_large_export_is_written_in_the_background_with_the_same_escaped_rows(app, client, notes, compliance,
                                                                                monkeypatch):
    inline = client.get(notes_url(app))
    assert inline.status_code == 200 and inline.mimetype == "text/csv"  # six rows: under the usual threshold
    expected = rows_of(inline.get_data(as_text=True))
    assert len(expected) == 1 + len(HOSTILE)

    monkeypatch.setattr(export_jobs, "EXPORT_INLINE_ROWS", 3)
    response = client.get(notes_url(app))
    job = only_job()
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/my_exports/{job.id}/"
    assert (job.status, job.user_id, job.endpoint, job.fmt) == ("done", compliance.id, "audit", "csv")
    assert job.rows_done == job.rows_total == len(HOSTILE) and job.percent == 100
    assert job.expires_at - job.finished_at == timedelta(hours=24)

    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and f'href="/admin/my_exports/{job.id}/download"' in page.get_data(as_text=True)
    written = rows_of(download(client, job).decode("utf-8"))
    assert written == expected
    assert_no_formula(written)
    assert sorted(row[expected[0].index("Reason")] for row in written[1:]) == sorted("'" + h for h in HOSTILE)

    asked = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "audit.export")
                               .order_by(AuditRecord.id)).all()
    assert asked[-1].actor_id == compliance.id and asked[-1].after["background"] == job.id
    assert asked[-1].after["format"] == "csv" and asked[-1].after["filters"][0]["value"] == NOTE
    assert {"search", "sort"} <= set(asked[-1].after)
    downloaded = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "exports.download")).one()
    assert (downloaded.actor_id, downloaded.target_type, downloaded.target_id) == (compliance.id, "export_jobs",
                                                                                   str(job.id))


def test_xlsx_in_the_background_matches_the_inline_workbook(app, client, notes, compliance, monkeypatch):
    monkeypatch.setattr(audit_view(app), "export_types", ["csv", "xlsx"])
    inline = client.get(notes_url(app, "xlsx"))
    assert inline.status_code == 200
    expected = xlsx_rows(inline.get_data())
    monkeypatch.setattr(export_jobs, "EXPORT_INLINE_ROWS", 3)
    assert client.get(notes_url(app, "xlsx")).status_code == 302
    job = only_job()
    assert (job.status, job.fmt) == ("done", "xlsx") and job.filename.endswith(".xlsx")
    written = xlsx_rows(download(client, job))
    assert written == expected and len(written) == 1 + len(HOSTILE)
    assert not [cell for row in written for cell in row if isinstance(cell, str) and cell.startswith("=")]


def test_a_retried_task_writes_once_and_a_rerun_overwrites_its_own_file(app, client, notes, compliance,
                                                                          small_threshold, monkeypatch):
    client.get(notes_url(app))
    job = only_job()
    first = get_storage().get(job.file_key)
    writes = []
    original = type(get_storage()).put
    monkeypatch.setattr(type(get_storage()), "put", lambda self, key, data, ct: (writes.append(key),
                                                                                   original(self, key, data, ct)))
    assert export_runner.run(job.id) == "done" and writes == []  # a done job is not redone
    with unit_of_work():  # a second delivery while its worker is still on it: left to that worker
        db.session.get(ExportJob, job.id).status = "running"
        db.session.get(ExportJob, job.id).started_at = utcnow() - timedelta(minutes=5)
    assert export_runner.run(job.id) == "running" and writes == []
    with unit_of_work():  # its worker died long ago: the message comes back and the job is run again
        db.session.get(ExportJob, job.id).started_at = utcnow() - export_runner.STALE_AFTER - timedelta(minutes=1)
    assert export_runner.run(job.id) == "done" and writes == [job.file_key]
    assert get_storage().get(job.file_key) == first


def test_nobody_else_sees_or_downloads_a_job(app, client, notes, compliance, small_threshold, make_user, login):
    client.get(notes_url(app))
    job = only_job()
    for role in ("admin", "compliance"):
        other = type(client)(client.application)
        login(make_user(role=role), http=other)
        for path in ("", "status", "download"):
            assert other.get(f"/admin/my_exports/{job.id}/{path}").status_code == 404, (role, path)
        assert f"/admin/my_exports/{job.id}/" not in other.get("/admin/my_exports/").get_data(as_text=True)
    assert not db.session.scalars(select(AuditRecord).where(AuditRecord.action == "exports.download")).all()


def test_permission_removed_before_the_task_runs_fails_the_job_and_writes_nothing(app, client, notes, compliance,
                                                                                  small_threshold, monkeypatch):
    queued = []
    monkeypatch.setattr(export_jobs, "enqueue_after_commit", lambda name, *args: queued.append(args))
    assert client.get(notes_url(app)).status_code == 302
    job = only_job()
    assert job.status == "queued" and queued == [(job.id,)]
    with unit_of_work():
        user = db.session.get(type(compliance), compliance.id)
        user.roles = [db.session.scalars(select(Role).where(Role.name == "support")).one()]
    assert export_runner.run(job.id) == "failed"
    db.session.refresh(job)
    assert job.status == "failed" and "audit.view" in job.error and job.file_key is None and job.rows_done == 0
    assert not get_storage().exists(export_runner.file_key(job))
    assert export_runner.run(job.id) == "failed"  # a retry does not revive it


def test_progress_moves_per_chunk_and_answers_as_json(app, client, notes, compliance, small_threshold, monkeypatch):
    monkeypatch.setattr(export_runner, "CHUNK_ROWS", 2)
    seen = []
    original = export_runner.write_csv

    def watching(out, header, rows):
        def rows_seen():
            for row in rows:
                seen.append(db.session.scalar(select(ExportJob.rows_done)))
                db.session.rollback()
                yield row
        original(out, header, rows_seen())

    monkeypatch.setattr(export_runner, "write_csv", watching)
    client.get(notes_url(app))
    job = only_job()
    assert seen == [2, 2, 4, 4, 6, 6]
    answer = client.get(f"/admin/my_exports/{job.id}/status")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json() == {"id": job.id, "status": "done", "percent": 100, "done": len(HOSTILE),
                                 "total": len(HOSTILE), "label": "Rows"}
    with unit_of_work():
        found = db.session.get(ExportJob, job.id)
        found.status, found.rows_done, found.rows_total = "running", 3, 12
    body = client.get(f"/admin/my_exports/{job.id}/").get_data(as_text=True)
    assert f'data-progress-url="/admin/my_exports/{job.id}/status"' in body and "js/progress.js" in body
    assert client.get(f"/admin/my_exports/{job.id}/status").get_json()["percent"] == 25


def test_an_expired_export_is_not_downloaded(app, client, notes, compliance, small_threshold):
    client.get(notes_url(app))
    job = only_job()
    with unit_of_work():
        db.session.get(ExportJob, job.id).expires_at = utcnow() - timedelta(minutes=1)
    response = client.get(f"/admin/my_exports/{job.id}/download")
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/my_exports/{job.id}/"
    assert "expired" in client.get(f"/admin/my_exports/{job.id}/").get_data(as_text=True)


def test_a_small_export_stays_inline(app, client, notes, compliance):
    assert client.get(notes_url(app)).status_code == 200
    assert db.session.scalars(select(ExportJob)).all() == []


def test_hostile_text_in_a_job_renders_escaped(app, client, compliance):
    with unit_of_work():
        db.session.execute(delete(ExportJob))
        db.session.add(ExportJob(user_id=compliance.id, endpoint="audit", view_name="<script>x</script>", fmt="csv",
                                 query_string="", filename="a.csv", status="failed", error="<b>bad</b>"))
    body = client.get("/admin/my_exports/").get_data(as_text=True)
    assert "<script>x</script>" not in body and "&lt;script&gt;x&lt;/script&gt;" in body
    assert "<b>bad</b>" not in body


def _jobs(user_id: int, n: int, status: str = "running") -> None:
    with unit_of_work():
        for _ in range(n):
            db.session.add(ExportJob(user_id=user_id, endpoint="audit", view_name="Audit log", fmt="csv",
                                     query_string="", filename="audit.csv", status=status, rows_done=1,
                                     rows_total=10))


def test_my_exports_reads_the_same_whatever_the_number_of_jobs(client, compliance, count_queries):
    _jobs(compliance.id, 1)
    with count_queries() as few:
        assert client.get("/admin/my_exports/").status_code == 200
    _jobs(compliance.id, 12)
    with count_queries() as many:
        body = client.get("/admin/my_exports/")
    assert body.status_code == 200 and body.get_data(as_text=True).count("data-progress-url") == 13
    assert 0 < len(many) == len(few), (len(few), len(many))


def test_the_nightly_retention_deletes_expired_files(app, client, notes, compliance, small_threshold):
    client.get(notes_url(app))
    job = only_job()
    key = job.file_key
    with unit_of_work():
        assert export_jobs.prune(utcnow()) == {"expired_console_exports": 0}
    assert get_storage().exists(key)
    with unit_of_work():
        assert export_jobs.prune(job.expires_at + timedelta(seconds=1)) == {"expired_console_exports": 1}
    db.session.refresh(job)
    assert job.file_key is None and not get_storage().exists(key) and not job.downloadable()


def test_every_exportable_list_can_be_written_in_the_background_whatever_its_sort(app, make_user):
    """The task rebuilds each exportable console list (its own query, joins and eager loads, any sort column)."""
    admin = make_user(role="admin")
    views = [v for v in app.extensions["admin"][0]._views
             if isinstance(getattr(type(v), "can_export", False), property) or getattr(v, "can_export", False) is True]
    assert {"audit", "disputes"} <= {v.endpoint for v in views}
    for view in views:
        sorts = ["", *(f"sort={i}&desc=1" for i in range(len(view._sortable_columns)))]
        for query_string in sorts:
            with unit_of_work():
                job = ExportJob(user_id=admin.id, endpoint=view.endpoint, view_name=str(view.name), fmt="csv",
                                query_string=query_string, filename="x.csv", status="queued")
                db.session.add(job)
            assert export_runner.run(job.id) == "done", (view.endpoint, query_string, job.error)
            rows = rows_of(get_storage().get(db.session.get(ExportJob, job.id).file_key).decode("utf-8"))
            assert rows[0] == [str(h) for h in view.export_header()], view.endpoint


def test_a_task_delivered_twice_at_once_is_written_by_one_worker(app, client, notes, compliance, small_threshold,
                                                                    monkeypatch, postgres):
    client.get(notes_url(app))
    job = only_job()
    with unit_of_work():  # as it was before any worker took it
        queued = db.session.get(ExportJob, job.id)
        queued.status, queued.started_at, queued.file_key, queued.finished_at = "queued", None, None, None
    writes = []
    original = type(get_storage()).put
    monkeypatch.setattr(type(get_storage()), "put", lambda self, key, data, ct: (writes.append(key),
                                                                                   original(self, key, data, ct)))
    job_id, key = job.id, export_runner.file_key(job)
    results = run_threads(app, 2, lambda i: export_runner.run(job_id), commit=False)
    assert sorted(map(str, results)) == ["done", "running"], results
    assert writes == [key]
    db.session.expire_all()
    assert only_job().status == "done"
