"""An investor opens Statements, asks for this year's, watches it being prepared (the page follows the status
through static/js/progress.js, no reload by hand), and downloads the PDF. Screenshots go to
test-artifacts/statement-*.png."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.account import statements
from app.account.statement_models import Statement
from app.extensions import db
from tests.account.statement_support import TODAY
from tests.support import PASSWORD

pytestmark = pytest.mark.e2e


def test_investor_asks_for_a_year_statement_and_downloads_the_pdf(page, live_server, artifacts_dir, investor,
                                                                  monkeypatch):
    shot = lambda name: page.screenshot(path=str(artifacts_dir / f"statement-{name}.png"), full_page=True)  # noqa: E731
    queued: list[int] = []
    # the worker is away when the statement is asked for: the page shows it waiting, then follows it
    monkeypatch.setattr(statements, "enqueue_after_commit", lambda task, statement_id: queued.append(statement_id))

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/login")
    page.fill("#email", investor.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("nav >> text=Statements")
    expect(page.get_by_test_id("statement-years")).to_contain_text(str(TODAY.year))
    shot("1-list")
    page.get_by_test_id(f"year-{TODAY.year}").click()
    expect(page.get_by_test_id("statement-status")).to_have_text("Waiting")
    shot("2-waiting")

    assert len(queued) == 1
    db.session.expire_all()
    assert statements.generate(queued[0]) == "ready"  # the worker's turn
    expect(page.get_by_test_id("download-pdf")).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("statement-status")).to_have_text("Ready")
    shot("3-ready")

    with page.expect_download() as info:
        page.get_by_test_id("download-pdf").click()
    download = info.value
    path = download.path()
    with open(path, "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    assert download.suggested_filename == f"freehold-statement-{TODAY.year}-01-01-to-{TODAY.isoformat()}.pdf"
    statement = db.session.scalars(select(Statement)).one()
    assert statement.status == "ready" and statement.kind == "year"
