"""How recovery codes are stored: a keyed hash, never a plain one.

A stored value is a scheme marker and HMAC-SHA256 under a server key, so a copy of the database alone cannot test
guesses against it:
- `hmac1$<hex>`: HMAC(key, "<user id>:<code>") for codes made since keyed storage;
- `hmac1w$<hex>`: HMAC(key, SHA-256("<user id>:<code>")) for codes made before it, whose plain SHA-256 the
  migration 20261203_accounts wrapped in place (nobody had to make new codes).
The key is RECOVERY_CODE_KEY when set, else derived from SECRET_KEY; changing the one in use makes every stored
code unusable (users make new ones on their security page)."""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app

KEYED = "hmac1$"
WRAPPED = "hmac1w$"
KEY_PURPOSE = b"freehold.recovery-codes"


def derive_key(recovery_code_key: str | None, secret_key: str) -> bytes:
    """The HMAC key: the dedicated setting when present, else one derived from SECRET_KEY for this one use.
    The migration that wraps old rows computes it the same way."""
    if recovery_code_key:
        return recovery_code_key.encode()
    return hmac.new(secret_key.encode(), KEY_PURPOSE, hashlib.sha256).digest()


def current_key() -> bytes:
    return derive_key(current_app.config.get("RECOVERY_CODE_KEY"), current_app.config["SECRET_KEY"])


def normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def legacy_hash(user_id: int, code: str) -> str:
    """The plain SHA-256 that recovery codes were once stored under (only ever recomputed, to wrap it)."""
    return hashlib.sha256(f"{user_id}:{normalize(code)}".encode()).hexdigest()


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def stored_form(user_id: int, code: str, key: bytes | None = None) -> str:
    """What a new code is stored as."""
    return KEYED + _mac(key or current_key(), f"{user_id}:{normalize(code)}")


def wrap_legacy(old_hash: str, key: bytes) -> str:
    """What a row holding a plain SHA-256 becomes."""
    return WRAPPED + _mac(key, old_hash)


def candidates(user_id: int, code: str) -> tuple[str, str]:
    """The stored values an entered code matches: as a new code, or as an old code that was wrapped."""
    key = current_key()
    return stored_form(user_id, code, key), wrap_legacy(legacy_hash(user_id, code), key)
