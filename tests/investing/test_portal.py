"""Investing in the portal: the invest form on the property page, the portfolio, installments, the statement."""
import csv
import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import Investment
from app.ledger.checks import verify
from app.ledger.services import balance_of
from tests.support import csrf_from, fund_distributions


def usd(amount: str) -> str:
    """An amount as the portal shows it in English ("$1,250.00")."""
    return Money.parse(amount.replace(",", ""), "USD", allow_zero=True).local("en")



def page_of(client, p):
    response = client.get(f"/properties/{p.slug}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def post_invest(client, p, html=None, **fields):
    html = html or page_of(client, p)
    version = re.search(r'name="documents_version" value="([0-9a-f]+)"', html).group(1)
    data = {"csrf_token": csrf_from(html), "documents_version": version, **fields}
    return client.post(f"/properties/{p.slug}/invest", data={k: v for k, v in data.items() if v is not None})


def installment_property(make_property, **extra):
    return make_property(min_investment=None, max_investment=None, fixed_amount=120_000, target_amount=12_000_000,
                         return_rate_bps=None, return_fixed_amount=1_000, return_frequency="monthly",
                         return_periods=12, installments_count=3, installment_interval=1, installment_unit="months",
                         late_fee=2_500, **extra)


def test_the_property_page_has_the_invest_form(client, make_investor, make_property, login):
    user = make_investor("5000.00")
    login(user)
    p = make_property()
    html = page_of(client, p)
    assert 'name="amount"' in html and 'name="acknowledge"' in html and 'name="csrf_token"' in html
    assert f'name="documents_version" value="{investing.offering_version(p)}"' in html
    assert "I have read the offering documents and terms" in html
    assert usd('5,000.00') in html  # the wallet
    assert f"From {usd('100.00')} to {usd('10,000.00')}" in html
    assert "/static/js/invest.js" in html and "cdn." not in html
    q = installment_property(make_property)
    html = page_of(client, q)
    first = re.search(r'data-testid="first-installment".*?</div>', html, re.S).group(0)
    assert "3 installments" in first and usd('400.00') in first
    assert 'value="1200.00"' in html and "readonly" in html


def test_investing_through_the_form_records_the_acknowledgement(client, make_investor, make_property, login):
    user = make_investor("5000.00")
    login(user)
    p = make_property()
    response = post_invest(client, p, amount="1,500.00", acknowledge="yes")
    assert response.status_code == 302
    inv = db.session.scalar(select(Investment))
    assert response.headers["Location"] == f"/portfolio/{inv.id}"
    assert inv.amount == 150_000 and inv.acknowledged_ip == "127.0.0.1"
    assert inv.documents_version == investing.offering_version(p)
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"You invested {usd('1,500.00')} in" in html
    assert "Return calendar" in html and "upcoming" in html
    assert "127.0.0.1" in html  # the acknowledgement, shown back
    assert balance_of(user.id).available.amount_str() == "3500.00"
    assert f"You hold {usd('1,500.00')} here" in page_of(client, p)
    assert verify().ok, verify().violations


@pytest.mark.parametrize("fields,status,text", [
    ({"amount": "1000.00"}, 422, "Confirm you have read the offering documents"),
    ({"amount": "", "acknowledge": "yes"}, 422, "Enter an amount."),
    ({"amount": "ten", "acknowledge": "yes"}, 422, "Amount must be a decimal string"),
    ({"amount": "100.001", "acknowledge": "yes"}, 422, "more than 2 decimal places"),
    ({"amount": "-5", "acknowledge": "yes"}, 422, "Amount must be positive"),
    ({"amount": "50.00", "acknowledge": "yes"}, 422, "The minimum investment is 100.00 USD"),
    ({"amount": "20000.00", "acknowledge": "yes"}, 422, "The maximum investment is 10000.00 USD"),
    ({"amount": "6000.00", "acknowledge": "yes"}, 422, "Your wallet holds 5000.00 USD"),
])
def test_refusals_are_shown_on_the_form_and_change_nothing(client, make_investor, make_property, login,
                                                           fields, status, text):
    user = make_investor("5000.00")
    login(user)
    p = make_property()
    response = post_invest(client, p, **fields)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert text in html, html[html.find('id="invest"'):][:3000]
    assert 'id="invest-amount"' in html  # the form again, with what was typed
    if fields.get("amount"):
        assert f'value="{fields["amount"]}"' in html
    assert db.session.scalar(select(func.count(Investment.id))) == 0
    assert balance_of(user.id).available.amount_str() == "5000.00"


def test_no_funding_left_changed_documents_and_no_csrf(client, make_investor, make_property, login):
    user = make_investor("50000.00")
    other = make_investor("50000.00")
    p = make_property(target_amount=500_000, max_investment=500_000)
    investing.invest(other, p.id, Money.parse("4000.00", "USD"), acknowledged=True)
    db.session.commit()
    login(user)
    html = page_of(client, p)
    response = post_invest(client, p, html=html, amount="1500.00", acknowledge="yes")
    assert response.status_code == 409
    assert "Not enough funding left: 1000.00 USD remains" in response.get_data(as_text=True)
    stale = post_invest(client, p, html=html.replace(investing.offering_version(p), "0" * 64), amount="100.00",
                        acknowledge="yes")
    assert stale.status_code == 409 and "changed since you opened the page" in stale.get_data(as_text=True)
    no_csrf = client.post(f"/properties/{p.slug}/invest", data={"amount": "100.00", "acknowledge": "yes"})
    assert no_csrf.status_code == 400
    assert db.session.scalar(select(func.count(Investment.id))) == 1
    investing.invest(other, p.id, Money.parse("1000.00", "USD"), acknowledged=True)
    db.session.commit()
    assert "Fully funded" in page_of(client, p)


def test_without_kyc_the_form_says_what_to_do_and_a_post_is_403(client, make_user, fund, make_property, login):
    from app.kyc.demo import ensure_forms

    ensure_forms()
    user = make_user(verified=True)
    fund(user, "1000.00")
    login(user)
    p = make_property()
    html = page_of(client, p)
    assert "Verify your identity to invest" in html and 'name="amount"' not in html
    response = client.post(f"/properties/{p.slug}/invest", data={
        "csrf_token": csrf_from(html), "amount": "100.00", "acknowledge": "yes"})
    assert response.status_code == 403
    assert "Verify your identity to invest" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Investment.id))) == 0


