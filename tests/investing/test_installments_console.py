"""The console's investing pages through HTTP, as staff with 2FA: investments and their details, installments due and
overdue with their filters, the default cancellation, and declared distributions from declaration to payment."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.money import Money
from app.extensions import db
from app.investing import declared
from app.investing import services as investing
from app.investing.models import DeclaredDistribution, Investment
from app.ledger.checks import verify
from app.ledger.services import balance_of
from tests.support import csrf_from, fund_distributions


def _invest(user, p, amount):
    inv = investing.invest(user, p.id, Money.parse(amount, "USD"), acknowledged=True)
    db.session.commit()
    return inv


@pytest.fixture
def plan(make_investor, make_property):
    """An investment in three monthly installments with a late fee, the second overdue by `days`."""

    def _make(days=45, amount="900.00", user=None, p=None):
        user = user or make_investor("10000.00")
        p = p or make_property(installments_count=3, installment_interval=1, installment_unit="months",
                               late_fee=1_000, min_investment=30_000)
        inv = _invest(user, p, amount)
        for inst in inv.installments[1:]:
            inst.due_on = date.today() - timedelta(days=days)
        db.session.commit()
        return user, p, inv

    return _make


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def test_default_cancellation_through_the_console(client, login, make_user, plan):
    user, _p, inv = plan(days=45)
    finance = make_user(role="finance")
    login(finance)
    html = _page(client, f"/admin/investments/details/?id={inv.id}")
    assert "Cancel after default and refund" in html
    # 300.00 paid; two overdue installments with a 10.00 late fee each are kept
    assert "USD 280.00" in html and "USD 20.00" in html
    url = f"/admin/investments/{inv.id}/cancel-default"
    assert client.post(url, data={"reason": "no token"}).status_code == 400  # CSRF
    response = client.post(url, data={"csrf_token": csrf_from(html), "reason": ""}, follow_redirects=True)
    assert "A reason is required" in response.get_data(as_text=True) or "reason" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Investment, inv.id).status == "paying"
    response = client.post(url, data={"csrf_token": csrf_from(html), "reason": "Installments unpaid for 45 days"},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "cancelled: USD 280.00 refunded" in page
    db.session.expire_all()
    inv = db.session.get(Investment, inv.id)
    assert inv.status == "defaulted" and inv.refunded_amount == 28_000 and inv.close_reason.startswith("Installments")
    assert balance_of(user.id).available.minor == 1_000_000 - 2_000
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "investments.cancel_default"))
    assert record.actor_id == finance.id and record.reason == "Installments unpaid for 45 days"
    # a second click changes nothing
    again = client.post(url, data={"csrf_token": csrf_from(html), "reason": "again"}, follow_redirects=True)
    assert "not in default" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count(AuditRecord.id)).where(
        AuditRecord.action == "investments.cancel_default")) == 1
    report = verify()
    assert report.ok, report.violations


def test_not_yet_in_default_is_refused(client, login, make_user, plan):
    _user, _p, inv = plan(days=10)  # overdue, within the default period
    login(make_user(role="finance"))
    html = _page(client, f"/admin/investments/details/?id={inv.id}")
    assert "Cancel after default" not in html
    response = client.post(f"/admin/investments/{inv.id}/cancel-default",
                           data={"csrf_token": csrf_from(html), "reason": "too early"}, follow_redirects=True)
    assert "not in default" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Investment, inv.id).status == "paying"


@pytest.mark.parametrize("role,status", [("support", 403), ("property_manager", 403)])
def test_only_finance_cancels(client, login, make_user, plan, role, status):
    _user, _p, inv = plan(days=45)
    login(make_user(role=role))
    html = _page(client, f"/admin/investments/details/?id={inv.id}")  # they may look
    assert "Cancel after default and refund" not in html
    response = client.post(f"/admin/investments/{inv.id}/cancel-default",
                           data={"csrf_token": csrf_from(html), "reason": "x"})
    assert response.status_code == status
    db.session.expire_all()
    assert db.session.get(Investment, inv.id).status == "paying"


def test_investors_and_staff_without_2fa_are_kept_out(client, login, make_user, plan):
    user, _p, inv = plan(days=45)
    login(user)
    assert client.get("/admin/installments/").status_code == 403
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post(f"/admin/investments/{inv.id}/cancel-default",
                       data={"csrf_token": token, "reason": "x"}).status_code == 403
    other = type(client)(client.application)
    login(make_user(role="finance", two_factor=False), http=other)
    response = other.get("/admin/installments/")
    assert response.status_code == 302 and response.headers["Location"] == "/account/2fa/setup"


def test_installments_list_filters_and_late_fee(client, login, make_user, plan, make_investor, make_property):
    soon_user, p, _soon = plan(days=-3)     # due in three days
    late_user, _, _late = plan(days=5, p=p)    # overdue, past the grace period: the fee applies
    dflt_user, _, _dflt = plan(days=40, p=p)   # in default
    other_p = make_property(installments_count=2, installment_interval=1, installment_unit="months")
    other = _invest(make_investor("5000.00"), other_p, "400.00")
    other.installments[1].due_on = date.today() - timedelta(days=1)
    db.session.commit()
    login(make_user(role="support"))
    html = _page(client, "/admin/installments/")
    for u in (soon_user, late_user, dflt_user):
        assert u.email in html
    assert "USD 10.00" in html  # the late fee that would apply today
    # two installments per plan; the other property's second one is a day late
    for badge in ("2 due", "5 overdue", "4 past the grace period", "2 in default"):
        assert f">{badge}</span>" in html, badge

    from app.admin.views.investments import InstallmentView

    view = next(v for v in client.application.extensions["admin"][0]._views if isinstance(v, InstallmentView))
    index = {type(f).__name__ + (("_min" if f.at_least else "_max") if hasattr(f, "at_least") else ""): i
             for i, f in enumerate(view._filters)}
    state = index["InstallmentStateFilter"]
    overdue = _page(client, f"/admin/installments/?flt0_{state}=default")
    assert dflt_user.email in overdue and late_user.email not in overdue and soon_user.email not in overdue
    due = _page(client, f"/admin/installments/?flt0_{state}=due")
    assert soon_user.email in due and late_user.email not in due
    at_least = _page(client, f"/admin/installments/?flt0_{index['DaysOverdueFilter_min']}=4")
    assert late_user.email in at_least and dflt_user.email in at_least and soon_user.email not in at_least
    at_most = _page(client, f"/admin/installments/?flt0_{index['DaysOverdueFilter_max']}=10")
    assert late_user.email in at_most and dflt_user.email not in at_most
    by_property = _page(client, f"/admin/installments/?flt0_{index['PropertyFilter']}={other_p.id}")
    assert other_p.title in by_property and late_user.email not in by_property
    by_email = _page(client, f"/admin/installments/?flt0_{index['InvestorEmailFilter']}={late_user.email[:10]}")
    assert late_user.email in by_email and dflt_user.email not in by_email
    # the property filter offers the properties by name
    assert f'"{other_p.title}"' in html or other_p.title in html


def test_investments_list_filters(client, login, make_user, make_investor, make_property):
    a, b = make_investor("9000.00"), make_investor("9000.00")
    p, q = make_property(), make_property()
    _invest(a, p, "1000.00")
    _invest(b, q, "2000.00")
    login(make_user(role="property_manager"))
    from app.admin.views.investments import InvestmentView

    view = next(v for v in client.application.extensions["admin"][0]._views if isinstance(v, InvestmentView))
    index = {type(f).__name__: i for i, f in enumerate(view._filters)}
    html = _page(client, "/admin/investments/")
    assert a.email in html and b.email in html and "USD 2,000.00" in html
    only_q = _page(client, f"/admin/investments/?flt0_{index['PropertyFilter']}={q.id}")
    assert b.email in only_q and a.email not in only_q
    by_email = _page(client, f"/admin/investments/?flt0_{index['InvestorEmailIsFilter']}={a.email.upper()}")
    assert a.email in by_email and b.email not in by_email
    by_status = _page(client, f"/admin/investments/?flt0_{index['InvestmentStatusFilter']}=defaulted")
    assert a.email not in by_status and b.email not in by_status


def test_investment_details_show_installments_calendar_payments_and_entries(client, login, make_user,
                                                                            make_investor, make_property):
    user = make_investor("9000.00")
    p = make_property(installments_count=2, installment_interval=1, installment_unit="months")
    inv = _invest(user, p, "1000.00")
    investing.pay_installments(user, inv.id)
    db.session.commit()
    login(make_user(role="finance"))
    html = _page(client, f"/admin/investments/details/?id={inv.id}")
    assert 'data-testid="installments"' in html and "USD 500.00" in html
    assert 'data-testid="calendar"' in html and "(last)" in html  # eight quarterly periods, capital with the last
    assert 'data-testid="entries"' in html and "USD -500.00" in html
    assert 'data-testid="payments"' in html and "None yet." in html


@pytest.mark.parametrize("url", ["/admin/investments/", "/admin/installments/", "/admin/declared_distributions/"])
def test_list_pages_do_not_grow_queries_with_rows(client, login, make_user, plan, count_queries, url):
    _user, p, _inv = plan(days=40)
    finance, checker = make_user(role="finance"), make_user(role="finance")
    d = declared.declare(p.id, label="Rent 1", period_start=date.today() - timedelta(days=30),
                         period_end=date.today(), amount="10.00", actor=finance)
    db.session.commit()
    login(make_user(role="admin"))
    with count_queries() as few:
        assert client.get(url).status_code == 200
    for n in range(12):
        plan(days=40 - n, p=p)
        d = declared.declare(p.id, label=f"Rent {n + 2}", period_start=date.today() - timedelta(days=30),
                             period_end=date.today(), amount="10.00", actor=finance)
        if n % 2:
            declared.approve(d, actor=checker)
        db.session.commit()
    with count_queries() as many:
        assert client.get(url).status_code == 200
    assert 0 < len(many) == len(few), (len(few), len(many))


def test_investment_details_take_a_fixed_number_of_queries(client, login, make_user, plan, count_queries):
    user, _p, inv = plan(days=5)
    login(make_user(role="finance"))
    with count_queries() as few:
        _page(client, f"/admin/investments/details/?id={inv.id}")
    investing.pay_installments(user, inv.id, all_remaining=True)
    db.session.commit()
    with count_queries() as many:
        _page(client, f"/admin/investments/details/?id={inv.id}")
    assert len(many) <= len(few) + 1, (len(few), len(many))  # + the refund-key lookup finding nothing either way


# declared distributions through the console ------------------------------------------------------------------------
def _fingerprint_in(html: str) -> str:
    import re

    return re.search(r'name="fingerprint" value="([0-9a-f]{64})"', html).group(1)


def _two_finance_clients(client, login, make_user):
    maker, checker = make_user(role="finance"), make_user(role="finance")
    login(maker)
    other = type(client)(client.application)
    login(checker, http=other)
    return maker, checker, other


def test_declare_preview_approve_and_pay_through_the_console(client, login, make_user, make_investor,
                                                             make_property):
    p = make_property()
    users = [make_investor("5000.00") for _ in range(3)]
    for u in users:
        _invest(u, p, "1000.00")
    _maker, _checker, second = _two_finance_clients(client, login, make_user)
    start, end = (date.today() - timedelta(days=30)).isoformat(), date.today().isoformat()
    form = _page(client, "/admin/declared_distributions/new")
    assert p.title in form and "largest remainders" in form
    data = {"property_id": p.id, "label": "Rent October", "period_start": start, "period_end": end,
            "amount": "100.00", "basis": "paid_amount", "note": "October rent, net of fees"}
    response = client.post("/admin/declared_distributions/declare",
                           data=data | {"csrf_token": csrf_from(form), "preview": "1"})
    preview = response.get_data(as_text=True)
    assert response.status_code == 200 and "nothing is saved" in preview
    assert "USD 33.34" in preview and preview.count("USD 33.33") == 2 and "USD 100.00" in preview
    assert db.session.scalar(select(func.count(DeclaredDistribution.id))) == 0  # a preview saves nothing
    bad = client.post("/admin/declared_distributions/declare",
                      data=data | {"csrf_token": csrf_from(form), "preview": "1", "amount": "1.001"})
    assert "more than 2 decimal places" in bad.get_data(as_text=True)
    refused = client.post("/admin/declared_distributions/declare",
                          data=data | {"csrf_token": csrf_from(form), "label": ""}, follow_redirects=True)
    assert "A label is required" in refused.get_data(as_text=True) and 'value="100.00"' in refused.get_data(
        as_text=True)  # the form comes back filled in
    assert client.post("/admin/declared_distributions/declare", data=data).status_code == 400  # CSRF
    response = client.post("/admin/declared_distributions/declare", data=data | {"csrf_token": csrf_from(form)})
    assert response.status_code == 302
    d = db.session.scalar(select(DeclaredDistribution))
    assert response.headers["Location"].endswith(f"/admin/declared_distributions/details/?id={d.id}")
    page = _page(client, f"/admin/declared_distributions/details/?id={d.id}")
    assert "You declared it" in page and "Approve this split" not in page
    # even a forged approval by the maker is refused
    forged = client.post(f"/admin/declared_distributions/{d.id}/approve",
                         data={"csrf_token": csrf_from(page), "fingerprint": declared.split_of(d).fingerprint},
                         follow_redirects=True)
    assert "second person" in forged.get_data(as_text=True)

    review = _page(second, f"/admin/declared_distributions/details/?id={d.id}")
    assert "Approve this split" in review and "USD 33.34" in review and "earlier investment" in review
    response = second.post(f"/admin/declared_distributions/{d.id}/approve",
                           data={"csrf_token": csrf_from(review), "fingerprint": _fingerprint_in(review)},
                           follow_redirects=True)
    assert "Approved" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DeclaredDistribution, d.id).status == "approved"

    page = _page(client, f"/admin/declared_distributions/details/?id={d.id}")
    assert "Pay now" in page
    url = f"/admin/declared_distributions/{d.id}/pay"
    waiting = client.post(url, data={"csrf_token": csrf_from(page)}, follow_redirects=True).get_data(as_text=True)
    assert "Waiting for funding" in waiting and "waiting for funding" in _page(client, "/admin/declared_distributions/")
    db.session.expire_all()
    assert db.session.get(DeclaredDistribution, d.id).status == "approved"
    assert [balance_of(u.id).available.minor for u in users] == [400_000, 400_000, 400_000]
    fund_distributions(p.id, 10_000, key="console-funding")
    paid = client.post(url, data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    assert "Paid USD 100.00 to the investors" in paid.get_data(as_text=True)
    twice = client.post(url, data={"csrf_token": csrf_from(page)}, follow_redirects=True)  # a double click
    assert "Only an approved distribution can be paid" in twice.get_data(as_text=True)
    db.session.expire_all()
    assert [balance_of(u.id).available.minor for u in users] == [403_334, 403_333, 403_333]
    history = _page(client, f"/admin/declared_distributions/details/?id={d.id}")
    for step in ("declared", "approved", "paid"):
        assert f"<strong>{step}</strong>" in history
    report = verify()
    assert report.ok, report.violations


def test_an_outdated_preview_is_not_approved(client, login, make_user, make_investor, make_property):
    p = make_property()
    _invest(make_investor("5000.00"), p, "1000.00")
    maker, _checker, second = _two_finance_clients(client, login, make_user)
    d = declared.declare(p.id, label="Rent", period_start=date.today() - timedelta(days=10), period_end=date.today(),
                         amount="50.00", actor=maker)
    db.session.commit()
    review = _page(second, f"/admin/declared_distributions/details/?id={d.id}")
    fingerprint = _fingerprint_in(review)
    _invest(make_investor("5000.00"), p, "1000.00")  # the split changes under the approver's eyes
    response = second.post(f"/admin/declared_distributions/{d.id}/approve",
                           data={"csrf_token": csrf_from(review), "fingerprint": fingerprint}, follow_redirects=True)
    assert "changed since you previewed" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DeclaredDistribution, d.id).status == "draft"


def test_discard_through_the_console_and_roles(client, login, make_user, make_investor, make_property):
    p = make_property()
    _invest(make_investor("5000.00"), p, "1000.00")
    maker = make_user(role="finance")
    d = declared.declare(p.id, label="Rent", period_start=date.today() - timedelta(days=10), period_end=date.today(),
                         amount="50.00", actor=maker)
    db.session.commit()
    login(make_user(role="support"))
    page = _page(client, f"/admin/declared_distributions/details/?id={d.id}")  # support may look ...
    assert "Discard" not in page and "Approve this split" not in page
    assert client.get("/admin/declared_distributions/new").status_code == 403  # ... not declare
    for action in ("approve", "pay", "discard"):
        assert client.post(f"/admin/declared_distributions/{d.id}/{action}",
                           data={"csrf_token": csrf_from(page), "reason": "x"}).status_code == 403
    other = type(client)(client.application)
    login(maker, http=other)
    page = _page(other, f"/admin/declared_distributions/details/?id={d.id}")
    response = other.post(f"/admin/declared_distributions/{d.id}/discard",
                          data={"csrf_token": csrf_from(page), "reason": "Wrong amount"}, follow_redirects=True)
    assert "Discarded." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(DeclaredDistribution, d.id).status == "discarded"
    assert verify().ok
