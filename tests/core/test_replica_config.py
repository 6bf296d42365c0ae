"""DATABASE_READ_URL and READ_AFTER_WRITE_SECONDS: read like DATABASE_URL, PostgreSQL only in production, and
without a replica nothing is routed anywhere but the primary. (Routing itself: tests/replica, on a real replica.)"""
from __future__ import annotations

import time

from sqlalchemy import select

from app.auth.models import User
from app.config import Production
from app.core.replica import reading_replica, replica_of, replica_reads
from app.extensions import db


def _read_url_problems(url):
    config = {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db/freehold", "DATABASE_READ_URL": url}
    return [p for p in Production.problems(config) if p.variable == "DATABASE_READ_URL"]


def test_production_needs_a_postgresql_replica():
    [problem] = _read_url_problems("sqlite:////srv/replica.db")
    assert problem.error and "PostgreSQL" in problem.message
    assert _read_url_problems("postgres://reader@replica.internal/freehold") == []
    assert _read_url_problems(None) == []


def test_without_a_read_url_everything_reads_the_primary(app, make_user):
    assert app.config["DATABASE_READ_URL"] is None
    assert app.config["READ_AFTER_WRITE_SECONDS"] == 30
    assert replica_of(app) is None
    user = make_user("ann@example.com")
    with replica_reads():
        assert not reading_replica()
        assert db.session.scalar(select(User.email).where(User.id == user.id)) == "ann@example.com"


def test_a_read_url_is_normalised_like_database_url(other_app):
    application = other_app(DATABASE_READ_URL="postgres://reader@127.0.0.1:1/freehold")
    assert replica_of(application).url == "postgresql+psycopg://reader@127.0.0.1:1/freehold"
    assert application.config["DATABASE_READ_URL"] == "postgresql+psycopg://reader@127.0.0.1:1/freehold"


def test_an_unreachable_replica_is_skipped_for_a_while_and_reported_once(other_app, make_user, caplog):
    """Refused at the statement's own connection (the lag was measured moments ago, so no probe runs first): the
    read is answered by the primary, the replica is not tried again, one warning."""
    from tests.support import free_port

    application = other_app(DATABASE_READ_URL=f"postgresql+psycopg://reader@127.0.0.1:{free_port()}/freehold")
    user = make_user("ann@example.com")
    replica = replica_of(application)
    with application.app_context(), caplog.at_level("WARNING", logger="app.core.replica"):
        replica.reset()
        replica._lag_checked, replica.lag = time.monotonic(), 0.0  # measured fine a moment ago
        with replica_reads():
            assert reading_replica()
            assert db.session.scalar(select(User.email).where(User.id == user.id)) == "ann@example.com"
        assert not replica.available
        with replica_reads():
            assert not reading_replica()  # the breaker is open: not even tried
            assert db.session.scalar(select(User.email).where(User.id == user.id)) == "ann@example.com"
        db.session.remove()
    assert [r.getMessage()[:28] for r in caplog.records] == ["read replica unreachable, re"]
