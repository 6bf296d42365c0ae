"""Console list pages and their CSV exports read from the read replica (app/core/replica.py)."""
from __future__ import annotations

from typing import Any

from flask import request

from app.core.replica import replica_reads

# Flask-Admin's list page and list export: the heavy reads of the console
REPLICA_VIEWS = frozenset({"index_view", "export"})


class ReplicaListsMixin:
    """GET of a model view's list page and of its export runs as replica_reads(). Flask-Admin checks access
    (_handle_view: the signed-in user, the session record, the permission) before it runs the view, so those
    reads stay on the primary; only the view's own reads may go to the replica."""

    def _run_view(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method == "GET" and getattr(fn, "__name__", None) in REPLICA_VIEWS:
            with replica_reads():
                return super()._run_view(fn, *args, **kwargs)  # type: ignore[misc]
        return super()._run_view(fn, *args, **kwargs)  # type: ignore[misc]
