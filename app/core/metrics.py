"""The platform's own Prometheus metrics: how long requests take, what the Celery tasks do, how returns runs and the
ledger and audit proofs went. Every name starts with `freehold_`; docs/operations.md lists them ("Metrics"), and
alert rules are written on those names, so they do not change.

One process or many: prometheus_client keeps each metric in this process unless PROMETHEUS_MULTIPROC_DIR is set
before it is first imported (gunicorn.conf.py sets it for the web workers; a Celery worker's operator sets it for a
prefork pool). Then every process writes its samples to files in that folder and a scrape adds them up
(`registry()`). Gauges say how their values from several processes combine (`multiprocess_mode`).

The figures read from the database at scrape time (backlogs, beat jobs) are app/ops/metrics.py's; this module
knows no domain."""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from celery import Celery, signals, states
from celery.exceptions import Retry
from flask import Flask, Response, g, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    start_http_server,
)

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# no `_created` series beside each counter and histogram: Prometheus does not need them
disable_created_metrics()  # type: ignore[no-untyped-call]
NO_ROUTE = "<no route>"  # a request no route matched (a 404): its path is never a label
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_DURATION = Histogram(
    "freehold_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern, method and status "
    "class", ["endpoint", "method", "status"])

CELERY_TASKS = Counter(
    "freehold_celery_tasks_total", "Celery task runs by task name and outcome (succeeded, failed, retried)",
    ["task", "outcome"])
CELERY_TASK_DURATION = Histogram(
    "freehold_celery_task_duration_seconds", "Time a Celery task ran, by task name", ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, float("inf")))

DISTRIBUTION_RUN_DURATION = Histogram(
    "freehold_distribution_run_duration_seconds", "Time a returns distribution run took, by its outcome", ["status"],
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, float("inf")))
DISTRIBUTION_PAYMENTS = Counter(
    "freehold_distribution_payments_total", "Return payments made by distribution runs")

# A figure a process reports about the latest proof it ran: the newest write wins, and it stays after that process
# ends (a Celery child replaced after its tasks, a `flask audit verify` that exited). Timestamps: the latest.
LEDGER_VERIFY_VIOLATIONS = Gauge(
    "freehold_ledger_verify_violations", "Ledger invariants broken at the latest `ledger.verify` run",
    multiprocess_mode="mostrecent")
LEDGER_VERIFY_LAST_RUN = Gauge(
    "freehold_ledger_verify_last_run_timestamp_seconds", "When `ledger.verify` last finished (Unix time)",
    multiprocess_mode="max")
AUDIT_VERIFY_OK = Gauge(
    "freehold_audit_verify_ok", "1 when the latest audit chain verification found the chain intact, else 0",
    multiprocess_mode="mostrecent")
AUDIT_VERIFY_LAST_RUN = Gauge(
    "freehold_audit_verify_last_run_timestamp_seconds", "When the audit chain was last verified (Unix time)",
    multiprocess_mode="max")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def registry() -> CollectorRegistry:
    """What a scrape of this process shows: its own metrics, or, in multiprocess mode, every process's together."""
    folder = multiprocess_dir()
    if folder is None:
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined, path=folder)  # type: ignore[no-untyped-call]
    return combined


# proofs and runs ---------------------------------------------------------------------------------------------------
def record_ledger_verify(violations: int) -> None:
    LEDGER_VERIFY_VIOLATIONS.set(violations)
    LEDGER_VERIFY_LAST_RUN.set(time.time())


def record_audit_verify(ok: bool) -> None:
    """Where the audit chain is verified (the command, a scheduled task): its outcome and when."""
    AUDIT_VERIFY_OK.set(1 if ok else 0)
    AUDIT_VERIFY_LAST_RUN.set(time.time())


def record_distribution_run(status: str, seconds: float, payments: int) -> None:
    DISTRIBUTION_RUN_DURATION.labels(status=status).observe(max(0.0, seconds))
    if payments > 0:
        DISTRIBUTION_PAYMENTS.inc(payments)


# requests ----------------------------------------------------------------------------------------------------------
_STARTED = "_metrics_started"


def _start_timer() -> None:
    setattr(g, _STARTED, time.perf_counter())


