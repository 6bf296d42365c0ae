"""Console → Finance: the reports and account statements for reports.view (finance; admins), exports for
reports.export, audited; hostile text exported as text in CSV and XLSX; bad ranges answered 400; pages that read a
fixed number of times whatever the rows; the dashboard's finance charts."""
from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.security import PERMISSIONS
from app.extensions import db
from app.finance.reports import TITLES
from app.ledger import services as ledger
from app.ledger.models import ADJUSTMENTS, USER_WALLET, Account

HOSTILE = "=HYPERLINK(\"http://evil.example\",\"click\")"


@pytest.fixture
def console(app, login):
    def _console(user):
        http = app.test_client()
        assert login(user, http=http).status_code == 302
        return http

    return _console


def _wallet(user) -> Account:
    return db.session.scalar(select(Account).where(Account.user_id == user.id, Account.kind == USER_WALLET))


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_finance_and_admins_read_every_report_and_the_statement(console, make_user, make_investor, role):
    investor = make_investor("250.00")
    http = console(make_user(role=role))
    index = http.get("/admin/finance/reports/")
    assert index.status_code == 200
    for key in TITLES:
        page = http.get(f"/admin/finance/reports/{key}/")
        html = page.get_data(as_text=True)
        assert page.status_code == 200, key
        assert 'data-testid="report-chart"' in html and 'role="img"' in html and "<title" in html
        assert 'data-testid="report-table"' in html and "<script>" not in html.split("</nav>")[-1]
    deposits = http.get("/admin/finance/reports/deposits-withdrawals/").get_data(as_text=True)
    assert "USD 250.00" in deposits
    statement = http.get(f"/admin/finance/statement/?account={_wallet(investor).id}").get_data(as_text=True)
    assert "USD 250.00" in statement and 'data-testid="closing"' in statement
    dashboard = http.get("/admin/").get_data(as_text=True)
    assert 'data-testid="tile-deposits-withdrawals"' in dashboard and "/admin/finance/reports/deposits-withdrawals/" in dashboard


@pytest.mark.parametrize("role", ["support", "compliance", "property_manager"])
def test_other_staff_are_refused(console, make_user, make_investor, role):
    account = _wallet(make_investor("10.00"))
    http = console(make_user(role=role))
    for path in ("/admin/finance/reports/", "/admin/finance/reports/fee-revenue/",
                 "/admin/finance/reports/fee-revenue/export/csv", f"/admin/finance/statement/?account={account.id}",
                 f"/admin/finance/statement/export/xlsx?account={account.id}"):
        assert http.get(path).status_code == 403, path
    assert 'data-testid="tile-deposits-withdrawals"' not in http.get("/admin/").get_data(as_text=True)
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action.like("reports.%"))) is None


def test_exports_need_reports_export(console, finance, monkeypatch, make_investor):
    account = _wallet(make_investor("10.00"))
    monkeypatch.setitem(PERMISSIONS, "reports.export", frozenset())
    http = console(finance)
    page = http.get("/admin/finance/reports/deposits-withdrawals/").get_data(as_text=True)
    assert "Export CSV" not in page
    assert http.get("/admin/finance/reports/deposits-withdrawals/export/csv").status_code == 403
    assert http.get(f"/admin/finance/statement/export/csv?account={account.id}").status_code == 403
    refused = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "console.forbidden")).all()
    assert refused and refused[-1].after["permission"] == "reports.export"


def test_report_exports_in_csv_and_xlsx_are_audited(console, finance, make_investor):
    make_investor("123.45")
    http = console(finance)
    response = http.get("/admin/finance/reports/deposits-withdrawals/export/csv?from=2026-01&to=2026-12")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "Month,Deposits,Deposited,Payouts,Paid out,Net" and len(lines) == 14
    assert lines[-1].startswith("Total,")
    xlsx = http.get("/admin/finance/reports/fee-revenue/export/xlsx")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in sheet[1]] == ["Source", "Postings", "Revenue"]
    trail = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "reports.export")
                               .order_by(AuditRecord.id)).all()
    assert [(t.after["report"], t.after["format"]) for t in trail] == [("deposits-withdrawals", "csv"),
                                                                       ("fee-revenue", "xlsx")]
    assert trail[0].after["from"] == "2026-01" and trail[0].after["rows"] == 13
    assert all(t.actor_id == finance.id for t in trail)


