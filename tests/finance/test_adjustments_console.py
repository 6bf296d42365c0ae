"""Finance -> Adjustments in the console: propose with a document, approve by a second finance user, the refusals
shown on the form, the document served only to finance (audited), the filters, the export (audited, escaped) and
the roles."""
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.extensions import db
from app.finance import adjustments
from app.finance.adjustment_models import BalanceAdjustment
from app.ledger import services as ledger
from app.ledger.models import JournalEntry
from tests.core import files
from tests.support import csrf_from

PDF = files.minimal_pdf()


def rows() -> int:
    return db.session.scalar(select(func.count(BalanceAdjustment.id))) or 0


def entries() -> int:
    return db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.kind == "adjustment")) or 0


def _page(http, url) -> str:
    page = http.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return page.get_data(as_text=True)


def _propose(user, actor, **kw):
    fields = {"direction": "credit", "amount": "25.00", "reason": "=HYPERLINK(\"http://evil\")", "note": "",
              "attachment": PDF} | kw
    with unit_of_work():
        return adjustments.propose(user.email, actor=actor, **fields)


def _post_proposal(http, data, attachment=PDF):
    html = _page(http, "/admin/adjustments/propose")
    form = {"csrf_token": csrf_from(html), **data}
    if attachment is not None:
        form["attachment"] = (io.BytesIO(attachment), "evidence.pdf")
    return http.post("/admin/adjustments/propose", data=form, content_type="multipart/form-data")


def test_propose_then_approve_by_another(app, client, login, investor, finance, finance2):
    login(finance)
    response = _post_proposal(client, {"user": investor.email, "direction": "credit", "amount": "1,000.00",
                                       "reason": "<b>Goodwill</b> for the outage", "note": "<i>Sorry</i> for the wait"})
    assert response.status_code == 302, response.get_data(as_text=True)
    a = db.session.scalar(select(BalanceAdjustment))
    assert (a.amount, a.status, a.user_id) == (100_000, "proposed", investor.id) and entries() == 0
    details = _page(client, f"/admin/adjustments/details/?id={a.id}")
    assert "You proposed it" in details and "<b>Goodwill</b>" not in details and "&lt;b&gt;Goodwill" in details
    assert f"/admin/adjustments/{a.id}/attachment" in details
    # the maker's own approval is refused and writes nothing
    client.post(f"/admin/adjustments/{a.id}/approve", data={"csrf_token": csrf_from(details)})
    db.session.expire_all()
    assert db.session.get(BalanceAdjustment, a.id).status == "proposed" and entries() == 0
    refused = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "adjustments.refused"))
    assert refused.actor_id == finance.id and "second person" in refused.after["refusal"]

    checker = app.test_client()
    login(finance2, http=checker)
    details = _page(checker, f"/admin/adjustments/details/?id={a.id}")
    assert "Approve" in details and 'data-confirm="Approve this credit of USD 1,000.00?' in details
    done = checker.post(f"/admin/adjustments/{a.id}/approve", data={"csrf_token": csrf_from(details)},
                        follow_redirects=True)
    assert "Approved: the wallet was credited with USD 1,000.00" in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(BalanceAdjustment, a.id).status == "approved" and entries() == 1
    assert ledger.balance_of(investor.id).available.minor == 200_000
    # a double click: refused, still one entry
    checker.post(f"/admin/adjustments/{a.id}/approve", data={"csrf_token": csrf_from(details)})
    assert entries() == 1
    # the investor's wallet page reads the plain line
    reader = app.test_client()
    login(investor, http=reader)
    wallet = _page(reader, "/wallet")
    assert "Balance correction (credit): &lt;i&gt;Sorry&lt;/i&gt; for the wait" in wallet
    assert "Goodwill" not in wallet


def test_refusals_keep_the_form_and_write_nothing(client, login, investor, finance):
    login(finance)
    cases = [
        ({"user": investor.email, "direction": "credit", "amount": "10.001", "reason": "x"}, PDF, "decimal places"),
        ({"user": investor.email, "direction": "credit", "amount": "-5", "reason": "x"}, PDF, "positive"),
        ({"user": investor.email, "direction": "debit", "amount": "5000.00", "reason": "x"}, PDF, "below zero"),
        ({"user": investor.email, "direction": "credit", "amount": "5.00", "reason": ""}, PDF, "reason"),
        ({"user": investor.email, "direction": "credit", "amount": "5.00", "reason": "x"}, None, "document"),
        ({"user": investor.email, "direction": "credit", "amount": "5.00", "reason": "x"}, files.svg(), "This file is not a"),
        ({"user": finance.email, "direction": "credit", "amount": "5.00", "reason": "x"}, PDF, "own wallet"),
        ({"user": "ghost@example.com", "direction": "credit", "amount": "5.00", "reason": "x"}, PDF, "No user"),
    ]
    for data, attachment, message in cases:
        response = _post_proposal(client, data, attachment)
        assert response.status_code in (403, 404, 422), (data, response.status_code)
        html = response.get_data(as_text=True)
        assert message in html, (message, html[:2000])
        assert f'value="{data["amount"]}"' in html  # what was typed is kept
    assert rows() == 0
    assert client.post("/admin/adjustments/propose", data={"user": investor.email}).status_code == 400  # no CSRF


