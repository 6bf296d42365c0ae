"""Brute-force lockout, counted per account and source address, with a ceiling per account.

- **Per source.** Failed passwords or codes in a row against one account from one address are counted in
  `signin_failures`; the LOCKOUT_THRESHOLD-th locks that address out of that account for LOCKOUT_BASE, each further
  one doubles the lock up to LOCKOUT_MAX. A sign-in that succeeds from the address clears its count. Someone
  guessing from one address never locks the owner out from another.
- **Per account, across every source** (accounts without 2FA only): users.failed_logins counts the failures of
  the window that began at users.failures_since (ACCOUNT_LOCKOUT_WINDOW); the ACCOUNT_LOCKOUT_THRESHOLD-th locks
  the account everywhere for ACCOUNT_LOCKOUT_DURATION, so many addresses together cannot guess forever. A password
  reset ends both kinds of lock. An account with 2FA on is never locked account-wide: a password alone does not
  open it, and the per-source limits still apply.

Counts move by one conditional statement each (an upsert for the source, a CASE update for the account), so
attempts racing on several processes are all counted. The source is the client address app.core.audit gives
(an IPv6 address as its /64)."""
from __future__ import annotations

import ipaddress
from datetime import datetime

from flask import current_app
from sqlalchemy import case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.auth import signals
from app.auth.models import SigninFailure, User
from app.core import audit
from app.core.db import UTCDateTime, utcnow
from app.extensions import db

UNKNOWN_SOURCE = "unknown"  # outside a request (a task, a command)


def current_source() -> str:
    """The caller's address; an IPv6 address counts as its /64, which one subscriber usually holds whole (else
    each of its addresses would be a fresh source)."""
    ip = audit.current_client().ip
    if not ip:
        return UNKNOWN_SOURCE
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def source_record(user: User, source: str | None = None) -> SigninFailure | None:
    return db.session.scalar(select(SigninFailure).where(SigninFailure.user_id == user.id,
                                                         SigninFailure.source == (source or current_source())))


def account_locked(user: User, now: datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > (now or utcnow())


def is_locked(user: User, now: datetime | None = None, *, source: str | None = None) -> bool:
    """Locked for this attempt: the whole account, or the account from the caller's address."""
    now = now or utcnow()
    if account_locked(user, now):
        return True
    record = source_record(user, source)
    return record is not None and record.locked_until is not None and record.locked_until > now


def _upsert(user_id: int, source: str, now: datetime) -> tuple[int, int]:
    """Add one failure to (user, source), creating its row on the first: returns (row id, failures)."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = insert(SigninFailure).values(user_id=user_id, source=source, failures=1, last_failure_at=now)
    statement = values.on_conflict_do_update(
        index_elements=[SigninFailure.user_id, SigninFailure.source],
        set_={"failures": SigninFailure.failures + 1, "last_failure_at": now},
    ).returning(SigninFailure.id, SigninFailure.failures)
    row = db.session.execute(statement).one()
    return row[0], row[1]


def _lock_source(user: User, source: str, record_id: int, failures: int, now: datetime) -> None:
    cfg = current_app.config
    delay = min(cfg["LOCKOUT_BASE"] * 2 ** (failures - cfg["LOCKOUT_THRESHOLD"]), cfg["LOCKOUT_MAX"])
    until = now + delay
    db.session.execute(update(SigninFailure).where(SigninFailure.id == record_id).values(locked_until=until)
                       .execution_options(synchronize_session=False))
    audit.record("auth.source_locked", actor=user, target=user,
                 after={"source": source, "failures": failures, "locked_until": until})
    if failures == cfg["LOCKOUT_THRESHOLD"]:  # told once per address; a doubled lock is not news
        signals.account_locked.send(user, failures=failures, until=until.strftime("%Y-%m-%d %H:%M UTC"),
                                    scope="source", source=source)


def _count_for_account(user: User, now: datetime) -> None:
    cfg = current_app.config
    fresh = or_(User.failures_since.is_(None), User.failures_since <= now - cfg["ACCOUNT_LOCKOUT_WINDOW"])
    db.session.execute(update(User).where(User.id == user.id).values(
        failed_logins=case((fresh, 1), else_=User.failed_logins + 1),
        failures_since=case((fresh, literal(now, UTCDateTime())), else_=User.failures_since),
    ).execution_options(synchronize_session=False))
    db.session.refresh(user, ["failed_logins", "failures_since", "locked_until", "totp_enabled"])
    if user.totp_enabled or account_locked(user, now) or user.failed_logins < cfg["ACCOUNT_LOCKOUT_THRESHOLD"]:
        return
    user.locked_until = now + cfg["ACCOUNT_LOCKOUT_DURATION"]
    db.session.flush()
    audit.record("auth.account_locked", actor=user, target=user,
                 after={"failed_logins": user.failed_logins, "locked_until": user.locked_until, "scope": "account"})
    signals.account_locked.send(user, failures=user.failed_logins,
                                until=user.locked_until.strftime("%Y-%m-%d %H:%M UTC"), scope="account")


def count_failure(user: User) -> None:
    """One more failed password or code against `user` from the caller's address."""
    cfg = current_app.config
    now = utcnow()
    source = current_source()
    record_id, failures = _upsert(user.id, source, now)
    if failures >= cfg["LOCKOUT_THRESHOLD"]:
        _lock_source(user, source, record_id, failures, now)
    _count_for_account(user, now)


def clear_source(user: User) -> None:
    """A sign-in succeeded from the caller's address: its count starts again (the account-wide one does not)."""
    db.session.execute(delete(SigninFailure).where(SigninFailure.user_id == user.id,
                                                   SigninFailure.source == current_source()))


def clear_all(user: User) -> None:
    """A new password: every count and lock of the account ends."""
    db.session.execute(delete(SigninFailure).where(SigninFailure.user_id == user.id))
    user.failed_logins = 0
    user.failures_since = None
    user.locked_until = None
    db.session.flush()



def prune(now: datetime | None = None) -> int:
    """Forget the failures of sources that have been quiet for SIGNIN_FAILURES_KEPT and whose lock, if any, is over
    (the nightly job): the table holds recent guessing, not every address that ever mistyped. Returns the rows gone."""
    now = now or utcnow()
    quiet_since = now - current_app.config["SIGNIN_FAILURES_KEPT"]
    result = db.session.execute(delete(SigninFailure).where(
        SigninFailure.last_failure_at < quiet_since,
        or_(SigninFailure.locked_until.is_(None), SigninFailure.locked_until <= now))
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
