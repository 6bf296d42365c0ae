"""Balance adjustments: four eyes (a proposal writes nothing to the ledger; a second finance user approves it, once,
in one balanced entry against the adjustments account), the refusals (own wallet, self-approval, a debit below zero,
bad amounts and documents), the investor told after commit in plain words, and the audit trail."""
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.auth.models import Role, User
from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InsufficientFunds,
    NotFound,
    ValidationError,
)
from app.core.money import Money
from app.extensions import db
from app.finance import adjustments
from app.finance.adjustment_models import BalanceAdjustment
from app.ledger import services as ledger
from app.ledger.models import ADJUSTMENTS, Account, JournalEntry
from app.notifications.models import Notification
from tests.concurrency import run_threads
from tests.core import files
from tests.support import outbox

PDF = files.minimal_pdf()


def entries(kind: str = "adjustment") -> int:
    return db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.kind == kind)) or 0


def rows() -> int:
    return db.session.scalar(select(func.count(BalanceAdjustment.id))) or 0


def wallet(user) -> int:
    return ledger.balance_of(user.id).available.minor


def adjustments_account() -> int:
    return int(db.session.scalar(select(Account.balance).where(Account.kind == ADJUSTMENTS)) or 0)


def audit_actions(a) -> list[str]:
    return list(db.session.scalars(select(AuditRecord.action).where(
        AuditRecord.target_type == "balance_adjustments", AuditRecord.target_id == str(a.id))
        .order_by(AuditRecord.id)))


def _propose(user, actor, *, direction="credit", amount="25.00", reason="Duplicated fee on payout #7",
             note="Refund of a duplicated withdrawal fee", attachment=PDF):
    with unit_of_work():
        return adjustments.propose(user.email, direction=direction, amount=amount, reason=reason, note=note,
                                   attachment=attachment, actor=actor)


# four eyes -----------------------------------------------------------------------------------------------------------
def test_a_proposal_writes_nothing_to_the_ledger_and_alerts_finance(investor, finance, finance2):
    a = _propose(investor, finance)
    assert (a.status, a.direction, a.amount, a.currency, a.entry_id) == ("proposed", "credit", 2_500, "USD", None)
    assert a.attachment_type == "application/pdf" and a.attachment_sha256
    assert entries() == 0 and wallet(investor) == 100_000
    assert audit_actions(a) == ["adjustments.proposed"]
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "adjustments.proposed"))
    assert record.reason == "Duplicated fee on payout #7" and record.actor_id == finance.id
    # the other finance user is asked to approve; the proposer is not
    alerted = set(db.session.scalars(select(Notification.user_id).where(
        Notification.event == "adjustment_pending_staff")))
    assert alerted == {finance2.id}


def test_approved_credit_moves_the_wallet_once_against_the_adjustments_account(investor, finance, finance2):
    a = _propose(investor, finance, amount="1,234.56")
    with unit_of_work():
        adjustments.approve(a, actor=finance2, comment="Checked against the payout file")
    assert a.status == "approved" and a.decided_by_id == finance2.id and a.entry_id
    assert wallet(investor) == 100_000 + 123_456
    assert adjustments_account() == -123_456
    entry = db.session.get(JournalEntry, a.entry_id)
    assert entry.idempotency_key == f"adjustment-{a.id}" and entry.kind == "adjustment"
    assert entry.actor_id == finance2.id
    assert sorted(p.amount for p in entry.postings) == [-123_456, 123_456]
    assert {p.account.kind for p in entry.postings} == {"user_wallet", ADJUSTMENTS}
    # the investor's history line is plain words: the note, never the internal reason
    assert entry.memo == "Balance correction (credit): Refund of a duplicated withdrawal fee"
    assert "payout #7" not in entry.memo
    # replayed: refused, still one entry, the wallet credited once
    with pytest.raises(IllegalTransition), unit_of_work():
        adjustments.approve(a, actor=finance2)
    assert entries() == 1 and wallet(investor) == 100_000 + 123_456
    assert audit_actions(a) == ["adjustments.proposed", "adjustments.approved"]
    approved = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "adjustments.approved"))
    assert approved.before["status"] == "proposed" and approved.after["status"] == "approved"
    assert approved.after["entry_id"] == a.entry_id and approved.reason == "Checked against the payout file"
    assert ledger.verify().ok


