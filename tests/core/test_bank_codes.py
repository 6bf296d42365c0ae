"""Bank codes are checked in one place: IBAN and BIC by schwifty, US routing numbers by the ABA checksum."""
from __future__ import annotations

import pytest

from app.core import bank_codes
from app.payments.gateways import bank_transfer


@pytest.mark.parametrize("iban", [
    "GB33BUKB20201555555555",
    "DE89370400440532013000",
    "de89 3704 0044 0532 0130 00",  # white space and case do not matter
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
])
def test_valid_ibans(iban):
    assert bank_codes.iban_is_valid(iban)


@pytest.mark.parametrize("iban", [
    "",
    None,
    "GB33BUKB20201555555556",  # check digits
    "GB00BUKB20201555555555",
    "DE8937040044053201300012",  # mod-97 right for its length, but a German IBAN has 22 characters
    "XX89370400440532013000",  # no such country
    "NL91ABNA041716430A",  # a Dutch account number is digits only
    "DE89-3704-0044-0532-0130-00",  # dashes are the caller's to drop (compact)
])
def test_invalid_ibans(iban):
    assert not bank_codes.iban_is_valid(iban)


def test_a_valid_mod_97_with_the_wrong_length_for_its_country_is_refused():
    # the same BBAN under the United Kingdom's code: the checksum is computed right, the length is Germany's
    bban = "370400440532013000"
    digits = "".join(str(int(c, 36)) for c in bban + "GB00")
    iban = f"GB{98 - int(digits) % 97:02d}{bban}"
    assert int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97 == 1
    assert not bank_codes.iban_is_valid(iban)


def test_normalising_and_compacting():
    assert bank_codes.normalize_iban(" de89 3704\t0044 0532 0130 00 ") == "DE89370400440532013000"
    assert bank_codes.normalize_iban(None) == ""
    assert bank_codes.compact("de89-3704 0044") == "DE8937040044"
    assert bank_codes.compact(None) == ""
    assert bank_codes.iban_country("gb33 bukb") == "GB"


@pytest.mark.parametrize("bic, valid", [
    ("DEUTDEFF", True),
    ("COBADEFFXXX", True),
    ("BUKBGB22", True),
    ("deutdeff", True),
    ("DEUTDEFF500", True),
    ("DEUTXXFF", False),  # no such country
    ("BUK1", False),
    ("DEUTDEF", False),
    ("DEUTDEFFXX", False),
    ("DE1TDEFF", False),  # letters only for the bank (SWIFT's policy)
    ("DEUTDE_F", False),
    ("", False),
    (None, False),
])
def test_bics(bic, valid):
    assert bank_codes.bic_is_valid(bic) is valid


@pytest.mark.parametrize("routing, valid", [
    ("021000021", True),
    ("011000015", True),
    ("123456789", False),  # check digit
    ("02100002", False),
    ("0210000210", False),
    ("02100002A", False),
    ("", False),
    (None, False),
])
def test_routing_numbers(routing, valid):
    assert bank_codes.routing_is_valid(routing) is valid


def test_the_bank_transfer_gateway_checks_through_the_same_place():
    assert bank_transfer.iban_is_valid("GB33BUKB20201555555555")
    assert not bank_transfer.iban_is_valid("DE8937040044053201300012")
    assert bank_transfer.normalize_iban("gb33 bukb 2020 1555 5555 55") == "GB33BUKB20201555555555"


def test_the_gateway_refuses_a_bic_of_an_unknown_country(app, monkeypatch):
    gateway = bank_transfer.BankTransferGateway()
    assert gateway.enabled() is True
    monkeypatch.setitem(app.config, "BANK_TRANSFER_BIC", "BUKBXX22")
    assert gateway.enabled() is False
