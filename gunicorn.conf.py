"""gunicorn settings, read by `gunicorn wsgi:app` when it is started from the repository root (as production and
bench/webhooks.py do). The bind address keeps gunicorn's default (127.0.0.1:8000, or 0.0.0.0:$PORT); any setting
can be overridden on the command line or in GUNICORN_CMD_ARGS.

Workers: gevent. A request spends most of its time waiting on PostgreSQL (a webhook's INSERT waits for the WAL
flush), Redis or a gateway; in a gevent worker a waiting request costs a greenlet switch, where in a threaded
worker every wake-up is a hand-over of the interpreter lock between threads (bench/webhooks.py: with the same two
workers, gthread with 8 threads accepted about 1,300 signed webhooks a second, gevent about 1,800). Psycopg 3
cooperates with gevent by itself; redis-py, requests (Stripe), boto3 and smtplib go through the patched socket.
Long calls that release the interpreter lock (argon2 password hashing) run in gevent's thread pool
(app/core/offload.py), so a sign-in does not hold up the other requests of its worker.
GUNICORN_WORKER_CLASS=gthread (with GUNICORN_THREADS) switches back to threads.

Metrics: every worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR and `/metrics`, whichever worker
answers, adds up all of them (app/core/metrics.py). The variable is set here, before the app (and the metrics
library) is imported, to a folder of this server's own unless the environment names one; the folder is emptied when
the server starts (counters start again from zero, as after any restart), a worker that exits leaves the live sums,
and a folder of our own is removed when the server stops."""
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or "gevent"
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS") or 200)  # requests at once per worker
threads = int(os.environ.get("GUNICORN_THREADS") or 8)  # gthread only
keepalive = 5  # seconds an idle keep-alive connection is kept (behind a load balancer that reuses them)
# The access log (off unless --access-logfile is given) never prints the path or the query, which may carry a
# token (reset and verification links): the app logs each request with its route pattern (app/core/requestlog.py).
access_log_format = '%(h)s %(t)s "%(m)s" %(s)s %(b)s %(L)s'

# metrics in multiprocess mode (see above): set before the app is loaded, --preload included
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(Path(tempfile.gettempdir()) / f"freehold-metrics-{os.getpid()}")
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)


def on_starting(server):
    """The samples of an earlier run of the server are not this one's."""
    for leftover in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        leftover.unlink(missing_ok=True)


def child_exit(server, worker):
    # imported here: the metrics library must not be loaded before PROMETHEUS_MULTIPROC_DIR is set (above)
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


# gunicorn's own lines (start-up, worker exits, timeouts; the access log when on) go through the app's log set-up
# (app/core/logs.py), so every process writes one format: JSON lines under the production configuration
def _app_logger_class():
    from gunicorn.glogging import Logger

    class AppLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)
            from app.config import config_from_env  # the app's configuration class, read from the environment
            from app.core.logs import configure_from_config

            cls = config_from_env()
            configure_from_config({"LOG_FORMAT": cls.LOG_FORMAT, "LOG_LEVEL": cls.LOG_LEVEL, "CONFIG_NAME": cls.NAME})
            for log in (self.error_log, self.access_log):
                for handler in list(log.handlers):
                    log.removeHandler(handler)  # gunicorn's own stream handlers: the app's handler writes instead
                log.propagate = True

    return AppLogger


logger_class = _app_logger_class()
