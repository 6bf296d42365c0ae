"""Queue lengths on the embedded (SQLite) broker and on Redis, and what the page says when no worker answers."""
from __future__ import annotations

import os
import uuid

import pytest
from celery import Celery

from app.ops.queues import broker_report, workers_online


def broker_app(url: str, queue: str = "celery") -> Celery:
    celery = Celery("ops-queue-test", broker=url, set_as_current=False)
    celery.conf.update(task_default_queue=queue, broker_connection_retry=False, broker_connection_max_retries=0)
    return celery


def test_queue_length_on_the_embedded_broker(tmp_path):
    celery = broker_app(f"sqla+sqlite:///{tmp_path}/broker.sqlite")
    report = broker_report(celery)
    assert report.kind == "embedded (SQLite)" and report.error is None
    assert [(q.name, q.waiting) for q in report.queues] == [("celery", 0)]  # no table yet: nothing sent
    for number in range(3):
        celery.send_task("tests.ops.nothing", args=[number])
    report = broker_report(celery)
    assert [(q.name, q.waiting, q.taken) for q in report.queues] == [("celery", 3, 0)] and report.unacked == 0


def test_an_unreachable_broker_is_reported_not_raised():
    report = broker_report(broker_app("redis://127.0.0.1:1/0"))
    assert report.kind == "redis" and report.queues == [] and "did not answer" in report.error


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set: no Redis server to count on")
def test_queue_length_on_redis():
    import redis

    queue = f"ops-test-{uuid.uuid4().hex[:8]}"
    url = os.environ["REDIS_URL"]
    celery = broker_app(url, queue)
    client = redis.Redis.from_url(url)
    try:
        for number in range(4):
            celery.send_task("tests.ops.nothing", args=[number])
        celery.send_task("tests.ops.nothing", priority=9)  # kombu keeps another list per priority step
        report = broker_report(celery)
        assert report.kind == "redis" and report.error is None
        assert [(q.name, q.waiting) for q in report.queues] == [(queue, 5)]
        assert isinstance(report.unacked, int)
        assert "password" not in report.location
    finally:
        client.delete(queue, *[f"{queue}\x06\x16{step}" for step in (3, 6, 9)])
        client.close()


def test_workers_are_asked_with_a_short_timeout(tmp_path):
    celery = broker_app("redis://127.0.0.1:1/0")
    report = workers_online(celery, timeout=0.2)
    assert report.names == [] and report.error


def test_the_embedded_broker_says_workers_cannot_be_pinged(tmp_path):
    report = workers_online(broker_app(f"sqla+sqlite:///{tmp_path}/broker.sqlite"), timeout=5)
    assert report.names == [] and "cannot be pinged" in report.error


def test_the_page_names_the_broker(app, client, make_user, login):
    login(make_user(role="admin"))
    html = client.get("/admin/ops/").get_data(as_text=True)
    assert 'data-testid="broker">Broker: <strong>in-process</strong>' in html
    assert "there are no workers to ask" in html
