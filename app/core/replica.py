"""The read replica (DATABASE_READ_URL): read-only heavy work reads from it, everything else from the primary.

Only work marked with `replica_reads()` (a context manager and a decorator) may use the replica: the console's
list pages and their CSV exports, the investor's statement export, the catalogue lists. Celery tasks and CLI
commands use the primary unless they mark themselves. Even inside a marked block a statement goes to the primary
when the session has pending changes, has flushed, has run anything but a plain SELECT (a write, a lock, raw SQL)
or holds a savepoint: from then on, for as long as that session lives, everything it reads comes from the primary,
so a unit of work never reads its own writes from a copy that has not replayed them yet.

The replica is skipped, and the primary used, when:
- DATABASE_READ_URL is unset;
- the signed-in browser made a state-changing request (not GET) less than READ_AFTER_WRITE_SECONDS ago (the
  Flask session carries the time until which it reads the primary), so a page shown right after an action shows it;
- the replica was last measured (at most every LAG_CHECK_SECONDS) more than READ_AFTER_WRITE_SECONDS behind;
- the replica could not be reached: the connection attempt gives up after CONNECT_TIMEOUT seconds, the replica is
  then skipped for RETRY_SECONDS (a small circuit breaker, per process), and one warning is logged per outage.

The replica's engine has its own pool, is made on first use, and is made again in a forked child (its parent's
connections are not shared with it)."""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import ContextDecorator
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Literal

from flask import Flask, Response, current_app, has_request_context, request, session
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.config import normalize_database_url
from app.extensions import RoutingSession

log = logging.getLogger(__name__)

EXTENSION_KEY = "freehold_replica"
PRIMARY_UNTIL = "_primary_until"  # Flask session: epoch seconds until which this browser reads the primary
CONNECT_TIMEOUT = 2  # seconds (libpq's smallest useful value)
RETRY_SECONDS = 30.0  # an unreachable replica is skipped this long before it is tried again
LAG_CHECK_SECONDS = 5.0  # the replica's lag is measured at most this often per process
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_PRIMARY_ONLY = "freehold_primary_only"  # session.info: this session has written (or locked): primary from now on

# How far behind the primary the replica is, in seconds: 0 when it has replayed all it received (an idle primary
# sends nothing, so the last replayed transaction's age alone would look like lag), 0 on a server not in recovery.
LAG_SQL = text("""
    SELECT CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
                ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END
""")


class Replica:
    """One app's replica: its engine (lazily, per process), the circuit breaker and the last measured lag."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options
        self._engine: Engine | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0  # time.monotonic() before which the replica is not tried
        self._outage = False  # a warning was logged and the replica has not answered since
        self._lag_checked = float("-inf")
        self.lag: float | None = None  # seconds, as last measured

    def engine(self) -> Engine:
        """The replica's engine in this process, made on first use and again after a fork."""
        pid = os.getpid()
        if self._engine is None or self._pid != pid:
            with self._lock:
                if self._engine is None or self._pid != pid:
                    if self._engine is not None:
                        self._engine.dispose(close=False)  # the parent's connections stay the parent's
                    self._engine = create_engine(self.url, **self.options)
                    self._pid = pid
        return self._engine

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = None

    def reset(self) -> None:
        """Forget the breaker and the measured lag (the replica is tried, and measured, on next use)."""
        self._down_until = 0.0
        self._outage = False
        self._lag_checked = float("-inf")
        self.lag = None

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_SECONDS
        if not self._outage:
            self._outage = True
            log.warning("read replica unreachable, reading from the primary for at least %.0f s: %s",
                        RETRY_SECONDS, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)

    def answered(self) -> None:
        if self._outage:
            self._outage = False
            log.info("read replica reachable again")

    def within(self, max_lag: float) -> bool:
        """Whether the replica is at most max_lag seconds behind, measured at most every LAG_CHECK_SECONDS (a
        failed measurement opens the breaker)."""
        now = time.monotonic()
        if now - self._lag_checked >= LAG_CHECK_SECONDS:
            self._lag_checked = now
            engine = self.engine()
            if engine.dialect.name == "postgresql":
                try:
                    with engine.connect() as conn:
                        self.lag = float(conn.execute(LAG_SQL).scalar_one())
                except DBAPIError as exc:
                    self.failed(exc)
                    return False
                self.answered()
        return self.lag is None or self.lag <= max_lag

    def bind(self, session: Session) -> Engine | None:
        """The replica's engine with a connection joined to the session's transaction, or None when it cannot be
        reached (the breaker opens)."""
        if not self.available:
            return None
        engine = self.engine()
        try:
            session.connection(bind_arguments={"bind": engine})
        except DBAPIError as exc:
            self.failed(exc)
            return None
        self.answered()
        return engine


