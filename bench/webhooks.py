"""Webhook throughput, on PostgreSQL with Redis as the broker, the Stripe API fake in a process of its own.

1. Acceptance: signed Stripe events accepted per second by gunicorn (`gunicorn wsgi:app`, so gunicorn.conf.py
   applies; 2 workers) next to the static /healthz of the same server; the ratio is the figure. Each accepted
   event is verified, stored and committed before the 200, as in production. Both paths are warmed up, then
   measured back to back BENCH_ROUNDS (3) times; the round with the median ratio is reported.
2. Processing: events fully processed per second by one worker process (`celery -A app.worker worker
   --pool=solo`): each event is re-read from the gateway (the fake, over HTTP) and its deposit credited once,
   each in its own transaction. Every event is about a different deposit, so every one of them credits. The
   deposits are one investor's (BENCH_INVESTORS spreads them over more), so every credit waits for the same
   wallet row as well as for the one Stripe clearing account. Timed from the drainer's wake-up message to the
   last event processed.

    DATABASE_URL=postgresql://... REDIS_URL=redis://... .venv/bin/python bench/webhooks.py

The broker is REDIS_URL's server, database BENCH_REDIS_DB (11), so that no queue of anyone else's is touched.
Targets: acceptance >= 50 % of the static endpoint; processing >= 200 events/s."""
from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1500"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
PROCESS = int(os.environ.get("BENCH_PROCESS", "600"))
INVESTORS = int(os.environ.get("BENCH_INVESTORS", "1"))  # the deposits are theirs in turn
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "11"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARMUP = 200
MIN_ACCEPT_RATIO = 0.50
MIN_PROCESSED_PER_SECOND = 200


def hammer(port: int, path: str, bodies: list[tuple[bytes, dict]] | None, requests: int = REQUESTS) -> float:
    """Requests per second from CLIENTS keep-alive connections (request n goes out on connection n % CLIENTS)."""
    errors = []

    def client(index: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(index, requests, CLIENTS):
            if bodies:
                body, headers = bodies[n % len(bodies)]
                conn.request("POST", path, body=body, headers=headers)
            else:
                conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} requests to {path} failed: {sorted(set(errors))}")
    return requests / elapsed


