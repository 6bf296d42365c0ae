"""The beat schedule in words, when each job was last due, and which jobs are late.

Late: the job has not started since its schedule's previous due time, and the grace (`OPS_BEAT_GRACE_SECONDS`,
five minutes by default) has passed since that time. For a crontab entry the previous due time is the latest time
it matches, at or before now; for an interval ("every 60 s") it is one interval after the last start. A job never
recorded is not judged: it is watched from its first recorded start (a new entry waits for its first fire, and a
fresh installation has no history); a stopped beat still shows, because the every-minute jobs stop. The jobs page
shows such a job as "never run". The schedule is the Celery app's (the code's BEAT_SCHEDULE with the
configuration's CELERY_BEAT_SCHEDULE on top)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import crontab
from celery.schedules import schedule as interval_schedule
from flask import current_app
from sqlalchemy import select

from app.core.db import utcnow
from app.extensions import db
from app.ops.models import BeatJob

GRACE = timedelta(minutes=5)
# a run that starts a little before its due time (clocks of beat and worker apart) still counts for it
EARLY = timedelta(minutes=1)
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")  # crontab's day_of_week numbers (0 = Sunday)


@dataclass(frozen=True)
class JobStatus:
    """One entry of the beat schedule and what is known of its latest run."""

    name: str
    task: str
    schedule: str  # in words
    due_at: datetime | None  # the schedule's previous due time (None: not known for this kind of schedule)
    late: bool
    job: BeatJob | None  # the latest run's record, None before the first

    @property
    def last_started_at(self) -> datetime | None:
        return self.job.last_started_at if self.job else None


def _seconds(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, interval_schedule) and not isinstance(value, crontab):
        return value.run_every.total_seconds()
    return None


def _every(seconds: float) -> str:
    whole = int(seconds)
    if whole >= 3600 and whole % 3600 == 0:
        return f"every {whole // 3600} h"
    if whole >= 120 and whole % 60 == 0:
        return f"every {whole // 60} min"
    return f"every {seconds:g} s"


def _full(values: set[int], span: int) -> bool:
    return len(values) >= span


def _hours(hours: list[int]) -> str:
    if len(hours) > 2 and hours == list(range(hours[0], hours[-1] + 1)):
        return f"{hours[0]:02d}–{hours[-1]:02d}"
    return ", ".join(f"{h:02d}" for h in hours)


def describe(value: Any) -> str:
    """A schedule in words: "every 60 s", "daily at 02:30 UTC", "hourly at :05", ..."""
    seconds = _seconds(value)
    if seconds is not None:
        return _every(seconds)
    if not isinstance(value, crontab):
        return str(value)
    minutes, hours = sorted(value.minute), sorted(value.hour)
    days = "" if _full(value.day_of_week, 7) else " on " + ", ".join(_DAYS[d] for d in sorted(value.day_of_week))
    if not _full(value.day_of_month, 31) or not _full(value.month_of_year, 12):
        return (f"cron {value._orig_minute} {value._orig_hour} {value._orig_day_of_month} "
                f"{value._orig_month_of_year} {value._orig_day_of_week} UTC")
    if len(minutes) == 1:
        if _full(value.hour, 24):
            return f"hourly at :{minutes[0]:02d}{days}"
        if len(hours) == 1:
            return f"{'daily' if not days else 'weekly'} at {hours[0]:02d}:{minutes[0]:02d} UTC{days}"
        return f"hourly at :{minutes[0]:02d} during hours {_hours(hours)} UTC{days}"
    if _full(value.minute, 60) and _full(value.hour, 24):
        return f"every minute{days}"
    return f"at minutes {', '.join(f'{m:02d}' for m in minutes)} of hours {_hours(hours)} UTC{days}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def previous_due(value: Any, now: datetime) -> datetime | None:
    """The latest time at or before `now` (UTC) when the schedule was due; None when not known."""
    now = _utc(now)
    seconds = _seconds(value)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    if not isinstance(value, crontab):
        return None
    now = now.replace(second=0, microsecond=0)
    minutes = sorted(value.minute, reverse=True)
    hours = sorted(value.hour, reverse=True)
    day = now
    for back in range(0, 370 * 4 + 1):  # four years: any day of month / month combination that exists
        day = now - timedelta(days=back)
        if (day.day not in value.day_of_month or day.month not in value.month_of_year
                or (day.weekday() + 1) % 7 not in value.day_of_week):
            continue
        for hour in hours:
            if back == 0 and hour > now.hour:
                continue
            for minute in minutes:
                due = day.replace(hour=hour, minute=minute)
                if due <= now:
                    return due
    return None


def previous_fire(cron: crontab, now: datetime) -> datetime | None:
    """The latest time at or before `now` (UTC) that a crontab entry fires."""
    return previous_due(cron, now)


def grace() -> timedelta:
    seconds = current_app.config.get("OPS_BEAT_GRACE_SECONDS")
    return timedelta(seconds=int(seconds)) if seconds is not None else GRACE


def _due_and_late(value: Any, job: BeatJob | None, now: datetime, late_after: timedelta
                  ) -> tuple[datetime | None, bool]:
    started = _utc(job.last_started_at) if job and job.last_started_at else None
    seconds = _seconds(value)
    if seconds is not None:  # an interval: the next run was due one interval after the last start
        next_due = started + timedelta(seconds=seconds) if started else now - timedelta(seconds=seconds)
        return next_due, started is not None and now >= next_due + late_after
    due = previous_due(value, now)
    if due is None or now < due + late_after:
        return due, False
    return due, started is not None and started < due - EARLY


def beat_schedule() -> Mapping[str, Mapping[str, Any]]:
    return current_app.extensions["celery"].conf.beat_schedule or {}


def job_statuses(now: datetime | None = None, schedule: Mapping[str, Mapping[str, Any]] | None = None) -> list[JobStatus]:
    """Every entry of the beat schedule, in its order, with its latest run and whether it is late."""
    schedule = beat_schedule() if schedule is None else schedule
    now = _utc(now or utcnow())
    late_after = grace()
    jobs = {job.name: job for job in db.session.scalars(select(BeatJob))}
    found = []
    for name, entry in schedule.items():
        value = entry.get("schedule")
        job = jobs.get(name)
        due, late = _due_and_late(value, job, now, late_after)
        found.append(JobStatus(name=name, task=str(entry.get("task", "")), schedule=describe(value), due_at=due,
                               late=late, job=job))
    return found


def overdue_jobs(now: datetime | None = None, schedule: Mapping[str, Mapping[str, Any]] | None = None) -> list[JobStatus]:
    """The beat jobs that are late at `now` (see the module's rule); each has .name, .task, .due_at and
    .last_started_at."""
    return [status for status in job_statuses(now, schedule) if status.late]