def test_approved_debit_takes_money_from_the_wallet(investor, finance, finance2):
    a = _propose(investor, finance, direction="debit", amount="40.00", note="")
    with unit_of_work():
        adjustments.approve(a, actor=finance2)
    assert wallet(investor) == 100_000 - 4_000 and adjustments_account() == 4_000
    assert db.session.get(JournalEntry, a.entry_id).memo == "Balance correction (debit)"


def test_the_investor_is_told_after_commit_in_plain_words(investor, finance, finance2):
    a = _propose(investor, finance)
    with pytest.raises(RuntimeError), unit_of_work():  # the unit fails after the approval: nobody is told
        adjustments.approve(a, actor=finance2)
        raise RuntimeError("boom")
    db.session.refresh(a)
    assert a.status == "proposed" and entries() == 0 and not outbox(investor.email, "wallet_adjusted")
    assert not db.session.scalar(select(Notification.id).where(Notification.event == "wallet_adjusted"))
    with unit_of_work():
        adjustments.approve(a, actor=finance2)
    [mail] = outbox(investor.email, "wallet_adjusted")
    assert Money(2500, "USD").local() in mail.subject and "credited" in mail.subject  # as the investor reads it
    assert "Refund of a duplicated withdrawal fee" in mail.body
    assert "payout #7" not in mail.body and "Duplicated fee" not in mail.body
    in_app = db.session.scalar(select(Notification).where(Notification.user_id == investor.id,
                                                          Notification.event == "wallet_adjusted"))
    assert in_app is not None
    # the proposer hears of the decision
    assert outbox(finance.email, "adjustment_decided")


def test_self_approval_is_refused(investor, finance):
    a = _propose(investor, finance)
    with pytest.raises(Forbidden, match="second person"), unit_of_work():
        adjustments.approve(a, actor=finance)
    with pytest.raises(Forbidden), unit_of_work():
        adjustments.reject(a, actor=finance, reason="mine")
    db.session.refresh(a)
    assert a.status == "proposed" and entries() == 0 and wallet(investor) == 100_000


def test_the_database_holds_four_eyes_too(investor, finance):
    a = _propose(investor, finance)
    with pytest.raises(IntegrityError), unit_of_work():
        db.session.execute(text("UPDATE balance_adjustments SET decided_by_id = :me WHERE id = :id"),
                           {"me": finance.id, "id": a.id})
    with pytest.raises(IntegrityError), unit_of_work():
        db.session.execute(text("UPDATE balance_adjustments SET proposed_by_id = user_id WHERE id = :id"),
                           {"id": a.id})


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_nobody_adjusts_their_own_wallet(make_user, make_investor, role, finance2):
    staff = make_user(role=role)
    with pytest.raises(Forbidden, match="own wallet"), unit_of_work():
        adjustments.propose(staff.email, direction="credit", amount="10.00", reason="x", attachment=PDF, actor=staff)
    # nor another staff member's wallet: adjustments are for investors
    with pytest.raises(ValidationError, match="investors"), unit_of_work():
        adjustments.propose(finance2.id, direction="credit", amount="10.00", reason="x", attachment=PDF, actor=staff)
    assert rows() == 0


def test_nobody_approves_an_adjustment_of_their_own_wallet(make_user, finance, finance2):
    """A finance user who is also the wallet's owner (made an investor by hand here) cannot decide it."""
    target = make_user()
    a = _propose(target, finance)
    with unit_of_work():
        db.session.execute(text("UPDATE balance_adjustments SET user_id = :u WHERE id = :id"),
                           {"u": finance2.id, "id": a.id})
    db.session.refresh(a)
    with pytest.raises(Forbidden, match="own wallet"), unit_of_work():
        adjustments.approve(a, actor=finance2)
    db.session.refresh(a)
    assert a.status == "proposed" and entries() == 0


def test_a_wallet_whose_owner_became_staff_is_not_adjusted(make_user, finance, finance2):
    target = make_user()
    support = make_user(role="support")
    a = _propose(target, finance)
    with unit_of_work():
        db.session.get_one(User, target.id).roles.append(db.session.scalar(select(Role).where(Role.name == "support")))
    assert support.is_staff
    with pytest.raises(ValidationError, match="staff"), unit_of_work():
        adjustments.approve(a, actor=finance2)
    db.session.refresh(a)
    assert a.status == "proposed" and entries() == 0