def test_hostile_memos_are_exported_as_text(console, finance, make_investor):
    user = make_investor("50.00")
    with unit_of_work():
        ledger.post([(ledger.user_account(user.id, USER_WALLET), 500), (ledger.platform_account(ADJUSTMENTS), -500)],
                    key="test-hostile", kind="adjustment", memo=HOSTILE)
    account = _wallet(user)
    http = console(finance)
    page = http.get(f"/admin/finance/statement/?account={account.id}").get_data(as_text=True)
    assert HOSTILE not in page and "=HYPERLINK(&#34;http://evil.example&#34;" in page
    text = http.get(f"/admin/finance/statement/export/csv?account={account.id}").get_data(as_text=True)
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    rows = list(openpyxl.load_workbook(io.BytesIO(
        http.get(f"/admin/finance/statement/export/xlsx?account={account.id}").data)).active.values)
    memos = [row[3] for row in rows]
    assert "'" + HOSTILE in memos and HOSTILE not in memos
    assert rows[1][3] == "Opening balance" and rows[-1][3] == "Closing balance"
    assert rows[-1][5] == 55 and rows[1][5] == 0  # numbers stay numbers: USD 55.00 closing
    trail = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "reports.statement_export")
                               .order_by(AuditRecord.id)).all()
    assert [t.after["format"] for t in trail] == ["csv", "xlsx"] and trail[0].target_id == str(account.id)


@pytest.mark.parametrize("query", ["from=2026-13", "from=2026-05&to=2026-01", "to=yesterday", "from=2020-01&to=2026-12",
                                   "from=%00", "from=9999-12&to=9999-12"])
def test_bad_month_ranges_are_400(console, finance, query):
    http = console(finance)
    page = http.get(f"/admin/finance/reports/funds-raised/?{query}")
    assert page.status_code == 400 and 'data-testid="range-error"' in page.get_data(as_text=True)
    assert http.get(f"/admin/finance/reports/funds-raised/export/csv?{query}").status_code == 400
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "reports.export")) is None


def test_bad_statement_requests(console, finance, make_investor):
    account = _wallet(make_investor("10.00"))
    http = console(finance)
    for query in ("from=2026-02-30", "from=2026-03-02&to=2026-03-01", "to=soon", "from=1999-12-31"):
        page = http.get(f"/admin/finance/statement/?account={account.id}&{query}")
        assert page.status_code == 400, query
        assert http.get(f"/admin/finance/statement/export/csv?account={account.id}&{query}").status_code == 400
    assert http.get("/admin/finance/statement/?account=999999").status_code == 404
    assert http.get("/admin/finance/statement/?account=nope").status_code == 404
    assert http.get("/admin/finance/statement/?account=99999999999999999999999").status_code == 404
    assert http.get(f"/admin/finance/statement/?account={account.id}&to=9999-12-31").status_code == 400
    assert http.get("/admin/finance/statement/export/csv").status_code == 400
    assert http.get("/admin/finance/reports/no-such/").status_code == 404
    assert http.get("/admin/finance/reports/fee-revenue/export/pdf").status_code == 400
    assert http.get(f"/admin/finance/statement/?account={account.id}&page=abc").status_code == 200
    assert http.get("/admin/finance/statement/").status_code == 200  # the form, no account yet


def test_pages_read_a_fixed_number_of_times(console, finance, make_investor, count_queries):
    http = console(finance)
    users = [make_investor("20.00") for _ in range(2)]
    pages = ["/admin/finance/reports/deposits-withdrawals/", "/admin/finance/reports/payouts-waiting/",
             "/admin/finance/reports/fee-revenue/", "/admin/", f"/admin/finance/statement/?account={_wallet(users[0]).id}"]

    def reads() -> dict[str, int]:
        counted = {}
        for page in pages:
            http.get(page)
            with count_queries() as statements:
                assert http.get(page).status_code == 200
            counted[page] = len(statements)
        return counted

    few = reads()
    for _ in range(4):
        make_investor("30.00")
        with unit_of_work():
            ledger.post([(ledger.user_account(users[0].id, USER_WALLET), 100),
                         (ledger.platform_account(ADJUSTMENTS), -100)], key=f"test-more:{_}", kind="adjustment")
    assert reads() == few


def test_the_ledger_accounts_list_links_to_statements(console, finance, make_user, make_investor):
    make_investor("10.00")
    assert "/admin/finance/statement/?account=" in console(finance).get("/admin/ledger_accounts/").get_data(
        as_text=True)


def test_small_charts_write_their_axis_amounts_short_enough_to_fit():
    from decimal import Decimal

    from app.admin.views.reports_chart import _short_amount

    assert [_short_amount(Decimal(v)) for v in ("1000000", "750000", "1500000", "999", "-250000")] == \
        ["1M", "750k", "1.5M", "999", "-250k"]
