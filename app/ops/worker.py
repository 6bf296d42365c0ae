"""What the operations package adds to every Celery worker, installed by one call from app/celery_app.py:

- the watch: a daemon thread that runs the alert checks every OPS_WATCH_SECONDS (60) inside the Flask app
  context, each check in its own unit of work. Beat cannot watch itself: a dead beat stops `ops.watch` too, so
  every worker runs the checks on its own timer. Errors are logged and never stop the thread or the worker.
  Several workers checking at once open each alert once (see app/ops/alerts.py).
- the verification outcomes: `ledger.verify` lives below this package and cannot report to it, so its result is
  read after each run (Celery's task_postrun signal) and opens or resolves the ledger alert. A returns run's
  outcome is checked right after it too, rather than at the next minute.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery
from celery.signals import task_postrun, worker_ready, worker_shutdown
from flask import Flask, has_app_context

from app.core.db import unit_of_work
from app.ops import checks

log = logging.getLogger(__name__)

LEDGER_VERIFY_TASK = "ledger.verify"
RETURNS_TASK = "investing.distribute_returns"


class Watcher:
    """Runs the checks every `interval` seconds on a daemon thread until stopped."""

    def __init__(self, app: Flask, interval: float):
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0  # completed rounds, for whoever watches the watcher

    def run_once(self) -> dict[str, str]:
        try:
            with self.app.app_context():
                return checks.run_checks()
        except Exception:  # never let a round kill the thread
            log.exception("ops watch round failed")
            return {}
        finally:
            self.runs += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()

    def start(self) -> Watcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="freehold-ops-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _in_app(app: Flask, fn, *args: Any, **kwargs: Any) -> None:
    """Run `fn` inside the app context (the task's own once it has ended: a new one); errors are logged, never
    raised into the worker."""
    try:
        if has_app_context():  # an eager task inside a request or a test
            fn(*args, **kwargs)
            return
        with app.app_context():
            fn(*args, **kwargs)
    except Exception:
        log.exception("recording the outcome of a task for the alerts failed")


def _ledger_verified(retval: dict) -> None:
    with unit_of_work():
        checks.record_ledger_verify(bool(retval.get("ok")), list(retval.get("violations") or []),
                                    entries=int(retval.get("entries") or 0),
                                    accounts=int(retval.get("accounts") or 0))


def after_task(app: Flask, task_name: str | None, retval: Any, state: str | None) -> None:
    """A finished task's outcome, for the alerts that follow it."""
    if task_name == LEDGER_VERIFY_TASK and state == "SUCCESS" and isinstance(retval, dict):
        _in_app(app, _ledger_verified, retval)
    elif task_name == RETURNS_TASK:
        _in_app(app, checks.run_check, checks.CHECK_BY_NAME["returns_run"])


_WATCH: dict[str, Watcher] = {}  # this worker process's watcher


def install(app: Flask, celery: Celery) -> None:
    """Hook the watch and the task outcomes into the worker (once per process: the worker builds one app)."""
    interval = float(app.config.get("OPS_WATCH_SECONDS", 60) or 0)

    def on_ready(sender=None, **_):
        if interval > 0 and "watcher" not in _WATCH:
            _WATCH["watcher"] = Watcher(app, interval).start()
            log.info("ops watch started: the alert checks run every %s s in this worker", interval)

    def on_shutdown(sender=None, **_):
        watcher = _WATCH.pop("watcher", None)
        if watcher is not None:
            watcher.stop()

    def on_postrun(sender=None, task_id=None, task=None, retval=None, state=None, **_):
        name = getattr(task or sender, "name", None)
        if name in (LEDGER_VERIFY_TASK, RETURNS_TASK):
            after_task(app, name, retval, state)

    # strong references (the receivers are closures) and one receiver per process however many apps are built
    worker_ready.connect(on_ready, weak=False, dispatch_uid="freehold.ops.watch.ready")
    worker_shutdown.connect(on_shutdown, weak=False, dispatch_uid="freehold.ops.watch.shutdown")
    task_postrun.connect(on_postrun, weak=False, dispatch_uid="freehold.ops.task_outcomes")
