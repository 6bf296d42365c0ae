"""The production web server as gunicorn.conf.py sets it up (gevent workers), and long calls kept off its event
loop (app/core/offload.py). Both run in processes of their own: monkey-patching is for the whole process."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import stripe
from sqlalchemy import select

from app.extensions import db
from app.payments.models import WebhookInbox
from tests.conftest import TEST_FERNET_KEYS

ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_with_the_repository_settings_serves_pages_and_stores_webhooks(app, database_url):
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=database_url, FREEHOLD_CONFIG="testing", STRIPE_SECRET_KEY="sk_test_server",
               STRIPE_WEBHOOK_SECRET="whsec_server", FIELD_ENCRYPTION_KEYS=",".join(TEST_FERNET_KEYS),
               WEB_CONCURRENCY="1", PYTHONPATH=str(ROOT))
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--bind",
                               f"127.0.0.1:{port}", "--log-level", "warning"], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                health = conn.getresponse()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert health.status == 200 and json.loads(health.read()) == {"status": "ok"}
        conn.request("GET", "/login")  # a page through the whole stack (session, CSRF, templates)
        page = conn.getresponse()
        assert page.status == 200 and b"<form" in page.read()

        body = json.dumps({"id": "evt_server_1", "type": "checkout.session.completed",
                           "data": {"object": {"id": "cs_test_server", "object": "checkout.session"}}})
        headers = {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body, "whsec_server"),
                   "Content-Type": "application/json"}
        answers = []
        for _ in range(2):
            conn.request("POST", "/webhooks/stripe", body=body, headers=headers)
            response = conn.getresponse()
            answers.append((response.status, json.loads(response.read())["data"]["duplicate"]))
        assert answers == [(200, False), (200, True)]
        conn.close()
        worker = subprocess.run(["ps", "-o", "args=", "--ppid", str(server.pid)], capture_output=True, text=True)
        assert "gunicorn" in worker.stdout
    finally:
        server.terminate()
        server.wait(20)
    db.session.rollback()
    row = db.session.scalar(select(WebhookInbox).where(WebhookInbox.event_id == "evt_server_1"))
    assert row is not None and row.reference == "cs_test_server"
    from gunicorn.config import Config

    settings = Config()
    settings.set("worker_class", "gevent")  # what gunicorn.conf.py asks for, and gunicorn can load
    assert settings.worker_class.__name__ == "GeventWorker"


def test_a_password_hash_in_a_gevent_process_leaves_other_requests_running():
    script = textwrap.dedent("""
        from gevent import monkey
        monkey.patch_all()
        import json, time
        import gevent
        from app import create_app
        from app.auth import passwords

        app = create_app({"CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://", "ARGON2_TIME_COST": 4,
                          "ARGON2_MEMORY_COST": 65536, "ARGON2_PARALLELISM": 1})
        ticks = []

        def other_request():
            while True:
                ticks.append(time.monotonic())
                gevent.sleep(0.001)

        gevent.spawn(other_request)
        gevent.sleep(0.01)
        with app.app_context():
            started, before = time.monotonic(), len(ticks)
            hashed = passwords.hash_password("a long and unusual passphrase")
            took, during = time.monotonic() - started, len(ticks) - before
            ok = passwords.verify(hashed, "a long and unusual passphrase")
            wrong = passwords.verify(hashed, "not the passphrase at all")
        print(json.dumps({"took": took, "during": during, "ok": ok, "wrong": wrong}))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["wrong"] is False
    assert result["took"] > 0.02  # a real hash, long enough to matter
    # the other greenlet kept running while the hash was computed (one tick a millisecond or so, had it been
    # blocked there would be none)
    assert result["during"] >= max(3, result["took"] / 0.001 * 0.2), result
