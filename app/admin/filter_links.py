"""Links to a console list already filtered. Flask-Admin names each filter in the URL by its position in the view's
list of filters (flt0_7=...): the position is looked up here, by the column and the kind of filter, never written by
hand, so that a filter added to a view does not send old links to the wrong one."""
from __future__ import annotations

from typing import Any, cast

from flask import url_for


def _key(column) -> tuple[str, str]:
    expression = column.expression  # a mapped attribute or a table's column: the column itself
    return expression.table.name, expression.name


def filter_arg(view, column, kind: type) -> str:
    """The URL name (without its flt<n>_ prefix) of the view's filter of this kind on this column."""
    found: dict[str, tuple[int, Any]] = view._filter_args or {}
    for arg, (_index, flt) in found.items():
        if type(flt) is kind and _key(cast(Any, flt).column) == _key(column):
            return arg
    raise LookupError(f"{view.endpoint}: no {kind.__name__} on {_key(column)}")


def list_url(admin, endpoint: str, *filters: tuple[Any, type, str], **args: Any) -> str:
    """The list of the view `endpoint`, with each (column, kind of filter, value) applied."""
    view = next(v for v in admin._views if v.endpoint == endpoint)
    for n, (column, kind, value) in enumerate(filters):
        args[f"flt{n}_{filter_arg(view, column, kind)}"] = value
    return url_for(f"{endpoint}.index_view", **args)
