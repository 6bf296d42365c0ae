"""The broker as the jobs page sees it: how many messages wait in each Celery queue, and which workers answer.

Redis: LLEN of each queue's lists (kombu keeps one list per priority step) and the size of the hash of messages a
worker has taken but not yet acknowledged. The embedded broker (SQLite through kombu's SQLAlchemy transport): the
visible messages of each queue in kombu's message table; the invisible ones are taken by a worker. Every look is
bounded by a short timeout so that a broker that does not answer never holds the page for long."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

TIMEOUT = 1.0  # seconds, for the broker connection and for a worker's answer to a ping
# kombu's Redis transport: the list of a priority step other than 0 is "<queue>\x06\x16<step>"
REDIS_PRIORITY_SEP = "\x06\x16"
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)
REDIS_UNACKED = "unacked"

_engines: dict[str, Engine] = {}


@dataclass
class QueueLength:
    name: str
    waiting: int
    taken: int | None = None  # taken by a worker, not yet acknowledged (when the broker tells per queue)


@dataclass
class BrokerReport:
    kind: str  # "redis", "embedded (SQLite)", "in-process", or the scheme
    location: str  # the broker URL without its password
    queues: list[QueueLength] = field(default_factory=list)
    unacked: int | None = None
    error: str | None = None


def queue_names(celery: Celery) -> list[str]:
    """The default queue ("celery") and every queue the configuration names."""
    names = [celery.conf.task_default_queue or "celery"]
    for queue in celery.conf.task_queues or ():
        name = getattr(queue, "name", queue)
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def _redis(url: str, names: list[str], report: BrokerReport) -> None:
    import redis  # the Redis client comes with kombu's Redis transport

    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                for step in REDIS_PRIORITY_STEPS:
                    pipe.llen(name if step == 0 else f"{name}{REDIS_PRIORITY_SEP}{step}")
            pipe.hlen(REDIS_UNACKED)
            counts = pipe.execute()
    finally:
        client.close()
    steps = len(REDIS_PRIORITY_STEPS)
    for index, name in enumerate(names):
        report.queues.append(QueueLength(name, sum(counts[index * steps:(index + 1) * steps])))
    report.unacked = int(counts[-1])


def _engine(url: str) -> Engine:
    if url not in _engines:
        _engines[url] = create_engine(url, connect_args={"timeout": TIMEOUT} if url.startswith("sqlite") else {})
    return _engines[url]


def _sqlalchemy(url: str, names: list[str], report: BrokerReport) -> None:
    engine = _engine(url)
    with engine.connect() as conn:
        if not inspect(conn).has_table("kombu_message"):  # nothing was ever sent through it
            report.queues = [QueueLength(name, 0, 0) for name in names]
            report.unacked = 0
            return
        rows = conn.execute(text(
            "SELECT q.name, m.visible, COUNT(m.id) FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id "
            "GROUP BY q.name, m.visible")).all()
    counts: dict[str, list[int]] = {}
    for name, visible, count in rows:
        counts.setdefault(name, [0, 0])[0 if visible else 1] += int(count)
    for name in [*names, *sorted(set(counts) - set(names))]:
        if name.endswith(".pidbox") or name.startswith("celeryev."):
            continue  # control and event queues, not work
        waiting, taken = counts.get(name, [0, 0])
        report.queues.append(QueueLength(name, waiting, taken))
    report.unacked = sum(q.taken or 0 for q in report.queues)


def broker_report(celery: Celery) -> BrokerReport:
    """The length of each queue on the broker in use; an unreachable broker is reported, never raised."""
    url = str(celery.conf.broker_url or "")
    names = queue_names(celery)
    scheme = url.split("://", 1)[0]
    if scheme in ("redis", "rediss"):
        report = BrokerReport("redis", maybe_sanitize_url(url))
        action: Any = _redis
    elif scheme.startswith("sqla+"):
        url = url[len("sqla+"):]
        report = BrokerReport("embedded (SQLite)" if url.startswith("sqlite") else "SQLAlchemy",
                              maybe_sanitize_url(url))
        action = _sqlalchemy
    elif scheme == "memory":
        return BrokerReport("in-process", url, error="tasks run inside the web process; there is no queue")
    else:
        return BrokerReport(scheme or "none", maybe_sanitize_url(url), error="queue lengths are not read from this "
                                                                             "broker")
    try:
        action(url, names, report)
    except Exception as exc:  # the page still shows, with the reason
        report.queues, report.unacked = [], None
        report.error = f"the broker did not answer: {type(exc).__name__}: {str(exc)[:200]}"
    return report


@dataclass
class WorkersReport:
    names: list[str]
    error: str | None = None


def _broadcasts(celery: Celery) -> bool:
    """Whether the broker's transport delivers to every worker (a fanout exchange): a ping needs it."""
    try:
        with celery.connection_for_read() as conn:  # not connected: the transport class is enough
            return "fanout" in conn.transport.implements.exchange_type
    except Exception:
        return True  # let the ping itself say what is wrong


def workers_online(celery: Celery, timeout: float = TIMEOUT) -> WorkersReport:
    """The workers that answer a control ping within `timeout`; the ping runs in a thread of its own so that a broker
    that does not answer holds the page for `timeout` plus a little at most."""
    if celery.conf.task_always_eager:
        return WorkersReport([], "tasks run inside the web process (eager): there are no workers to ask")
    if str(celery.conf.broker_url or "").startswith("memory://"):
        return WorkersReport([], "the in-process broker reaches no worker")
    if not _broadcasts(celery):
        return WorkersReport([], "this broker carries no broadcast, so workers cannot be pinged through it (the "
                                 "embedded broker): a queue that empties shows a worker at work")
    found: dict[str, Any] = {}

    def ping() -> None:
        try:
            found["replies"] = celery.control.ping(timeout=timeout)
        except Exception as exc:
            found["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"

    thread = threading.Thread(target=ping, name="ops-worker-ping", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if thread.is_alive():
        return WorkersReport([], "the broker did not answer in time")
    if "error" in found:
        return WorkersReport([], f"the ping failed: {found['error']}")
    names = sorted(name for reply in found.get("replies") or [] for name in reply)
    return WorkersReport(names)
