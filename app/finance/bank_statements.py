"""Bank statements: finance uploads the bank's statement (camt.053 or CSV with the bank's saved mapping); its
lines are stored once (the file by its SHA-256, each line by its fingerprint), matches are proposed, and finance
confirms, rejects, matches by hand or ignores them. Confirming an incoming match completes the deposit through the
bank-transfer confirmation (two different finance users above its threshold); confirming an outgoing one records
the reconciliation, no money moves. Services flush and never commit."""
from __future__ import annotations

import hashlib
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.security import has_permission
from app.core.storage import get_storage, new_key
from app.extensions import db
from app.finance import camt053, csv_statements
from app.finance.bank_models import (
    CREDIT,
    FORMAT_CAMT053,
    FORMAT_CSV,
    IGNORED,
    KIND_BATCH,
    KIND_DEPOSIT,
    KIND_PAYOUT,
    MATCH_KINDS,
    MATCHED,
    PROPOSED,
    RULE_MANUAL,
    UNMATCHED,
    BankStatement,
    CsvMapping,
    StatementLine,
)
from app.finance.statement_lines import MAX_FILE_BYTES, ParsedStatement, StatementRejected
from app.finance.statement_matching import Candidate, batch_fits, expected_amount, payout_fits, propose_for
from app.ledger.accounts import platform_currency
from app.payments.bank_transfers import approve_bank_transfer
from app.payments.models import DEPOSIT_PENDING, DEPOSIT_SUCCEEDED, Deposit
from app.payouts.models import Payout, PayoutBatch

PERMISSION = "statements.import"
REASON_MAX = 1000


def require(actor) -> None:
    if not has_permission(actor, PERMISSION):
        raise Forbidden("bank statements need statements.import")


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError("a reason is required", {"reason": ["Say why."]})
    return text[:REASON_MAX]


# import ----------------------------------------------------------------------------------------------------------

