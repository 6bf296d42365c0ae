"""A compliance officer exports an audit log too large to write while they wait, in Chromium: the export goes to
the background, "My exports" follows it with a progress bar (static/js/progress.js, no reload by hand) and offers
the download once the worker is done; finance follows a return run's progress on its page.
Screenshots go to test-artifacts/console-exports-*.png and console-run-progress.png."""
import pytest
from playwright.sync_api import expect

from app.admin import export_jobs, export_runner
from app.core.audit import record
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.investing.models import RUNNING, DistributionRun
from app.seed import seed_demo
from tests.e2e.staff import staff_page
from tests.investing.test_distribution import TODAY

pytestmark = pytest.mark.e2e


def test_a_large_export_is_followed_and_downloaded_from_my_exports(browser, live_server, artifacts_dir, monkeypatch,
                                                                     make_user):
    logins = {login.email: login for login in seed_demo()}
    target = make_user()
    with unit_of_work():
        for n in range(12):
            record("user.note", target=target, reason=f'=HYPERLINK("http://evil.example/{n}")')
    monkeypatch.setattr(export_jobs, "EXPORT_INLINE_ROWS", 5)
    queued: list[int] = []  # the worker is away when the export is asked for
    monkeypatch.setattr(export_jobs, "enqueue_after_commit", lambda task, job_id: queued.append(job_id))

    page = staff_page(browser, live_server, logins["compliance@example.com"])
    page.goto(f"{live_server}/admin/audit/")
    page.goto(f"{live_server}/admin/audit/export/csv/")
    expect(page.locator(".alert")).to_contain_text("exported in the background")
    assert len(queued) == 1
    expect(page.get_by_test_id(f"progress-{queued[0]}")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "console-exports-1-queued.png"), full_page=True)

    db.session.expire_all()
    assert export_runner.run(queued[0]) == "done"  # the worker's turn
    expect(page.get_by_test_id(f"download-{queued[0]}")).to_be_visible(timeout=15_000)
    page.screenshot(path=str(artifacts_dir / "console-exports-2-done.png"), full_page=True)
    with page.expect_download() as info:
        page.get_by_test_id(f"download-{queued[0]}").click()
    with open(info.value.path(), encoding="utf-8") as handle:
        text = handle.read()
    assert text.startswith("Id,") and "'=HYPERLINK" in text and "\n=HYPERLINK" not in text


def test_a_running_return_run_shows_its_progress(browser, live_server, artifacts_dir):
    logins = {login.email: login for login in seed_demo()}
    with unit_of_work():
        run = DistributionRun(as_of=TODAY, trigger="console", status=RUNNING, planned=40_000, payments=25_000,
                              total=0, capital=0, batches=1, started_at=utcnow())
        db.session.add(run)
    page = staff_page(browser, live_server, logins["finance@example.com"])
    page.goto(f"{live_server}/admin/distribution_runs/details/?id={run.id}")
    expect(page.get_by_test_id("run-progress")).to_contain_text("62%")
    page.screenshot(path=str(artifacts_dir / "console-run-progress.png"), full_page=True)
    with unit_of_work():
        found = db.session.get(DistributionRun, run.id)
        found.status, found.payments, found.duration_ms, found.finished_at = "succeeded", 40_000, 8_200, utcnow()
    expect(page.get_by_test_id("run-outcome")).to_contain_text("40000 of 40000", timeout=15_000)
    page.screenshot(path=str(artifacts_dir / "console-run-outcome.png"), full_page=True)
