"""Funding a property's distributions: four eyes (a proposal writes nothing to the ledger; a second finance user
approves it, once), the refusals, the console, and the migration that ended negative distributions accounts."""
from datetime import UTC
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, make_url, select, text

from app import create_app
from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.core.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InsufficientFunds,
    NotFound,
    ValidationError,
)
from app.extensions import db
from app.investing import funding
from app.investing.models import DistributionFunding
from app.ledger import services as ledger
from app.ledger.checks import verify
from app.ledger.models import ADJUSTMENTS, OPERATOR_FUNDING, RETURNS_FUNDING, Account, JournalEntry
from app.notifications.models import Notification
from tests.concurrency import run_threads
from tests.support import csrf_from, test_config

MIGRATIONS = str(Path(__file__).resolve().parents[2] / "migrations")


def entries() -> int:
    return db.session.scalar(select(func.count(JournalEntry.id))) or 0


def fundings() -> int:
    return db.session.scalar(select(func.count(DistributionFunding.id))) or 0


def _propose(p, actor, amount="1500.00", reference="OPS-2026-001", **kw):
    f = funding.propose(p.id, amount=amount, bank_reference=reference, actor=actor, **kw)
    db.session.commit()
    return f


# four eyes -----------------------------------------------------------------------------------------------------------
def test_a_proposal_writes_nothing_to_the_ledger(make_property, finance):
    p = make_property()
    f = _propose(p, finance, note="Operator wire for Q1")
    assert (f.status, f.kind, f.amount, f.currency, f.entry_id) == ("proposed", "funding", 150_000, "USD", None)
    assert entries() == 0
    assert funding.distributions_balance(p.id) == 0
    assert [x.id for x in funding.fundings_for(p.id)] == [f.id]
    assert db.session.scalar(select(AuditRecord.action).where(
        AuditRecord.target_type == "distribution_fundings", AuditRecord.target_id == str(f.id))) \
        == "distributions.funding_proposed"


def test_a_second_finance_user_approves_and_the_money_moves_once(make_property, finance, finance2):
    p = make_property()
    f = _propose(p, finance)
    funding.approve(f, actor=finance2)
    db.session.commit()
    assert f.status == "approved" and f.approved_by_id == finance2.id and f.entry_id
    assert funding.distributions_balance(p.id) == 150_000
    operator = db.session.scalar(select(Account).where(Account.kind == OPERATOR_FUNDING))
    assert operator.balance == -150_000 and operator.allow_negative and operator.ref is None
    distributions = db.session.scalar(select(Account).where(Account.kind == RETURNS_FUNDING))
    assert not distributions.allow_negative
    entry = db.session.get(JournalEntry, f.entry_id)
    assert entry.idempotency_key == f"funding:{f.id}" and entry.actor_id == finance2.id
    # replayed: refused, still one entry
    with pytest.raises(IllegalTransition):
        funding.approve(f, actor=finance2)
    db.session.rollback()
    assert entries() == 1 and funding.distributions_balance(p.id) == 150_000
    # the proposer hears of it
    assert db.session.scalar(select(Notification.event).where(Notification.user_id == finance.id,
                                                              Notification.event == "distribution_funding_decided"))
    actions = set(db.session.scalars(select(AuditRecord.action).where(
        AuditRecord.target_type == "distribution_fundings", AuditRecord.target_id == str(f.id))))
    assert {"distributions.funding_proposed", "distributions.funding_approved"} <= actions
    assert verify().ok


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_nobody_approves_their_own_funding(make_property, make_user, role):
    p = make_property()
    maker = make_user(role=role)
    f = _propose(p, maker)
    with pytest.raises(Forbidden, match="second person"):
        funding.approve(f, actor=maker)
    db.session.rollback()
    db.session.refresh(f)
    assert f.status == "proposed" and entries() == 0 and funding.distributions_balance(p.id) == 0


@pytest.mark.parametrize("role", ["property_manager", "support", "compliance", "investor"])
def test_other_roles_cannot_propose_or_approve(make_property, make_user, finance, role):
    p = make_property()
    outsider = make_user(role=role)
    with pytest.raises(Forbidden):
        funding.propose(p.id, amount="100.00", bank_reference="X1", actor=outsider)
    db.session.rollback()
    f = _propose(p, finance)
    with pytest.raises(Forbidden):
        funding.approve(f, actor=outsider)
    db.session.rollback()
    assert fundings() == 1 and entries() == 0


