"""The one export writer, CSV and XLSX: every export (audit, statements, bank files, console lists, reports) goes
through it.

A spreadsheet must never run a cell as a formula, so a cell that begins with `=`, `+`, `-`, `@`, a tab or a
carriage return is written with a leading apostrophe (OWASP's advice for CSV injection). Lines end in CRLF as
RFC 4180 says. An XLSX file gets the same cells: numbers as numbers, every other cell as escaped text (written
with write_string, so even a text that escaped nothing is never read as a formula or a number).

Negative numbers: the decision is made by the value's type, never by how its text looks. A number we hold as a
number (int, Decimal, a finite float, Money as its decimal amount) is written as the number, `-12.50` included:
its text is only digits, one point and a sign, so it cannot be a formula, and a spreadsheet keeps it numeric. Any
str is text from somewhere and is escaped when it starts like a formula, even one that reads "-12.50" (we cannot
prove where it came from). Exports that want a negative amount to stay numeric pass a Decimal or Money.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import IO, Any

from flask import Response
from werkzeug.utils import secure_filename

from app.core.money import Money

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a leading apostrophe; a number we
    hold as a number is written as it is (see the module's note on negative numbers)."""
    if value is None:
        return ""
    if isinstance(value, Money):
        return format(value.to_decimal(), "f")
    if isinstance(value, Decimal) and value.is_finite():
        return format(value, "f")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    text = str(value)
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


def write_csv(out: IO[str], header: Sequence[Any] | None, rows: Iterable[Sequence[Any]]) -> None:
    """The file written line by line into `out` (a text file opened with newline=""): a large export read in
    chunks never holds more than a chunk."""
    for line in csv_lines(header, rows):
        out.write(line)


def csv_text(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    for line in csv_lines(header, rows):
        out.write(line)
    return out.getvalue()


def csv_response(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """A download; `rows` may be a generator of rows already read (streaming needs no request context)."""
    return Response(csv_lines(header, rows), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename={secure_filename(filename)}"})


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx_value(value: Any) -> Decimal | int | float | str:
    if isinstance(value, Money):
        return value.to_decimal()
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return escape_cell(value)


def xlsx_bytes(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]], *, sheet: str = "Export") -> bytes:
    """The workbook as bytes, one sheet; XlsxWriter's constant-memory mode writes row by row."""
    out = io.BytesIO()
    write_xlsx(out, header, rows, sheet=sheet)
    return out.getvalue()


def write_xlsx(out: str | IO[bytes], header: Sequence[Any] | None, rows: Iterable[Sequence[Any]], *,
               sheet: str = "Export") -> None:
    """The workbook written into `out` (a path or a binary file), row by row (constant-memory mode)."""
    import xlsxwriter  # only exports need it: a web process that never exports never loads it

    workbook = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False,
                                         "strings_to_formulas": False, "strings_to_numbers": False,
                                         "strings_to_urls": False})
    worksheet = workbook.add_worksheet(sheet[:31] or "Export")
    bold = workbook.add_format({"bold": True})
    row_index = 0
    if header is not None:
        for col, value in enumerate(header):
            worksheet.write_string(row_index, col, escape_cell(value), bold)
        row_index += 1
    for row in rows:
        for col, value in enumerate(row):
            cell = _xlsx_value(value)
            if isinstance(cell, str):
                worksheet.write_string(row_index, col, cell)
            else:
                worksheet.write_number(row_index, col, cell)
        row_index += 1
    workbook.close()


def xlsx_response(header: Sequence[Any] | None, rows: Iterable[Sequence[Any]], filename: str, *,
                  sheet: str = "Export") -> Response:
    """A download of the workbook (`filename` ends in .xlsx)."""
    return Response(xlsx_bytes(header, rows, sheet=sheet), mimetype=XLSX_MIMETYPE,
                    headers={"Content-Disposition": f"attachment; filename={secure_filename(filename)}"})


def export_response(fmt: str, header: Sequence[Any] | None, rows: Iterable[Sequence[Any]], basename: str, *,
                    sheet: str = "Export") -> Response:
    """CSV or XLSX by `fmt` ("csv" or "xlsx"); anything else is a ValueError for the caller to answer 400."""
    if fmt == "csv":
        return csv_response(header, rows, f"{basename}.csv")
    if fmt == "xlsx":
        return xlsx_response(header, rows, f"{basename}.xlsx", sheet=sheet)
    raise ValueError(f"unknown export format {fmt!r}")
