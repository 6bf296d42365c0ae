"""Money: integer minor units with a currency. Decimal strings at the edges, never float."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 minor-unit exponents that differ from 2
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
# Largest amount accepted at the edges: 10^13 minor units (100 billion in a 2-decimal currency)
MAX_MINOR = 10**13
_AMOUNT_RE = re.compile(r"^(0|[1-9]\d*)(\.\d+)?$")


class MoneyError(ValueError):
    """An amount that is not acceptable (malformed, negative, zero, too precise, too large)."""


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


@dataclass(frozen=True, order=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self):
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError("Money.minor must be an int")
        if not re.fullmatch(r"[A-Z]{3}", self.currency or ""):
            raise MoneyError(f"not an ISO 4217 currency code: {self.currency!r}")

    # construction -----------------------------------------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str, *, allow_zero: bool = False) -> "Money":
        """Strict parse of a decimal string in major units ("1250.00"). Refuses floats, signs, extra decimals."""
        if not isinstance(text, str):
            raise MoneyError("amount must be a decimal string, e.g. \"100.00\"")
        text = text.strip()
        if text.startswith("-"):
            raise MoneyError("amount must be positive")
        if not _AMOUNT_RE.match(text):
            raise MoneyError("amount must be a decimal string, e.g. \"100.00\"")
        exp = exponent(currency)
        value = Decimal(text)
        if -value.as_tuple().exponent > exp:
            raise MoneyError(f"amount has more than {exp} decimal places")
        minor = int(value.scaleb(exp))
        if minor == 0 and not allow_zero:
            raise MoneyError("amount must be greater than zero")
        if minor > MAX_MINOR:
            raise MoneyError("amount is too large")
        return cls(minor, currency)

    @classmethod
    def from_decimal(cls, value: Decimal, currency: str) -> "Money":
        """Round half-even to the currency's minor unit."""
        try:
            minor = int(Decimal(value).scaleb(exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        except InvalidOperation as exc:
            raise MoneyError("not a number") from exc
        return cls(minor, currency)

    # presentation -----------------------------------------------------------------------------------------------
    def to_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-exponent(self.currency))

    def amount_str(self) -> str:
        exp = exponent(self.currency)
        return f"{self.to_decimal():.{exp}f}"

    def as_dict(self) -> dict:
        return {"amount": self.amount_str(), "currency": self.currency}

    def display(self) -> str:
        exp = exponent(self.currency)
        return f"{self.currency} {self.to_decimal():,.{exp}f}"

    def __str__(self) -> str:
        return self.display()

    # arithmetic -------------------------------------------------------------------------------------------------
    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError("Money arithmetic needs Money")
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} and {other.currency}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.minor, self.currency)

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_positive(self) -> bool:
        return self.minor > 0

    def apply_bps(self, bps: int) -> "Money":
        """self x bps / 10,000, rounded half-even."""
        return Money(round_half_even(self.minor * bps, 10_000), self.currency)

    def allocate(self, weights: list[int]) -> list["Money"]:
        """Split exactly by integer weights (largest remainder); the parts always add up to self."""
        return [Money(part, self.currency) for part in allocate(self.minor, weights)]


def round_half_even(numerator: int, denominator: int) -> int:
    """Integer division rounded half-even, exact for any size of int."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return q


def allocate(total: int, weights: list[int]) -> list[int]:
    """Largest-remainder split of an integer total by non-negative integer weights; sum(result) == total."""
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError("weights must be non-negative with a positive sum")
    denominator = sum(weights)
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    floors = [magnitude * w // denominator for w in weights]
    remainders = [(magnitude * w % denominator, -i) for i, w in enumerate(weights)]
    short = magnitude - sum(floors)
    for _, neg_index in sorted(remainders, reverse=True)[:short]:
        floors[-neg_index] += 1
    return [sign * f for f in floors]
