"""What a parser reads off a statement: its lines, before they are stored. Shared by the camt.053 and CSV parsers."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from app.core.errors import ValidationError

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_LINES = 20_000


class StatementRejected(ValidationError):
    """The file is not a statement this platform reads: nothing is written."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message, {"file": problems} if problems else None)


@dataclass
class ParsedLine:
    booking_date: date
    direction: str  # credit | debit
    amount: int  # minor units, positive
    currency: str
    value_date: date | None = None
    reference: str | None = None
    end_to_end_id: str | None = None
    entry_ref: str | None = None
    servicer_ref: str | None = None
    counterparty: str | None = None
    remittance: str | None = None

    def identity(self, account: str | None) -> str:
        """What makes this line the same line in an overlapping statement of the same account: the bank's own
        reference when it gives one, else the line's contents."""
        if self.servicer_ref:
            parts = [account or "", "svc", self.servicer_ref]
        else:
            parts = [account or "", "line", self.booking_date.isoformat(), self.direction, str(self.amount),
                     self.currency, self.reference or "", self.end_to_end_id or "", self.counterparty or "",
                     self.remittance or "", self.value_date.isoformat() if self.value_date else ""]
        return "\x1f".join(parts)


@dataclass
class ParsedStatement:
    lines: list[ParsedLine]
    account: str | None = None
    statement_ref: str | None = None
    period_from: date | None = None
    period_to: date | None = None
    notes: list[str] = field(default_factory=list)

    def fingerprints(self) -> list[str]:
        """One per line; identical lines of one file are told apart by their order of appearance, so the k-th of
        them is the k-th again in an overlapping statement."""
        seen: dict[str, int] = {}
        result = []
        for line in self.lines:
            key = line.identity(self.account)
            seen[key] = seen.get(key, 0) + 1
            result.append(hashlib.sha256(f"{key}\x1e{seen[key]}".encode()).hexdigest())
        return result


def clip(value: str | None, limit: int) -> str | None:
    """Whitespace folded, empty as None, cut to the column's size."""
    if value is None:
        return None
    folded = " ".join(value.split())
    return folded[:limit] or None
