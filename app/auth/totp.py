"""TOTP (RFC 6238) with replay protection: a code's time step is accepted once per user."""
from __future__ import annotations

import time

import pyotp

INTERVAL = 30


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Freehold")


def accepted_step(secret: str, code: str, last_step: int | None, *, now: float | None = None) -> int | None:
    """The time step the code matches (window +-1), or None. A step at or before `last_step` is a replay."""
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if now is None else now
    current = int(now // INTERVAL)
    for step in (current - 1, current, current + 1):
        if totp.verify(code, for_time=step * INTERVAL, valid_window=0):
            if last_step is not None and step <= last_step:
                return None
            return step
    return None