@pytest.mark.parametrize("amount", ["0", "0.00", "-10.00", "10.005", "1e3", "abc", "", "1000000000.01",
                                    "99999999999999999999"])
def test_bad_amounts_are_refused(make_property, finance, amount):
    p = make_property()
    with pytest.raises(ValidationError) as refused:
        funding.propose(p.id, amount=amount, bank_reference="OPS-1", actor=finance)
    assert "amount" in (refused.value.errors or {})
    db.session.rollback()
    assert fundings() == 0


def test_float_and_int_amounts_are_not_major_units(make_property, finance):
    p = make_property()
    with pytest.raises(ValidationError):
        funding.propose(p.id, amount=-5, bank_reference="OPS-1", actor=finance)
    db.session.rollback()
    assert fundings() == 0


@pytest.mark.parametrize("reference", ["", "   ", "x" * 141, "ref\x00null"])
def test_the_bank_reference_is_required_trimmed_and_bounded(make_property, finance, reference):
    p = make_property()
    with pytest.raises(ValidationError) as refused:
        funding.propose(p.id, amount="10.00", bank_reference=reference, actor=finance)
    assert "bank_reference" in (refused.value.errors or {})
    db.session.rollback()
    assert fundings() == 0
    f = _propose(p, finance, reference="  OPS   42 ")
    assert f.bank_reference == "OPS 42"


def test_a_draft_or_missing_property_cannot_be_funded(make_property, finance):
    draft = make_property(publish=False)
    with pytest.raises(ValidationError):
        funding.propose(draft.id, amount="10.00", bank_reference="OPS-1", actor=finance)
    db.session.rollback()
    with pytest.raises(NotFound):
        funding.propose(987654, amount="10.00", bank_reference="OPS-1", actor=finance)
    db.session.rollback()
    assert fundings() == 0


def test_reject_needs_a_reason_and_tells_the_proposer(make_property, finance, finance2):
    p = make_property()
    f = _propose(p, finance)
    with pytest.raises(ValidationError):
        funding.reject(f, actor=finance2, reason=" ")
    db.session.rollback()
    with pytest.raises(Forbidden):
        funding.reject(f, actor=finance, reason="mine")
    db.session.rollback()
    funding.reject(f, actor=finance2, reason="Not on the bank statement")
    db.session.commit()
    assert f.status == "rejected" and f.reason == "Not on the bank statement" and entries() == 0
    with pytest.raises(IllegalTransition):
        funding.approve(f, actor=finance2)
    db.session.rollback()
    assert entries() == 0
    assert db.session.scalar(select(Notification.id).where(Notification.user_id == finance.id,
                                                           Notification.event == "distribution_funding_decided"))


def test_only_the_proposer_cancels(make_property, finance, finance2):
    p = make_property()
    f = _propose(p, finance)
    with pytest.raises(Forbidden):
        funding.cancel(f, actor=finance2)
    db.session.rollback()
    funding.cancel(f, actor=finance)
    db.session.commit()
    assert f.status == "cancelled"
    with pytest.raises(IllegalTransition):
        funding.approve(f, actor=finance2)
    db.session.rollback()
    assert entries() == 0


def test_two_approvals_at_once_post_one_entry(app, make_property, make_user, finance, postgres):
    p = make_property()
    f = _propose(p, finance)
    checkers = [make_user(role="finance") for _ in range(4)]
    funding_id, ids = f.id, [c.id for c in checkers]

    def approve(i):
        from app.auth.models import User  # each thread reads its own rows
        return funding.approve(db.session.get(DistributionFunding, funding_id),
                               actor=db.session.get(User, ids[i])).entry_id

    results = run_threads(app, 4, approve)
    posted = [r for r in results if isinstance(r, int)]
    assert len(posted) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, int)), results
    db.session.expire_all()
    assert entries() == 1 and funding.distributions_balance(p.id) == 150_000


