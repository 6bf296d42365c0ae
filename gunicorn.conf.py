"""gunicorn settings, read by `gunicorn wsgi:app` when it is started from the repository root (as production and
bench/webhooks.py do). The bind address keeps gunicorn's default (127.0.0.1:8000, or 0.0.0.0:$PORT); any setting
can be overridden on the command line or in GUNICORN_CMD_ARGS.

Threads: a request spends most of its time waiting on PostgreSQL (a webhook's commit waits for the WAL flush) or
Redis, so each worker process serves several at once; concurrent commits then share their WAL flushes."""
import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 8)
keepalive = 5  # seconds an idle keep-alive connection is kept (behind a load balancer that reuses them)
