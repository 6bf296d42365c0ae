"""Fixtures of the bank-statement tests: pending bank-transfer deposits with the reference the investor was told,
paid payouts, the sample statements of tests/finance/data/ filled in with them, and a CSV mapping."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.finance import bank_statements
from app.finance.bank_models import CsvMapping
from app.payments import services as payments
from app.payouts import services as payouts

DATA = Path(__file__).parent / "data"


@pytest.fixture
def investor_options() -> dict:
    return {"balance": "1000.00", "kyc": True}


@pytest.fixture
def transfer(app):
    """transfer(user, "250.00") -> a pending bank-transfer deposit with its reference (FH-...)."""

    def _make(user, amount: str):
        with unit_of_work():
            deposit = payments.create_deposit(user.id, Money.parse(amount, "USD"), "bank_transfer")
            payments.open_payment(deposit, success_url="http://127.0.0.1/ok", cancel_url="http://127.0.0.1/no")
        return deposit

    return _make


@pytest.fixture
def paid_payout(app, investor, method, finance2):
    """paid_payout("100.00") -> a payout approved and marked paid by finance2."""

    def _make(amount: str = "100.00", reference: str = "TRF-1"):
        with unit_of_work():
            payout = payouts.request_payout(investor, Money.parse(amount, "USD"), method.id)
        with unit_of_work():
            payouts.approve(payout, actor=finance2)
        with unit_of_work():
            payouts.mark_paid(payout, actor=finance2, bank_reference=reference)
        return payout

    return _make


def fill(name: str, **values) -> bytes:
    text = (DATA / name).read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text.encode()


def money(minor: int, sep: str = ".") -> str:
    return f"{minor // 100}{sep}{minor % 100:02d}"


@pytest.fixture
def mapping(app):
    with unit_of_work():
        row = CsvMapping(bank_name="Musterbank", date_column="Buchungstag", amount_column="Betrag",
                         currency_column="Waehrung", reference_column="Verwendungszweck",
                         counterparty_column="Auftraggeber", date_format="%d.%m.%Y", decimal_separator=",",
                         delimiter=";", header_rows=2)
        db.session.add(row)
    return row


@pytest.fixture
def upload(app):
    """upload(data, actor, fmt="camt053", mapping=None) -> (statement, created), committed."""

    def _upload(data: bytes, actor, fmt: str = "camt053", mapping=None, name="statement.xml"):
        with unit_of_work():
            return bank_statements.import_statement(data, file_name=name, fmt=fmt,
                                                    mapping_id=mapping.id if mapping else None, actor=actor)

    return _upload
