"""Test fixtures. The suite runs on SQLite by default and on PostgreSQL (and Redis) when DATABASE_URL
(and REDIS_URL) point at them. On PostgreSQL it creates a throw-away database beside the one named, so it never
touches real data; the schema always comes from the Alembic migrations."""
from __future__ import annotations

import contextvars
import os
import re
import secrets
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.config import normalize_database_url
from app.extensions import db, limiter

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
RUN_ID = uuid.uuid4().hex[:8]
UPLOADS = tempfile.mkdtemp(prefix="freehold-uploads-")  # never the real instance/ folder


def _server_url() -> str | None:
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith(("postgres://", "postgresql")):
        return normalize_database_url(url)
    return None


@pytest.fixture(scope="session")
def database_url():
    server = _server_url()
    if server is None:
        folder = tempfile.mkdtemp(prefix="freehold-tests-")
        yield f"sqlite:///{folder}/test.db"
        return
    base = make_url(server)
    name = f"{base.database or 'freehold'}_pytest_{RUN_ID}"
    admin_engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        from app.extensions import db as _db

        try:
            _db.session.remove()
        except Exception:  # noqa: BLE001
            pass
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def test_config(database_url: str, **overrides) -> dict:
    config = {
        "CONFIG": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "FIELD_ENCRYPTION_KEYS": TEST_FERNET_KEYS,
        "RATELIMIT_KEY_PREFIX": f"freehold-test-{RUN_ID}",
        "CACHE_KEY_PREFIX": f"freehold-test-{RUN_ID}:",
        "UPLOAD_FOLDER": UPLOADS,
    }
    if os.environ.get("REDIS_URL"):
        config["REDIS_URL"] = os.environ["REDIS_URL"]
        config["RATELIMIT_STORAGE_URI"] = os.environ["REDIS_URL"]
    config.update(overrides)
    return config


TEST_FERNET_KEYS = "8fQR6ze4U6Q9aoZAiZxFUyofI5SLGCLDA6aoBDUQcb4=,lD3N1DRqUyftfHn3HscJqcDRgWGX8hJ6f8EtIMNrpXQ="
test_config.__test__ = False  # not a test


class IsolatedClient(FlaskClient):
    """Each request runs in its own application context (own `g`, own database session), as in production,
    even though the test itself keeps an app context pushed for calling services."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def build_app(database_url: str, **overrides):
    application = create_app(test_config(database_url, **overrides))
    application.test_client_class = IsolatedClient
    return application


@pytest.fixture(scope="session")
def app(database_url):
    application = build_app(database_url)
    with application.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
        db.session.remove()
    return application


@pytest.fixture(scope="session")
def is_postgres(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


@pytest.fixture
def postgres(is_postgres):
    if not is_postgres:
        pytest.skip("needs PostgreSQL: set DATABASE_URL to a PostgreSQL server (SQLite ignores row locks)")


def _clean(app) -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with app.app_context():
        db.session.remove()
        engine = db.engine
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(autouse=True)
def _fresh(app):
    """Every test starts with empty tables, a fresh session and fresh rate limits."""
    ctx = app.app_context()
    ctx.push()
    try:
        limiter.reset()
    except Exception:  # noqa: BLE001 - storage without reset support
        pass
    yield
    db.session.remove()
    ctx.pop()
    _clean(app)
    # Celery keeps "a task is running" in one process-wide flag; eager tasks run by concurrent threads (the race
    # tests) can leave it set. Tests are never inside a task.
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)


@pytest.fixture
def client(app):
    return app.test_client()


# factories ------------------------------------------------------------------------------------------------------
PASSWORD = "Correct-horse-battery-9"


@pytest.fixture
def make_user(app):
    from app.auth import mfa, totp
    from app.auth import services as auth

    def _make(email=None, *, role="investor", verified=True, password=PASSWORD, two_factor=None,
              first_name="Test", last_name="User"):
        """Staff get 2FA by default (the console demands it); pass two_factor=False for a staff member
        without it."""
        if two_factor is None:
            two_factor = role != "investor"
        email = email or f"user-{secrets.token_hex(4)}@example.com"
        user = auth.create_user(email, password, first_name=first_name, last_name=last_name, roles=(role,),
                                verified=verified)
        if two_factor:
            mfa.provision(user, totp.new_secret())
        db.session.commit()
        return user

    return _make


@pytest.fixture
def fund(app):
    """Credit a user's wallet through a completed deposit, as real money arrives."""
    from app.core.money import Money
    from app.ledger.services import platform_currency
    from app.payments import services as payments

    def _fund(user, amount: str):
        deposit = payments.create_deposit(user.id, Money.parse(amount, platform_currency()), "bank_transfer")
        payments.complete_deposit(deposit)
        db.session.commit()
        return deposit

    return _fund


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def totp_now(user, offset_steps: int = 0) -> str:
    import time

    import pyotp

    return pyotp.TOTP(user.totp_secret).at(time.time() + 30 * offset_steps)


