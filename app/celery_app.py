"""Celery bound to the Flask app: every task runs inside an application context."""
from __future__ import annotations

import kombu.transport.sqlalchemy
from celery import Celery, Task
from flask import Flask, has_app_context

from app.core.logs import init_celery as init_celery_logging
from app.core.metrics import init_celery_metrics
from app.ops.recording import record_task_runs
from app.ops.worker import install as install_ops_watch
from app.tasks import BEAT_SCHEDULE  # importing it registers every task module with the worker

# the embedded (SQLite) broker polls; keep the latency of `make dev` low
kombu.transport.sqlalchemy.Transport.polling_interval = 0.2


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            if has_app_context():  # eager task inside a request or a test: reuse its context and session
                return self.run(*args, **kwargs)
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_always_eager=app.config.get("CELERY_TASK_ALWAYS_EAGER", False),
        task_eager_propagates=True,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=dict(app.config.get("CELERY_BEAT_SCHEDULE") or {}),
        broker_transport_options={"visibility_timeout": 3600} if app.config.get("REDIS_URL") else {},
        # task events, so that a monitor (Flower, `celery events`) can follow the workers: docs/operations.md
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    for name, entry in BEAT_SCHEDULE.items():
        celery.conf.beat_schedule.setdefault(name, entry)
    init_celery_metrics(celery, app.config)
    record_task_runs(celery, app)  # beat jobs' runs and tasks that failed for good (app/ops)
    install_ops_watch(app, celery)  # every worker runs the alert checks on its own timer
    init_celery_logging()  # worker and beat keep the app's logging; task lines carry the task and its request
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