def test_reject_and_cancel_from_the_console(app, client, login, investor, finance, finance2):
    a = _propose(investor, finance)
    b = _propose(investor, finance)
    checker = app.test_client()
    login(finance2, http=checker)
    details = _page(checker, f"/admin/adjustments/details/?id={a.id}")
    checker.post(f"/admin/adjustments/{a.id}/reject", data={"csrf_token": csrf_from(details), "reason": ""})
    db.session.expire_all()
    assert db.session.get(BalanceAdjustment, a.id).status == "proposed"  # a reason is needed
    checker.post(f"/admin/adjustments/{a.id}/reject", data={"csrf_token": csrf_from(details), "reason": "No proof"})
    checker.post(f"/admin/adjustments/{b.id}/cancel", data={"csrf_token": csrf_from(details)})  # not theirs
    login(finance)
    details = _page(client, f"/admin/adjustments/details/?id={b.id}")
    client.post(f"/admin/adjustments/{b.id}/cancel", data={"csrf_token": csrf_from(details), "reason": "typo"})
    db.session.expire_all()
    assert db.session.get(BalanceAdjustment, a.id).status == "rejected"
    assert db.session.get(BalanceAdjustment, b.id).status == "cancelled"
    assert entries() == 0


def test_the_document_is_served_to_finance_only_and_audited(app, client, login, make_user, investor, finance):
    a = _propose(investor, finance)
    login(finance)
    response = client.get(f"/admin/adjustments/{a.id}/attachment")
    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf" and response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    viewed = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "adjustments.attachment_viewed"))
    assert viewed.actor_id == finance.id and viewed.target_id == str(a.id)
    assert client.get("/admin/adjustments/999/attachment").status_code == 404
    for role in ("support", "compliance", "property_manager", "investor"):
        other = app.test_client()
        login(make_user(role=role), http=other)
        assert other.get(f"/admin/adjustments/{a.id}/attachment").status_code == 403, role
    other = app.test_client()
    login(investor, http=other)  # the investor has no route to it either
    assert other.get(f"/admin/adjustments/{a.id}/attachment").status_code == 403


def test_filters_and_the_escaped_audited_export(client, login, investor, make_investor, finance, finance2):
    other = make_investor(balance="50.00")
    _propose(investor, finance, amount="25.00")
    _propose(other, finance2, direction="debit", amount="30.00", note="@SUM(A1:A9)")
    login(finance)
    listing = _page(client, "/admin/adjustments/")
    assert "+USD 25.00" in listing and "-USD 30.00" in listing
    # direction, status, amount and user filters narrow the list (filters are numbered in their declared order)
    only_debits = _page(client, "/admin/adjustments/?flt0_1=debit")
    assert "-USD 30.00" in only_debits and "+USD 25.00" not in only_debits
    at_least = _page(client, "/admin/adjustments/?flt0_7=26.00")
    assert "-USD 30.00" in at_least and "+USD 25.00" not in at_least
    by_user = _page(client, f"/admin/adjustments/?flt0_3={investor.email}")
    assert "+USD 25.00" in by_user and "-USD 30.00" not in by_user
    assert _page(client, "/admin/adjustments/?flt0_0=approved").count("USD 25.00") == 0

    csv = client.get("/admin/adjustments/export/csv?flt0_1=debit")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    body = csv.get_data(as_text=True)
    assert body.startswith("ID,Proposed at (UTC),User,Direction,Amount")
    assert "'@SUM(A1:A9)" in body and "'=HYPERLINK" in body and "25.00" not in body
    xlsx = client.get("/admin/adjustments/export/xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert values[0][0] == "ID" and len(values) == 3
    assert all(not str(v).startswith(("=", "@")) for r in values for v in r if v is not None)
    assert {float(r[4]) for r in values[1:]} == {25.0, 30.0}
    exports = list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == "adjustments.export")
                                      .order_by(AuditRecord.id)))
    assert [(e.after["format"], e.after["rows"]) for e in exports] == [("csv", 1), ("xlsx", 2)]
    assert exports[0].after["filters"][0]["value"] == "debit"
    assert client.get("/admin/adjustments/export/pdf").status_code == 404


@pytest.mark.parametrize("role", ["property_manager", "support", "compliance"])
def test_other_staff_get_403(client, login, make_user, investor, finance, role):
    a = _propose(investor, finance)
    login(make_user(role=role))
    token = csrf_from(_page(client, "/account/security"))
    for url in ("/admin/adjustments/", "/admin/adjustments/propose", f"/admin/adjustments/details/?id={a.id}",
                "/admin/adjustments/export/csv"):
        assert client.get(url).status_code == 403, url
    for action in ("approve", "reject", "cancel"):
        assert client.post(f"/admin/adjustments/{a.id}/{action}",
                           data={"csrf_token": token, "reason": "x"}).status_code == 403, action
    db.session.expire_all()
    assert db.session.get(BalanceAdjustment, a.id).status == "proposed" and entries() == 0


def test_an_admin_may_use_it(client, login, make_user, investor, finance):
    a = _propose(investor, finance)
    login(make_user(role="admin"))
    details = _page(client, f"/admin/adjustments/details/?id={a.id}")
    client.post(f"/admin/adjustments/{a.id}/approve", data={"csrf_token": csrf_from(details)})
    db.session.expire_all()
    assert db.session.get(BalanceAdjustment, a.id).status == "approved" and entries() == 1
