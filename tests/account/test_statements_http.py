"""Statements through the portal (/statements) and the API (/api/v1/statements): asking, following, downloading;
bad dates refused with nothing written; someone else's statement is a 404 everywhere; the list's query count does
not grow with the number of statements."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.account import statements
from app.account.statement_models import Statement
from app.core.db import unit_of_work
from app.extensions import db
from tests.account.statement_support import TODAY
from tests.support import csrf_from


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Statement))


def post_range(client, first: str, last: str, token: str | None = None):
    page = client.get("/statements")
    data = {"first": first, "last": last, "csrf_token": token or csrf_from(page.get_data(as_text=True))}
    return client.post("/statements", data=data)


# portal -------------------------------------------------------------------------------------------------------------
def test_a_year_statement_from_the_portal_to_the_pdf(client, login, investor):
    login(investor)
    page = client.get("/statements")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'data-testid="year-{TODAY.year}"' in html
    assert 'href="/statements"' in client.get("/wallet").get_data(as_text=True)  # in the navigation
    response = client.post(f"/statements/year/{TODAY.year}", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 302
    s = db.session.scalars(select(Statement)).one()
    assert response.headers["Location"].endswith(f"/statements/{s.id}")
    assert (s.kind, s.first_day, s.last_day, s.status) == ("year", date(TODAY.year, 1, 1), TODAY, "ready")
    detail = client.get(f"/statements/{s.id}").get_data(as_text=True)
    assert 'data-testid="download-pdf"' in detail and "js/progress.js" in detail and "<script>" not in detail
    status = client.get(f"/statements/{s.id}/status.json").get_json()
    assert status == {"id": s.id, "status": "ready", "percent": 100, "done": s.progress_total,
                      "total": s.progress_total, "ready": True, "label": "Progress"}
    pdf = client.get(f"/statements/{s.id}/statement.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"] and pdf.headers["Cache-Control"] == "private, no-store"
    csv = client.get(f"/statements/{s.id}/statement.csv")
    assert csv.status_code == 200 and csv.data.startswith(b"Date (UTC),Entry")


def test_a_spanish_investor_reads_the_page_in_spanish(client, login, make_investor):
    user = make_investor(email="es@example.com")
    with unit_of_work():
        db.session.merge(user).locale = "es"
    login(user)
    html = client.get("/statements").get_data(as_text=True)
    assert "Extractos anuales" in html and "Cualquier periodo" in html


@pytest.mark.parametrize(("first", "last", "field", "message"), [
    (TODAY.isoformat(), (TODAY - timedelta(days=1)).isoformat(), "last", "comes before the first day"),
    (TODAY.isoformat(), (TODAY + timedelta(days=1)).isoformat(), "last", "cannot be in the future"),
    ((TODAY - timedelta(days=6 * 366)).isoformat(), TODAY.isoformat(), "first", "at most 5 years"),
    ("", TODAY.isoformat(), "first", "Enter the first day."),
    ("31/12/2025", TODAY.isoformat(), "first", "Not a valid date value."),
])
def test_bad_ranges_are_form_errors_and_write_nothing(client, login, investor, first, last, field, message):
    login(investor)
    response = post_range(client, first, last)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and f'data-testid="error-{field}"' in html and message in html
    assert count() == 0


def test_a_range_without_csrf_is_refused(client, login, investor):
    login(investor)
    response = client.post("/statements", data={"first": TODAY.isoformat(), "last": TODAY.isoformat()})
    assert response.status_code == 400 and count() == 0
    assert client.post(f"/statements/year/{TODAY.year}").status_code == 400 and count() == 0


def test_a_range_statement_and_the_same_range_again_while_it_is_prepared(client, login, investor, monkeypatch):
    monkeypatch.setattr(statements, "enqueue_after_commit", lambda *a, **k: None)  # the worker is busy
    login(investor)
    first = post_range(client, f"{TODAY.year}-01-01", TODAY.isoformat())
    second = post_range(client, f"{TODAY.year}-01-01", TODAY.isoformat())
    assert first.headers["Location"] == second.headers["Location"] and count() == 1
    s = db.session.scalars(select(Statement)).one()
    detail = client.get(f"/statements/{s.id}").get_data(as_text=True)
    assert 'data-progress-bar' in detail and 'data-testid="download-pdf"' not in detail
    assert client.get(f"/statements/{s.id}/statement.pdf").status_code == 404  # not ready yet


def test_someone_elses_statement_is_a_404(client, login, investor, make_investor):
    with unit_of_work():
        mine, _ = statements.request_statement(investor, TODAY, TODAY, locale="en")
    login(make_investor(email="other@example.com"))
    for path in (f"/statements/{mine.id}", f"/statements/{mine.id}/status.json",
                 f"/statements/{mine.id}/statement.pdf", f"/statements/{mine.id}/statement.csv",
                 "/statements/999999"):
        assert client.get(path).status_code == 404, path
    assert f"/statements/{mine.id}" not in client.get("/statements").get_data(as_text=True)


def test_the_list_costs_the_same_queries_for_one_or_many_statements(client, login, investor, count_queries,
                                                                   monkeypatch):
    monkeypatch.setattr(statements, "enqueue_after_commit", lambda *a, **k: None)
    login(investor)

    def ask(days: range):
        with unit_of_work():
            for n in days:  # each its own range
                statements.request_statement(investor, TODAY - timedelta(days=n), TODAY, locale="en")

    ask(range(1))
    client.get("/statements")
    with count_queries() as one:
        assert client.get("/statements").status_code == 200
    ask(range(1, 9))
    with count_queries() as many:
        html = client.get("/statements").get_data(as_text=True)
    assert html.count('href="/statements/') == 9
    assert len(many) == len(one), (one, many)


# API -----------------------------------------------------------------------------------------------------------------
@pytest.fixture
def headers(investor, token_for):
    return token_for(investor)


def test_api_ask_follow_and_download(client, headers, investor, make_investor, token_for):
    response = client.post("/api/v1/statements", json={"from": f"{TODAY.year}-01-01", "to": TODAY.isoformat()},
                           headers=headers)
    assert response.status_code == 202, response.get_json()
    data = response.get_json()["data"]
    assert data["from"] == f"{TODAY.year}-01-01" and data["to"] == TODAY.isoformat() and data["kind"] == "range"
    one = client.get(f"/api/v1/statements/{data['id']}", headers=headers).get_json()["data"]
    assert one["status"] == "ready" and one["progress"]["percent"] == 100
    assert one["pdf_url"].endswith(f"/api/v1/statements/{data['id']}/pdf") and one["csv_url"].endswith("/csv")
    pdf = client.get(one["pdf_url"], headers=headers)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get(one["csv_url"], headers=headers).data.startswith(b"Date (UTC)")
    assert client.get(one["pdf_url"]).status_code == 401  # the link needs the owner's token
    other = token_for(make_investor(email="other@example.com"))
    for path in (f"/api/v1/statements/{data['id']}", one["pdf_url"], one["csv_url"]):
        assert client.get(path, headers=other).status_code == 404
    assert client.get("/api/v1/statements", headers=other).get_json()["data"] == []
    listed = client.get("/api/v1/statements", headers=headers).get_json()["data"]
    assert [s["id"] for s in listed] == [data["id"]]
    assert client.get(f"/api/v1/statements?year={TODAY.year - 1}", headers=headers).get_json()["data"] == []
    assert len(client.get(f"/api/v1/statements?year={TODAY.year}", headers=headers).get_json()["data"]) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"from": "2026-13-01", "to": "2026-01-01"}, "from"),
    ({"to": "2026-01-01"}, "from"),
    ({"from": TODAY.isoformat(), "to": (TODAY - timedelta(days=1)).isoformat()}, "to"),
    ({"from": TODAY.isoformat(), "to": (TODAY + timedelta(days=3)).isoformat()}, "to"),
    ({"from": "1990-01-01", "to": "1994-12-31"}, "from"),
])
def test_api_bad_dates_are_422_and_write_nothing(client, headers, body, field):
    response = client.post("/api/v1/statements", json=body, headers=headers)
    assert response.status_code == 422, response.get_json()
    assert field in (response.get_json()["errors"] or {}) and count() == 0


def test_api_statement_in_the_investors_language(client, make_investor, token_for, monkeypatch):
    monkeypatch.setattr(statements, "enqueue_after_commit", lambda *a, **k: None)
    user = make_investor(email="es@example.com")
    with unit_of_work():
        db.session.merge(user).locale = "es"
    body = {"from": TODAY.isoformat(), "to": TODAY.isoformat()}
    response = client.post("/api/v1/statements", json=body, headers=token_for(user))
    assert response.status_code == 202 and response.get_json()["data"]["locale"] == "es"


def test_api_the_same_range_while_prepared_answers_the_same_statement(client, headers, monkeypatch):
    monkeypatch.setattr(statements, "enqueue_after_commit", lambda *a, **k: None)
    body = {"from": f"{TODAY.year}-01-01", "to": TODAY.isoformat()}
    first = client.post("/api/v1/statements", json=body, headers=headers).get_json()["data"]
    second = client.post("/api/v1/statements", json=body, headers=headers)
    assert second.status_code == 202 and second.get_json()["data"]["id"] == first["id"]
    assert first["status"] == "queued" and first["pdf_url"] is None and count() == 1


def test_every_statement_operation_has_examples(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/statements"):
            continue
        for method, op in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            answers = [content for code, r in op["responses"].items() if code.startswith("2")
                       for content in r.get("content", {}).values()]
            assert answers and all("example" in c for c in answers), (method, path)
            if "requestBody" in op:
                assert all("example" in c for c in op["requestBody"]["content"].values()), (method, path)