_READS: ContextVar[Replica | None] = ContextVar("freehold_replica_reads", default=None)


def replica_of(app: Flask) -> Replica | None:
    return app.extensions.get(EXTENSION_KEY)


def primary_until() -> float:
    """Epoch seconds until which this browser reads the primary (0: not in the window; outside a request: 0)."""
    if not has_request_context():
        return 0.0
    try:
        return float(session.get(PRIMARY_UNTIL) or 0)
    except (TypeError, ValueError):
        return 0.0


def read_after_write_seconds() -> float:
    return float(current_app.config.get("READ_AFTER_WRITE_SECONDS") or 0)


def _choose() -> Replica | None:
    """The replica, when this read-only work may use it now."""
    replica = replica_of(current_app)
    if replica is None or not replica.available:
        return None
    if primary_until() > time.time():
        return None
    if not replica.within(read_after_write_seconds()):
        return None
    return replica


class replica_reads(ContextDecorator):
    """Mark read-only work whose plain reads may come from the replica (see the module's docstring for when they
    still come from the primary). `when=False` marks nothing (the caller knows the data changed moments ago)."""

    def __init__(self, when: bool = True) -> None:
        self.when = when
        self._tokens: list[Token[Replica | None]] = []

    def _recreate_cm(self) -> replica_reads:  # a fresh one per decorated call (re-entrant, thread-safe)
        return replica_reads(self.when)

    def __enter__(self) -> replica_reads:
        self._tokens.append(_READS.set(_choose() if self.when else None))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        _READS.reset(self._tokens.pop())
        return False


def reading_replica() -> bool:
    """Whether plain reads of the current work may go to the replica (a marked block, with the replica usable)."""
    return _READS.get() is not None


READ_ONLY = "replica_read_only"  # execution option: raw SQL its author vouches only reads (an estimate, a plan)


def _plain_read(clause: Any) -> bool:
    """A SELECT without FOR UPDATE/SHARE. Raw SQL (text()) is not taken for one, since it may lock or write, unless
    it carries the READ_ONLY execution option (`text(...).execution_options(replica_read_only=True)`)."""
    if clause is None:
        return False
    if getattr(clause, "_execution_options", {}).get(READ_ONLY):
        return True
    return bool(getattr(clause, "is_select", False)) and getattr(clause, "_for_update_arg", None) is None


def route(session: RoutingSession, clause: Any) -> Engine | None:
    """RoutingSession.router: the replica's engine for a plain read in marked work by a session that has not
    written; None (the primary) otherwise."""
    replica = _READS.get()
    if replica is None:
        return None
    info = session.info
    if info.get(_PRIMARY_ONLY):
        return None
    if session.new or session.dirty or session.deleted or session.in_nested_transaction() \
            or not _plain_read(clause):
        info[_PRIMARY_ONLY] = True
        return None
    return replica.bind(session)


def _wrote(session: Session, *args: Any) -> None:
    session.info[_PRIMARY_ONLY] = True


def _mark_write_window(response: Response) -> Response:
    """After a state-changing request by a browser that has a session, that browser reads the primary for
    READ_AFTER_WRITE_SECONDS."""
    if request.method not in SAFE_METHODS and session:
        window = read_after_write_seconds()
        if window > 0:
            session[PRIMARY_UNTIL] = int(time.time() + window) + 1
    return response


_listening = False


def init_app(app: Flask) -> None:
    global _listening
    url = app.config.get("DATABASE_READ_URL")
    if not url:
        return
    url = app.config["DATABASE_READ_URL"] = normalize_database_url(str(url))
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql"):
        connect_args = dict(options.get("connect_args") or {})
        connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT)
        options["connect_args"] = connect_args
    app.extensions[EXTENSION_KEY] = Replica(url, options)
    app.after_request(_mark_write_window)
    if not _listening:
        RoutingSession.router = route
        event.listen(Session, "before_flush", _wrote)
        _listening = True