@pytest.fixture
def login(client):
    """Sign in through the forms; when the user has 2FA, answer the code step with a fresh code."""

    def _login(user_or_email, password=PASSWORD, *, http=None, code=None, remember=False):
        http = http or client
        email = getattr(user_or_email, "email", user_or_email)
        page = http.get("/login")
        data = {"email": email, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True))}
        if remember:
            data["remember"] = "y"
        response = http.post("/login", data=data)
        if response.status_code == 302 and response.headers["Location"].startswith("/login/code"):
            if code is None and getattr(user_or_email, "totp_secret", None):
                code = totp_now(user_or_email)
            if code is None:
                return response
            step = http.get("/login/code")
            response = http.post("/login/code", data={"code": code,
                                                      "csrf_token": csrf_from(step.get_data(as_text=True))})
        return response

    return _login


@pytest.fixture
def token_for(app):
    from app.auth import services as auth

    def _token(user) -> dict:
        raw, _ = auth.issue_token(user)
        db.session.commit()
        return {"Authorization": f"Bearer {raw}"}

    return _token


@pytest.fixture
def count_queries(app):
    """with count_queries() as queries: ...  -> len(queries) statements were sent."""

    @contextmanager
    def _count():
        statements: list[str] = []

        def before(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", before)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", before)

    return _count


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def outbox(to: str | None = None, event: str | None = None):
    """E-mail deliveries (the dev outbox), oldest first, optionally for one address and one event."""
    from app.notifications.models import Delivery, Notification

    db.session.expire_all()
    query = select(Delivery).join(Notification).where(Delivery.channel == "email")
    if to is not None:
        query = query.where(Delivery.to_address == to)
    if event is not None:
        query = query.where(Notification.event == event)
    return list(db.session.scalars(query.order_by(Delivery.id)))


def link_in(delivery, *, path_only: bool = True) -> str:
    match = re.search(r"https?://[^/\s]+(/\S+)" if path_only else r"(https?://\S+)", delivery.body)
    assert match, f"no link in {delivery.body!r}"
    return match.group(1)


@pytest.fixture
def manager(make_user):
    return make_user(role="property_manager")


@pytest.fixture
def make_property(app, manager):
    """An active property (published through the service) with coherent terms; keyword arguments override them."""
    from datetime import timedelta

    from app.core.db import utcnow
    from app.properties import services as properties
    from app.properties.models import Property, PropertyPhoto

    counter = {"n": 0}

    def _make(*, publish=True, **overrides):
        counter["n"] += 1
        n = counter["n"]
        values = dict(slug=f"prop-{n}", title=f"Property {n}", property_type="residential", city="Lisbon",
                      country="PT", street="1 Rua", description="A fine building.", currency="USD",
                      target_amount=10_000_000, raised_amount=0, min_investment=10_000, max_investment=1_000_000,
                      return_rate_bps=800, return_frequency="quarterly", return_periods=20, capital_back=True,
                      funding_starts_at=utcnow() - timedelta(days=1), funding_ends_at=utcnow() + timedelta(days=30),
                      status="draft")
        values.update(overrides)
        p = Property(**values)
        db.session.add(p)
        db.session.flush()
        properties.check_terms_change(p, {})
        db.session.add(PropertyPhoto(property_id=p.id, position=1, is_cover=True, original_key="x/o.jpg",
                                     thumbnail_key="x/t.jpg", medium_key="x/m.jpg", large_key="x/l.jpg",
                                     status="ready"))
        db.session.flush()
        db.session.refresh(p)
        if publish:
            properties.publish(p, actor=manager)
        db.session.commit()
        return p

    return _make