# console -------------------------------------------------------------------------------------------------------------
def _form(client, url):
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return page.get_data(as_text=True)


def test_console_propose_then_approve_by_another(app, client, login, make_property, finance, finance2):
    p = make_property(title="Harbour <script>alert(1)</script> Lofts")
    login(finance)
    html = _form(client, f"/admin/distribution-funding/propose?property_id={p.id}")
    assert f'<option value="{p.id}" selected' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    response = client.post("/admin/distribution-funding/propose", data={
        "property_id": str(p.id), "amount": "2,500.00", "bank_reference": "<b>OPS</b>-7", "note": "<i>wire</i>",
        "csrf_token": csrf_from(html)})
    assert response.status_code == 302
    f = db.session.scalar(select(DistributionFunding))
    assert f.amount == 250_000 and f.bank_reference == "<b>OPS</b>-7" and entries() == 0
    details = _form(client, f"/admin/distribution-funding/details/?id={f.id}")
    assert "USD 2,500.00" in details and "<b>OPS</b>" not in details and "&lt;b&gt;OPS&lt;/b&gt;" in details
    assert "You proposed it" in details
    # the maker's own approval is refused and writes nothing
    client.post(f"/admin/distribution-funding/{f.id}/approve", data={"csrf_token": csrf_from(details)})
    db.session.expire_all()
    assert db.session.get(DistributionFunding, f.id).status == "proposed" and entries() == 0

    checker = app.test_client()
    login(finance2, http=checker)
    details = _form(checker, f"/admin/distribution-funding/details/?id={f.id}")
    assert "Approve" in details
    checker.post(f"/admin/distribution-funding/{f.id}/approve", data={"csrf_token": csrf_from(details)})
    db.session.expire_all()
    assert db.session.get(DistributionFunding, f.id).status == "approved" and entries() == 1
    listing = _form(checker, "/admin/distribution-funding/?flt0_0=approved")
    assert "USD 2,500.00" in listing


def test_console_refusal_keeps_the_form(app, client, login, make_property, finance):
    p = make_property()
    login(finance)
    html = _form(client, "/admin/distribution-funding/propose")
    response = client.post("/admin/distribution-funding/propose", data={
        "property_id": str(p.id), "amount": "10.001", "bank_reference": "OPS", "csrf_token": csrf_from(html)})
    assert response.status_code == 422
    assert "10.001" in response.get_data(as_text=True)
    assert fundings() == 0


@pytest.mark.parametrize("role", ["property_manager", "support", "compliance"])
def test_console_is_finance_only(client, login, make_user, make_property, finance, role):
    p = make_property()
    f = _propose(p, finance)
    login(make_user(role=role))
    assert client.get("/admin/distribution-funding/").status_code == 403
    assert client.get(f"/admin/distribution-funding/propose?property_id={p.id}").status_code == 403
    assert client.post(f"/admin/distribution-funding/{f.id}/approve").status_code in (400, 403)
    db.session.expire_all()
    assert db.session.get(DistributionFunding, f.id).status == "proposed" and entries() == 0


