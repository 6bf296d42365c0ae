"""Progress bars of the investor's long work: "Download my data" and a statement in preparation, on the shared
component (templates/_progress.html with static/js/progress.js), each polling a JSON status of its owner's only."""
from datetime import date

from app.account.models import DataExport
from app.account.statement_models import Statement
from app.core.db import unit_of_work
from app.extensions import db


def _preparing(user_id, status="running", done=3, total=12):
    with unit_of_work():
        export = DataExport(user_id=user_id, status=status, sections_done=done, sections_total=total)
        db.session.add(export)
    return export.id


def test_a_data_export_in_preparation_shows_a_progress_bar_and_its_status(client, investor, login, make_investor):
    login(investor)
    export_id = _preparing(investor.id)
    page = client.get("/account/data").get_data(as_text=True)
    assert f'data-progress-url="/account/data/{export_id}/status.json"' in page and "js/progress.js" in page
    assert 'data-testid="export-progress"' in page and "<script>" not in page
    answer = client.get(f"/account/data/{export_id}/status.json")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "private, no-store"
    assert answer.get_json() == {"id": export_id, "status": "running", "percent": 25, "done": 3, "total": 12,
                                 "label": "Parts"}
    assert client.get(f"/account/data/{export_id}/status.json", headers={"Accept-Language": "es"}
                      ).get_json()["label"] == "Partes"
    nosy = client.application.test_client()
    login(make_investor(email="nosy@example.com"), http=nosy)
    assert nosy.get(f"/account/data/{export_id}/status.json").status_code == 404


def test_a_ready_data_export_is_at_a_hundred_percent_and_shows_no_bar(client, investor, login):
    login(investor)
    export_id = _preparing(investor.id, status="ready", done=12)
    assert client.get(f"/account/data/{export_id}/status.json").get_json()["percent"] == 100
    assert "data-progress-url" not in client.get("/account/data").get_data(as_text=True)


def test_a_statement_in_preparation_uses_the_shared_progress_bar(client, investor, login):
    login(investor)
    with unit_of_work():
        s = Statement(user_id=investor.id, kind="range", first_day=date(2026, 1, 1), last_day=date(2026, 3, 31),
                      status="running", progress_done=1, progress_total=4, locale="en")
        db.session.add(s)
    page = client.get(f"/statements/{s.id}").get_data(as_text=True)
    assert f'data-progress-url="/statements/{s.id}/status.json"' in page and 'data-progress-final="ready failed"' in page
    assert "js/progress.js" in page and "statements.js" not in page and "<script>" not in page
    assert client.get(f"/statements/{s.id}/status.json").get_json()["percent"] == 25
