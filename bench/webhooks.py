"""Webhook throughput: signed Stripe events accepted per second by gunicorn (2 workers) on PostgreSQL, next to a
static 200 endpoint on the same server (the ratio is the figure); then events fully processed per second by one
worker process (each re-reads the payment from a local Stripe fake over HTTP and credits once).

Needs PostgreSQL (DATABASE_URL); uses Redis as the broker when REDIS_URL is set.

    DATABASE_URL=postgresql://... REDIS_URL=redis://... .venv/bin/python bench/webhooks.py

Targets: acceptance >= 50 % of the static endpoint; processing >= 200 events/s."""
from __future__ import annotations

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
MIN_ACCEPT_RATIO = 0.50
MIN_PROCESSED_PER_SECOND = 200


def hammer(port: int, path: str, bodies: list[tuple[bytes, dict]] | None) -> float:
    """Requests per second from CLIENTS keep-alive connections."""
    per_client = REQUESTS // CLIENTS
    errors = []

    def client(index: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(per_client):
            if bodies:
                body, headers = bodies[(index * per_client + n) % len(bodies)]
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
    return per_client * CLIENTS / elapsed


def main() -> int:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from app.config import normalize_database_url
    from tests.fakes.stripe_api import FakeStripe

    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith(("postgres", "postgresql")):
        print("bench/webhooks.py needs DATABASE_URL pointing at PostgreSQL")
        return 2
    base = make_url(normalize_database_url(server_url))
    name = f"freehold_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = base.set(database=name).render_as_string(hide_password=False)
    fake = FakeStripe().start()
    env = dict(os.environ, DATABASE_URL=db_url, STRIPE_SECRET_KEY=fake.secret_key,
               STRIPE_WEBHOOK_SECRET=fake.webhook_secret, STRIPE_API_BASE=fake.url, FREEHOLD_CONFIG="development")
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
                                           "STRIPE_API_BASE")})
    gunicorn = None
    try:
        from app import create_app

        app = create_app({"CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": db_url, "STRIPE_SECRET_KEY": fake.secret_key,
                          "STRIPE_WEBHOOK_SECRET": fake.webhook_secret, "STRIPE_API_BASE": fake.url,
                          "CELERY_TASK_ALWAYS_EAGER": False, "CELERY_BROKER_URL": "memory://"})
        with app.app_context():
            from flask_migrate import upgrade

            from app.auth import services as auth
            from app.core.money import Money
            from app.extensions import db
            from app.payments import services as payments

            upgrade(directory=str(ROOT / "migrations"))
            user = auth.create_user("bench@example.com", "bench-password-123", verified=True)
            db.session.commit()
            deposits = []
            for _ in range(PROCESS):
                deposit = payments.start_deposit(user, Money.parse("100.00", "USD"), "stripe")
                db.session.commit()
                payments.open_payment(deposit, success_url="http://x/{CHECKOUT_SESSION_ID}", cancel_url="http://x")
                db.session.commit()
                fake.complete_session(deposit.gateway_reference)
                deposits.append(deposit.gateway_reference)

        port = 18000 + os.getpid() % 1000
        # 2 workers with 8 threads each: PostgreSQL then groups the commits' WAL flushes
        gunicorn = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "wsgi:app", "--workers", "2",
                                     "--worker-class", "gthread", "--threads", "8", "--bind",
                                     f"127.0.0.1:{port}", "--log-level", "warning"], cwd=ROOT, env=env)
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        hammer(port, "/healthz", None)  # warm up
        static = hammer(port, "/healthz", None)
        events = []
        for n in range(REQUESTS):
            body = fake.event("checkout.session.completed", deposits[n % len(deposits)])
            events.append((body, {"Stripe-Signature": fake.sign(body), "Content-Type": "application/json"}))
        accepted = hammer(port, "/webhooks/stripe", events)

        with app.app_context():
            from sqlalchemy import select

            from app.payments.models import WebhookInbox
            from app.payments.tasks import process_webhook

            ids = list(db.session.scalars(select(WebhookInbox.id).order_by(WebhookInbox.id).limit(PROCESS)))
            db.session.remove()
            started = time.perf_counter()
            for inbox_id in ids:
                process_webhook.run(inbox_id)
            processing_rate = len(ids) / (time.perf_counter() - started)
            from app.ledger.checks import verify

            report = verify()
            assert report.ok, report.violations
    finally:
        if gunicorn:
            gunicorn.terminate()
            gunicorn.wait(10)
        fake.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    ratio = accepted / static
    print(f"static /healthz: {static:,.0f} req/s; signed webhooks accepted: {accepted:,.0f} req/s "
          f"(gunicorn, 2 workers x 8 threads, {CLIENTS} clients)")
    print(f"acceptance ratio: {ratio:.2f}  lower bound {MIN_ACCEPT_RATIO:.2f}  figure/bound {ratio / MIN_ACCEPT_RATIO:.2f}")
    print(f"processed by one worker: {processing_rate:,.0f} events/s  lower bound {MIN_PROCESSED_PER_SECOND}  "
          f"ratio {processing_rate / MIN_PROCESSED_PER_SECOND:.2f}")
    print(f"ledger ok: {report.entries} entries after {len(ids)} events for {len(deposits)} deposits")
    return 0 if ratio >= MIN_ACCEPT_RATIO and processing_rate >= MIN_PROCESSED_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
