"""Model mixins, the after-commit queue and the one place a unit of work commits.

Services flush and never commit. A view, API handler, console action, Celery task or CLI command runs its work
inside `unit_of_work()` (a decorator and a context manager): it commits once at the end, rolls back on any
error, and the after-commit queue runs once the commit is durable. Work that must only happen then (Celery
tasks, e-mails, webhooks to others) is queued with `after_commit()`; a rollback drops it. Nothing else in
`app/` calls `commit()` or `rollback()` (a test walks the code and fails on one).
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import ContextDecorator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

from celery import current_app as celery_current_app
from flask import Flask
from sqlalchemy import BigInteger, DateTime, event
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from app.core import replica
from app.extensions import db

_QUEUE_KEY = "freehold_after_commit"

# The `info` key by which a domain's model marks a ForeignKey that its migrations replaced, on PostgreSQL, by a
# trigger checking the references once per INSERT statement (`ForeignKey(..., info={STATEMENT_CHECKED: True})`);
# migrations/env.py leaves such keys out of `flask db check` there. SQLite keeps them as declared.
STATEMENT_CHECKED = "statement_checked"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on PostgreSQL and SQLite alike (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class IdMixin:
    id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


def after_commit(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run fn(*args, **kwargs) once the current transaction commits; dropped on rollback."""
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so that a rollback before any SQL still discards the queue
    session.info.setdefault(_QUEUE_KEY, []).append((fn, args, kwargs))


def enqueue_after_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Send a Celery task only once the data it reads is committed.

    `task` is a task object or its registered name ("payments.notify_outcome"): a service names the task of its
    own domain instead of importing the tasks module, which imports the service (tasks sit above services)."""
    if isinstance(task, str):
        after_commit(_send_by_name, task, args, kwargs)
    else:
        after_commit(task.apply_async, args=args, kwargs=kwargs)


def _send_by_name(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # the registry the tasks' own proxies resolve through (Celery's current app, which celery_init_app sets)
    celery_current_app.tasks[name].apply_async(args=args, kwargs=kwargs)


_DEPTH_KEY = "freehold_unit_of_work_depth"
F = TypeVar("F", bound=Callable[..., Any])


class _UnitOfWork(ContextDecorator):
    """One transaction: commit once at the end, roll back on any error (the error goes on).

    Nested units join the outermost one: only the outermost commits, so a service or task body decorated on its
    own can be called from inside a larger unit without committing half of it."""

    def _recreate_cm(self) -> _UnitOfWork:  # a fresh one per decorated call (re-entrant, thread-safe)
        return _UnitOfWork()

    def __enter__(self) -> _UnitOfWork:
        info = db.session().info
        info[_DEPTH_KEY] = info.get(_DEPTH_KEY, 0) + 1
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        session = db.session()
        depth = session.info.get(_DEPTH_KEY, 1) - 1
        if depth:
            session.info[_DEPTH_KEY] = depth
            return False
        session.info.pop(_DEPTH_KEY, None)
        if exc_type is None:
            try:
                session.commit()  # the after-commit queue runs from the session's own events
            except BaseException:
                session.rollback()
                raise
        else:
            session.rollback()
        return False


@overload
def unit_of_work(fn: F) -> F: ...
@overload
def unit_of_work(fn: None = None) -> _UnitOfWork: ...
def unit_of_work(fn: F | None = None) -> F | _UnitOfWork:
    """`with unit_of_work(): ...`, or `@unit_of_work` / `@unit_of_work()` on a view, handler, task or command."""
    if fn is None:
        return _UnitOfWork()
    return _UnitOfWork()(fn)


def commit() -> None:  # being replaced by unit_of_work(); removed once no caller is left
    db.session.commit()


def in_unit_of_work() -> bool:
    return bool(db.session().info.get(_DEPTH_KEY))


def discard() -> None:
    """End the session's transaction without committing: for error handlers (a failed request) and for read-only
    looks between units of work that should hand their connection back. Never a way to undo part of a unit."""
    db.session.rollback()


_listening = False


def init_app(app: Flask) -> None:
    global _listening
    replica.init_app(app)  # DATABASE_READ_URL: read-only work marked replica_reads() may read from it
    if not _listening:
        # Listen on the Session class: the queue lives in each session's own `info`.
        event.listen(Session, "after_transaction_create", _mark_savepoint)
        event.listen(Session, "after_commit", _note_commit)
        event.listen(Session, "after_soft_rollback", _unwind)
        event.listen(Session, "after_transaction_end", _run_when_root_ends)
        event.listen(Session, "pending_to_persistent", _keep_created)
        _listening = True


_CREATED_KEY = "freehold_created"


def _keep_created(session: Session, instance: object) -> None:
    """Hold the objects inserted in the current transaction until it ends. SQLAlchemy tracks them weakly: one
    inserted inside a savepoint (an account created on first use), then dropped by its caller, is collected, and
    once loaded again it is no longer known as new, so a rollback of the whole transaction leaves it in the
    identity map although its row is gone (ObjectDeletedError on the next access)."""
    session.info.setdefault(_CREATED_KEY, []).append(instance)


def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault(_QUEUE_KEY + ":marks", {})
        marks[id(transaction)] = len(session.info.get(_QUEUE_KEY, ()))


def _note_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info[_QUEUE_KEY + ":committed"] = True


def _unwind(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rolled-back savepoint drops what was queued inside it; a rolled-back transaction drops everything."""
    if previous_transaction.nested:
        mark = session.info.get(_QUEUE_KEY + ":marks", {}).pop(id(previous_transaction), None)
        if mark is not None and _QUEUE_KEY in session.info:
            del session.info[_QUEUE_KEY][mark:]
    elif previous_transaction.parent is None:
        session.info.pop(_QUEUE_KEY, None)
        session.info.pop(_QUEUE_KEY + ":committed", None)


def _run_when_root_ends(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested or transaction.parent is not None:
        return  # a savepoint's mark is consumed by _unwind (rollback) or dropped with the root
    session.info.pop(_CREATED_KEY, None)
    session.info.pop(_QUEUE_KEY + ":marks", None)
    committed = session.info.pop(_QUEUE_KEY + ":committed", False)
    queue = session.info.pop(_QUEUE_KEY, None)
    if committed and queue:
        # the session has no transaction now: a callback (an eager task) may begin and commit its own
        for fn, args, kwargs in queue:
            fn(*args, **kwargs)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, connection_record: ConnectionPoolEntry) -> None:
    """SQLite (the embedded default): WAL lets the web server, worker and beat read while one writes;
    foreign keys are enforced as on PostgreSQL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def configure_engine(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _sqlite_pragmas):
            event.listen(engine, "connect", _sqlite_pragmas)
