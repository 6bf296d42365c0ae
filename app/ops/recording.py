"""What the workers record about their own running, from Celery's signals: each beat job's latest run (BeatJob),
and each task that failed for good (FailedTask).

Every record is written in a short transaction of its own, in an application context of its own (so a session of
its own): the task's transaction may have rolled back, and a record must never commit half of a task's work.
Recording never breaks or holds up a task: any error is logged and dropped. It works for eager tasks too."""
from __future__ import annotations

import logging
import sys
import threading
import time
import traceback as tb
from collections.abc import Callable, Mapping
from typing import Any

from celery import Celery, signals
from celery.exceptions import Ignore, Reject, Retry
from celery.states import FAILURE, RETRY, SUCCESS
from flask import Flask
from sqlalchemy import select

from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.ops.models import FAILED, OK, RUNNING, BeatJob, FailedTask
from app.ops.scrub import scrub, scrub_text, summary, to_json

log = logging.getLogger(__name__)

MAX_ERROR = 2000
MAX_TRACEBACK = 20000


def beat_entries_by_task(schedule: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """task name -> the names of the schedule entries that run it."""
    found: dict[str, list[str]] = {}
    for name, entry in schedule.items():
        task = entry.get("task")
        if task:
            found.setdefault(task, []).append(name)
    return found


def error_text(exc: BaseException | object) -> str:
    text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    return scrub_text(text)[:MAX_ERROR]


class Recorder:
    """Receivers of Celery's task signals for one Celery app (signals are process-wide: others are ignored)."""

    def __init__(self, celery: Celery, app: Flask):
        self.celery = celery
        self.app = app
        self.beat = beat_entries_by_task(celery.conf.beat_schedule or {})
        self._started: dict[str, float] = {}  # task id -> monotonic start, for the duration
        self._lock = threading.Lock()

    def connect(self) -> None:
        # weak references to bound methods: the receivers go with this recorder (kept by the Celery app)
        signals.task_prerun.connect(self.on_prerun)
        signals.task_postrun.connect(self.on_postrun)
        signals.task_failure.connect(self.on_failure)

    def _ours(self, task: Any) -> bool:
        return getattr(task, "app", None) is self.celery

    def _write(self, what: str, func: Callable[[], None]) -> None:
        try:
            with self.app.app_context(), unit_of_work():
                func()
        except Exception:
            log.exception("could not record %s", what)

    # beat jobs -----------------------------------------------------------------------------------------------------
    def _jobs(self, names: list[str], task_name: str) -> list[BeatJob]:
        rows = {job.name: job for job in db.session.scalars(select(BeatJob).where(BeatJob.name.in_(names)))}
        for name in names:
            if name not in rows:
                rows[name] = BeatJob(name=name, task=task_name)
                db.session.add(rows[name])
        return [rows[name] for name in names]

    def on_prerun(self, sender=None, task_id=None, task=None, **_: Any) -> None:
        task = task or sender
        if not self._ours(task) or task.name not in self.beat:
            return
        with self._lock:
            self._started[task_id] = time.monotonic()
        names = self.beat[task.name]

        def write() -> None:
            now = utcnow()
            for job in self._jobs(names, task.name):
                job.task = task.name
                job.last_started_at = now
                job.last_status = RUNNING

        self._write(f"the start of {task.name}", write)

    def on_postrun(self, sender=None, task_id=None, task=None, args=None, kwargs=None, retval=None, state=None,
                   **_: Any) -> None:
        task = task or sender
        if not self._ours(task):
            return
        if state is None:
            # an eager task whose error propagates to its caller (task_eager_propagates): Celery sends neither
            # task_failure nor a state, but the error is in flight here
            error = sys.exc_info()[1]
            if error is None or isinstance(error, (Retry, Ignore, Reject)):
                return
            state, retval = FAILURE, error
            self._failed(task, task_id, error, args, kwargs, None)
        if task.name not in self.beat:
            return
        with self._lock:
            started = self._started.pop(task_id, None)
        duration = None if started is None else int((time.monotonic() - started) * 1000)
        names = self.beat[task.name]

        def write() -> None:
            now = utcnow()
            for job in self._jobs(names, task.name):
                if state == SUCCESS:
                    job.last_status = OK
                    job.last_ok_at = now
                    job.last_result = summary(retval)
                    job.last_error = None
                elif state == RETRY:  # the run goes on later: still running, and why it waits
                    job.last_status = RUNNING
                    job.last_error = f"retrying: {error_text(retval)}"[:MAX_ERROR]
                    continue
                elif state == FAILURE:
                    job.last_status = FAILED
                    job.last_error = error_text(retval)
                    job.last_result = None
                else:
                    continue  # rejected or ignored: not a run
                job.last_finished_at = now
                job.last_duration_ms = duration

        self._write(f"the end of {task.name}", write)

    # failed tasks --------------------------------------------------------------------------------------------------
    def on_failure(self, sender=None, task_id=None, exception=None, args=None, kwargs=None, einfo=None,
                   **_: Any) -> None:
        """task_failure: a failure Celery does not retry (a retry is task_retry)."""
        if self._ours(sender):
            self._failed(sender, task_id, exception, args, kwargs, einfo)

    def _failed(self, task: Any, task_id: str | None, exception: Any, args: Any, kwargs: Any, einfo: Any) -> None:
        if not task_id:
            return
        request = getattr(task, "request", None)
        attempts = int(getattr(request, "retries", 0) or 0) + 1
        args = list(args or ())
        kwargs = dict(kwargs or {})
        trace = getattr(einfo, "traceback", None) or (
            "".join(tb.format_exception(exception)) if isinstance(exception, BaseException) else None)
        trace = scrub_text(trace)[-MAX_TRACEBACK:] if trace else None
        exception_text = error_text(exception)
        shown_args, shown_kwargs = to_json(scrub(args)), to_json(scrub(kwargs))
        payload = to_json({"args": args, "kwargs": kwargs})

        def write() -> None:
            now = utcnow()
            row = db.session.scalars(select(FailedTask).where(FailedTask.task_id == task_id)).first()
            if row is None:
                db.session.add(FailedTask(
                    task_id=task_id, task_name=task.name, args=shown_args, kwargs=shown_kwargs, payload=payload,
                    exception=exception_text, traceback=trace, attempts=attempts,
                    first_failed_at=now, last_failed_at=now))
                return
            row.attempts = max(row.attempts + 1, attempts)
            row.last_failed_at = now
            row.exception = exception_text
            row.traceback = trace or row.traceback

        self._write(f"the failure of {task.name}[{task_id}]", write)


def record_task_runs(celery: Celery, app: Flask) -> Recorder:
    """Connect the recording to `celery` (the one call celery_init_app makes)."""
    recorder = Recorder(celery, app)
    recorder.connect()
    celery.ops_recorder = recorder  # keeps the weakly connected receivers alive
    return recorder
