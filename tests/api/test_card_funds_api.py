"""The card-funds hold in the API: `GET /wallet` and `GET /payouts/quote` say what is withdrawable now and from
when the rest is; a payout above it is a 422 envelope saying so, and nothing is held."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.db import utcnow
from tests.payments.card_support import card_deposit, move_clock
from tests.payouts.helpers import balances


@pytest.fixture
def investor_options() -> dict:
    return {"balance": "120.00"}  # a bank transfer


@pytest.fixture
def headers(investor, token_for):
    return token_for(investor)


def test_the_wallet_says_what_is_withdrawable_now_and_from_when(client, headers, investor, monkeypatch):
    card_deposit(investor, "300.00")
    day = (utcnow() + timedelta(days=7)).date().isoformat()
    data = client.get("/api/v1/wallet", headers=headers).get_json()["data"]
    assert data["available"] == {"amount": "420.00", "currency": "USD"}
    assert data["withdrawable"] == {"amount": "120.00", "currency": "USD"}
    assert data["withdrawable_later"] == [{"amount": {"amount": "300.00", "currency": "USD"}, "from": day}]
    move_clock(monkeypatch, 7.01)
    data = client.get("/api/v1/wallet", headers=headers).get_json()["data"]
    assert data["withdrawable"] == {"amount": "420.00", "currency": "USD"} and data["withdrawable_later"] == []


def test_the_quote_and_a_refused_payout(client, headers, investor, method, no_fee):
    card_deposit(investor, "300.00", "razorpay")
    quote = client.get("/api/v1/payouts/quote?amount=200.00", headers=headers).get_json()["data"]
    assert quote["withdrawable"] == {"amount": "120.00", "currency": "USD"}
    assert quote["withdrawable_later"][0]["amount"] == {"amount": "300.00", "currency": "USD"}
    start = balances(investor)
    response = client.post("/api/v1/payouts", headers=headers,
                           json={"amount": "200.00", "payout_method_id": method.id})
    assert response.status_code == 422
    body = response.get_json()
    assert body["status"] == "error"
    assert body["message"].startswith("You can withdraw USD 120.00 now; USD 300.00 more from ")
    assert body["errors"]["amount"]
    assert balances(investor) == start
    response = client.post("/api/v1/payouts", headers=headers,
                           json={"amount": "120.00", "payout_method_id": method.id})
    assert response.status_code == 201


def test_the_openapi_document_names_the_fields(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert {"withdrawable", "withdrawable_later"} <= set(schemas["Wallet"]["properties"])
    assert {"withdrawable", "withdrawable_later"} <= set(schemas["Quote"]["properties"])