def _observe_request(response: Response) -> Response:
    started = g.get(_STARTED)
    if started is not None:
        endpoint = request.url_rule.rule if request.url_rule is not None else NO_ROUTE
        method = request.method if request.method in METHODS else "other"  # a client may send any word
        REQUEST_DURATION.labels(endpoint=endpoint, method=method,
                                status=f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
    return response


def init_request_metrics(app: Flask) -> None:
    """Time every request from the first before-request function to the response. Registered first, so the timer
    starts before sessions, sign-in, CSRF and rate limits run (the perimeter's Host check stays ahead of all)."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_observe_request)


# Celery ------------------------------------------------------------------------------------------------------------
_task_started: dict[str, float] = {}
_task_started_lock = threading.Lock()
_worker: dict[str, Any] = {"port": None, "addr": "0.0.0.0", "server": None}  # noqa: S104 - scraped from outside


def _task_name(sender: Any, task: Any = None) -> str:
    named = task if task is not None else sender
    return str(getattr(named, "name", None) or named or "unknown")


def _on_prerun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    if task_id:
        with _task_started_lock:
            _task_started[task_id] = time.perf_counter()


def _outcome(state: str | None) -> str | None:
    """succeeded, failed or retried; None for a run that was revoked, ignored or rejected. A task run eagerly whose
    error propagates to its caller (tests, `task_eager_propagates`) ends with no state: its error is in flight."""
    if state == states.SUCCESS:
        return "succeeded"
    if state == states.RETRY:
        return "retried"
    if state == states.FAILURE:
        return "failed"
    if state is None:
        error = sys.exc_info()[1]
        if isinstance(error, Retry):
            return "retried"
        if error is not None:
            return "failed"
    return None


def _on_postrun(sender: Any = None, task_id: str | None = None, task: Any = None, state: str | None = None,
                **_: Any) -> None:
    """Sent after every run, in the worker and eagerly alike (Celery sends no failure signal for an eager run
    whose error propagates): the run's time and outcome."""
    with _task_started_lock:
        started = _task_started.pop(task_id, None) if task_id else None
    name = _task_name(sender, task)
    if started is not None:
        CELERY_TASK_DURATION.labels(task=name).observe(time.perf_counter() - started)
    outcome = _outcome(state)
    if outcome is not None:
        CELERY_TASKS.labels(task=name, outcome=outcome).inc()


def start_worker_server(port: int, addr: str = "0.0.0.0") -> Any:  # noqa: S104 - scraped from outside
    """Serve this process's metrics (every pool process's in multiprocess mode) over HTTP in a thread."""
    server, _thread = start_http_server(port, addr=addr, registry=registry())
    _worker["server"] = server
    log.info("worker metrics on %s:%s%s", addr, port, " (multiprocess)" if multiprocess_dir() else "")
    return server


def stop_worker_server() -> None:
    server = _worker.get("server")
    if server is not None:
        server.shutdown()
        server.server_close()
        _worker["server"] = None


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    """The main worker process, once its pool runs: serve the metrics when WORKER_METRICS_PORT is set."""
    port = _worker["port"]
    if port and _worker["server"] is None:
        try:
            start_worker_server(int(port), _worker["addr"])
        except (OSError, ValueError):  # taken, not allowed, or not a port number: the worker runs on without
            log.exception("worker metrics: cannot listen on %s:%s", _worker["addr"], port)


def _on_process_shutdown(pid: int | None = None, **_: Any) -> None:
    """A pool process ends: its live gauges leave the sums (multiprocess mode only)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


_HANDLERS = (
    (signals.task_prerun, _on_prerun), (signals.task_postrun, _on_postrun), (signals.worker_ready, _on_worker_ready),
    (signals.worker_process_shutdown, _on_process_shutdown),
)


def init_celery_metrics(celery: Celery, config: Any) -> None:
    """Count and time every task of every Celery app in this process (Celery's signals are process-wide: connected
    once), and note where a worker serves its metrics (WORKER_METRICS_PORT; off when unset)."""
    _worker["port"] = config.get("WORKER_METRICS_PORT")
    _worker["addr"] = config.get("WORKER_METRICS_ADDR") or "0.0.0.0"  # noqa: S104 - scraped from outside
    for signal, handler in _HANDLERS:
        signal.connect(handler, weak=False, dispatch_uid=f"freehold.metrics.{handler.__name__}")


def exposition(registries: Iterator[CollectorRegistry] | list[CollectorRegistry]) -> bytes:
    """The text format of several registries, one after the other (their metric names never overlap)."""
    return b"".join(generate_latest(one) for one in registries)
