"""Every console list: searchable or filterable, sortable, and exportable to CSV and XLSX through the one escaping
writer; exports need exports.run (or the view's stricter permission), are audited, and never carry a secret. Big
tables search only by what an index answers (app/admin/list_search.py)."""
from __future__ import annotations

import csv
import io
import re

import pytest
from flask import url_for
from flask_admin.contrib.sqla import ModelView
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm.attributes import InstrumentedAttribute

from app.admin.base import BigListMixin
from app.admin.list_search import PREFIX_INDEXED, IndexedSearch, investor_clause, term_clause
from app.core import security
from app.core.audit import AuditRecord
from app.extensions import db
from tests.admin.test_big_lists import _attempts, _entries, _filter

# tables of millions of rows: a search there must be one an index answers
BIG_TABLES = {"users", "login_attempts", "ledger_entries", "ledger_postings", "audit_log", "notifications",
              "notification_deliveries", "deposits", "payouts", "investments", "return_payments"}

# export columns named like a secret that are not one, with the reason
NOT_SECRETS = {
    ("audit", "prev_hash"): "the audit chain's own hashes: exported so that an auditor can verify the chain",
    ("audit", "hash"): "the audit chain's own hashes: exported so that an auditor can verify the chain",
    ("kyc_reasons", "code"): "a rejection reason's public code, shown to the investor",
    ("ledger_accounts", "code"): "a ledger account's name in the chart of accounts",
}
SECRET_NAME = re.compile(r"secret|token|hash|password|account_number|recovery|(^|_)(link|code)$", re.IGNORECASE)

HOSTILE = {"=HYPERLINK(\"http://evil.example\",\"x\")": "'=HYPERLINK(\"http://evil.example\",\"x\")",
           "+cmd": "'+cmd", "@x": "'@x", "-1+1": "'-1+1"}


def model_views(app) -> list[ModelView]:
    admin = app.extensions["admin"]
    admin = admin[0] if isinstance(admin, list) else admin
    views = [v for v in admin._views if isinstance(v, ModelView)]
    assert len(views) >= 40
    return views


def test_every_list_searches_filters_sorts_and_exports_csv_and_xlsx(app):
    for view in model_views(app):
        assert view._search_supported, f"{view.endpoint}: no search"
        assert view._filters, f"{view.endpoint}: no filters"
        assert view.get_sortable_columns(), f"{view.endpoint}: nothing to sort by"
        assert view.can_export, f"{view.endpoint}: no export"
        assert list(view.export_types) == ["csv", "xlsx"], f"{view.endpoint}: {view.export_types}"
        assert view.export_permission in security.PERMISSIONS, view.endpoint
        if view.export_permission != "exports.run":  # a stricter one is still held by fewer roles, never more
            assert security.PERMISSIONS[view.export_permission] <= security.PERMISSIONS["exports.run"], view.endpoint


def test_big_tables_search_only_through_an_index(app):
    for view in model_views(app):
        big = isinstance(view, BigListMixin) or view.model.__tablename__ in BIG_TABLES
        if not big or not view._search_supported:
            continue
        assert isinstance(view, IndexedSearch), f"{view.endpoint}: a substring search reads the whole table"
        for column, path in view._search_fields:
            assert not path, f"{view.endpoint}: a search through a join"
            if column.type.python_type is not int:
                assert (column.table.name, column.name) in PREFIX_INDEXED, f"{view.endpoint}: {column.name}"


def test_no_export_carries_a_secret(app):
    for view in model_views(app):
        for name, _title in view._export_columns:
            if (view.endpoint, name) in NOT_SECRETS:
                continue
            assert not SECRET_NAME.search(name), f"{view.endpoint}: exports {name}"
            attr = getattr(view.model, name, None)
            if isinstance(attr, InstrumentedAttribute) and hasattr(attr.property, "columns"):
                for column in attr.property.columns:
                    assert type(column.type).__name__ != "EncryptedString", f"{view.endpoint}: exports {name}"


@pytest.fixture
def staff(make_user, login):
    user = make_user(role="admin")
    assert login(user).status_code == 302
    return user


def test_users_search_by_the_start_of_an_address_or_a_name_or_the_exact_id(client, make_user, staff):
    found = make_user("findme@example.com", first_name="Orla", last_name="Quinlan")
    make_user("not-findme@example.com", first_name="Bea", last_name="Morales")
    for term in ("findme", "FindMe@Ex", "quin", "orla", str(found.id)):
        html = client.get("/admin/users/", query_string={"search": term}).get_data(as_text=True)
        assert "findme@example.com" in html and "not-findme@example.com" not in html, term
    for term in ("%", "_indme", "me@example"):  # wildcards are literal; the middle of a value is not searched
        html = client.get("/admin/users/", query_string={"search": term}).get_data(as_text=True)
        assert "findme@example.com" not in html, term


def test_big_lists_search_sign_ins_entries_and_audit(app, client, staff):
    _attempts(3)
    _attempts(2, email="someone-{i}@example.com")
    html = client.get("/admin/sign_ins/?search=someone").get_data(as_text=True)
    assert "someone-1@example.com" in html and "who-1@example.com" not in html
    _entries(3)
    html = client.get("/admin/ledger_entries/?search=list-2").get_data(as_text=True)
    assert "list entry 2" in html and "list entry 1" not in html
    html = client.get("/admin/audit/", query_string={"search": staff.email}).get_data(as_text=True)
    assert staff.email in html


