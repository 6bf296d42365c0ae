"""The application under a real HTTP server in a process of its own, able to die at a chosen moment of an
`Idempotency-Key` request, for tests/security/test_money_races.py. The crash points live here, never in app/:

- `FREEHOLD_TEST_CRASH_AT=before-commit`: the process exits once the work is flushed and its answer written on the
  key's row, before the unit of work commits (a wrapper around `app.api.idempotency._store`);
- `FREEHOLD_TEST_CRASH_AT=after-commit`: the process exits once the application has committed and produced its
  answer, before a byte of it is written to the client (a WSGI wrapper).

    python -m tests.security.crash_server <database url> <port>
"""
from __future__ import annotations

import os
import sys

from werkzeug.serving import make_server

from app.api import idempotency
from tests.support import build_app

CRASH_AT = os.environ.get("FREEHOLD_TEST_CRASH_AT", "")


def die() -> None:
    sys.stderr.flush()
    os._exit(17)  # no clean-up: as a killed process, the open transaction is simply never committed


def crash_before_commit() -> None:
    store = idempotency._store

    def store_then_die(*args, **kwargs):
        store(*args, **kwargs)  # flushes the answer after the view's work: everything is sent, nothing committed
        die()

    idempotency._store = store_then_die


def crash_after_commit(application):
    def wsgi(environ, start_response):
        if environ.get("HTTP_IDEMPOTENCY_KEY"):
            result = application(environ, lambda status, headers, exc_info=None: None)
            body = b"".join(result)  # the whole request ran: the unit of work has committed
            if hasattr(result, "close"):
                result.close()
            if body:
                die()
        return application(environ, start_response)

    return wsgi


def main(database_url: str, port: int) -> None:
    application = build_app(database_url)
    wsgi = application.wsgi_app
    if CRASH_AT == "before-commit":
        crash_before_commit()
    elif CRASH_AT == "after-commit":
        wsgi = crash_after_commit(wsgi)
    elif CRASH_AT:
        raise SystemExit(f"unknown crash point {CRASH_AT!r}")
    application.wsgi_app = wsgi  # type: ignore[method-assign]
    make_server("127.0.0.1", port, application, threaded=False).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
