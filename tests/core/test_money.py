from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.money import Money, MoneyError, allocate, round_half_even


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
