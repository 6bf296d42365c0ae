"""The production web server as gunicorn.conf.py sets it up (gevent workers), and long calls kept off its event
loop (app/core/offload.py). Both run in processes of their own: monkey-patching is for the whole process.

These tests prove behaviour only (it serves, the worker is gevent-patched, a long call leaves the loop free), so
they hold on a loaded machine; how much the loop keeps running during a password hash is measured by
bench/web_server.py."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import stripe
from sqlalchemy import select

from app.extensions import db
from app.payments.models import WebhookInbox
from tests.support import TEST_FERNET_KEYS, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
PATCHED_MODULES = ("socket", "ssl", "select", "threading", "time")

# gunicorn.conf.py as production reads it, plus a hook that reports what the worker process is once it is ready
PROBE_CONFIG = """
exec(compile(open({config!r}).read(), {config!r}, "exec"))


def post_worker_init(worker):
    import json

    from gevent import monkey

    with open({report!r}, "w") as out:
        json.dump({{"worker_class": type(worker).__name__,
                    "patched": {{name: monkey.is_module_patched(name) for name in {modules!r}}}}}, out)
"""


def _get(conn: http.client.HTTPConnection, path: str) -> http.client.HTTPResponse:
    conn.request("GET", path)
    return conn.getresponse()


def test_gunicorn_with_the_repository_settings_serves_pages_and_stores_webhooks(app, database_url, tmp_path):
    port = free_port()
    report = tmp_path / "worker.json"
    probe = tmp_path / "gunicorn.probe.py"
    probe.write_text(PROBE_CONFIG.format(config=str(ROOT / "gunicorn.conf.py"), report=str(report),
                                         modules=PATCHED_MODULES))
    env = dict(os.environ, DATABASE_URL=database_url, FREEHOLD_CONFIG="testing", STRIPE_SECRET_KEY="sk_test_server",
               STRIPE_WEBHOOK_SECRET="whsec_server", FIELD_ENCRYPTION_KEYS=TEST_FERNET_KEYS,
               WEB_CONCURRENCY="1", PYTHONPATH=str(ROOT))
    env.pop("GUNICORN_WORKER_CLASS", None)
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--config", str(probe),
                               "--bind", f"127.0.0.1:{port}", "--log-level", "warning"], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # a start-up, however slow the machine: nothing here is timed
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                health = _get(conn, "/healthz")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert health.status == 200 and json.loads(health.read()) == {"status": "ok"}
        page = _get(conn, "/login")  # a page through the whole stack (session, CSRF, templates)
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
        server.wait(30)
    db.session.rollback()
    row = db.session.scalar(select(WebhookInbox).where(WebhookInbox.event_id == "evt_server_1"))
    assert row is not None and row.reference == "cs_test_server"
    # the worker that answered is gunicorn's gevent worker, with the standard library patched
    worker = json.loads(report.read_text())
    assert worker == {"worker_class": "GeventWorker", "patched": dict.fromkeys(PATCHED_MODULES, True)}, worker


OFF_LOOP_SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import json
    import gevent
    from app import create_app
    from app.auth import passwords
    from app.core.offload import off_loop

    get_ident = monkey.get_original("threading", "get_ident")  # the OS thread, not the greenlet
    allocate_lock = monkey.get_original("_thread", "allocate_lock")
    loop_thread = get_ident()

    # 1. off_loop runs its call in another OS thread while the loop goes on: the call waits for a lock that only
    #    another greenlet releases, which can happen only if the loop is free while the call runs.
    released_by_the_loop = allocate_lock()
    released_by_the_loop.acquire()
    gevent.spawn(released_by_the_loop.release)

    def call():
        return get_ident(), released_by_the_loop.acquire(timeout=20)

    call_thread, loop_was_free = off_loop(call)

    # 2. a password hash (argon2, tens of milliseconds at least) does not stop another request's greenlet
    app = create_app({"CONFIG": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://", "ARGON2_TIME_COST": 4,
                      "ARGON2_MEMORY_COST": 65536, "ARGON2_PARALLELISM": 1})
    ticks = []

    def other_request():
        while True:
            ticks.append(1)
            gevent.sleep(0.001)

    gevent.spawn(other_request)
    gevent.sleep(0.01)
    with app.app_context():
        before = len(ticks)
        hashed = passwords.hash_password("a long and unusual passphrase")
        during = len(ticks) - before
        ok = passwords.verify(hashed, "a long and unusual passphrase")
        wrong = passwords.verify(hashed, "not the passphrase at all")
    print(json.dumps({"other_thread": call_thread != loop_thread, "loop_was_free": loop_was_free,
                      "ticks_during_hash": during, "ok": ok, "wrong": wrong}))
""")


def test_a_password_hash_in_a_gevent_process_leaves_other_requests_running():
    done = subprocess.run([sys.executable, "-c", OFF_LOOP_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["other_thread"] is True and result["loop_was_free"] is True, result
    assert result["ok"] is True and result["wrong"] is False
    # the other greenlet kept running while the hash was computed (blocked, it could not have run at all)
    assert result["ticks_during_hash"] >= 1, result
