"""The one conditional state change every state machine uses.

A row moves from the state it was read in to an allowed next state with a conditional UPDATE
(`... WHERE id = :id AND status = :read_status`), so two people or processes acting at once cannot both move it:
exactly one UPDATE matches, the other gets a clear refusal. The object is refreshed from the row afterwards.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, update

from app.core.db import utcnow
from app.core.errors import Conflict, IllegalTransition
from app.extensions import db


def check_allowed(transitions: Mapping[str, Iterable[str]], current: str, target: str, what: str) -> None:
    """Refuse a move the state machine does not allow (an illegal transition is an error, never a no-op)."""
    if target not in transitions.get(current, ()):
        raise IllegalTransition(f"{what} is {current}: it cannot become {target}")


def transition(obj: Any, target: str, transitions: Mapping[str, Iterable[str]], *, what: str,
               extra_where: Iterable[Any] = (), conflict: type[Conflict] = IllegalTransition,
               field: str = "status", **values: Any) -> str:
    """Move `obj` (a mapped row with `id` and `status`) to `target`; returns the state it left.

    `extra_where` adds conditions the row must still meet (a version, an unchanged amount); `values` are written
    in the same UPDATE (stamps such as `approved_at`). `updated_at` is stamped when the model has it."""
    model = type(obj)
    source: str = getattr(obj, field)
    check_allowed(transitions, source, target, what)
    db.session.flush()  # what was changed on the object so far goes first (a no-op when nothing was)
    values = {field: target, **values}
    if hasattr(model, "updated_at") and "updated_at" not in values:
        values["updated_at"] = utcnow()
    moved = cast("CursorResult[Any]", db.session.execute(
        update(model).where(model.id == obj.id, getattr(model, field) == source, *extra_where)
        .values(**values).execution_options(synchronize_session=False))).rowcount
    db.session.refresh(obj)
    if moved != 1:
        now = getattr(obj, field)
        raise conflict(f"{what} is {now} now" if now != source else f"{what} changed meanwhile: look at it again")
    return source
