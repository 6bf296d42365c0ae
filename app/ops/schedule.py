"""Which beat jobs are late: each entry of the beat schedule (the Celery app's, which holds BEAT_SCHEDULE) against the
last start the workers recorded for it (BeatJob).

- An interval entry (every N seconds) is late when its last start is more than N seconds plus the grace ago.
- A crontab entry is late when it last started before its previous fire time (taken at now less the grace).
- An entry never recorded is not judged: it is watched from its first recorded start (a new entry waits for its
  first fire, and a fresh install has no history); a dead beat still shows, because the every-minute jobs stop.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from celery.schedules import crontab, schedule
from flask import current_app
from sqlalchemy import select

from app.core.db import utcnow
from app.extensions import db
from app.ops.models import BeatJob

DEFAULT_GRACE = timedelta(minutes=5)
CLOCK_SLACK = timedelta(seconds=60)  # beat and the recording worker may disagree on the time by this much
LOOK_BACK_DAYS = 400  # the farthest a crontab's previous fire is searched for (a yearly entry)


@dataclass(frozen=True)
class OverdueJob:
    name: str  # the schedule entry's name
    task: str
    due_at: datetime  # when it should have started
    last_started_at: datetime | None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def previous_fire(cron: crontab, now: datetime) -> datetime | None:
    """The latest time at or before `now` (UTC) that the crontab fires, or None within LOOK_BACK_DAYS."""
    now = _utc(now)
    hours = sorted(cron.hour, reverse=True)
    minutes = sorted(cron.minute, reverse=True)
    for back in range(LOOK_BACK_DAYS):
        day: date = now.date() - timedelta(days=back)
        if (day.month not in cron.month_of_year or day.day not in cron.day_of_month
                or day.isoweekday() % 7 not in cron.day_of_week):  # celery counts Sunday as 0
            continue
        for hour in hours:
            for minute in minutes:
                at = datetime.combine(day, time(hour, minute), tzinfo=now.tzinfo)
                if at <= now:
                    return at
    return None


def due_at(entry_schedule, last_started_at: datetime | None, now: datetime, grace: timedelta) -> datetime | None:
    """When an entry last had to start, if that is past its grace and it has not started since; else None."""
    if last_started_at is None:
        return None
    last = _utc(last_started_at)
    if isinstance(entry_schedule, crontab):
        fire = previous_fire(entry_schedule, now - grace)
        if fire is not None and last < fire - CLOCK_SLACK:
            return fire
        return None
    if isinstance(entry_schedule, schedule):  # an interval (a number of seconds in the schedule is one too)
        due = last + entry_schedule.run_every
        return due if now > due + grace else None
    if isinstance(entry_schedule, (int, float, timedelta)):
        every = entry_schedule if isinstance(entry_schedule, timedelta) else timedelta(seconds=entry_schedule)
        due = last + every
        return due if now > due + grace else None
    return None  # other schedules (solar) are not judged


def beat_schedule() -> dict:
    """The schedule beat runs: the Celery app's (BEAT_SCHEDULE with the configuration's additions)."""
    return dict(current_app.extensions["celery"].conf.beat_schedule or {})


def grace() -> timedelta:
    seconds = current_app.config.get("OPS_BEAT_GRACE_SECONDS")
    return timedelta(seconds=int(seconds)) if seconds is not None else DEFAULT_GRACE


def overdue_jobs(now: datetime | None = None) -> list[OverdueJob]:
    """The beat jobs that have not started when they should have, by name."""
    now = _utc(now or utcnow())
    late_after = grace()
    starts = {name: started for name, started in db.session.execute(select(BeatJob.name, BeatJob.last_started_at))}
    out = []
    for name, entry in sorted(beat_schedule().items()):
        last = starts.get(name)
        due = due_at(entry.get("schedule"), last, now, late_after)
        if due is not None:
            out.append(OverdueJob(name=name, task=entry.get("task", ""), due_at=due, last_started_at=last))
    return out