def test_filters_and_sorting_pick_and_order_the_rows(app, client, make_user, staff):
    make_user("b-unverified@example.com", verified=False)
    make_user("a-verified@example.com")
    key = _filter(app, "users", "Email Verified", "equals")
    html = client.get(f"/admin/users/?{key}=0").get_data(as_text=True)
    assert "b-unverified@example.com" in html and "a-verified@example.com" not in html
    by_email = [v.endpoint for v in model_views(app)].index("users")
    view = model_views(app)[by_email]
    sort = [name for name, _ in view._list_columns].index("email")
    ascending = client.get(f"/admin/users/?sort={sort}").get_data(as_text=True)
    descending = client.get(f"/admin/users/?sort={sort}&desc=1").get_data(as_text=True)
    assert ascending.index("a-verified@") < ascending.index("b-unverified@")
    assert descending.index("b-unverified@") < descending.index("a-verified@")


def _hostile_users(make_user):
    names = list(HOSTILE)
    make_user("hostile-1@example.com", first_name=names[0], last_name=names[1])
    make_user("hostile-2@example.com", first_name=names[2], last_name=names[3])


def test_csv_and_xlsx_exports_escape_formulas_and_are_audited(app, client, make_user, staff):
    _hostile_users(make_user)
    response = client.get("/admin/users/export/csv/?search=hostile")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    cells = {cell for row in rows[1:] for cell in row}
    assert set(HOSTILE.values()) <= cells, rows
    assert not any(cell.startswith(tuple("=+-@")) for cell in cells), rows
    assert len(rows) == 3

    response = client.get("/admin/users/export/xlsx/?search=hostile")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [c.value for row in sheet.iter_rows() for c in row]
    assert set(HOSTILE.values()) <= set(values), values
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)  # no cell is a formula

    trail = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "users.export")
                               .order_by(AuditRecord.id)).all()
    assert [(r.actor_id, r.after["format"], r.after["search"], r.after["rows"]) for r in trail] == [
        (staff.id, "csv", "hostile", 2), (staff.id, "xlsx", "hostile", 2)]


def test_an_export_needs_exports_run(client, make_user, login, monkeypatch):
    monkeypatch.setitem(security.PERMISSIONS, "exports.run", frozenset())
    support = make_user(role="support")
    login(support)
    page = client.get("/admin/users/")
    assert page.status_code == 200 and "/admin/users/export/" not in page.get_data(as_text=True)
    for fmt in ("csv", "xlsx"):
        assert client.get(f"/admin/users/export/{fmt}/").status_code == 403
    assert not db.session.scalars(select(AuditRecord).where(AuditRecord.action.like("%export%"))).all()
    refused = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "console.forbidden")).all()
    assert [r.after["permission"] for r in refused][:2] == ["exports.run", "exports.run"]


def test_the_adjustments_own_export_route_needs_exports_run_too(client, make_user, login, monkeypatch):
    monkeypatch.setitem(security.PERMISSIONS, "exports.run", frozenset())
    login(make_user(role="finance"))
    assert client.get("/admin/adjustments/").status_code == 200
    assert client.get("/admin/adjustments/export/csv").status_code == 403
    assert not db.session.scalars(select(AuditRecord).where(AuditRecord.action == "adjustments.export")).all()


def test_no_other_export_format(client, staff):
    for fmt in ("json", "yaml", "xls", "html", "tsv", "ods"):
        response = client.get(f"/admin/users/export/{fmt}/")
        assert response.status_code == 302, fmt
    assert not db.session.scalars(select(AuditRecord).where(AuditRecord.action == "users.export")).all()


def test_the_export_links_show_on_every_list(app, client, staff):
    with app.test_request_context():
        urls = {v.endpoint: url_for(f"{v.endpoint}.index_view") for v in model_views(app)}
    for endpoint, url in urls.items():
        html = client.get(url).get_data(as_text=True)
        assert re.search(r"/export/csv/?[?\"]", html) and re.search(r"/export/xlsx/?[?\"]", html), endpoint


def test_every_big_list_search_is_answered_by_an_index(app, postgres):
    """The search each IndexedSearch view sends, planned with sequential scans ruled out, reads an index named by
    migration 20261206_list_indexes (or the primary key, for an id; an index on the column, for another id), and the
    investor search reads the users' prefix indexes and an index on the view's column: no sequential scan at all."""
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for view in model_views(app):
            if not isinstance(view, IndexedSearch) or not view._search_supported:
                continue
            for column, _path in view._search_fields:
                term = "42" if column.type.python_type is int else "Someone@Ex"
                clause = term_clause(column, term)
                statement = select(column.table.c.id).where(clause).compile(
                    dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
                plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}"))
                if column.type.python_type is not int:
                    assert f"ix_{column.table.name}_{column.name}_prefix" in plan, f"{view.endpoint}.{column.name}:\n{plan}"
                elif column.name == "id":
                    assert f"pk_{column.table.name}" in plan, f"{view.endpoint}.{column.name}:\n{plan}"
                assert "Seq Scan" not in plan, f"{view.endpoint}.{column.name}:\n{plan}"
            for name in view.investor_columns:
                column = getattr(view.model, name)
                statement = select(column.table.c.id).where(investor_clause(column, "Someone@Ex")).compile(
                    dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
                plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}"))
                assert "ix_users_email_prefix" in plan and "Seq Scan" not in plan, f"{view.endpoint}.{name}:\n{plan}"
