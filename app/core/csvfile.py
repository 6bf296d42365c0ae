"""The one CSV writer: every export (audit, statements, bank files, console lists) goes through it.

A spreadsheet must never run a cell as a formula, so a cell that begins with `=`, `+`, `-`, `@`, a tab or a
carriage return is written with a leading apostrophe (OWASP's advice for CSV injection). Lines end in CRLF as
RFC 4180 says.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flask import Response
from werkzeug.utils import secure_filename

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Line:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The file line by line, every cell escaped (for streaming a large export)."""
    writer = csv.writer(_Line(), lineterminator="\r\n")
    if header is not None:
        yield writer.writerow([escape_cell(v) for v in header])
    for row in rows:
        yield writer.writerow([escape_cell(v) for v in row])


def csv_text(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    for line in csv_lines(header, rows):
        out.write(line)
    return out.getvalue()


def csv_response(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """A download; `rows` may be a generator of rows already read (streaming needs no request context)."""
    return Response(csv_lines(header, rows), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={secure_filename(filename)}"})