def test_installments_pay_next_and_pay_all_remaining(client, make_investor, make_property, login):
    user = make_investor("5000.00")
    login(user)
    p = installment_property(make_property)
    response = post_invest(client, p, amount="1200.00", acknowledge="yes")
    assert response.status_code == 302
    url = response.headers["Location"]
    html = client.get(url).get_data(as_text=True)
    assert "400.00 paid now, the rest in installments" in html
    assert f"Pay next: {usd('400.00')}" in html and f"Pay all remaining: {usd('800.00')}" in html
    inv = db.session.scalar(select(Investment))
    inv.installments[1].due_on = date.today() - timedelta(days=10)
    db.session.commit()
    html = client.get(url).get_data(as_text=True)
    assert "overdue" in html and f"Pay next: {usd('425.00')}" in html
    paid = client.post(f"{url}/pay", data={"csrf_token": csrf_from(html)})
    assert paid.status_code == 302
    html = client.get(url).get_data(as_text=True)
    assert f"Paid installment 2: {usd('425.00')} from your wallet." in html
    assert "Pay all remaining" not in html and f"Pay next: {usd('400.00')}" in html
    client.post(f"{url}/pay", data={"csrf_token": csrf_from(html), "all": "1"})
    html = client.get(url).get_data(as_text=True)
    assert "Paid installment 3" in html and "Earning" in html and "Pay next" not in html
    assert html.count("upcoming") == 12
    again = client.post(f"{url}/pay", data={"csrf_token": csrf_from(html)})
    assert "nothing is due" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert client.post(f"{url}/pay", data={}).status_code == 400
    assert balance_of(user.id).available.amount_str() == "3775.00"
    assert verify().ok, verify().violations


