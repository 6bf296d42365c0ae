"""/metrics under gunicorn with several workers (gunicorn.conf.py): whichever worker answers the scrape, it shows
the requests every worker served. Runs gunicorn in a process of its own, with PROMETHEUS_MULTIPROC_DIR set before
anything imports the metrics library, as in production."""
from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.ops.scrape import value
from tests.support import TEST_FERNET_KEYS, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "a-metrics-token-long-enough"


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # a new connection: any worker may take it
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _writers(folder: Path) -> set[str]:
    """The processes that wrote request times (one file per process: histogram_<pid>.db)."""
    return {path.stem.rsplit("_", 1)[-1] for path in folder.glob("histogram_*.db")}


def test_each_scrape_adds_up_every_workers_requests(app, database_url, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"left by an earlier run")
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, FREEHOLD_CONFIG="testing", FIELD_ENCRYPTION_KEYS=TEST_FERNET_KEYS,
               WEB_CONCURRENCY="2", PYTHONPATH=str(ROOT), PROMETHEUS_MULTIPROC_DIR=str(folder), METRICS_TOKEN=TOKEN)
    env.pop("GUNICORN_WORKER_CLASS", None)
    server = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "wsgi:app", "--config",
                               str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", "--log-level",
                               "warning"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # a start-up, however slow the machine: nothing here is timed
        while True:
            try:
                status, _ = _get(port, "/healthz")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert status == 200
        assert not (folder / "counter_1.db").exists()  # an earlier run's samples were cleared at start
        # until both workers have served some (the kernel hands each new connection to either)
        while len(_writers(folder)) < 2:
            assert time.monotonic() < deadline, "one worker took every connection"
            for _ in range(10):
                assert _get(port, "/healthz")[0] == 200

        assert _get(port, "/metrics")[0] == 401  # the token is required
        scrape = {"Authorization": f"Bearer {TOKEN}"}
        status, text = _get(port, "/metrics", scrape)
        before = value(text, "freehold_http_request_duration_seconds_count", endpoint="/healthz", method="GET",
                       status="2xx")
        assert status == 200 and before >= 11
        for _ in range(20):
            assert _get(port, "/healthz")[0] == 200
        for _ in range(6):  # each scrape, whichever worker answers it, shows the requests of both
            status, text = _get(port, "/metrics", scrape)
            assert status == 200
            assert value(text, "freehold_http_request_duration_seconds_count", endpoint="/healthz", method="GET",
                         status="2xx") == before + 20
            assert value(text, "freehold_webhook_inbox_backlog") == 0  # read from the database at scrape time
    finally:
        server.terminate()
        server.wait(timeout=60)
