"""Console -> Money -> Disputes: finance and admins only (disputes.manage), the queue's filters and columns, the
details page with the deposit's timeline, finance's notes (audited, a blank one refused and nothing written), and
the audited CSV and XLSX exports, whose cells never start a formula."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, USER_WALLET
from app.payments import disputes
from app.payments import services as payments
from app.payments.models import DisputeNote
from tests.support import csrf_from

QUEUE = "/admin/disputes/"


def _view(app):
    admin = app.extensions["admin"]
    admin = admin[0] if isinstance(admin, list) else admin
    return next(v for v in admin._views if v.endpoint == "disputes")


def _filter(app, name: str, operation: str) -> str:
    view = _view(app)
    for idx, flt in enumerate(view._filters):
        if str(flt.name) == name and str(flt.operation()) == operation:
            return f"flt0_{view.get_filter_arg(idx, flt)}"
    raise AssertionError(f"no filter {name} {operation}")


@pytest.fixture
def console(app, login):
    def _console(user):
        http = app.test_client()
        assert login(user, http=http).status_code == 302
        return http

    return _console


@pytest.fixture
def queue(make_investor):
    """Three disputes: one held in full (open), one partly a receivable (open, reason that looks like a formula),
    one of an unknown payment (lost)."""
    rich, spent = make_investor(balance=None, email="rich@example.com"), make_investor(balance=None)
    with unit_of_work():
        found = []
        for user in (rich, spent):
            deposit = payments.create_deposit(user.id, Money(10_000, "USD"), "stripe")
            deposit.gateway_reference = f"cs_{deposit.id}"
            payments.complete_deposit(deposit, charge_reference=f"pi_{deposit.id}")
            found.append(deposit)
        ledger.post([(ledger.user_account(spent.id, USER_WALLET), -6_000),
                     (ledger.platform_account(FEE_REVENUE), 6_000)], key="spent", kind="test")
        full = disputes.open_dispute(provider="stripe", external_id="du_full", deposit=found[0], amount=10_000,
                                     currency="USD", reason="fraudulent")
        owed = disputes.open_dispute(provider="stripe", external_id="=HYPERLINK(\"http://x\")", deposit=found[1],
                                     amount=10_000, currency="USD", reason="@SUM(1+1)")
        unknown = disputes.open_dispute(provider="stripe", external_id="du_unknown", deposit=None, amount=500,
                                        currency="USD")
        disputes.close_dispute(provider="stripe", external_id="du_unknown", outcome="lost")
    return {"full": full, "owed": owed, "unknown": unknown, "deposits": found}


def test_the_queue_is_for_finance_and_admins(console, make_user, investor, queue):
    notes = 0
    for role, status in (("finance", 200), ("admin", 200), ("compliance", 403), ("support", 403),
                         ("property_manager", 403)):
        http = console(make_user(role=role))
        assert http.get(QUEUE).status_code == status, role
        assert http.get(f"{QUEUE}details/?id={queue['full'].id}").status_code == status, role
        assert http.get(f"{QUEUE}export/csv/").status_code == status, role
        token = csrf_from(http.get("/account/security").get_data(as_text=True))
        response = http.post(f"{QUEUE}{queue['full'].id}/note", data={"csrf_token": token, "body": "called them"})
        assert response.status_code == (302 if status == 200 else 403), role
        notes += status == 200
        assert db.session.scalar(select(func.count(DisputeNote.id))) == notes, role
    assert console(investor).get(QUEUE).status_code == 403


def test_the_queue_shows_and_filters(app, console, finance, queue):
    http = console(finance)
    page = http.get(QUEUE).get_data(as_text=True)
    assert "rich@example.com" in page and "du_full" not in page  # the investor, not the provider's id, is shown
    assert "USD 100.00" in page and "USD 60.00" in page and "no deposit" in page
    opened = http.get(f"{QUEUE}?{_filter(app, 'Status', 'is')}=open").get_data(as_text=True)
    assert "rich@example.com" in opened and "no deposit" not in opened
    owing = http.get(f"{QUEUE}?{_filter(app, 'Has receivable', 'is')}=yes").get_data(as_text=True)
    assert "rich@example.com" not in owing and f"#{queue['deposits'][1].id}" in owing
    by_provider = http.get(f"{QUEUE}?{_filter(app, 'Provider', 'equals')}=razorpay").get_data(as_text=True)
    assert "rich@example.com" not in by_provider
    assert http.get(f"{QUEUE}?{_filter(app, 'Opened', 'greater than')}=2000-01-01 00:00:00").status_code == 200


def test_details_show_the_timeline_and_a_note_is_audited(console, finance, queue):
    http = console(finance)
    url = f"{QUEUE}details/?id={queue['owed'].id}"
    page = http.get(url).get_data(as_text=True)
    assert "dispute opened" in page and "dispute booked" in page and "USD 60.00" in page  # the timeline, the owed
    assert "Needs attention" not in page
    unknown = http.get(f"{QUEUE}details/?id={queue['unknown'].id}").get_data(as_text=True)
    assert "No deposit matches" in unknown and "Timeline of deposit" not in unknown
    token = csrf_from(page)
    blank = http.post(f"{QUEUE}{queue['owed'].id}/note", data={"csrf_token": token, "body": "  "},
                      follow_redirects=True)
    assert blank.status_code == 200 and db.session.scalar(select(func.count(DisputeNote.id))) == 0
    http.post(f"{QUEUE}{queue['owed'].id}/note", data={"csrf_token": token, "body": "<b>Evidence</b> sent"})
    assert "&lt;b&gt;Evidence&lt;/b&gt; sent" in http.get(url).get_data(as_text=True)
    audit = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "disputes.note")).one()
    assert audit.actor_id == finance.id and audit.reason == "<b>Evidence</b> sent"
    assert http.post(f"{QUEUE}{queue['owed'].id}/note", data={"body": "no token"}).status_code == 400
    assert http.post(f"{QUEUE}999999/note", data={"csrf_token": token, "body": "x"}).status_code == 404


def test_exports_are_audited_and_escaped(console, finance, queue):
    http = console(finance)
    response = http.get(f"{QUEUE}export/csv/")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["id", "provider", "dispute", "status"] and len(rows) == 4
    cells = [cell for row in rows for cell in row]
    assert "'=HYPERLINK(\"http://x\")" in cells and "'@SUM(1+1)" in cells
    assert not any(cell.startswith(("=", "@", "+")) for cell in cells)
    assert "60.00" in cells and "40.00" in cells  # receivable and held of the spent wallet, in major units
    book = load_workbook(io.BytesIO(http.get(f"{QUEUE}export/xlsx/").data))
    values = [cell.value for row in book.active.iter_rows() for cell in row if isinstance(cell.value, str)]
    assert "'=HYPERLINK(\"http://x\")" in values and not any(v.startswith(("=", "@")) for v in values)
    assert http.get(f"{QUEUE}export/xls/").status_code in (302, 400)  # not offered
    exports = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "disputes.export")
                                 .order_by(AuditRecord.id)).all()
    assert [e.after["format"] for e in exports] == ["csv", "xlsx"] and exports[0].after["rows"] == 3