def test_someone_elses_holding_is_404(client, make_investor, make_property, login):
    a, b = make_investor(), make_investor()
    p = make_property()
    inv = investing.invest(a, p.id, Money.parse("100.00", "USD"), acknowledged=True)
    db.session.commit()
    login(b)
    assert client.get(f"/portfolio/{inv.id}").status_code == 404
    html = client.get("/portfolio").get_data(as_text=True)
    assert client.post(f"/portfolio/{inv.id}/pay", data={"csrf_token": csrf_from(html)}).status_code == 404
    assert client.get("/portfolio/999999").status_code == 404


def _pay_return(inv, period: int):
    from app.core.db import utcnow
    from app.investing.models import ReturnPayment, ScheduledReturn
    from app.ledger import services as ledger
    from app.ledger.models import USER_WALLET

    row = db.session.scalar(select(ScheduledReturn).where(ScheduledReturn.investment_id == inv.id,
                                                          ScheduledReturn.period_index == period))
    fund_distributions(inv.property_id, row.amount)
    entry = ledger.post([(investing.distributions_account(inv.property_id), -row.amount),
                         (ledger.user_account(inv.user_id, USER_WALLET), row.amount)],
                        key=f"test-return:{inv.id}:{period}", kind="returns", memo=f"Return, period {period}")
    db.session.add(ReturnPayment(investment_id=inv.id, period_index=period, due_on=row.due_on, amount=row.amount,
                                 capital=0, entry_id=entry.id, paid_at=utcnow()))
    db.session.delete(row)  # a paid period leaves the calendar
    db.session.commit()
    return row


def test_the_portfolio_shows_totals_holdings_and_returns_by_month(client, make_investor, make_property,
                                                                  login):
    user = make_investor("20000.00")
    p = make_property(return_frequency="monthly", return_periods=12)
    q = installment_property(make_property)
    inv = investing.invest(user, p.id, Money.parse("6000.00", "USD"), acknowledged=True)
    investing.invest(user, q.id, Money.parse("1200.00", "USD"), acknowledged=True)
    db.session.commit()
    _pay_return(inv, 1)
    # returns count in the month they fell due: move the paid period into this month for the chart
    from app.investing.models import ReturnPayment

    db.session.execute(ReturnPayment.__table__.update().values(due_on=date.today()))
    db.session.commit()
    login(user)
    html = client.get("/portfolio").get_data(as_text=True)
    assert f'data-testid="total-invested">{usd("7,200.00")}' in html
    assert f"{usd('6,400.00')} paid so far" in html
    assert f'data-testid="returns-earned">{usd("40.00")}' in html
    assert 'data-testid="returns-chart"' in html and "<rect" in html
    this_month = date.today().strftime("%b %Y")
    assert f"<title>{this_month}: {usd('40.00')}</title>" in html
    assert f"Installment 2: {usd('400.00')}" in html and "Paying installments" in html and "Earning" in html
    assert "cdn." not in html
    closed = client.get("/portfolio?show=closed").get_data(as_text=True)
    assert "No investments yet" in closed


def test_an_empty_portfolio(client, make_investor, login):
    login(make_investor())
    html = client.get("/portfolio").get_data(as_text=True)
    assert "No investments yet" in html and "No returns received in these months yet" in html
    assert f'data-testid="total-invested">{usd("0.00")}' in html


def test_wallet_transactions_filter_by_kind_and_dates(client, make_investor, make_property, login):
    from app.ledger.models import JournalEntry

    user = make_investor("5000.00")
    p = make_property()
    investing.invest(user, p.id, Money.parse("1000.00", "USD"), acknowledged=True)
    db.session.commit()
    login(user)
    html = client.get("/wallet").get_data(as_text=True)
    assert '<option value="investment"' in html and '<option value="deposit"' in html
    only = client.get("/wallet?kind=investment").get_data(as_text=True)
    assert "(1)" in only and f"Investment in {p.title}" in only and "Deposit to your wallet" not in only
    old = db.session.scalar(select(JournalEntry).where(JournalEntry.kind == "deposit"))
    assert old is not None
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert "No transactions yet" in client.get(f"/wallet?from={tomorrow}").get_data(as_text=True)
    today = date.today().isoformat()
    assert "(2)" in client.get(f"/wallet?from={today}&to={today}").get_data(as_text=True)
    bad = client.get("/wallet?from=yesterday&to=2020-01-01").get_data(as_text=True)
    assert "Use a date like 2026-01-31." in bad


