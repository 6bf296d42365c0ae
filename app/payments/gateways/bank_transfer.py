"""Bank transfer: the investor wires the money to the platform's client-money account with a reference, and
finance confirms the deposit when the transfer shows on the statement. There is nothing to ask and no webhook.

Enabled when the account is fully described (beneficiary, a valid IBAN, a BIC and the bank's name). The
configuration ships a demo account so development works out of the box; under the production configuration the
demo IBAN counts as not configured, so no investor is ever told to pay into it."""
from __future__ import annotations

import re
import secrets
from datetime import datetime

from flask import current_app

from app.core import bank_codes
from app.core.money import Money, MoneyError
from app.payments.gateways.base import Checkout, Gateway, GatewayError, Payment, WebhookEvent, WebhookRejected

DEMO_IBAN = "GB33BUKB20201555555555"
REFERENCE_PREFIX = "FH"
RANDOM_CHARS = 4
# Crockford's base32: no I, L, O or U, so a reference read over the phone or retyped from paper survives
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_REFERENCE = re.compile(rf"{REFERENCE_PREFIX}-?([{ALPHABET}]+?)-?([{ALPHABET}]{{{RANDOM_CHARS}}})")


def normalize_iban(iban: str | None) -> str:
    return bank_codes.normalize_iban(iban)


def iban_is_valid(iban: str | None) -> bool:
    """ISO 13616: the country's length and format and mod-97 check digits (checked in app.core.bank_codes)."""
    return bank_codes.iban_is_valid(iban)


def encode_base32(number: int) -> str:
    if number < 0:
        raise ValueError("negative")
    digits = ""
    while True:
        number, rest = divmod(number, 32)
        digits = ALPHABET[rest] + digits
        if number == 0:
            return digits


def new_reference(deposit_id: int) -> str:
    """FH-<deposit id in base32>-<4 random characters>, e.g. FH-1Z-7K2M: unique per deposit (the id part),
    different on every call (the random part), and at most 18 characters (UK Faster Payments' limit) for ids
    below 32**9."""
    tail = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    return f"{REFERENCE_PREFIX}-{encode_base32(deposit_id)}-{tail}"


def deposit_id_from_reference(text: str | None) -> int | None:
    """The deposit a reference belongs to, as finance reads it off a statement: case, spaces and missing dashes
    are forgiven, and O/I/L are read as 0/1/1."""
    cleaned = re.sub(r"[\s.]+", "", text or "").upper()
    cleaned = cleaned.replace("O", "0").replace("I", "1").replace("L", "1")
    match = _REFERENCE.fullmatch(cleaned)
    if not match:
        return None
    number = 0
    for char in match.group(1):
        number = number * 32 + ALPHABET.index(char)
    return number or None


class BankTransferGateway(Gateway):
    name = "bank_transfer"
    label = "Bank transfer"
    automatic = False

    def account(self) -> dict[str, str]:
        config = current_app.config
        return {
            "beneficiary": (config.get("BANK_TRANSFER_BENEFICIARY") or "").strip(),
            "iban": normalize_iban(config.get("BANK_TRANSFER_IBAN")),
            "bic": (config.get("BANK_TRANSFER_BIC") or "").strip().upper(),
            "bank": (config.get("BANK_TRANSFER_BANK") or "").strip(),
        }

    def enabled(self) -> bool:
        account = self.account()
        if not all(account.values()):
            return False
        if not iban_is_valid(account["iban"]) or not bank_codes.bic_is_valid(account["bic"]):
            return False
        demo_in_production = current_app.config.get("CONFIG_NAME") == "production" and account["iban"] == DEMO_IBAN
        return not demo_in_production

    def create_payment(self, *, deposit_id: int, amount: int, currency: str, customer_email: str,
                       success_url: str, cancel_url: str, idempotency_key: str) -> Checkout:
        if not self.enabled():
            raise GatewayError("bank transfer is not configured (BANK_TRANSFER_BENEFICIARY, BANK_TRANSFER_IBAN, "
                               "BANK_TRANSFER_BIC, BANK_TRANSFER_BANK)", retryable=False)
        if isinstance(deposit_id, bool) or not isinstance(deposit_id, int) or deposit_id <= 0:
            raise GatewayError("deposit id must be a positive integer", retryable=False)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise GatewayError("amount must be a positive number of minor units", retryable=False)
        account = self.account()
        try:
            money = Money(amount, (currency or "").upper())
        except MoneyError:
            raise GatewayError("currency must be an ISO 4217 code", retryable=False) from None
        reference = new_reference(deposit_id)
        instructions = "\n".join([
            "Pay by bank transfer to:",
            f"Beneficiary: {account['beneficiary']}",
            f"IBAN: {account['iban']}",
            f"BIC: {account['bic']}",
            f"Bank: {account['bank']}",
            f"Amount: {money.amount_str()} {money.currency}",
            f"Use this reference: {reference}",
            ("Your deposit is credited once the transfer arrives with this reference; without it the transfer "
             "cannot be matched to you."),
        ])
        return Checkout(reference=reference, redirect_url=None, instructions=instructions, data={
            **account, "amount": money.amount_str(), "currency": money.currency, "reference": reference,
        })

    def fetch_payment(self, reference: str) -> Payment:
        raise GatewayError("bank transfers are confirmed by finance; there is nothing to ask", retryable=False)

    def refund(self, payment: Payment, amount: int, *, idempotency_key: str) -> str:
        """Finance pays the money back by hand; the reference names the refund for the books."""
        if not idempotency_key:
            raise GatewayError("a refund needs an idempotency key", retryable=False)
        return f"manual-refund-{idempotency_key}"

    def parse_webhook(self, body: bytes, headers) -> WebhookEvent:
        raise WebhookRejected("bank transfers have no webhooks")

    def list_paid(self, since: datetime) -> list[Payment]:
        return []
