"""The market's conditional UPDATEs report how many rows they changed: 1 means this transaction won."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult
from sqlalchemy.sql.dml import Update

from app.extensions import db


def changed(statement: Update) -> int:
    """Run a conditional UPDATE (session not synchronised) and return the number of rows it changed."""
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return cast("CursorResult[Any]", result).rowcount
