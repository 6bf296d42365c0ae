"""The card-funds hold on the pages: the wallet, the payout list, form and quote say how much can be withdrawn now
and from when the rest can; a payout above it is refused on the form with that sentence; the console's user page
shows the card money held."""
from __future__ import annotations

from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from app.core.db import utcnow
from app.core.money import Money
from app.extensions import db
from app.payouts.models import Payout
from tests.payments.card_support import card_deposit
from tests.payouts.helpers import balances
from tests.support import csrf_from


def usd(amount: str) -> str:
    """An amount as the portal shows it in English ("$1,250.00")."""
    return Money.parse(amount.replace(",", ""), "USD", allow_zero=True).local("en")



@pytest.fixture
def investor_options() -> dict:
    return {"balance": "120.00"}  # a bank transfer


def _free_on() -> str:
    day = (utcnow() + timedelta(days=7)).date()
    return f"{day.day} {day:%b %Y}"


def _free_on_page() -> str:
    """The same day as the portal's pages write it in English ("Dec 11, 2026")."""
    day = (utcnow() + timedelta(days=7)).date()
    return f"{day:%b} {day.day}, {day.year}"


def test_the_wallet_and_payout_pages_say_what_is_withdrawable(client, login, investor, method, no_fee):
    card_deposit(investor, "300.00")
    login(investor)
    for url in ("/wallet", "/payouts", "/payouts/new"):
        page = client.get(url).get_data(as_text=True)
        assert f'data-testid="withdrawable-now">{usd("120.00")}<' in page, url
        assert f"{usd('300.00')} more from {_free_on_page()}" in page, url
        assert "Card deposits are held for 7 days" in page, url
    html = client.get("/payouts/new").get_data(as_text=True)
    quote = client.post("/payouts/new", data={"amount": "100.00", "payout_method_id": str(method.id),
                                              "csrf_token": csrf_from(html)})
    page = quote.get_data(as_text=True)
    assert quote.status_code == 200 and 'data-testid="quote"' in page
    assert f'data-testid="withdrawable-now">{usd("120.00")}<' in page


def test_a_payout_of_held_card_money_is_refused_on_the_form(client, login, investor, method, no_fee):
    card_deposit(investor, "300.00")
    login(investor)
    html = client.get("/payouts/new").get_data(as_text=True)
    start = balances(investor)
    refused = client.post("/payouts/new", data={"amount": "250.00", "payout_method_id": str(method.id),
                                                "confirm": "yes", "csrf_token": csrf_from(html)})
    assert refused.status_code == 422
    sentence = (f"You can withdraw USD 120.00 now; USD 300.00 more from {_free_on()} "
                "(card deposits are held for 7 days).")
    assert str(escape(sentence)) in refused.get_data(as_text=True)
    assert balances(investor) == start and not db.session.scalar(select(func.count(Payout.id)))


def test_a_wallet_without_card_money_says_it_all_can_be_withdrawn(client, login, investor):
    login(investor)
    page = client.get("/wallet").get_data(as_text=True)
    assert f'data-testid="withdrawable-now">{usd("120.00")}<' in page and "more from" not in page


def test_the_console_user_page_shows_card_funds_held(client, login, investor, finance):
    deposit = card_deposit(investor, "300.00", "paypal")
    login(finance)
    page = client.get(f"/admin/users/details/?id={investor.id}").get_data(as_text=True)
    assert 'data-testid="card-funds"' in page
    assert "Withdrawable now <strong>USD 120.00</strong>" in page and "<strong>USD 300.00</strong>" in page
    assert f"#{deposit.id}" in page