def parse_file(data: bytes, fmt: str, mapping: CsvMapping | None) -> ParsedStatement:
    if len(data) > MAX_FILE_BYTES:
        raise StatementRejected(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise StatementRejected("the file is empty")
    if fmt == FORMAT_CAMT053:
        return camt053.parse(data)
    if fmt == FORMAT_CSV:
        if mapping is None:
            raise ValidationError("choose the bank's CSV mapping", {"mapping": ["A CSV statement needs its mapping."]})
        return csv_statements.parse(data, mapping, default_currency=platform_currency())
    raise ValidationError("choose the statement's format", {"format": ["camt.053 or CSV"]})


def import_statement(data: bytes, *, file_name: str | None, fmt: str, mapping_id: int | None,
                     actor) -> tuple[BankStatement, bool]:
    """(statement, created). The same file again is the statement already imported, unchanged; a line an earlier
    statement brought (an overlapping period) is not created twice. A file that does not read writes nothing."""
    require(actor)
    mapping = db.session.get(CsvMapping, mapping_id) if mapping_id else None
    if mapping_id and mapping is None:
        raise ValidationError("no such CSV mapping")
    sha256 = hashlib.sha256(data).hexdigest()
    existing = db.session.scalar(select(BankStatement).where(BankStatement.file_sha256 == sha256))
    if existing is not None:
        return existing, False
    parsed = parse_file(data, fmt, mapping)
    fingerprints = parsed.fingerprints()
    known = set(db.session.scalars(select(StatementLine.fingerprint)
                                   .where(StatementLine.fingerprint.in_(fingerprints))))
    name = " ".join((file_name or "statement").split())[:255] or "statement"
    key = new_key("bank-statements", "xml" if fmt == FORMAT_CAMT053 else "csv")
    statement = BankStatement(format=fmt, csv_mapping_id=mapping.id if mapping else None, file_name=name,
                              file_key=key, file_sha256=sha256, file_size=len(data),
                              statement_ref=parsed.statement_ref, account=parsed.account,
                              period_from=parsed.period_from, period_to=parsed.period_to, uploaded_by_id=actor.id)
    try:
        with db.session.begin_nested():
            db.session.add(statement)
            db.session.flush()
    except IntegrityError:
        raise Conflict("this statement was imported a moment ago by someone else: open it from the list") from None
    created: list[StatementLine] = []
    for index, (line, fingerprint) in enumerate(zip(parsed.lines, fingerprints, strict=True)):
        if fingerprint in known:
            continue
        row = StatementLine(statement_id=statement.id, line_index=index, fingerprint=fingerprint,
                            booking_date=line.booking_date, value_date=line.value_date, direction=line.direction,
                            amount=line.amount, currency=line.currency, reference=line.reference,
                            end_to_end_id=line.end_to_end_id, entry_ref=line.entry_ref,
                            servicer_ref=line.servicer_ref, counterparty=line.counterparty,
                            remittance=line.remittance, status=UNMATCHED)
        db.session.add(row)
        created.append(row)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise Conflict("an overlapping statement was imported a moment ago: upload this one again") from None
    statement.line_count, statement.known_count = len(created), len(parsed.lines) - len(created)
    proposed = sum(1 for row in created if _auto_propose(row))
    get_storage().put(key, data, "application/xml" if fmt == FORMAT_CAMT053 else "text/csv")
    db.session.flush()
    audit.record("statements.imported", actor=actor, target=statement, after={
        "format": fmt, "file": name, "sha256": sha256, "lines": len(created), "already_known": statement.known_count,
        "proposed": proposed, "mapping": mapping.bank_name if mapping else None})
    return statement, True


def _claim(line: StatementLine, candidate: Candidate, *, actor_id: int | None, from_status: str) -> bool:
    """Point the line at its candidate in one conditional UPDATE; False when the line moved meanwhile or the
    candidate is another line's (the partial unique indexes)."""
    column = {KIND_DEPOSIT: "deposit_id", KIND_PAYOUT: "payout_id", KIND_BATCH: "batch_id"}[candidate.kind]
    try:
        with db.session.begin_nested():
            claimed = cast("CursorResult[Any]", db.session.execute(
                update(StatementLine).where(StatementLine.id == line.id, StatementLine.status == from_status)
                .values({column: candidate.target_id, "status": PROPOSED, "match_kind": candidate.kind,
                         "match_rule": candidate.rule, "match_note": None, "proposed_by_id": actor_id,
                         "proposed_at": utcnow(), "first_confirmed_by_id": None})
                .execution_options(synchronize_session=False))).rowcount
    except IntegrityError:
        claimed = 0
    db.session.refresh(line)
    return bool(claimed)


def _auto_propose(line: StatementLine) -> bool:
    candidate, note = propose_for(line)
    if candidate is not None and _claim(line, candidate, actor_id=None, from_status=UNMATCHED):
        return True
    if note:
        line.match_note = note[:500]
    return False


# decisions -------------------------------------------------------------------------------------------------------

def _locked(line: StatementLine) -> StatementLine:
    fresh = db.session.scalar(select(StatementLine).where(StatementLine.id == line.id).with_for_update()
                              .execution_options(populate_existing=True))
    if fresh is None:
        raise NotFound("no such statement line")
    return fresh


def _target_summary(line: StatementLine) -> dict:
    return {"kind": line.match_kind, "id": line.target_id, "amount": line.amount, "currency": line.currency,
            "rule": line.match_rule}


def confirm(line: StatementLine, *, actor) -> str:
    """Confirm a proposed match: "credited" (the deposit is completed), "awaiting_second_approval" (above the
    two-person threshold: a second, different finance user confirms) or "reconciled" (a payout or batch)."""
    require(actor)
    line = _locked(line)
    if line.status != PROPOSED:
        raise IllegalTransition(f"line #{line.id} is {line.status}, not a proposed match")
    if line.match_kind == KIND_DEPOSIT:
        deposit = db.session.get(Deposit, line.deposit_id)
        if deposit is None:
            raise NotFound("no such deposit")
        _check_deposit(deposit, line, allow_succeeded=True)
        if deposit.status == DEPOSIT_SUCCEEDED:
            result = "reconciled"
        else:
            result = approve_bank_transfer(deposit, actor=actor)
            if result != "credited":
                line.first_confirmed_by_id = actor.id
                db.session.flush()
                audit.record("statements.match_first_confirmation", actor=actor, target=line,
                             after=_target_summary(line))
                return result
    elif line.match_kind == KIND_PAYOUT:
        payout = db.session.get(Payout, line.payout_id)
        if payout is None or not payout_fits(payout, line):
            raise Conflict("the payout is no longer paid with this amount and currency: reject the match")
        if payout.user_id == actor.id:
            raise Forbidden("nobody confirms their own payout")
        result = "reconciled"
    else:
        batch = db.session.get(PayoutBatch, line.batch_id)
        if batch is None or not batch_fits(batch, line):
            raise Conflict("the batch is no longer paid with this total and currency: reject the match")
        result = "reconciled"
    done = cast("CursorResult[Any]", db.session.execute(
        update(StatementLine).where(StatementLine.id == line.id, StatementLine.status == PROPOSED)
        .values(status=MATCHED, confirmed_by_id=actor.id, confirmed_at=utcnow())
        .execution_options(synchronize_session=False))).rowcount
    if not done:
        raise Conflict("the line was decided meanwhile: reload the page")
    db.session.refresh(line)
    audit.record("statements.match_confirmed", actor=actor, target=line, after={**_target_summary(line),
                                                                                  "result": result})
    return result


def _check_deposit(deposit: Deposit, line: StatementLine, *, allow_succeeded: bool) -> None:
    if line.direction != CREDIT:
        raise ValidationError("money out cannot be a deposit: match it to a payout or a batch")
    if deposit.gateway != "bank_transfer":
        raise ValidationError(f"deposit #{deposit.id} is not a bank transfer")
    allowed = (DEPOSIT_PENDING, DEPOSIT_SUCCEEDED) if allow_succeeded else (DEPOSIT_PENDING,)
    if deposit.status not in allowed:
        raise Conflict(f"deposit #{deposit.id} is {deposit.status}")
    if deposit.currency != line.currency or expected_amount(deposit) != line.amount:
        raise ValidationError(f"the line's amount differs from deposit #{deposit.id}'s", {"amount": [
            f"The investor was told to transfer {expected_amount(deposit)} minor units of {deposit.currency}; "
            f"the line has {line.amount} of {line.currency}."]})


def reject(line: StatementLine, *, actor, reason: str | None) -> StatementLine:
    """The proposal is wrong: the line goes back to the unmatched queue."""
    require(actor)
    text = _reason(reason)
    line = _locked(line)
    if line.status != PROPOSED:
        raise IllegalTransition(f"line #{line.id} is {line.status}, not a proposed match")
    before = _target_summary(line)
    line.status, line.deposit_id, line.payout_id, line.batch_id = UNMATCHED, None, None, None
    line.match_kind = line.match_rule = None
    line.proposed_by_id = line.proposed_at = line.first_confirmed_by_id = None
    line.match_note = f"a proposed match to {before['kind']} #{before['id']} was rejected"
    db.session.flush()
    audit.record("statements.match_rejected", actor=actor, target=line, before=before, reason=text)
    return line


def match_manually(line: StatementLine, *, kind: str, target_id: int | str | None, actor,
                   reason: str | None) -> StatementLine:
    """Finance names the deposit, payout or batch of an unmatched line: the same checks as a proposal, and the
    match is then proposed (confirmed like any other: one click, two people above the threshold)."""
    require(actor)
    text = _reason(reason)
    if kind not in MATCH_KINDS:
        raise ValidationError("choose a deposit, a payout or a batch", {"kind": ["deposit, payout or batch"]})
    try:
        number = int(str(target_id).strip().lstrip("#"))
    except ValueError:
        raise ValidationError("enter the id of the deposit, payout or batch", {"target": ["A number."]}) from None
    line = _locked(line)
    if line.status != UNMATCHED:
        raise IllegalTransition(f"line #{line.id} is {line.status}, not unmatched")
    if kind == KIND_DEPOSIT:
        deposit = db.session.get(Deposit, number)
        if deposit is None:
            raise NotFound(f"no deposit #{number}")
        _check_deposit(deposit, line, allow_succeeded=True)
        if deposit.user_id == actor.id:
            raise Forbidden("nobody matches their own deposit")
    elif line.direction == CREDIT:
        raise ValidationError("money in cannot be a payout: match it to a deposit")
    elif kind == KIND_PAYOUT:
        payout = db.session.get(Payout, number)
        if payout is None:
            raise NotFound(f"no payout #{number}")
        if not payout_fits(payout, line):
            raise ValidationError(f"payout #{number} is not a paid payout of this amount and currency")
        if payout.user_id == actor.id:
            raise Forbidden("nobody matches their own payout")
    else:
        batch = db.session.get(PayoutBatch, number)
        if batch is None:
            raise NotFound(f"no batch #{number}")
        if not batch_fits(batch, line):
            raise ValidationError(f"batch #{number} is not a paid batch of this total and currency")
    if not _claim(line, Candidate(kind, number, RULE_MANUAL), actor_id=actor.id, from_status=UNMATCHED):
        raise Conflict(f"{kind} #{number} is already matched to another line, or this line changed meanwhile")
    audit.record("statements.match_proposed", actor=actor, target=line, after=_target_summary(line), reason=text)
    return line


def ignore(line: StatementLine, *, actor, reason: str | None) -> StatementLine:
    """Not ours (a bank fee, a transfer between own accounts...): out of the queue, with the reason."""
    require(actor)
    text = _reason(reason)
    line = _locked(line)
    if line.status != UNMATCHED:
        raise IllegalTransition(f"line #{line.id} is {line.status}: only an unmatched line can be ignored")
    line.status, line.ignored_reason, line.ignored_by_id = IGNORED, text, actor.id
    db.session.flush()
    audit.record("statements.line_ignored", actor=actor, target=line, reason=text)
    return line


def restore(line: StatementLine, *, actor, reason: str | None) -> StatementLine:
    """An ignored line back to the unmatched queue."""
    require(actor)
    text = _reason(reason)
    line = _locked(line)
    if line.status != IGNORED:
        raise IllegalTransition(f"line #{line.id} is {line.status}, not ignored")
    before = {"ignored_reason": line.ignored_reason}
    line.status, line.ignored_reason, line.ignored_by_id = UNMATCHED, None, None
    db.session.flush()
    audit.record("statements.line_restored", actor=actor, target=line, before=before, reason=text)
    return line


def statement_file(statement: BankStatement, *, actor) -> bytes:
    """The file as uploaded (audited: it names investors and amounts)."""
    require(actor)
    audit.record("statements.file_downloaded", actor=actor, target=statement, after={"sha256": statement.file_sha256})
    return get_storage().get(statement.file_key)