def wait_for(check, timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


def main() -> int:
    from sqlalchemy import create_engine, func, select, text
    from sqlalchemy.engine import make_url

    from app.config import normalize_database_url
    from tests.fakes.stripe_api import RemoteFakeStripe

    server_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not server_url.startswith(("postgres", "postgresql")) or not redis_url.startswith("redis"):
        print("bench/webhooks.py needs DATABASE_URL pointing at PostgreSQL and REDIS_URL at Redis")
        return 2
    base = make_url(normalize_database_url(server_url))
    name = f"freehold_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = base.set(database=name).render_as_string(hide_password=False)
    broker_url = make_url(redis_url).set(database=str(REDIS_DB)).render_as_string(hide_password=False)
    fake = RemoteFakeStripe().start()
    env = dict(os.environ, DATABASE_URL=db_url, CELERY_BROKER_URL=broker_url, STRIPE_SECRET_KEY=fake.secret_key,
               STRIPE_WEBHOOK_SECRET=fake.webhook_secret, STRIPE_API_BASE=fake.url, FREEHOLD_CONFIG="development",
               # every event comes from this one address: the per-source limit is still checked, never reached
               WEBHOOK_RATE_LIMIT="100000000/minute")
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "CELERY_BROKER_URL", "STRIPE_SECRET_KEY",
                                           "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE")})
    gunicorn = worker = None
    celery = None
    try:
        from app import create_app

        app = create_app({"CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, "STRIPE_SECRET_KEY": fake.secret_key,
                          "STRIPE_WEBHOOK_SECRET": fake.webhook_secret, "STRIPE_API_BASE": fake.url,
                          "CELERY_TASK_ALWAYS_EAGER": False, "CELERY_BROKER_URL": broker_url})
        celery = app.extensions["celery"]
        with app.app_context():
            from flask_migrate import upgrade

            from app.auth import services as auth
            from app.core.money import Money
            from app.extensions import db
            from app.payments import services as payments
            from app.payments.inbox import wake_key as inbox_wake_key
            from app.payments.models import Deposit, WebhookInbox

            upgrade(directory=str(ROOT / "migrations"))
            wake_key = inbox_wake_key()
            users = [auth.create_user(f"investor{n}@example.com", "bench-password-123", verified=True)
                     for n in range(INVESTORS)]
            db.session.commit()
            deposits = []
            for n in range(PROCESS):
                deposit = payments.start_deposit(users[n % INVESTORS], Money.parse("100.00", "USD"), "stripe")
                db.session.commit()
                payments.open_payment(deposit, success_url="http://x/{CHECKOUT_SESSION_ID}", cancel_url="http://x")
                db.session.commit()
                fake.complete_session(deposit.gateway_reference)
                deposits.append(deposit.gateway_reference)
            db.session.remove()

        def signed(reference: str) -> tuple[bytes, dict]:
            body = fake.event("checkout.session.completed", reference)
            return body, {"Stripe-Signature": fake.sign(body), "Content-Type": "application/json"}

        port = 18000 + os.getpid() % 1000
        gunicorn = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "wsgi:app", "--workers", "2", "--bind",
                                     f"127.0.0.1:{port}", "--log-level", "warning"], cwd=ROOT, env=env)

        def serving() -> bool:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            except OSError:
                return False

        wait_for(serving, 30, "gunicorn", interval=0.2)
        # warm up both paths (a worker imports the gateway's code on its first webhook)
        hammer(port, "/healthz", None)
        hammer(port, "/webhooks/stripe", [signed(deposits[n % len(deposits)]) for n in range(WARMUP)],
               requests=WARMUP)
        rounds = []  # the two endpoints measured back to back, ROUNDS times: the load of a shared machine drifts
        for _ in range(ROUNDS):
            static = hammer(port, "/healthz", None)
            accepted = hammer(port, "/webhooks/stripe",
                              [signed(deposits[n % len(deposits)]) for n in range(REQUESTS)])
            rounds.append((accepted / static, static, accepted))
        ratio, static, accepted = sorted(rounds)[len(rounds) // 2]

        with app.app_context():
            stored = db.session.scalar(select(func.count(WebhookInbox.id)))
            expected = WARMUP + ROUNDS * REQUESTS
            assert stored == expected, f"{stored} of {expected} events stored"
            # processing: a fresh event for each deposit, stored through the same server (not timed)
            db.session.execute(WebhookInbox.__table__.delete())
            db.session.commit()
            hammer(port, "/webhooks/stripe", [signed(reference) for reference in deposits], requests=len(deposits))
            pending = db.session.scalar(select(func.count(WebhookInbox.id)).where(WebhookInbox.status == "received"))
            db.session.remove()
        gunicorn.terminate()
        gunicorn.wait(10)
        gunicorn = None
        celery.control.purge()  # the wake-ups queued so far: the worker starts on an empty queue
        import redis

        redis.Redis.from_url(broker_url).delete(wake_key)
        worker = subprocess.Popen([str(ROOT / ".venv/bin/celery"), "--quiet", "-A", "app.worker", "worker", "--pool=solo",
                                   "--without-gossip", "--without-mingle", "--without-heartbeat",
                                   "--loglevel=WARNING"], cwd=ROOT, env=env)
        wait_for(lambda: bool(celery.control.ping(timeout=0.5)), 60, "the Celery worker", interval=0.1)

        with app.app_context():
            from app.payments.tasks import drain_inbox

            def left() -> int:
                counts = dict(db.session.execute(select(WebhookInbox.status, func.count(WebhookInbox.id))
                                                 .group_by(WebhookInbox.status)).all())
                db.session.rollback()
                if counts.get("failed"):
                    raise SystemExit(f"{counts['failed']} events failed")
                return counts.get("received", 0)

            started = time.perf_counter()
            drain_inbox.apply_async()
            wait_for(lambda: left() == 0, 300, "the events to be processed")
            processing_rate = pending / (time.perf_counter() - started)

            from app.ledger.checks import verify

            report = verify()
            assert report.ok, report.violations
            credited = db.session.scalar(select(func.count(Deposit.id)).where(Deposit.status == "succeeded"))
            assert credited == len(deposits), f"{credited} of {len(deposits)} deposits credited"
            db.session.remove()
    finally:
        for process in (gunicorn, worker):
            if process is not None:
                process.terminate()
                process.wait(10)
        fake.stop()
        if celery is not None:
            with contextlib.suppress(Exception):
                celery.control.purge()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    print("rounds (ratio, /healthz, webhooks): "
          + "; ".join(f"{r:.2f} {s:,.0f} {a:,.0f}" for r, s, a in rounds))
    print(f"static /healthz: {static:,.0f} req/s; signed webhooks accepted: {accepted:,.0f} req/s "
          f"(gunicorn, 2 workers, {CLIENTS} clients; the median of {ROUNDS} rounds)")
    print(f"acceptance ratio: {ratio:.2f}  lower bound {MIN_ACCEPT_RATIO:.2f}  figure/bound {ratio / MIN_ACCEPT_RATIO:.2f}")
    print(f"processed by one worker ({INVESTORS} investor{'s' if INVESTORS > 1 else ''}): "
          f"{processing_rate:,.0f} events/s  "
          f"lower bound {MIN_PROCESSED_PER_SECOND}  "
          f"ratio {processing_rate / MIN_PROCESSED_PER_SECOND:.2f}")
    print(f"ledger ok: {report.entries} entries; {credited} deposits credited once by {pending} events")
    return 0 if ratio >= MIN_ACCEPT_RATIO and processing_rate >= MIN_PROCESSED_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
