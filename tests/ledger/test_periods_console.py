"""Console → Finance → Periods and Trial balance: closing, the frozen and the live trial balance with their audited
exports, reopening by two admins, and who may do what."""
import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.security import STAFF_ROLES, has_permission
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.period_models import PeriodClose, PeriodReopen
from tests.ledger import test_periods
from tests.ledger.test_periods import LAST_END, LAST_MONTH, TODAY, _credit
from tests.support import csrf_from

COLLECTED_ON = test_periods.TODAY  # read again with tests/ledger/test_periods.py if the date changes
DATES_FROM = ("tests.ledger.test_periods",)

periods = ledger.periods
LABEL = LAST_MONTH.strftime("%Y-%m")


@pytest.fixture
def books(make_user):
    user = make_user()
    with unit_of_work():
        _credit(user.id, 12_345, "console-last", LAST_END)
        _credit(user.id, 500, "console-today")
    return user


def _token(http) -> str:
    return csrf_from(http.get("/admin/periods/").get_data(as_text=True))


def _audits(action: str) -> list[AuditRecord]:
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)
                                   .order_by(AuditRecord.id)))


def test_finance_closes_a_month_from_the_console_and_exports_its_trial_balance(client, login, finance, books):
    login(finance)
    page = client.get("/admin/periods/").get_data(as_text=True)
    assert f'data-month="{LABEL}"' in page and "data-confirm=" in page and f"Close {LABEL}" in page
    assert "<script" not in page.split("Periods")[-1].split("</table>")[0]
    token = csrf_from(page)
    assert client.post("/admin/periods/close", data={"month": LABEL, "reason": "m"}).status_code == 400  # no CSRF
    refused = client.post("/admin/periods/close", data={"csrf_token": token, "month": LABEL, "reason": ""},
                          follow_redirects=True)
    assert "A reason is required" in refused.get_data(as_text=True)
    assert db.session.scalar(select(PeriodClose)) is None
    done = client.post("/admin/periods/close", data={"csrf_token": token, "month": LABEL, "reason": "month end"},
                       follow_redirects=True).get_data(as_text=True)
    assert f"{LABEL} is closed" in done and LAST_END.isoformat() in done
    record = db.session.scalars(select(PeriodClose)).one()
    view = client.get(f"/admin/periods/close/{record.id}").get_data(as_text=True)
    assert "USD 123.45" in view and "Sum (always zero)" in view and 'data-testid="total">USD 0.00' in view

    body = client.get(f"/admin/periods/close/{record.id}/export?fmt=csv")
    assert body.status_code == 200 and "attachment" in body.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body.get_data(as_text=True))))
    assert rows[0] == periods.TRIAL_BALANCE_HEADER
    assert sum(Decimal(r[6]) for r in rows[1:]) == 0 and {r[6] for r in rows[1:]} == {"123.45", "-123.45"}
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(
        f"/admin/periods/close/{record.id}/export?fmt=xlsx").data)).active
    assert [c.value for c in sheet[1]] == periods.TRIAL_BALANCE_HEADER and sheet.max_row == 3
    assert client.get(f"/admin/periods/close/{record.id}/export?fmt=pdf").status_code == 400
    exports = _audits("periods.trial_balance_export")
    assert [(a.actor_id, a.after["format"], a.after["rows"]) for a in exports] == [
        (finance.id, "csv", 2), (finance.id, "xlsx", 2)]
    # closed: a close of the same month is refused with a clear message
    again = client.post("/admin/periods/close", data={"csrf_token": token, "month": LABEL, "reason": "again"},
                        follow_redirects=True)
    assert "already closed" in again.get_data(as_text=True)


def test_the_live_trial_balance_as_of_any_date_and_its_export(client, login, finance, books):
    login(finance)
    page = client.get(f"/admin/trial_balance/?as_of={LAST_END.isoformat()}").get_data(as_text=True)
    assert "USD 123.45" in page and "USD 128.45" not in page
    today = client.get("/admin/trial_balance/").get_data(as_text=True)
    assert "USD 128.45" in today and TODAY.isoformat() in today
    bad = client.get("/admin/trial_balance/?as_of=yesterday")
    assert bad.status_code == 200 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    assert client.get("/admin/trial_balance/export?as_of=nope&fmt=csv").status_code == 400
    body = client.get(f"/admin/trial_balance/export?as_of={LAST_END.isoformat()}&fmt=csv").get_data(as_text=True)
    assert "123.45" in body and "128.45" not in body
    assert [a.after["as_of"] for a in _audits("reports.trial_balance_export")] == [LAST_END.isoformat()]


def test_reopening_from_the_console_takes_two_admins(app, login, make_user, finance, books):
    admin1, admin2 = make_user(role="admin"), make_user(role="admin")
    with unit_of_work():
        record = periods.close(finance, LABEL, "month end")
    fin, first, second = app.test_client(), app.test_client(), app.test_client()
    login(finance, http=fin)
    assert fin.post(f"/admin/periods/close/{record.id}/reopen",
                    data={"csrf_token": _token(fin), "reason": "x"}).status_code == 403
    login(admin1, http=first)
    token = _token(first)
    first.post(f"/admin/periods/close/{record.id}/reopen", data={"csrf_token": token, "reason": "late invoice"})
    proposal = db.session.scalars(select(PeriodReopen)).one()
    page = first.get("/admin/periods/").get_data(as_text=True)
    assert "A second admin must approve your proposal" in page and "late invoice" in page
    mine = first.post(f"/admin/periods/reopen/{proposal.id}/approve",
                      data={"csrf_token": token, "reason": "self"}, follow_redirects=True)
    assert "a second admin must approve" in mine.get_data(as_text=True).lower()
    assert periods.closed_through() == LAST_END
    login(admin2, http=second)
    done = second.post(f"/admin/periods/reopen/{proposal.id}/approve",
                       data={"csrf_token": _token(second), "reason": "agreed"}, follow_redirects=True)
    assert f"{LABEL} is open again" in done.get_data(as_text=True)
    db.session.expire_all()
    assert periods.closed_through() is None and db.session.get(PeriodReopen, proposal.id).decided_by_id == admin2.id
    assert len(_audits("periods.reopen_approved")) == 1


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_roles_matrix_of_the_periods_pages(client, login, make_user, finance, books, role):
    with unit_of_work():
        record = periods.close(finance, LABEL, "month end")
    staff = make_user(role=role)
    login(staff)
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    view = has_permission(staff, "reports.view")
    exports = view and has_permission(staff, "reports.export")
    pages = {"/admin/periods/": view, f"/admin/periods/close/{record.id}": view, "/admin/trial_balance/": view,
             f"/admin/periods/close/{record.id}/export?fmt=csv": exports,
             "/admin/trial_balance/export?fmt=csv": exports}
    for url, allowed in pages.items():
        assert client.get(url).status_code == (200 if allowed else 403), (role, url)
    actions = {f"/admin/periods/close/{record.id}/reopen": "periods.reopen", "/admin/periods/close": "periods.close"}
    for url, permission in actions.items():
        status = client.post(url, data={"csrf_token": token, "reason": "matrix", "month": LABEL}).status_code
        assert status == (302 if view and has_permission(staff, permission) else 403), (role, url)
    assert (role in ("admin", "finance")) == view
    assert has_permission(staff, "periods.reopen") == (role == "admin")