def test_a_debit_below_zero_is_refused_at_proposal_and_at_approval(investor, finance, finance2, make_property):
    with pytest.raises(InsufficientFunds, match="below zero"), unit_of_work():
        adjustments.propose(investor.email, direction="debit", amount="1000.01", reason="x", attachment=PDF,
                            actor=finance)
    assert rows() == 0
    a = _propose(investor, finance, direction="debit", amount="900.00")
    # the wallet is spent meanwhile: the approval fails, the proposal stays proposed, nothing is written
    with unit_of_work():
        ledger.post([(ledger.user_account(investor.id), -50_000), (ledger.platform_account(ADJUSTMENTS), 50_000)],
                    key="spent-meanwhile", kind="test")
    audits = db.session.scalar(select(func.count(AuditRecord.id)))
    with pytest.raises(InsufficientFunds, match="stays proposed") as refused, unit_of_work():
        adjustments.approve(a, actor=finance2)
    assert "USD 500.00" in refused.value.message
    db.session.refresh(a)
    assert (a.status, a.entry_id, a.decided_by_id) == ("proposed", None, None)
    assert entries() == 0 and wallet(investor) == 50_000
    assert db.session.scalar(select(func.count(AuditRecord.id))) == audits
    assert not db.session.scalar(select(Notification.id).where(Notification.event == "wallet_adjusted"))
    # once the money is there again, the same proposal is approved
    with unit_of_work():
        ledger.post([(ledger.user_account(investor.id), 50_000), (ledger.platform_account(ADJUSTMENTS), -50_000)],
                    key="back-again", kind="test")
        adjustments.approve(a, actor=finance2)
    assert wallet(investor) == 10_000


def _refused(error, field, **kwargs):
    fields = {"user_ref": "", "direction": "credit", "amount": "1.00", "reason": "x", "note": "",
              "attachment": PDF} | kwargs
    with pytest.raises(error) as refused, unit_of_work():
        adjustments.propose(fields.pop("user_ref"), **fields)
    if field:
        assert field in (refused.value.errors or {}), (kwargs, refused.value)


def test_bad_amounts_are_refused(investor, finance):
    for amount in ("-10.00", "0", "0.00", "10.005", "1e3", "abc", "", "1000000.01", "99999999999999999999", " -1",
                   10.5, 100, None):
        _refused(ValidationError, "amount", user_ref=investor.email, amount=amount, actor=finance)
    assert rows() == 0


def test_bad_fields_are_refused(investor, finance):
    for field, value in (("direction", "refund"), ("reason", "  "), ("note", "x" * 201), ("note", "line\x00null"),
                         ("note", "Confirm at https://evil.example/login"), ("note", "see www.evil.example"),
                         ("note", "javascript:alert(1)")):
        _refused(ValidationError, field, user_ref=investor.email, actor=finance, **{field: value})
    assert rows() == 0


def test_an_unknown_user_is_refused(finance):
    for user in ("nobody@example.com", "0", "999999", "", "'; DROP TABLE users; --", "9" * 40):
        _refused(NotFound, "user", user_ref=user, actor=finance)
    assert rows() == 0


def test_the_user_is_found_by_id_or_email(investor, finance):
    a = _propose(investor, finance)
    with unit_of_work():
        b = adjustments.propose(f"#{investor.id}", direction="credit", amount="1.00", reason="x", attachment=PDF,
                                actor=finance)
        c = adjustments.propose(investor.email.upper(), direction="credit", amount="1.00", reason="x",
                                attachment=PDF, actor=finance)
    assert a.user_id == b.user_id == c.user_id == investor.id


def test_a_missing_or_bad_document_is_refused(investor, finance):
    for attachment in (None, b"", files.html_as_jpeg(), files.svg(), files.gif(), files.pdf_with_open_action_js(),
                       files.encrypted_pdf(), files.truncated_jpeg(), b"%PDF-1.7 not really", files.blob()):
        _refused(ValidationError, "attachment", user_ref=investor.email, attachment=attachment, actor=finance)
    assert rows() == 0


def test_an_image_is_kept_without_its_metadata(investor, finance):
    a = _propose(investor, finance, attachment=files.jpeg_with_gps())
    assert a.attachment_type == "image/jpeg" and a.attachment_key.startswith(f"adjustments/{investor.id}/")
    with unit_of_work():
        found = adjustments.attachment_of(a, viewer=finance)
    assert b"Exif" not in found.data[:200]


