"""A private PostgreSQL primary and streaming replica for the read-replica tests, and an app whose DATABASE_URL is
the primary and DATABASE_READ_URL the replica. The rest of the suite runs without a replica.

The pair is started once per test session on two free ports under a temporary folder owned by `postgres`
(initdb, a replication line in pg_hba.conf, pg_basebackup -R -X stream), with the binaries of PostgreSQL 15; the
primary gets the schema from the migrations. Without those binaries (or without root to run them as `postgres`)
the tests skip, except under CI=true, where they fail. PG_BIN names another folder of PostgreSQL binaries."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import pytest
from celery import _state
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from app.core.replica import replica_of
from app.extensions import db, limiter
from tests.support import build_app, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"the read-replica tests need a PostgreSQL pair: {reason}")
    pytest.skip(f"the read-replica tests need a PostgreSQL pair: {reason}")


def _as_postgres(command: str, timeout: float = 120) -> None:
    done = subprocess.run(["su", "postgres", "-c", command], capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{command!r} failed: {done.stdout}{done.stderr}")


def _wait_for(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(Exception):
            if check():
                return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Pair:
    """The running primary and replica: their URLs, and engines (AUTOCOMMIT) for the tests to act on each."""

    def __init__(self, primary_url: str, replica_url: str) -> None:
        self.primary_url = primary_url
        self.replica_url = replica_url
        self.primary = create_engine(primary_url, isolation_level="AUTOCOMMIT")
        self.replica = create_engine(replica_url, isolation_level="AUTOCOMMIT")

    def on_primary(self, sql: str, **params):
        with self.primary.connect() as conn:
            result = conn.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None

    def on_replica(self, sql: str, **params):
        with self.replica.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def caught_up(self) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        target = self.on_primary("SELECT pg_current_wal_lsn()::text")
        _wait_for(lambda: self.on_replica(
            "SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)", lsn=target), "the replica to catch up")

    def pause(self) -> None:
        self.caught_up()
        self.on_replica("SELECT pg_wal_replay_pause()")

    def resume(self) -> None:
        self.on_replica("SELECT pg_wal_replay_resume()")

    def close(self) -> None:
        self.primary.dispose()
        self.replica.dispose()


@pytest.fixture(scope="session")
def pg_pair():
    if not (BIN / "initdb").exists():
        _unavailable(f"no {BIN / 'initdb'}")
    if os.geteuid() != 0 or shutil.which("su") is None:
        _unavailable("the servers run as the postgres user: the tests must run as root")
    folder = Path(tempfile.mkdtemp(prefix="freehold-replica-"))
    shutil.chown(folder, "postgres", "postgres")
    primary, replica = folder / "primary", folder / "replica"
    port1, port2 = free_port(), free_port()
    started: list[Path] = []
    try:
        _as_postgres(f"{BIN}/initdb -D {primary} -A trust -U postgres")
        with open(primary / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        _as_postgres(f"{BIN}/pg_ctl -D {primary} -l {folder}/primary.log "
                     f"-o \"-p {port1} -k {folder} -c listen_addresses=127.0.0.1\" -w start")
        started.append(primary)
        _as_postgres(f"{BIN}/pg_basebackup -h 127.0.0.1 -p {port1} -U postgres -D {replica} -R -X stream")
        _as_postgres(f"{BIN}/pg_ctl -D {replica} -l {folder}/replica.log "
                     f"-o \"-p {port2} -k {folder} -c listen_addresses=127.0.0.1\" -w start")
        started.append(replica)
        pair = Pair(f"postgresql+psycopg://postgres@127.0.0.1:{port1}/postgres",
                    f"postgresql+psycopg://postgres@127.0.0.1:{port2}/postgres")
        assert pair.on_replica("SELECT pg_is_in_recovery()") is True
        yield pair
        with suppress(Exception):
            pair.resume()
        pair.close()
    finally:
        for data in reversed(started):
            with suppress(Exception):
                _as_postgres(f"{BIN}/pg_ctl -D {data} -m fast -w stop")
        shutil.rmtree(folder, ignore_errors=True)


def _process_state() -> tuple:
    """What building an app binds process-wide: Celery's current and default app, the one rate limiter."""
    return getattr(_state._tls, "current_app", None), _state.default_app, dict(vars(limiter))


def _bind(state: tuple) -> None:
    _state._tls.current_app, _state.default_app = state[0], state[1]
    for name, value in state[2].items():
        setattr(limiter, name, value)


@pytest.fixture(scope="session")
def app(pg_pair):
    """The suite's app fixture for this folder: DATABASE_URL the primary, DATABASE_READ_URL the replica. The
    process-wide state it binds is handed back at once (the suite's other folders keep theirs) and bound to it
    only around each test here (_bound)."""
    before = _process_state()
    application = build_app(pg_pair.primary_url, DATABASE_READ_URL=pg_pair.replica_url)
    application.extensions["tests.replica.bound"] = _process_state()
    _bind(before)
    with application.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
    pg_pair.caught_up()
    _wait_for(lambda: pg_pair.on_replica("SELECT to_regclass('public.users') IS NOT NULL"), "the schema")
    yield application
    with application.app_context():
        replica_of(application).dispose()


@pytest.fixture(autouse=True)
def _bound(app):
    before = _process_state()
    _bind(app.extensions["tests.replica.bound"])
    yield
    _bind(before)


@pytest.fixture
def pair(pg_pair, app):
    """The pair, the replica replaying and caught up, and this app's replica freshly usable (no open breaker, lag
    measured anew) for each test."""
    pg_pair.resume()
    pg_pair.caught_up()
    replica_of(app).reset()
    yield pg_pair
    pg_pair.resume()
