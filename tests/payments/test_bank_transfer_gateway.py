"""BankTransferGateway: a reference and instructions; finance confirms the money by hand."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from app.payments.gateways.bank_transfer import (
    DEMO_IBAN,
    BankTransferGateway,
    deposit_id_from_reference,
    iban_is_valid,
)
from app.payments.gateways.base import GatewayError, Payment, WebhookRejected

REFERENCE = re.compile(r"FH-[0-9A-HJKMNP-TV-Z]+-[0-9A-HJKMNP-TV-Z]{4}")


def create(deposit_id=17, amount=123_450, currency="USD"):
    return BankTransferGateway().create_payment(
        deposit_id=deposit_id, amount=amount, currency=currency, customer_email="investor@example.com",
        success_url="https://freehold.test/ok", cancel_url="https://freehold.test/cancel",
        idempotency_key=f"deposit-{deposit_id}")


def test_identity():
    gateway = BankTransferGateway
    assert (gateway.name, gateway.label, gateway.automatic) == ("bank_transfer", "Bank transfer", False)


def test_enabled_with_the_demo_account_outside_production(app):
    assert app.config["BANK_TRANSFER_IBAN"] == DEMO_IBAN
    assert BankTransferGateway().enabled() is True


@pytest.mark.parametrize("key", ["BANK_TRANSFER_BENEFICIARY", "BANK_TRANSFER_IBAN", "BANK_TRANSFER_BIC",
                                 "BANK_TRANSFER_BANK"])
def test_disabled_when_a_detail_is_missing(app, monkeypatch, key):
    monkeypatch.setitem(app.config, key, "  ")
    assert BankTransferGateway().enabled() is False
    with pytest.raises(GatewayError) as caught:
        create()
    assert caught.value.retryable is False


@pytest.mark.parametrize("key, value", [("BANK_TRANSFER_IBAN", "GB34BUKB20201555555555"),  # bad check digits
                                        ("BANK_TRANSFER_BIC", "BUK1")])
def test_disabled_when_the_account_is_malformed(app, monkeypatch, key, value):
    monkeypatch.setitem(app.config, key, value)
    assert BankTransferGateway().enabled() is False


def test_demo_account_refused_in_production(app, monkeypatch):
    monkeypatch.setitem(app.config, "CONFIG_NAME", "production")
    assert BankTransferGateway().enabled() is False
    monkeypatch.setitem(app.config, "BANK_TRANSFER_IBAN", "DE89 3704 0044 0532 0130 00")
    monkeypatch.setitem(app.config, "BANK_TRANSFER_BIC", "COBADEFFXXX")
    assert BankTransferGateway().enabled() is True


def test_iban_check():
    assert iban_is_valid("GB33BUKB20201555555555")
    assert iban_is_valid("de89 3704 0044 0532 0130 00")
    assert not iban_is_valid("GB33BUKB20201555555556")
    assert not iban_is_valid("")


def test_reference_is_well_formed_short_and_unique():
    ids = (1, 2, 31, 32, 10**6)
    references = [create(deposit_id=deposit_id).reference for deposit_id in ids for _ in range(40)]
    assert all(REFERENCE.fullmatch(ref) for ref in references)
    assert all(len(ref) <= 18 for ref in references)
    # the id part makes references of different deposits differ, always
    assert len({ref.rsplit("-", 1)[0] for ref in references}) == len(ids)
    # the random part makes repeated calls differ (4 characters of 32: collisions are rare, not impossible)
    for deposit_id in ids:
        tails = {create(deposit_id=deposit_id).reference.rsplit("-", 1)[1] for _ in range(40)}
        assert len(tails) > 30


@pytest.mark.parametrize("deposit_id", [1, 31, 32, 1024, 987_654_321])
def test_reference_names_its_deposit(deposit_id):
    reference = create(deposit_id=deposit_id).reference
    assert deposit_id_from_reference(reference) == deposit_id
    # as it may come back on a bank statement: lower case, spaces, no dashes, O for 0
    mangled = reference.lower().replace("-", " ").replace("0", "o")
    assert deposit_id_from_reference(mangled) == deposit_id


@pytest.mark.parametrize("text", [None, "", "FH", "FH-12", "XX-1Z-7K2M", "FH-1Z-7K2U", "deposit 12"])
def test_not_a_reference(text):
    assert deposit_id_from_reference(text) is None


def test_instructions(app):
    checkout = create(amount=123_450, currency="usd")
    assert checkout.redirect_url is None
    text = checkout.instructions
    assert app.config["BANK_TRANSFER_IBAN"] in text
    assert app.config["BANK_TRANSFER_BIC"] in text
    assert app.config["BANK_TRANSFER_BENEFICIARY"] in text
    assert app.config["BANK_TRANSFER_BANK"] in text
    assert "1234.50 USD" in text
    assert f"Use this reference: {checkout.reference}" in text
    assert len(text.splitlines()) >= 7
    assert checkout.data["reference"] == checkout.reference
    assert checkout.data["amount"] == "1234.50"


def test_instructions_pad_to_two_decimals():
    assert "Amount: 5.00 USD" in create(amount=500).instructions


@pytest.mark.parametrize("kwargs", [{"amount": 0}, {"amount": -5}, {"deposit_id": 0}, {"currency": "dollars"}])
def test_refuses_bad_input(kwargs):
    with pytest.raises(GatewayError) as caught:
        create(**kwargs)
    assert caught.value.retryable is False


def test_nothing_to_ask():
    with pytest.raises(GatewayError) as caught:
        BankTransferGateway().fetch_payment("FH-1Z-7K2M")
    assert caught.value.retryable is False
    assert "confirmed by finance" in str(caught.value)


def test_refund_is_manual():
    payment = Payment(reference="FH-1Z-7K2M", status="paid", amount=1000, currency="USD", deposit_id=63)
    assert BankTransferGateway().refund(payment, 1000, idempotency_key="refund-63") == "manual-refund-refund-63"


def test_no_webhooks_and_nothing_to_reconcile():
    with pytest.raises(WebhookRejected):
        BankTransferGateway().parse_webhook(b"{}", {})
    assert BankTransferGateway().list_paid(datetime(2020, 1, 1, tzinfo=UTC)) == []


def test_bank_transfer_deposit_through_the_api(client, make_user, token_for, app):
    response = client.post("/api/v1/deposits", json={"amount": "250.00", "gateway": "bank_transfer"},
                           headers=token_for(make_user()))
    assert response.status_code == 201, response.get_data(as_text=True)
    data = response.get_json()["data"]
    assert REFERENCE.fullmatch(data["reference"])
    assert deposit_id_from_reference(data["reference"]) == data["id"]
    assert data["checkout_url"] is None
    assert f"Use this reference: {data['reference']}" in data["instructions"]
    assert app.config["BANK_TRANSFER_IBAN"] in data["instructions"]
    assert f"Amount: {data['total']['amount']} {data['total']['currency']}" in data["instructions"]