# the migration -------------------------------------------------------------------------------------------------------
@pytest.fixture
def scratch_url(tmp_path, database_url):
    """An empty database beside the suite's: a SQLite file, or a PostgreSQL database of its own."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path}/scratch.db"
        return
    base = make_url(database_url)
    name = f"{base.database}_funding_migration"
    admin_engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def test_migration_brings_negative_distributions_accounts_to_zero(scratch_url):
    """At the previous revision a distributions account could go negative (paid before it was funded): the
    upgrade brings it to zero from operator funding, in a balanced entry, with a row finance confirms."""
    scratch = create_app(test_config(scratch_url))
    with scratch.app_context():
        upgrade(directory=MIGRATIONS, revision="20261203_property_approvals")
        with unit_of_work():
            # the property as its table was at that revision (the model has grown columns since)
            pid = db.session.execute(text(
                "INSERT INTO properties (slug, title, property_type, description, status, street, city, region, "
                "postal_code, country, currency, target_amount, raised_amount, return_frequency, capital_back, "
                "resale_allowed, created_at, updated_at) VALUES ('old-one', 'Old one', 'residential', '', 'active', "
                "'', 'Leeds', '', '', 'GB', 'USD', 1000000, 0, 'quarterly', true, false, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
            # as the ledger opened them before: allowed to go negative
            owed = Account(code=f"returns_funding:{pid}", kind=RETURNS_FUNDING, name="Returns funding", ref=str(pid),
                           currency="USD", balance=0, allow_negative=True)
            fine = Account(code="returns_funding:999", kind=RETURNS_FUNDING, name="Returns funding", ref="999",
                           currency="USD", balance=0, allow_negative=True)
            db.session.add_all([owed, fine])
            db.session.flush()
            source = ledger.platform_account(ADJUSTMENTS)
            # the entries as the ledger wrote them at that revision (its journal entries had no effective date yet)
            for key, lines in (("old-run", [(owed, -12_345), (source, 12_345)]),
                               ("old-funded", [(source, -100), (fine, 100)])):
                entry_id = db.session.execute(text(
                    "INSERT INTO ledger_entries (kind, memo, idempotency_key, fingerprint, created_at) VALUES "
                    "('returns', '', :key, :fp, CURRENT_TIMESTAMP) RETURNING id"), {"key": key, "fp": key.ljust(64, "0")}
                ).scalar_one()
                db.session.execute(text("INSERT INTO ledger_postings (entry_id, account_id, amount) VALUES "
                                        "(:e, :a1, :m1), (:e, :a2, :m2)"),
                                   {"e": entry_id, "a1": lines[0][0].id, "m1": lines[0][1], "a2": lines[1][0].id,
                                    "m2": lines[1][1]})
                for account, amount in lines:
                    db.session.execute(text("UPDATE ledger_accounts SET balance = balance + :m WHERE id = :a"),
                                       {"m": amount, "a": account.id})
            owed_id, fine_id = owed.id, fine.id
        db.session.remove()

        upgrade(directory=MIGRATIONS)

        account = db.session.get(Account, owed_id)
        assert account.balance == 0 and account.allow_negative is False
        untouched = db.session.get(Account, fine_id)
        assert untouched.balance == 100 and untouched.allow_negative is False
        operator = db.session.scalar(select(Account).where(Account.code == "operator_funding"))
        assert operator.balance == -12_345 and operator.allow_negative and operator.kind == OPERATOR_FUNDING
        [row] = db.session.scalars(select(DistributionFunding)).all()
        assert (row.property_id, row.amount, row.kind, row.status) == (pid, 12_345, "migrated", "to_confirm")
        entry = db.session.get(JournalEntry, row.entry_id)
        assert entry.idempotency_key == f"migrated-funding:{owed_id}"
        # the entries written before effective dates existed count for the UTC day they were written
        old_run = db.session.scalar(select(JournalEntry).where(JournalEntry.idempotency_key == "old-run"))
        assert old_run.effective_date == old_run.created_at.astimezone(UTC).date()
        assert sorted(p.amount for p in entry.postings) == [-12_345, 12_345]
        report = verify()
        assert report.ok, report.violations
        # the ledger now refuses to take it below zero
        with pytest.raises(InsufficientFunds):
            ledger.post([(account, -1), (ledger.platform_account(ADJUSTMENTS), 1)], key="after", kind="returns")
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()


def test_a_migrated_funding_is_confirmed_with_its_bank_reference(make_property, finance, finance2):
    p = make_property()
    f = DistributionFunding(property_id=p.id, amount=500, currency="USD", bank_reference="", note="",
                            status="to_confirm", kind="migrated", proposed_at=utcnow())
    db.session.add(f)
    db.session.commit()
    with pytest.raises(IllegalTransition):
        funding.approve(f, actor=finance2)
    db.session.rollback()
    with pytest.raises(ValidationError):
        funding.confirm(f, actor=finance, bank_reference="")
    db.session.rollback()
    funding.confirm(f, actor=finance, bank_reference="WIRE-9")
    db.session.commit()
    assert (f.status, f.bank_reference, f.approved_by_id) == ("approved", "WIRE-9", finance.id)
    assert db.session.scalar(select(AuditRecord.action).where(AuditRecord.action == "distributions.funding_confirmed"))
