"""Money: integer minor units with a currency. Decimal strings at the edges, never float."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 List One: every active currency (funds codes included) with its minor units, the number of decimals an
# amount in it has. Codes without minor units (gold XAU, silver XAG, palladium XPD, platinum XPT, the bond-market
# units XBA-XBD, the SDR XDR, XSU, XUA, the testing code XTS and XXX) are not money an account can hold: refused.
MINOR_UNITS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2,
    "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BOV": 2,
    "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2,
    "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0, "CNY": 2, "COP": 2, "COU": 2,
    "CRC": 2, "CUC": 2, "CUP": 2, "CVE": 2, "CZK": 2,
    "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2,
    "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2,
    "FJD": 2, "FKP": 2,
    "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2,
    "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2,
    "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0,
    "JMD": 2, "JOD": 3, "JPY": 0,
    "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2,
    "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3,
    "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2,
    "MWK": 2, "MXN": 2, "MXV": 2, "MYR": 2, "MZN": 2,
    "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2,
    "OMR": 3,
    "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0,
    "QAR": 2,
    "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0,
    "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SLL": 2, "SOS": 2,
    "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2,
    "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2,
    "UAH": 2, "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2,
    "VED": 2, "VES": 2, "VND": 0, "VUV": 0,
    "WST": 2,
    "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0,
    "YER": 2,
    "ZAR": 2, "ZMW": 2, "ZWG": 2,
}
# Largest amount accepted at the edges: 10^13 minor units (100 billion in a 2-decimal currency)
MAX_MINOR = 10**13
_AMOUNT_RE = re.compile(r"^(0|[1-9]\d*)(\.\d+)?$")
# what a person may type between the digits of an amount in a form: thousands separators and spaces
_GROUPING = str.maketrans("", "", ", \u00a0\u202f")


class MoneyError(ValueError):
    """An amount that is not acceptable (malformed, negative, zero, too precise, too large)."""


def exponent(currency: str) -> int:
    """The minor units of an ISO 4217 currency: 2 for USD, 0 for JPY, 3 for KWD, 4 for CLF."""
    try:
        return MINOR_UNITS[currency.upper()]
    except (KeyError, AttributeError):
        raise MoneyError(f"not an ISO 4217 currency code: {currency!r}") from None


def is_currency(code: str) -> bool:
    """True for an active ISO 4217 code (upper case) that has minor units."""
    return code in MINOR_UNITS


@dataclass(frozen=True, order=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError("Money.minor must be an int")
        if not isinstance(self.currency, str) or self.currency not in MINOR_UNITS:
            raise MoneyError(f"not an ISO 4217 currency code: {self.currency!r}")

    # construction -----------------------------------------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str, *, allow_zero: bool = False, grouping: bool = False) -> Money:
        """The one strict parse of a decimal string in major units ("1250.00") into Money.

        Refused, with a message that says why (MoneyError): anything but a string (a float or an int from JSON),
        a sign, an exponent, a zero unless `allow_zero`, more decimals than the currency has (none for JPY, three
        for KWD), more than MAX_MINOR minor units, an unknown currency. `grouping=True` is for what a person typed
        in a form: thousands separators and spaces between the digits are ignored."""
        if not isinstance(text, str):
            raise MoneyError("amount must be a decimal string, e.g. \"100.00\"")
        exp = exponent(currency)
        text = text.strip()
        if grouping:
            text = text.translate(_GROUPING)
        if text.startswith("-"):
            raise MoneyError("amount must be positive")
        if not _AMOUNT_RE.match(text):
            raise MoneyError("amount must be a decimal string, e.g. \"100.00\"")
        value = Decimal(text)
        if len(text.partition(".")[2]) > exp:  # the decimals as written: "1.10" has two
            if exp == 0:
                raise MoneyError(f"amount must be a whole number: {currency.upper()} has no decimal places")
            raise MoneyError(f"amount has more than {exp} decimal places")
        minor = int(value.scaleb(exp))
        if minor == 0 and not allow_zero:
            raise MoneyError("amount must be greater than zero")
        if minor > MAX_MINOR:
            raise MoneyError("amount is too large")
        return cls(minor, currency)

    @classmethod
    def from_decimal(cls, value: Decimal, currency: str) -> Money:
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

    def as_dict(self) -> dict[str, str]:
        return {"amount": self.amount_str(), "currency": self.currency}

    def display(self) -> str:
        exp = exponent(self.currency)
        return f"{self.currency} {self.to_decimal():,.{exp}f}"

    def local(self, locale: str | None = None) -> str:
        """The amount as an investor reads it in their language: "$1,250.00" in English, "1250,00 US$" in Spanish
        (Babel's CLDR data). `locale` defaults to the current one (Flask-Babel: the investor's choice, English in
        the console and outside a request). The console, logs and exports keep display()."""
        from babel.numbers import format_currency  # only here: Money's arithmetic must not need Babel
        from flask_babel import get_locale  # only here: Money's arithmetic must not need Flask

        if locale is None:
            try:
                current = get_locale()
            except RuntimeError:  # outside an app context
                current = None
            locale = str(current) if current is not None else "en"
        return format_currency(self.to_decimal(), self.currency, locale=locale)

    def __str__(self) -> str:
        return self.display()

    # arithmetic -------------------------------------------------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("Money arithmetic needs Money")
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_positive(self) -> bool:
        return self.minor > 0

    def apply_bps(self, bps: int) -> Money:
        """self x bps / 10,000, rounded half-even."""
        return Money(round_half_even(self.minor * bps, 10_000), self.currency)

    def allocate(self, weights: list[int]) -> list[Money]:
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
