"""The one place bank codes are checked: IBAN and BIC by a maintained library (schwifty, which knows each
country's IBAN length and format and the ISO country codes), US ABA routing numbers by their checksum.

An IBAN passes when its characters, its length and format for its country and its mod-97 check digits are right;
a BIC when it has 8 or 11 characters, letters for its bank and country code, and a country that exists.
"""
from __future__ import annotations

import re

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

try:  # python-stdnum, when installed, is the maintained ABA check; else the same 3-7-1 checksum below
    from stdnum.us import rtn as _stdnum_rtn
except ImportError:  # pragma: no cover - depends on what is installed
    _stdnum_rtn = None

_WHITESPACE = re.compile(r"\s+")
_TYPED_SEPARATORS = re.compile(r"[\s-]")
_ROUTING = re.compile(r"[0-9]{9}")
_ABA_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7, 1)


def compact(value: object) -> str:
    """A code as a person types it, read as one: spaces and dashes dropped, upper case ("de89 3704-..." ->
    "DE893704...")."""
    return _TYPED_SEPARATORS.sub("", str(value or "")).upper()


def normalize_iban(iban: str | None) -> str:
    """The IBAN's electronic form: white space dropped, upper case (no validation)."""
    return _WHITESPACE.sub("", iban or "").upper()


def iban_is_valid(iban: str | None) -> bool:
    """ISO 13616: known country, that country's length and format, mod-97 check digits. White space and case do
    not matter."""
    value = normalize_iban(iban)
    if not value:
        return False
    try:
        IBAN(value)
    except SchwiftyException:
        return False
    return True


def iban_country(iban: str | None) -> str:
    """The two-letter country code an IBAN starts with ("" when there is none)."""
    return normalize_iban(iban)[:2]


def normalize_bic(bic: str | None) -> str:
    return _WHITESPACE.sub("", bic or "").upper()


def bic_is_valid(bic: str | None) -> bool:
    """ISO 9362 under SWIFT's policy: 8 or 11 characters, letters for the bank and for a country that exists."""
    value = normalize_bic(bic)
    if not value:
        return False
    try:
        BIC(value, enforce_swift_compliance=True)
    except SchwiftyException:
        return False
    return True


def routing_is_valid(routing: str | None) -> bool:
    """A US ABA routing transit number: 9 digits whose 3-7-1 weighted sum is a multiple of 10."""
    value = routing or ""
    if not _ROUTING.fullmatch(value):
        return False
    if _stdnum_rtn is not None:
        return bool(_stdnum_rtn.is_valid(value))
    return sum(w * int(d) for w, d in zip(_ABA_WEIGHTS, value, strict=True)) % 10 == 0
