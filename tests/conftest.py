"""The fixtures of the whole suite. It runs on SQLite by default and on PostgreSQL (and Redis) when DATABASE_URL
(and REDIS_URL) point at them. On PostgreSQL it creates a throw-away database beside the one named, so it never
touches real data; the schema always comes from the Alembic migrations.

Every test starts with empty tables; after a test that wrote to the ledger, the ledger verifies (mark a test
that corrupts it on purpose with `@pytest.mark.ledger_tampered`). Data comes from tests/factories.py, plain
helpers (csrf_from, outbox, PASSWORD, ...) from tests/support.py: test modules never import a conftest."""
from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _pytest.nodeid import NodeId
from celery._state import _set_task_join_will_block
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from app.auth import services as auth
from app.auth import sessions as auth_sessions
from app.config import normalize_database_url
from app.core.db import unit_of_work
from app.extensions import db, limiter
from app.ledger.checks import verify
from tests.factories import DepositFactory, InvestorFactory, PayoutMethodFactory, PropertyFactory, UserFactory
from tests.support import PASSWORD, RUN_ID, WORKER, build_app, csrf_from, mail_server, set_setting, totp_now

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def pytest_configure(config):
    config.addinivalue_line("markers", "ledger_tampered: the test corrupts the ledger on purpose; the ledger "
                                       "is not verified after it")


# folders whose tests share one costly session resource: under `--dist loadgroup` (make test) each runs on one worker
_GROUPS = {"replica": "pg-pair"}  # a private PostgreSQL primary and replica, started once (tests/replica)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook
def pytest_collection_modifyitems(config, items):
    """Mark the tests of the folders in _GROUPS with their `xdist_group`. Under `--dist loadgroup` a worker tells
    the scheduler a test's group as a suffix of its node id ("...::test_x@pg-pair"); pytest-xdist 3.8 writes that
    suffix where pytest 9 no longer reads it, so without this no group would be kept together: it is written here."""
    tests = Path(__file__).parent
    for item in items:
        with suppress(ValueError):
            folder = item.path.relative_to(tests).parts[0]
            if folder in _GROUPS:
                item.add_marker(pytest.mark.xdist_group(_GROUPS[folder]))
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers under --dist loadgroup
        return
    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")


# the database and the app ------------------------------------------------------------------------------------------
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
    name = f"{base.database or 'freehold'}_pytest_{RUN_ID}_{WORKER}"  # one per process: each xdist worker its own
    admin_engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with suppress(Exception):
            db.session.remove()
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


@pytest.fixture(scope="session")
def app(database_url):
    application = build_app(database_url)
    with application.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
    return application


