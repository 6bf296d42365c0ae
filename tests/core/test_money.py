from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.money import MINOR_UNITS, Money, MoneyError, allocate, exponent, round_half_even


@pytest.mark.parametrize("text,minor", [("100.00", 10000), ("0.01", 1), ("1250", 125000), ("99999.9", 9999990)])
def test_parse_accepts_decimal_strings(text, minor):
    assert Money.parse(text, "USD").minor == minor


@pytest.mark.parametrize("bad", ["-1.00", "0", "0.00", "1.001", "1e3", "abc", "", " ", "1,000.00", "+5", "NaN",
                                 "Infinity", "100000000000000.00"])
def test_parse_refuses_bad_amounts(bad):
    with pytest.raises(MoneyError):
        Money.parse(bad, "USD")


def test_parse_refuses_floats_and_ints():
    with pytest.raises(MoneyError):
        Money.parse(10.5, "USD")
    with pytest.raises(MoneyError):
        Money.parse(10, "USD")


def test_currency_exponents():
    assert Money.parse("1250", "JPY").minor == 1250
    with pytest.raises(MoneyError):
        Money.parse("1.5", "JPY")
    assert Money.parse("1.005", "KWD").minor == 1005
    assert Money(125000, "USD").amount_str() == "1250.00"
    assert Money(-5, "USD").amount_str() == "-0.05"
    assert Money(125000, "USD").display() == "USD 1,250.00"


ZERO_DECIMALS = ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV",
                 "XAF", "XOF", "XPF")
THREE_DECIMALS = ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")
FOUR_DECIMALS = ("CLF", "UYW")


def test_minor_unit_table_is_iso_4217():
    assert {code for code, units in MINOR_UNITS.items() if units == 0} == set(ZERO_DECIMALS)
    assert {code for code, units in MINOR_UNITS.items() if units == 3} == set(THREE_DECIMALS)
    assert {code for code, units in MINOR_UNITS.items() if units == 4} == set(FOUR_DECIMALS)
    assert set(MINOR_UNITS.values()) == {0, 2, 3, 4}
    for code in ("USD", "EUR", "GBP", "CHF", "INR", "BRL", "MXN", "ZAR", "AED", "SGD", "HUF", "IDR", "XCD", "VES"):
        assert MINOR_UNITS[code] == 2, code
    assert len(MINOR_UNITS) > 150 and all(len(code) == 3 and code.isupper() for code in MINOR_UNITS)


@pytest.mark.parametrize("code", sorted(MINOR_UNITS))
def test_every_currency_parses_and_displays_with_its_decimals(code):
    units = MINOR_UNITS[code]
    assert exponent(code) == units
    text = "1234567" + ("." + "8" * units if units else "")
    money = Money.parse(text, code)
    assert money.minor == int(text.replace(".", ""))
    assert money.amount_str() == text
    assert money.as_dict() == {"amount": text, "currency": code}
    _whole, _, decimals = text.partition(".")
    assert money.display() == f"{code} 1,234,567" + (f".{decimals}" if units else "")
    with pytest.raises(MoneyError, match="decimal places"):
        Money.parse("1." + "1" * (units + 1), code)


def test_zero_three_and_four_decimal_currencies():
    with pytest.raises(MoneyError, match="JPY has no decimal places"):
        Money.parse("1.5", "JPY")
    with pytest.raises(MoneyError):
        Money.parse("1.0", "KRW")
    assert Money.parse("1.234", "KWD").minor == 1234
    assert Money(1234, "KWD").display() == "KWD 1.234"
    with pytest.raises(MoneyError, match="more than 3 decimal places"):
        Money.parse("1.2345", "KWD")
    assert Money.parse("0.0001", "CLF").minor == 1
    assert Money(1250, "JPY").display() == "JPY 1,250" and Money(1250, "JPY").amount_str() == "1250"
    assert Money.from_decimal(Decimal("2.5"), "JPY").minor == 2
    assert Money.from_decimal(Decimal("1.2345"), "BHD").minor == 1234


@pytest.mark.parametrize("code", ["XAU", "XAG", "XDR", "XTS", "XXX", "ABC", "usd", "US", ""])
def test_codes_without_minor_units_or_unknown_are_refused(code):
    with pytest.raises(MoneyError, match="ISO 4217"):
        Money.parse("1.00", code)
    with pytest.raises(MoneyError, match="ISO 4217"):
        Money(100, code)


@pytest.mark.parametrize("bad,message", [(10.5, "decimal string"), (10, "decimal string"), (None, "decimal string"),
                                         ("-1.00", "must be positive"), ("0.00", "greater than zero"),
                                         ("1.001", "more than 2 decimal places"), ("ten", "decimal string")])
def test_refusals_say_why(bad, message):
    with pytest.raises(MoneyError, match=message):
        Money.parse(bad, "USD")


def test_zero_when_allowed_and_grouping_for_typed_amounts():
    assert Money.parse("0.00", "USD", allow_zero=True).minor == 0
    assert Money.parse("1,250.00", "USD", grouping=True).minor == 125000
    assert Money.parse(" 12 500\u00a0000 ", "JPY", grouping=True).minor == 12_500_000
    with pytest.raises(MoneyError):
        Money.parse("1,250.00", "USD")
    with pytest.raises(MoneyError, match="must be positive"):
        Money.parse("-1,000", "USD", grouping=True)


def test_money_refuses_float_minor_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money(1.0, "USD")
    with pytest.raises(MoneyError):
        Money(1, "USD") + Money(1, "EUR")


def test_half_even_rounding():
    assert round_half_even(5, 2) == 2  # 2.5 -> 2
    assert round_half_even(7, 2) == 4  # 3.5 -> 4
    assert round_half_even(-5, 2) == -2
    assert Money(10001, "USD").apply_bps(5000).minor == 5000  # 50.005 -> 50.00
    assert Money.from_decimal(Decimal("0.125"), "USD").minor == 12
    assert Money.from_decimal(Decimal("0.135"), "USD").minor == 14


@given(total=st.integers(-10**12, 10**12), weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=30)
       .filter(lambda w: sum(w) > 0))
def test_allocate_always_adds_up(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    for part, weight in zip(parts, weights):
        exact = total * weight / sum(weights)
        assert abs(part - exact) < 1 + 1e-9
        if weight == 0:
            assert part == 0


def test_allocate_three_ways():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert [m.minor for m in Money(1000, "USD").allocate([1, 2])] == [333, 667]