def test_reject_needs_a_reason_and_tells_the_proposer(investor, finance, finance2):
    a = _propose(investor, finance)
    with pytest.raises(ValidationError), unit_of_work():
        adjustments.reject(a, actor=finance2, reason=" ")
    with unit_of_work():
        adjustments.reject(a, actor=finance2, reason="No evidence of the duplicated fee")
    assert (a.status, a.decision_reason, a.decided_by_id) == ("rejected", "No evidence of the duplicated fee",
                                                               finance2.id)
    with pytest.raises(IllegalTransition), unit_of_work():
        adjustments.approve(a, actor=finance2)
    assert entries() == 0 and wallet(investor) == 100_000
    assert audit_actions(a) == ["adjustments.proposed", "adjustments.rejected"]
    assert db.session.scalar(select(Notification.id).where(Notification.user_id == finance.id,
                                                           Notification.event == "adjustment_decided"))
    assert not outbox(investor.email, "wallet_adjusted")


def test_only_the_proposer_cancels(investor, finance, finance2):
    a = _propose(investor, finance)
    with pytest.raises(Forbidden), unit_of_work():
        adjustments.cancel(a, actor=finance2)
    with unit_of_work():
        adjustments.cancel(a, actor=finance, reason="Typed the wrong amount")
    assert a.status == "cancelled"
    with pytest.raises(IllegalTransition), unit_of_work():
        adjustments.approve(a, actor=finance2)
    assert entries() == 0
    assert audit_actions(a) == ["adjustments.proposed", "adjustments.cancelled"]
    cancelled = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "adjustments.cancelled"))
    assert cancelled.reason == "Typed the wrong amount" and cancelled.after["status"] == "cancelled"


@pytest.mark.parametrize("role", ["property_manager", "support", "compliance", "investor"])
def test_other_roles_cannot_propose_approve_or_read_the_document(investor, make_user, finance, role):
    outsider = make_user(role=role)
    with pytest.raises(Forbidden), unit_of_work():
        adjustments.propose(investor.email, direction="credit", amount="1.00", reason="x", attachment=PDF,
                            actor=outsider)
    a = _propose(investor, finance)
    for decide in (lambda: adjustments.approve(a, actor=outsider),
                   lambda: adjustments.reject(a, actor=outsider, reason="x"),
                   lambda: adjustments.cancel(a, actor=outsider)):
        with pytest.raises(Forbidden), unit_of_work():
            decide()
    with pytest.raises(NotFound), unit_of_work():
        adjustments.attachment_of(a, viewer=outsider)
    db.session.refresh(a)
    assert rows() == 1 and a.status == "proposed" and entries() == 0


def test_an_admin_may_approve(investor, finance, make_user):
    a = _propose(investor, finance)
    with unit_of_work():
        adjustments.approve(a, actor=make_user(role="admin"))
    assert a.status == "approved" and wallet(investor) == 102_500


def test_concurrent_approvals_post_once(app, investor, finance, make_user, postgres):
    a = _propose(investor, finance, amount="10.00")
    checkers = [make_user(role="finance") for _ in range(4)]
    adjustment_id, ids = a.id, [c.id for c in checkers]

    def approve(i):
        return adjustments.approve(db.session.get(BalanceAdjustment, adjustment_id),
                                   actor=db.session.get(User, ids[i])).entry_id

    results = run_threads(app, 4, approve)
    posted = [r for r in results if isinstance(r, int)]
    assert len(posted) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, int)), results
    db.session.expire_all()
    assert entries() == 1 and wallet(investor) == 101_000 and adjustments_account() == -1_000
    assert db.session.scalar(select(func.count(Notification.id)).where(Notification.event == "wallet_adjusted")) == 1


def test_concurrent_debits_never_overdraw(app, investor, finance, finance2, postgres):
    """Two debits of 600.00 each against a wallet of 1,000.00, approved at the same time: one posts."""
    first = _propose(investor, finance, direction="debit", amount="600.00")
    second = _propose(investor, finance, direction="debit", amount="600.00")
    ids = [first.id, second.id]

    def approve(i):
        return adjustments.approve(db.session.get(BalanceAdjustment, ids[i]),
                                   actor=db.session.get(User, finance2.id)).status

    results = run_threads(app, 2, approve)
    assert sorted(map(str, results)).count("approved") == 1, results
    db.session.expire_all()
    assert wallet(investor) == 40_000 and entries() == 1
    statuses = sorted(db.session.scalars(select(BalanceAdjustment.status)))
    assert statuses == ["approved", "proposed"]
