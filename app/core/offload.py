"""Long calls that release the interpreter lock, kept off a gevent worker's event loop.

Under gunicorn's gevent worker (gunicorn.conf.py) every request of a process shares one OS thread: a call that
holds it for tens of milliseconds (argon2 hashing a password) would hold up every other request of the worker.
`off_loop` runs such a call in gevent's thread pool when the process is monkey-patched, and directly otherwise
(threads, the test suite, Celery's solo worker)."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")


def _patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs), in gevent's thread pool under gevent; its exception, if any, is raised here."""
    if not _patched():
        return fn(*args, **kwargs)
    import gevent  # only when gevent patched this process (its workers): others never load it

    return cast(T, gevent.get_hub().threadpool.apply(fn, args, kwargs))
