"""`GET /metrics`: the Prometheus text format of this process's metrics (app/core/metrics.py; every web worker's
under gunicorn) and of figures read from the database at scrape time: the webhook inbox's backlog, pending KYC
cases and payouts, each beat job's last run, the tasks that failed for good.

Who may scrape: with METRICS_TOKEN set, only a request bearing it (`Authorization: Bearer ...`, compared in
constant time); production refuses to start without it (app/config.py). Without it (development, tests) only a
peer on the loopback interface: the address of the connection itself, never X-Forwarded-For. No session, no CSRF,
no rate limit, as for the health probes."""
from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from app.core.db import discard, utcnow
from app.core.metrics import exposition, registry
from app.extensions import csrf, db, limiter
from app.kyc import services as kyc
from app.ops.models import OPEN as FAILED_TASK_OPEN
from app.ops.models import BeatJob, FailedTask
from app.payments import services as payments
from app.payouts import services as payouts
from app.payouts.models import PAYOUT_OPEN

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)


# what the database says at scrape time, through each domain's services ------------------------------------------------
def _inbox() -> Iterator[Metric]:
    count, oldest = payments.backlog()
    yield GaugeMetricFamily("freehold_webhook_inbox_backlog", "Gateway events stored and not processed yet "
                            "(received, processing or failed)", value=count)
    age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
    yield GaugeMetricFamily("freehold_webhook_inbox_oldest_age_seconds", "Age of the oldest unprocessed gateway "
                            "event (0 when none waits)", value=age)


def _kyc() -> Iterator[Metric]:
    yield GaugeMetricFamily("freehold_kyc_pending_cases", "KYC submissions waiting for a review decision",
                            value=kyc.queue_counts()["pending"])


def _payouts() -> Iterator[Metric]:
    counts = payouts.queue_counts()  # what the payout console's queue shows
    family = GaugeMetricFamily("freehold_payouts_pending", "Payouts not yet resolved: `requested` waits for "
                               "approval, `approved` for the money to leave", labels=["status"])
    for status in PAYOUT_OPEN:
        family.add_metric([status], counts[status])
    yield family


def _beat_jobs() -> Iterator[Metric]:
    names = sorted(current_app.extensions["celery"].conf.beat_schedule or {})
    rows = {job.name: job for job in db.session.scalars(select(BeatJob).where(BeatJob.name.in_(names)))}
    started = GaugeMetricFamily("freehold_beat_job_last_run_timestamp_seconds", "When each beat job last started "
                                "(Unix time; 0: never)", labels=["job"])
    succeeded = GaugeMetricFamily("freehold_beat_job_last_success_timestamp_seconds", "When each beat job last "
                                  "finished without error (Unix time; 0: never)", labels=["job"])
    duration = GaugeMetricFamily("freehold_beat_job_last_duration_seconds", "How long each beat job's latest "
                                 "finished run took (0: never ran)", labels=["job"])
    for name in names:
        job = rows.get(name)
        started.add_metric([name], _timestamp(job.last_started_at) if job else 0.0)
        succeeded.add_metric([name], _timestamp(job.last_ok_at) if job else 0.0)
        duration.add_metric([name], (job.last_duration_ms or 0) / 1000 if job else 0.0)
    yield from (started, succeeded, duration)


def _failed_tasks() -> Iterator[Metric]:
    count = db.session.scalar(select(func.count(FailedTask.id)).where(FailedTask.status == FAILED_TASK_OPEN))
    yield GaugeMetricFamily("freehold_failed_tasks_open", "Tasks that failed for good and wait for Retry or Discard",
                            value=count or 0)


def _timestamp(moment: Any) -> float:
    return moment.timestamp() if moment is not None else 0.0


READINGS: tuple[Callable[[], Iterator[Metric]], ...] = (_inbox, _kyc, _payouts, _beat_jobs, _failed_tasks)


class DatabaseCollector:
    """Each reading is a cheap query (counts on indexed columns, a few rows); one that fails is logged and left
    out, and the rest of the page is served."""

    def collect(self) -> Iterator[Metric]:
        for reading in READINGS:
            try:
                metrics = list(reading())
            except Exception:
                log.exception("metrics: %s failed", reading.__name__.lstrip("_"))
                discard()  # a failed statement ends the transaction; the next reading starts a new one
                continue
            yield from metrics
        discard()  # read only: hand the connection back


# the endpoint ------------------------------------------------------------------------------------------------------
def _direct_peer() -> str:
    """The address of the connection itself: before ProxyFix rewrote it from X-Forwarded-For (TRUSTED_PROXIES)."""
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    return str(original.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or "")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refusal() -> Response | None:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), str(token).encode()):
            return None
        return Response("unauthorized\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": "Bearer"})
    if current_app.config.get("CONFIG_NAME") != "production" and _is_loopback(_direct_peer()):
        return None
    return Response("forbidden\n", status=403, mimetype="text/plain")


@bp.get("/metrics")
@limiter.exempt
def metrics() -> Response:
    refused = _refusal()
    if refused is not None:
        return refused
    database = CollectorRegistry()
    database.register(DatabaseCollector())
    response = Response(exposition([registry(), database]), mimetype=None, content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


csrf.exempt(bp)
