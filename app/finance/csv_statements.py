"""CSV statements read with a saved column mapping (app.finance.bank_models.CsvMapping): every row must read, or
nothing is imported."""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

from app.core.money import Money, MoneyError, is_currency
from app.finance.bank_models import CsvMapping
from app.finance.statement_lines import MAX_LINES, ParsedLine, ParsedStatement, StatementRejected, clip

_SPACES = re.compile(r"[\s\u00a0\u202f']+")


def _text(data: bytes) -> str:
    if b"\x00" in data:
        raise StatementRejected("the file is binary, not a CSV text file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if any(ord(c) < 32 and c not in "\r\n\t" for c in text):
            raise StatementRejected("the file is binary, not a CSV text file")
        return text
    raise StatementRejected("the file is not text in UTF-8 or Windows-1252")


def parse_amount(raw: str, currency: str, decimal_separator: str) -> tuple[int, bool]:
    """(minor units, negative) of a bank's amount: '1.234,56' with ',' as separator, '-50.00', '(50.00)'."""
    text = _SPACES.sub("", raw or "")
    negative = False
    if text.startswith("(") and text.endswith(")"):
        text, negative = text[1:-1], True
    if text.startswith("-"):
        text, negative = text[1:], True
    elif text.startswith("+"):
        text = text[1:]
    elif text.endswith("-"):
        text, negative = text[:-1], True
    text = text.replace(".", "").replace(",", ".") if decimal_separator == "," else text.replace(",", "")
    return Money.parse(text, currency).minor, negative


def _column(spec: str | None, header: list[str] | None, what: str) -> int | None:
    if not spec:
        return None
    spec = spec.strip()
    if spec.isdigit() and (header is None or spec not in header):
        return int(spec) - 1
    if header is None:
        raise StatementRejected(f"the mapping names the {what} column {spec!r} but the file has no header row")
    folded = [h.strip().casefold() for h in header]
    if spec.casefold() not in folded:
        raise StatementRejected("the file's columns are not the ones this bank's mapping expects",
                                [f"no {what} column {spec!r}; the file has: {', '.join(h[:40] for h in header[:30])}"])
    return folded.index(spec.casefold())


def parse(data: bytes, mapping: CsvMapping, *, default_currency: str) -> ParsedStatement:
    text = _text(data)
    delimiter = "\t" if mapping.delimiter in ("\\t", "\t") else mapping.delimiter
    if len(delimiter or "") != 1 or delimiter in "\r\n\"":
        raise StatementRejected("the mapping's delimiter must be one character: fix the CSV mapping")
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise StatementRejected(f"the file is not a readable CSV: {exc}") from None
    if len(rows) < mapping.header_rows:
        raise StatementRejected("the file is shorter than its header")
    header = rows[mapping.header_rows - 1] if mapping.header_rows else None
    columns = {
        "date": _column(mapping.date_column, header, "date"),
        "amount": _column(mapping.amount_column, header, "amount"),
        "credit": _column(mapping.credit_column, header, "credit"),
        "debit": _column(mapping.debit_column, header, "debit"),
        "currency": _column(mapping.currency_column, header, "currency"),
        "reference": _column(mapping.reference_column, header, "reference"),
        "counterparty": _column(mapping.counterparty_column, header, "counterparty"),
        "description": _column(mapping.description_column, header, "description"),
    }
    if columns["amount"] is None and (columns["credit"] is None or columns["debit"] is None):
        raise StatementRejected("the mapping names neither an amount column nor both credit and debit columns")
    lines: list[ParsedLine] = []
    problems: list[str] = []
    for number, row in enumerate(rows[mapping.header_rows:], mapping.header_rows + 1):
        if not any(cell.strip() for cell in row):
            continue
        try:
            lines.append(_row(row, columns, mapping, default_currency))
        except StatementRejected as exc:
            problems.append(f"row {number}: {exc.message}")
        if len(problems) >= 20:
            break
        if len(lines) > MAX_LINES:
            raise StatementRejected(f"the statement has more than {MAX_LINES:,} rows: split it")
    if problems:
        raise StatementRejected("some rows cannot be read with this mapping; nothing was imported", problems)
    if not lines:
        raise StatementRejected("the file has no statement rows")
    dates = [line.booking_date for line in lines]
    return ParsedStatement(lines=lines, account=f"csv:{mapping.bank_name}"[:64], period_from=min(dates),
                           period_to=max(dates))


def _cell(row: list[str], index: int | None) -> str:
    if index is None:
        return ""
    if index >= len(row):
        raise StatementRejected(f"the row has {len(row)} columns, column {index + 1} is missing")
    return row[index].strip()


def _row(row: list[str], columns: dict[str, int | None], mapping: CsvMapping, default_currency: str) -> ParsedLine:
    raw_date = _cell(row, columns["date"])
    try:
        booked: date = datetime.strptime(raw_date, mapping.date_format).date()  # noqa: DTZ007 (a calendar day)
    except ValueError:
        raise StatementRejected(f"date {raw_date[:30]!r} does not read as {mapping.date_format}") from None
    currency = (_cell(row, columns["currency"]) or mapping.currency or default_currency).upper()
    if not is_currency(currency):
        raise StatementRejected(f"unknown currency {currency[:10]!r}")
    try:
        if columns["amount"] is not None:
            amount, negative = parse_amount(_cell(row, columns["amount"]), currency, mapping.decimal_separator)
        else:
            credit, debit = _cell(row, columns["credit"]), _cell(row, columns["debit"])
            if bool(credit) == bool(debit):
                raise StatementRejected("exactly one of the credit and debit columns must hold an amount")
            amount, negative = parse_amount(credit or debit, currency, mapping.decimal_separator)
            negative = negative or bool(debit)
    except MoneyError as exc:
        raise StatementRejected(f"amount: {exc}") from None
    description = _cell(row, columns["description"]) or None
    return ParsedLine(booking_date=booked, direction="debit" if negative else "credit", amount=amount,
                      currency=currency, reference=clip(_cell(row, columns["reference"]), 500),
                      counterparty=clip(_cell(row, columns["counterparty"]), 300), remittance=clip(description, 4000))
