"""Password rules (length, not common, not the e-mail) and argon2id hashing."""
from __future__ import annotations

import contextlib
import gzip
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from app.core.errors import ValidationError
from app.core.offload import off_loop

MIN_LENGTH = 12
MAX_LENGTH = 128
COMMON_LIST = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_LIST, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


def problems(password: str, *, email: str | None = None) -> list[str]:
    """What is wrong with a new password, in words an investor understands (empty when acceptable)."""
    if not isinstance(password, str):
        return ["A password is required."]
    found = []
    if len(password) < MIN_LENGTH:
        found.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        found.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords() or lowered.strip() in common_passwords():
        found.append("This password is one of the most common passwords; choose another.")
    if email and (email.lower() in lowered or lowered == email.split("@", 1)[0].lower()):
        found.append("The password must not be your e-mail address.")
    if password and len(set(password)) < 4:
        found.append("Use more than three different characters.")
    return found


def check(password: str, *, email: str | None = None) -> None:
    found = problems(password, email=email)
    if found:
        raise ValidationError("the password is not acceptable", {"password": found})


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_COST"],
                          parallelism=cfg["ARGON2_PARALLELISM"])


def hash_password(password: str) -> str:
    return off_loop(_hasher().hash, password)


_DUMMY: dict[str, str] = {}


def verify(password_hash: str | None, password: str) -> bool:
    """True when `password` matches. With no hash (unknown user) it still spends one hash, so timing does not
    tell whether an account exists."""
    hasher = _hasher()
    if password_hash is None:
        key = repr((hasher.time_cost, hasher.memory_cost, hasher.parallelism))
        if key not in _DUMMY:
            _DUMMY[key] = off_loop(hasher.hash, "not-a-real-password-at-all")
        password_hash = _DUMMY[key]
        with contextlib.suppress(VerificationError, InvalidHashError):
            off_loop(hasher.verify, password_hash, password or "")
        return False
    try:
        return off_loop(hasher.verify, password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)
