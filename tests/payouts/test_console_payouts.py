"""The payout console: queue with filters and constant query counts, the case page, maker-checker through the
forms, bank-file export and batches, and who may do what."""
import csv
import io

from sqlalchemy import select

from app.extensions import db
from app.ledger import services as ledger
from app.payouts.models import Payout, PayoutBatch
from tests.payouts.helpers import balances, usable_method
from tests.support import csrf_from, set_setting


def make_payout(user, method, amount=5_000, flags=()):
    """A requested payout written as request_payout does (hold first), without the KYC set-up per investor."""
    hold = ledger.hold(user.id, amount + 100, key=f"test-hold-{user.id}-{amount}-{method.id}", memo="test")
    payout = Payout(user_id=user.id, payout_method_id=method.id, amount=amount, fee=100, currency="USD",
                    hold_id=hold.id, risk_flags=list(flags), needs_two_approvals=False)
    db.session.add(payout)
    db.session.commit()
    return payout


def investors_with_payouts(make_user, fund, n):
    made = []
    for i in range(n):
        user = make_user()
        fund(user, "500.00")
        made.append(make_payout(user, usable_method(user), 1_000 + i, flags=("first_payout",) if i % 2 else ()))
    return made


def test_queue_query_count_does_not_grow_with_rows(client, login, finance, make_user, fund, count_queries):
    login(finance)
    investors_with_payouts(make_user, fund, 2)
    client.get("/admin/payouts/")
    with count_queries() as few:
        assert client.get("/admin/payouts/").status_code == 200
    investors_with_payouts(make_user, fund, 10)
    with count_queries() as many:
        page = client.get("/admin/payouts/")
    assert page.status_code == 200
    assert len(many) == len(few), (len(few), len(many))
    for url in ("/admin/payout_batches/", "/admin/payout_methods/"):
        client.get(url)
        with count_queries() as queries:
            assert client.get(url).status_code == 200
        assert len(queries) <= len(few) + 2, url


def test_queue_filters(client, login, finance, make_user, fund):
    made = investors_with_payouts(make_user, fund, 4)  # amounts 10.00 .. 10.03; odd ones flagged
    login(finance)
    from app.admin.views.payouts import PayoutQueueView

    view = next(v for v in client.application.extensions["admin"][0]._views if isinstance(v, PayoutQueueView))
    with client.application.test_request_context():
        flt = view._quick_filters()
    html = client.get(f"/admin/payouts/?{flt['flag']}=first_payout").get_data(as_text=True)
    assert f"Open #{made[1].id}<" in html and f"Open #{made[0].id}<" not in html
    html = client.get(f"/admin/payouts/?{flt['status']}=approved").get_data(as_text=True)
    assert "Open #" not in html
    index = {type(f).__name__ + getattr(f, "operation", lambda: "")(): i for i, f in enumerate(view._filters)}
    at_least = index["AmountFilterat least"]
    html = client.get(f"/admin/payouts/?flt0_{at_least}=10.02").get_data(as_text=True)
    assert f"Open #{made[2].id}<" in html and f"Open #{made[1].id}<" not in html
    older = index["OlderThanFilterolder than (hours)"]
    assert "Open #" not in client.get(f"/admin/payouts/?flt0_{older}=1").get_data(as_text=True)
    method = index["MethodFilterbank contains"]
    assert f"Open #{made[0].id}<" in client.get(f"/admin/payouts/?flt0_{method}=test").get_data(as_text=True)
    assert client.get(f"/admin/payouts/?flt0_{at_least}=abc").status_code == 200  # ignored, not a 500


