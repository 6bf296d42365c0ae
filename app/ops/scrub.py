"""Secrets out of what the operations records show: task arguments, results and error texts.

A value under a key that names a secret (password, token, code, account number, card, ...) is replaced, and so is
any string that looks like a token (long, no spaces, letters and digits mixed) or like a card or account number
(12 to 19 digits). What is removed shows as
REDACTED; the original arguments a Retry needs are kept apart, encrypted (FailedTask.payload)."""
from __future__ import annotations

import json
import re
from typing import Any

REDACTED = "[redacted]"

# parts of a key's name that mark its value as secret (matched case-insensitively anywhere in the key)
SECRET_KEY_PARTS = ("password", "passwd", "token", "secret", "code", "otp", "account_number", "iban", "card",
                    "cvv", "cvc", "api_key", "apikey", "authorization", "signature", "routing_number", "private",
                    "credential")
_SECRET_KEY = re.compile("|".join(re.escape(part) for part in SECRET_KEY_PARTS), re.IGNORECASE)
# a token: 24+ characters of the alphabets tokens use, with both letters and digits (an e-mail address, a sentence
# or a slug is not one); a UUID is an identifier, not a secret
_TOKENISH = re.compile(r"^[A-Za-z0-9_\-.~+/=]{24,}$")
_TOKEN_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_\-.~+/=])[A-Za-z0-9_\-.~+/=]{24,}(?![A-Za-z0-9_\-.~+/=])")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# a card or bank account number written as text: 12 to 19 digits, spaces or dashes between groups allowed
_CARDISH = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){11,18}(?![0-9])")
_LETTER = re.compile(r"[A-Za-z]")
_DIGIT = re.compile(r"[0-9]")


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def looks_like_token(value: str) -> bool:
    if _CARDISH.fullmatch(value.strip()):
        return True
    return (bool(_TOKENISH.match(value)) and not _UUID.match(value) and bool(_LETTER.search(value))
            and bool(_DIGIT.search(value)))


def scrub(value: Any) -> Any:
    """A copy of value (JSON-like: dicts, lists, scalars) with the secrets replaced by REDACTED."""
    if isinstance(value, dict):
        return {str(k): REDACTED if is_secret_key(k) and v not in (None, "") else scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return REDACTED if looks_like_token(value) else value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub(str(value))


def scrub_text(text: str) -> str:
    """Free text (an exception's message) with every token-like word replaced."""
    text = _TOKEN_IN_TEXT.sub(lambda m: REDACTED if looks_like_token(m.group(0)) else m.group(0), text)
    return _CARDISH.sub(REDACTED, text)


def to_json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)


def summary(value: Any, limit: int = 200) -> str:
    """A short, scrubbed rendering of a task's return value for the jobs page."""
    if value is None:
        return "done"
    text = value if isinstance(value, str) else to_json(scrub(value))
    if isinstance(value, str):
        text = scrub_text(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
