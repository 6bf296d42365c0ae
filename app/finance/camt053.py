"""ISO 20022 camt.053 (bank-to-customer statement), versions 001.02 to 001.08, read with defusedxml: a DTD,
entity declarations and external references are refused, so an XML bomb or an external entity never expands."""
from __future__ import annotations

import re
from datetime import date
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from app.core.money import Money, MoneyError, is_currency
from app.finance.statement_lines import MAX_LINES, ParsedLine, ParsedStatement, StatementRejected, clip

NAMESPACE = re.compile(r"\{urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.0([2-8])\}Document")
SKIPPED_STATUSES = {"PDNG", "INFO", "FUTR"}  # not booked: not on the account yet


def _ns(root: Element) -> str:
    match = NAMESPACE.fullmatch(root.tag)
    if not match:
        tag = root.tag if len(root.tag) <= 120 else root.tag[:120] + "..."
        raise StatementRejected("this is not an ISO 20022 camt.053 statement (versions 001.02 to 001.08)",
                                [f"the document is {tag!r}"])
    return root.tag[1:root.tag.index("}")]


class _Reader:
    def __init__(self, ns: str):
        self.ns = ns

    def path(self, *names: str) -> str:
        return "/".join(f"{{{self.ns}}}{n}" for n in names)

    def find(self, el: Element | None, *names: str) -> Element | None:
        return None if el is None else el.find(self.path(*names))

    def text(self, el: Element | None, *names: str) -> str | None:
        found = self.find(el, *names) if names else el
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def first_text(self, el: Element | None, *paths: tuple[str, ...]) -> str | None:
        for names in paths:
            value = self.text(el, *names)
            if value:
                return value
        return None


def _date(value: str | None, where: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise StatementRejected("the statement has a date that cannot be read", [f"{where}: {value[:40]!r}"]) \
            from None


def parse(data: bytes) -> ParsedStatement:
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise StatementRejected("the file declares a DTD, entities or external references, which a bank "
                                "statement never needs: refused") from None
    except (ParseError, ValueError, UnicodeDecodeError):
        raise StatementRejected("the file is not well-formed XML") from None
    r = _Reader(_ns(root))
    statements = root.findall(r.path("BkToCstmrStmt", "Stmt"))
    if not statements:
        raise StatementRejected("the camt.053 document holds no statement (BkToCstmrStmt/Stmt)")
    first = statements[0]
    parsed = ParsedStatement(
        lines=[],
        account=clip(r.first_text(first, ("Acct", "Id", "IBAN"), ("Acct", "Id", "Othr", "Id")), 64),
        statement_ref=clip(r.text(first, "Id"), 200),
        period_from=_date(r.text(first, "FrToDt", "FrDtTm"), "FrToDt"),
        period_to=_date(r.text(first, "FrToDt", "ToDtTm"), "FrToDt"),
    )
    account_ccy = r.text(first, "Acct", "Ccy")
    problems: list[str] = []
    for s_no, stmt in enumerate(statements, 1):
        for n_no, entry in enumerate(stmt.findall(r.path("Ntry")), 1):
            where = f"statement {s_no}, entry {n_no}"
            try:
                line = _entry(r, entry, account_ccy, where)
            except StatementRejected as exc:
                problems.append(f"{where}: {exc.message}")
                continue
            if line is not None:
                parsed.lines.append(line)
            if len(parsed.lines) > MAX_LINES:
                raise StatementRejected(f"the statement has more than {MAX_LINES:,} entries: split it")
    if problems:
        raise StatementRejected("some entries cannot be read; nothing was imported", problems[:20])
    if not parsed.lines:
        raise StatementRejected("the statement has no booked entries")
    return parsed


def _entry(r: _Reader, entry: Element, account_ccy: str | None, where: str) -> ParsedLine | None:
    status = r.first_text(entry, ("Sts", "Cd"), ("Sts",))
    if status in SKIPPED_STATUSES:
        return None
    amt = r.find(entry, "Amt")
    if amt is None or not (amt.text or "").strip():
        raise StatementRejected("no amount")
    currency = (amt.get("Ccy") or account_ccy or "").upper()
    if not is_currency(currency):
        raise StatementRejected(f"unknown currency {currency[:10]!r}")
    try:
        amount = Money.parse((amt.text or "").strip(), currency).minor
    except MoneyError as exc:
        raise StatementRejected(f"amount {(amt.text or '').strip()[:30]!r}: {exc}") from None
    indicator = r.text(entry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise StatementRejected("CdtDbtInd must be CRDT or DBIT")
    direction = "credit" if indicator == "CRDT" else "debit"
    booking = _date(r.first_text(entry, ("BookgDt", "Dt"), ("BookgDt", "DtTm")), where) \
        or _date(r.first_text(entry, ("ValDt", "Dt"), ("ValDt", "DtTm")), where)
    if booking is None:
        raise StatementRejected("no booking date")
    value_date = _date(r.first_text(entry, ("ValDt", "Dt"), ("ValDt", "DtTm")), where)
    tx = r.find(entry, "NtryDtls", "TxDtls")
    ustrd = [t.text.strip() for t in entry.iter(f"{{{r.ns}}}Ustrd") if t.text and t.text.strip()]
    structured = r.text(tx, "RmtInf", "Strd", "CdtrRefInf", "Ref")
    end_to_end = r.text(tx, "Refs", "EndToEndId")
    if end_to_end == "NOTPROVIDED":
        end_to_end = None
    party = "Dbtr" if direction == "credit" else "Cdtr"
    counterparty = r.first_text(tx, ("RltdPties", party, "Nm"), ("RltdPties", party, "Pty", "Nm"))
    reference = structured or (ustrd[0] if ustrd else None) or end_to_end or r.text(entry, "AddtlNtryInf")
    return ParsedLine(
        booking_date=booking, value_date=value_date, direction=direction, amount=amount, currency=currency,
        reference=clip(reference, 500), end_to_end_id=clip(end_to_end, 200),
        entry_ref=clip(r.text(entry, "NtryRef"), 200),
        servicer_ref=clip(r.text(entry, "AcctSvcrRef") or r.text(tx, "Refs", "AcctSvcrRef"), 200),
        counterparty=clip(counterparty, 300),
        remittance=clip(" ".join([*ustrd, r.text(entry, "AddtlNtryInf") or ""]), 4000),
    )