@pytest.fixture(scope="session")
def is_postgres(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


@pytest.fixture
def postgres(is_postgres):
    if not is_postgres:
        pytest.skip("needs PostgreSQL: set DATABASE_URL to a PostgreSQL server (SQLite ignores row locks)")


# the sequences that belong to a table's column (serial or identity), which TRUNCATE ... RESTART IDENTITY restarts
_USED_SEQUENCES = """
    SELECT format('%I.%I', s.schemaname, s.sequencename) FROM pg_sequences s
    JOIN pg_class c ON c.relname = s.sequencename AND c.relkind = 'S'
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
    JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    WHERE s.last_value IS NOT NULL
"""


def _clean(app) -> None:
    """Empty every table and restart the ids. On PostgreSQL a TRUNCATE of every table costs ~0.2 s (new files
    for each table and index), more than most tests; deleting the rows of the few tables a test filled, with the
    triggers (foreign keys, the append-only ledger and audit log) off for this transaction, costs milliseconds.
    Without the right to turn triggers off (not a superuser) it falls back to the TRUNCATE."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with app.app_context():
        db.session.remove()
        engine = db.engine
        with engine.begin() as conn:
            if engine.dialect.name != "postgresql":
                # foreign keys checked at commit: offers and trades point at each other (offer.trade_id)
                conn.execute(text("PRAGMA defer_foreign_keys = ON"))
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
            elif not _may_skip_triggers(conn):
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                # first wait for the writers still at work (a live server's thread, a race test's straggler) and
                # hold off new ones until this commits, as TRUNCATE's lock did: rows a transaction has written but
                # not yet committed would otherwise be neither seen here nor deleted
                conn.execute(text(f"LOCK TABLE {', '.join(tables)} IN SHARE MODE"))
                filled = conn.execute(text(" UNION ALL ".join(
                    f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM {table})" for table in tables))).scalars().all()
                if filled:
                    conn.execute(text("SET LOCAL session_replication_role = replica"))
                    for table in filled:
                        conn.execute(text(f"DELETE FROM {table}"))
                for sequence in conn.execute(text(_USED_SEQUENCES)).scalars().all():
                    conn.execute(text("SELECT setval(CAST(:name AS regclass), 1, false)"), {"name": sequence})


_SUPERUSER: list[bool] = []


def _may_skip_triggers(conn) -> bool:
    if not _SUPERUSER:
        _SUPERUSER.append(conn.execute(text("SELECT current_setting('is_superuser') = 'on'")).scalar_one())
    return _SUPERUSER[0]


@pytest.fixture(autouse=True)
def _dated_modules_follow_the_date():
    """Test modules that work out dates when they are imported (TODAY, LAST_MONTH, ...) say so with COLLECTED_ON;
    when a run crosses midnight UTC after they were imported, they are imported again (in the same module object,
    so their tests and fixtures read the new dates) before the next test runs. The modules that import dates from
    another say which with DATES_FROM, and that one is read again first."""
    today = datetime.now(UTC).date()
    stale = [m for name, m in list(sys.modules.items())
             if name.startswith("tests.") and getattr(m, "COLLECTED_ON", today) != today]
    for module in sorted(stale, key=lambda m: bool(getattr(m, "DATES_FROM", ()))):
        importlib.reload(module)


@pytest.fixture(autouse=True)
def _fresh(app):
    """Every test starts with empty tables, a fresh session and fresh rate limits."""
    ctx = app.app_context()
    ctx.push()
    with suppress(Exception):
        limiter.reset()
    mail_server().clear()
    yield
    db.session.remove()
    ctx.pop()
    _clean(app)
    # Celery keeps "a task is running" in one process-wide flag; eager tasks run by concurrent threads (the race
    # tests) can leave it set. Tests are never inside a task.
    _set_task_join_will_block(False)


# money moved or a ledger row changed; opening a user's empty accounts (every new user) is not a change
LEDGER_WRITE = re.compile(r"\b(?:INSERT\s+INTO\s+\"?ledger_(?:entries|postings|holds)|UPDATE\s+\"?ledger_"
                          r"|DELETE\s+FROM\s+\"?ledger_)", re.IGNORECASE)


@pytest.fixture(autouse=True)
def _ledger_verifies(request, _fresh):
    """`flask ledger verify` (its checks and those the domains register) holds after every test that changed the
    ledger (an entry, a posting, a hold, a balance), from any engine or thread; other tests cost nothing."""
    written: list[str] = []

    def spot(conn, cursor, statement, parameters, context, executemany):
        if not written and LEDGER_WRITE.search(statement):
            written.append(statement)

    event.listen(Engine, "before_cursor_execute", spot)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", spot)
    if written and request.node.get_closest_marker("ledger_tampered") is None:
        db.session.rollback()  # what the test left uncommitted is not the ledger
        report = verify()
        assert report.ok, f"the ledger does not verify after this test: {report.violations}"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def count_queries(app, monkeypatch):
    """with count_queries() as queries: ...  -> len(queries) statements were sent. A signed-in session notes its
    activity at most once a minute (app.auth.sessions.TOUCH_EVERY): in a test that counts queries, not within a
    day, so that a set-up slower than a minute (a busy machine, the other worker) does not add that write to one
    measurement and not to the other."""
    monkeypatch.setattr(auth_sessions, "TOUCH_EVERY", timedelta(days=1))

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


# people ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def make_user(app):
    def _make(email=None, *, role="investor", verified=True, password=PASSWORD, two_factor=None,
              first_name="Test", last_name="User"):
        """Staff get 2FA by default (the console demands it); pass two_factor=False for a staff member
        without it."""
        fields = {"email": email} if email else {}
        if two_factor is not None:
            fields["two_factor"] = two_factor
        with unit_of_work():
            return UserFactory(role=role, verified=verified, password=password, first_name=first_name,
                               last_name=last_name, **fields)

    return _make


@pytest.fixture
def kyc_reviewer(make_user):
    """The compliance officer who approves the investors' identities."""
    return make_user(role="compliance")


@pytest.fixture
def fund(app):
    """Credit a user's wallet through a completed deposit, as real money arrives."""

    def _fund(user, amount: str):
        with unit_of_work():
            return DepositFactory(user=user, amount=amount)

    return _fund


def _new_investor(email=None, *, balance, reviewer, **fields):
    if email:
        fields["email"] = email
    with unit_of_work():
        return InvestorFactory(kyc_approved_by=reviewer, balance=balance, **fields)


@pytest.fixture
def make_investor(app, kyc_reviewer):
    """make_investor(balance="10000.00", *, kyc=True, **user fields): a verified investor, identity approved
    through the KYC services (unless kyc=False), wallet funded by a completed deposit (unless balance is empty)."""

    def _make(balance: str | None = "10000.00", *, kyc: bool = True, **fields):
        return _new_investor(balance=balance, reviewer=kyc_reviewer if kyc else None, **fields)

    return _make


@pytest.fixture
def investor_options() -> dict:
    """How `investor` is made; a directory's conftest or a module overrides this fixture to change it."""
    return {}


@pytest.fixture
def investor(request, investor_options):
    """The investor of a test: verified, identity approved, 1,000.00 in the wallet. Options (`investor_options`):
    balance (None: no deposit), kyc (False: no KYC submission and no reviewer), and any user field."""
    options = {"balance": "1000.00", "kyc": True, **investor_options}
    reviewer = request.getfixturevalue("kyc_reviewer") if options.pop("kyc") else None
    return _new_investor(reviewer=reviewer, **options)


@pytest.fixture
def manager(make_user):
    return make_user(role="property_manager")


@pytest.fixture
def finance(make_user):
    return make_user("fin1@example.com", role="finance")


@pytest.fixture
def finance2(make_user):
    """A second finance officer: the checker where the first made the request (four eyes)."""
    return make_user("fin2@example.com", role="finance")


@pytest.fixture
def token_for(app):
    def _token(user) -> dict:
        with unit_of_work():
            raw, _ = auth.issue_token(user)
        return {"Authorization": f"Bearer {raw}"}

    return _token


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


# properties and payouts --------------------------------------------------------------------------------------------
@pytest.fixture
def make_property(app, manager):
    """An active property (published through the service by `manager`) with coherent terms; keyword arguments
    override them (publish=False leaves a draft). Slugs and titles count from 1 in each test."""
    PropertyFactory.reset_sequence(1)

    def _make(*, publish=True, **overrides):
        with unit_of_work():
            return PropertyFactory(publish=publish, actor=manager, **overrides)

    return _make


@pytest.fixture
def method(investor):
    """The investor's bank account, past its cooling-off period."""
    with unit_of_work():
        return PayoutMethodFactory(user=investor)


@pytest.fixture
def no_fee(app):
    set_setting("payout.fee_bps", 0)
    set_setting("payout.fee_fixed", 0)


# servers -----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 over real HTTP on 127.0.0.1, one for the session."""
    from moto.server import ThreadedMotoServer  # moto takes seconds to import: only for the tests that use S3

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    """Test credentials for boto3, and nothing of the machine's own AWS set-up or proxies."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")



# a second app ------------------------------------------------------------------------------------------------------
@pytest.fixture
def other_app(app, monkeypatch):
    """other_app(**overrides): another app on the suite's database (or database_url=...) with configuration
    overrides. Building an app binds process-wide state to it (Celery's current app, the one rate limiter): the
    suite's app gets it back afterwards; the other app's engines are closed."""
    from celery import _state

    from app.core.replica import replica_of

    monkeypatch.setattr(_state._tls, "current_app", getattr(_state._tls, "current_app", None))
    monkeypatch.setattr(_state, "default_app", _state.default_app)
    for name, value in list(vars(limiter).items()):
        monkeypatch.setattr(limiter, name, value)
    built = []

    def _build(database_url=None, **overrides):
        application = build_app(database_url or app.config["SQLALCHEMY_DATABASE_URI"], **overrides)
        built.append(application)
        return application

    yield _build
    for application in built:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        replica = replica_of(application)
        if replica is not None:
            replica.dispose()