def test_two_finance_users_approve_then_one_pays_through_the_console(app, investor, method, finance, finance2,
                                                                      login, monkeypatch):
    from app.core.money import Money
    from app.payouts import services as payouts

    set_setting("payout.dual_approval_above", 5_000)
    payout = payouts.request_payout(investor, Money(10_000, "USD"), method.id)
    db.session.commit()
    first, second = app.test_client(), app.test_client()
    login(finance, http=first)
    login(finance2, http=second)
    case = first.get(f"/admin/payouts/case/{payout.id}")
    html = case.get_data(as_text=True)
    assert case.status_code == 200 and 'data-testid="risk-flags"' in html and "First payout" in html
    assert "approved" in html and 'data-testid="balance-history"' in html
    token = csrf_from(html)
    r = first.post(f"/admin/payouts/case/{payout.id}/approve", data={"csrf_token": token}, follow_redirects=True)
    assert "First approval recorded" in r.get_data(as_text=True)
    r = first.post(f"/admin/payouts/case/{payout.id}/approve", data={"csrf_token": token}, follow_redirects=True)
    assert "second, different finance user" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).status == "requested"
    token2 = csrf_from(second.get(f"/admin/payouts/case/{payout.id}").get_data(as_text=True))
    r = second.post(f"/admin/payouts/case/{payout.id}/approve", data={"csrf_token": token2}, follow_redirects=True)
    assert "Approved." in r.get_data(as_text=True)
    r = second.post(f"/admin/payouts/case/{payout.id}/paid", data={"csrf_token": token2, "bank_reference": ""},
                    follow_redirects=True)
    assert "bank reference is required" in r.get_data(as_text=True).lower()
    r = second.post(f"/admin/payouts/case/{payout.id}/paid", data={"csrf_token": token2, "bank_reference": "TRF-9"},
                    follow_redirects=True)
    assert "Marked paid." in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).status == "paid"
    assert balances(investor)[1] == 0
    assert second.post(f"/admin/payouts/case/{payout.id}/approve").status_code == 400  # no CSRF token


def test_support_sees_but_cannot_act(client, login, make_user, investor, method):
    from app.core.money import Money
    from app.payouts import services as payouts

    payout = payouts.request_payout(investor, Money(1_000, "USD"), method.id)
    db.session.commit()
    support = make_user(role="support")
    login(support)
    html = client.get(f"/admin/payouts/case/{payout.id}").get_data(as_text=True)
    assert "You cannot act on this payout." in html and 'data-testid="approve"' not in html
    token = csrf_from(html)
    assert client.post(f"/admin/payouts/case/{payout.id}/approve", data={"csrf_token": token}).status_code == 403
    assert client.get("/admin/payout_batches/1/file").status_code == 403
    compliance = make_user(role="compliance")
    other = client.application.test_client()
    login(compliance, http=other)
    assert other.get("/admin/payouts/").status_code == 403
    assert client.get("/admin/payouts/case/999999").status_code == 404


def test_export_selected_makes_a_batch_and_a_bank_file(client, login, finance, investor, method):
    from app.core.money import Money
    from app.payouts import services as payouts

    ids = []
    for amount in (1_000, 2_000):
        p = payouts.request_payout(investor, Money(amount, "USD"), method.id)
        payouts.approve(p, actor=finance)
        ids.append(p.id)
    db.session.commit()
    login(finance)
    html = client.get("/admin/payouts/").get_data(as_text=True)
    response = client.post("/admin/payouts/action/", data={"csrf_token": csrf_from(html), "action": "export",
                                                           "rowid": [str(i) for i in ids]})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][0] == "payout_id" and sorted(int(r[0]) for r in rows[1:]) == ids
    batch = db.session.scalar(select(PayoutBatch))
    assert batch.payout_count == 2
    again = client.post("/admin/payouts/action/", data={"csrf_token": csrf_from(html), "action": "export",
                                                        "rowid": [str(ids[0])]}, follow_redirects=True)
    assert "already in batch" in again.get_data(as_text=True)
    detail = client.get(f"/admin/payout_batches/details/?id={batch.id}").get_data(as_text=True)
    assert "Mark the batch paid" in detail
    download = client.get(f"/admin/payout_batches/{batch.id}/file")
    assert download.status_code == 200 and download.get_data(as_text=True) == response.get_data(as_text=True)
    r = client.post(f"/admin/payout_batches/{batch.id}/paid", data={"csrf_token": csrf_from(detail),
                                                                    "bank_reference": "B-1"}, follow_redirects=True)
    assert "2 payout(s) paid" in r.get_data(as_text=True)
    from app.core.audit import AuditRecord

    actions = set(db.session.scalars(select(AuditRecord.action).where(AuditRecord.action.like("payouts.%"))))
    assert {"payouts.approve", "payouts.batch_exported", "payouts.batch_downloaded", "payouts.batch_paid",
            "payouts.mark_paid"} <= actions


def test_out_of_range_ids_are_404(client, login, finance):
    login(finance)
    assert client.get(f"/admin/payouts/case/{10**20}").status_code == 404
    assert client.get(f"/admin/payout_batches/{10**20}/file").status_code == 404
