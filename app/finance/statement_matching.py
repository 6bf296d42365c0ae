"""Which deposit, payout or bank-file batch a statement line is: the rules that propose a match on import.

Incoming (credit) lines: a pending bank-transfer deposit whose reference (the one the investor was told to use,
FH-...) appears in the line, with the same amount (amount + fee, what the investor was told to pay) and currency;
else the one pending bank-transfer deposit of exactly that amount and currency, if there is exactly one.
Outgoing (debit) lines: the paid payout named by its bank-file reference (FREEHOLD PAYOUT <id>) or by the bank
reference it was marked paid with, or the paid bank-file batch whose bank reference the line carries, amount equal."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db
from app.finance.bank_models import (
    CLAIMING,
    CREDIT,
    KIND_BATCH,
    KIND_DEPOSIT,
    KIND_PAYOUT,
    RULE_AMOUNT,
    RULE_REFERENCE,
    StatementLine,
)
from app.payments.gateways.bank_transfer import deposit_id_from_reference
from app.payments.models import DEPOSIT_PENDING, Deposit
from app.payouts.models import BATCH_PAID, PAYOUT_PAID, Payout, PayoutBatch

PAYOUT_REFERENCE = re.compile(r"FREEHOLD\s*PAYOUT\s*#?\s*(\d{1,18})", re.IGNORECASE)
_TOKEN = re.compile(r"[\s,;:/()]+")


@dataclass(frozen=True)
class Candidate:
    kind: str
    target_id: int
    rule: str


def normalize_reference(text: str | None) -> str:
    """A deposit reference as compared: case, spaces, dots and dashes ignored, O/I/L read as 0/1/1."""
    cleaned = re.sub(r"[\s.\-]+", "", text or "").upper()
    return cleaned.replace("O", "0").replace("I", "1").replace("L", "1")


def line_texts(line: StatementLine) -> list[str]:
    return [t for t in (line.reference, line.end_to_end_id, line.remittance) if t]


def deposit_references(texts: list[str]) -> list[tuple[int, str]]:
    """(deposit id, normalized reference) for every deposit reference found in the texts: alone, or as one to three
    neighbouring words (an investor may type FH 1Z 7K2M)."""
    found: list[tuple[int, str]] = []
    for text in texts:
        words = [w for w in _TOKEN.split(text) if w][:200]
        for size in (1, 2, 3):
            for i in range(len(words) - size + 1):
                chunk = "".join(words[i:i + size])
                deposit_id = deposit_id_from_reference(chunk)
                if deposit_id is not None:
                    pair = (deposit_id, normalize_reference(chunk))
                    if pair not in found:
                        found.append(pair)
    return found


def _claimed(column):
    return select(column).where(column.is_not(None), StatementLine.status.in_(CLAIMING))


def expected_amount(deposit: Deposit) -> int:
    """What the investor was told to transfer."""
    return deposit.amount + deposit.fee


def deposit_by_reference(line: StatementLine) -> tuple[Deposit | None, str | None]:
    """The bank-transfer deposit the line's reference names (the whole reference, random part included), and a note
    when the reference names one that cannot be proposed."""
    for deposit_id, normalized in deposit_references(line_texts(line)):
        deposit = db.session.get(Deposit, deposit_id)
        if deposit is None or deposit.gateway != "bank_transfer" \
                or normalize_reference(deposit.gateway_reference) != normalized:
            continue
        if deposit.status != DEPOSIT_PENDING:
            return None, f"the reference names deposit #{deposit.id}, which is {deposit.status}"
        if deposit.currency != line.currency or expected_amount(deposit) != line.amount:
            return None, (f"the reference names deposit #{deposit.id}, but its amount or currency differs "
                          f"({expected_amount(deposit)} {deposit.currency} in minor units)")
        return deposit, None
    return None, None


def propose_for(line: StatementLine) -> tuple[Candidate | None, str | None]:
    if line.direction == CREDIT:
        return _incoming(line)
    return _outgoing(line), None


def _incoming(line: StatementLine) -> tuple[Candidate | None, str | None]:
    deposit, note = deposit_by_reference(line)
    if deposit is not None:
        claimed = db.session.scalar(select(func.count()).select_from(StatementLine).where(
            StatementLine.deposit_id == deposit.id, StatementLine.status.in_(CLAIMING)))
        if claimed:
            return None, f"the reference names deposit #{deposit.id}, already matched to another line"
        return Candidate(KIND_DEPOSIT, deposit.id, RULE_REFERENCE), None
    if note:
        return None, note
    ids = list(db.session.scalars(
        select(Deposit.id).where(Deposit.gateway == "bank_transfer", Deposit.status == DEPOSIT_PENDING,
                                 Deposit.currency == line.currency, Deposit.amount + Deposit.fee == line.amount,
                                 Deposit.id.not_in(_claimed(StatementLine.deposit_id)))
        .limit(2)))
    if len(ids) == 1:
        return Candidate(KIND_DEPOSIT, ids[0], RULE_AMOUNT), None
    if len(ids) > 1:
        return None, "several pending bank transfers have this amount: match by hand"
    return None, None


def _outgoing(line: StatementLine) -> Candidate | None:
    texts = line_texts(line)
    for text in texts:
        for match in PAYOUT_REFERENCE.finditer(text):
            payout = db.session.get(Payout, int(match.group(1)))
            if payout is not None and payout_fits(payout, line) and not _payout_claimed(payout.id):
                return Candidate(KIND_PAYOUT, payout.id, RULE_REFERENCE)
    refs = [t.strip() for t in texts if t.strip()][:3]
    if not refs:
        return None
    batch = db.session.scalar(select(PayoutBatch).where(
        PayoutBatch.bank_reference.in_(refs), PayoutBatch.status == BATCH_PAID,
        PayoutBatch.id.not_in(_claimed(StatementLine.batch_id))).limit(1))
    if batch is not None and batch_fits(batch, line):
        return Candidate(KIND_BATCH, batch.id, RULE_REFERENCE)
    payouts = list(db.session.scalars(select(Payout).where(
        Payout.bank_reference.in_(refs), Payout.status == PAYOUT_PAID, Payout.batch_id.is_(None),
        Payout.id.not_in(_claimed(StatementLine.payout_id))).limit(2)))
    if len(payouts) == 1 and payout_fits(payouts[0], line):
        return Candidate(KIND_PAYOUT, payouts[0].id, RULE_REFERENCE)
    return None


def _payout_claimed(payout_id: int) -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(StatementLine).where(
        StatementLine.payout_id == payout_id, StatementLine.status.in_(CLAIMING))))


def payout_fits(payout: Payout, line: StatementLine) -> bool:
    return payout.status == PAYOUT_PAID and payout.amount == line.amount and payout.currency == line.currency


def batch_fits(batch: PayoutBatch, line: StatementLine) -> bool:
    """The batch was paid, and what the bank sent (its payouts marked paid: one that failed on its own was not
    sent) is the line's amount."""
    if batch.status != BATCH_PAID or batch.currency != line.currency:
        return False
    sent = db.session.scalar(select(func.coalesce(func.sum(Payout.amount), 0))
                             .where(Payout.batch_id == batch.id, Payout.status == PAYOUT_PAID))
    return int(sent or 0) == line.amount