def test_the_csv_statement_for_a_date_range_escapes_formulas(client, make_investor, make_property, login):
    user = make_investor("5000.00")
    p = make_property(title="=HYPERLINK(\"http://evil.example\",\"Click\")")
    investing.invest(user, p.id, Money.parse("1000.00", "USD"), acknowledged=True)
    db.session.commit()
    login(user)
    today = date.today().isoformat()
    response = client.get(f"/wallet/statement.csv?from={today}&to={today}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f'filename="freehold-statement-{today}-to-{today}.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["Date (UTC)", "Entry", "Type"]
    assert len(rows) == 3
    deposit, investment = rows[1], rows[2]
    assert deposit[2] == "Deposits" and deposit[5] == "5000.00" and deposit[7] == "5000.00"
    assert investment[2] == "Investments" and investment[6] == "1000.00" and investment[7] == "4000.00"
    assert investment[3] == 'Investment in =HYPERLINK("http://evil.example","Click")'  # not a cell formula
    for row in rows[1:]:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)
    only = client.get("/wallet/statement.csv?kind=investment")
    assert len(list(csv.reader(io.StringIO(only.get_data(as_text=True))))) == 2
    future = (date.today() + timedelta(days=3)).isoformat()
    assert len(list(csv.reader(io.StringIO(client.get(f"/wallet/statement.csv?from={future}")
                                           .get_data(as_text=True))))) == 1
    bad = client.get("/wallet/statement.csv?from=31/01/2026")
    assert bad.status_code == 302 and bad.headers["Location"].startswith("/wallet")
    assert client.get("/wallet/statement.csv?from=2026-02-01&to=2026-01-01").status_code == 302


def test_csv_cells_that_look_like_formulas_get_an_apostrophe():
    from app.core.csvfile import escape_cell as csv_cell

    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(text) == "'" + text
    assert csv_cell("Deposit #1") == "Deposit #1" and csv_cell(None) == "" and csv_cell(12) == "12"


def test_the_portfolio_page_costs_the_same_queries_for_1_or_20_holdings(app, make_investor, make_property,
                                                                        login, count_queries):
    from tests.investing.test_api import _holdings

    counts = {}
    for n in (1, 20):
        user = _holdings(make_investor, make_property, n)
        http = app.test_client()
        login(user, http=http)
        http.get("/portfolio")  # warm up
        with count_queries() as queries:
            html = http.get("/portfolio").get_data(as_text=True)
        assert html.count('data-testid="holding-') == n
        counts[n] = len(queries)
    assert counts[1] == counts[20], counts


def test_a_paid_declared_distribution_counts_as_a_return_received(client, make_investor, make_property,
                                                                  make_user, login):
    from app.investing import declared
    from tests.support import fund_distributions

    user = make_investor("5000.00")
    p = make_property()
    inv = investing.invest(user, p.id, Money.parse("1000.00", "USD"), acknowledged=True)
    db.session.commit()
    first, second = make_user(role="finance"), make_user(role="finance")
    fund_distributions(p.id, 1_234)
    d = declared.declare(p.id, actor=first, label="Rent, first quarter", period_start=date.today() - timedelta(days=30),
                         period_end=date.today(), amount="12.34")
    db.session.commit()
    declared.approve(d, actor=second)
    db.session.commit()
    fund_distributions(p.id, 1_234, key="portal-funding")
    declared.pay(d, actor=second)
    db.session.commit()
    login(user)
    html = client.get("/portfolio").get_data(as_text=True)
    assert f'data-testid="returns-earned">{usd("12.34")}' in html
    assert "Distributions received" in html and "Rent, first quarter" in html
    assert f"<title>{date.today().strftime('%b %Y')}: {usd('12.34')}</title>" in html
    holding = client.get(f"/portfolio/{inv.id}").get_data(as_text=True)
    assert "Rent, first quarter" in holding and f'data-testid="returns-earned">{usd("12.34")}' in holding
