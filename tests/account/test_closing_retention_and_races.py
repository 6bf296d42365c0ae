"""After the closing: identity documents deleted once KYC_RETENTION_DAYS have passed (not before). And on
PostgreSQL, the closing against money arriving at the same moment and against a second closing: the wallet rows'
lock decides, so an account never closes over money that was committed first, and closes once."""
import threading
import time
from datetime import timedelta

from sqlalchemy import select

from app.account import services as account
from app.account.closing import close_account
from app.auth.models import User
from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict, IllegalTransition
from app.core.money import Money
from app.core.storage import get_storage
from app.extensions import db
from app.kyc.models import KycDocument, KycSubmission
from app.ledger.services import balance_of
from app.payments import services as payments
from app.retention import prune
from tests.concurrency import run_threads
from tests.factories import DepositFactory
from tests.support import PASSWORD


def _documents(user_id):
    db.session.expire_all()
    return list(db.session.scalars(select(KycDocument).join(KycSubmission).where(KycSubmission.user_id == user_id)))


def test_identity_documents_go_after_the_retention_period(app, make_investor):
    closed, kept = make_investor(None), make_investor(None)
    with unit_of_work():
        account.close_own_account(closed, PASSWORD)
    documents = _documents(closed.id)
    keys = [d.storage_key for d in documents]
    assert documents and all(get_storage().exists(k) for k in keys)
    days = app.config["KYC_RETENTION_DAYS"]
    closed_at = db.session.get(User, closed.id).closed_at

    with unit_of_work():
        assert prune(closed_at + timedelta(days=days - 1))["closed_account_kyc_documents"] == 0
    assert len(_documents(closed.id)) == len(documents)

    with unit_of_work():
        assert prune(closed_at + timedelta(days=days, seconds=1))["closed_account_kyc_documents"] == len(documents)
    assert _documents(closed.id) == [] and not any(get_storage().exists(k) for k in keys)
    assert db.session.scalar(select(KycSubmission).where(KycSubmission.user_id == closed.id)) is not None
    assert _documents(kept.id)  # an open account's documents stay


def test_a_credit_committed_while_the_closing_waits_stops_it(app, make_investor, postgres):
    investor_id = make_investor(None).id  # read once: the threads never touch the test's own session
    crediting = threading.Event()

    def work(index):
        if index == 0:  # money arrives: the wallet row stays locked for a moment before the commit
            with unit_of_work():
                DepositFactory(user=db.session.get(User, investor_id), amount="5.00")
                crediting.set()
                time.sleep(1.0)
            return "credited"
        crediting.wait(10)
        close_account(db.session.get(User, investor_id), actor=None, reason="race", via="self")
        return "closed"

    results = run_threads(app, 2, work)
    assert results[0] == "credited"
    assert isinstance(results[1], Conflict) and "money" in results[1].errors
    db.session.expire_all()
    assert db.session.get(User, investor_id).status == "active"
    assert balance_of(investor_id).available.minor == 500


def test_two_closings_at_once_close_once(app, make_investor, postgres):
    investor_id = make_investor(None).id

    def work(index):
        close_account(db.session.get(User, investor_id), actor=None, reason="double click", via="self")
        return "closed"

    results = run_threads(app, 2, work)
    assert sorted(map(str, results)).count("closed") == 1
    assert any(isinstance(r, IllegalTransition) for r in results), results
    closings = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "account.close")).all()
    assert len(closings) == 1


def test_an_export_asked_before_the_closing_is_deleted_with_it(client, make_investor, token_for):
    investor = make_investor(None)
    headers = token_for(investor)
    export_id = client.post("/api/v1/me/export", headers=headers).get_json()["data"]["id"]
    from app.account.models import DataExport  # the export's row, read after the closing

    key = db.session.get(DataExport, export_id).storage_key
    assert client.delete("/api/v1/me", json={"password": PASSWORD}, headers=headers).status_code == 200
    db.session.expire_all()
    export = db.session.get(DataExport, export_id)
    assert export.status == "expired" and export.storage_key is None and not get_storage().exists(key)
    assert export.expires_at <= utcnow() + timedelta(days=8)


def test_a_deposit_asked_for_while_the_closing_waits_stops_it(app, make_investor, postgres):
    """Inserting a row that names the user (a deposit) holds a key-share lock on the user row, which the closing's
    FOR UPDATE waits for: the closing then sees the pending deposit."""
    investor_id = make_investor(None).id
    asking = threading.Event()

    def work(index):
        if index == 0:
            with unit_of_work():
                payments.create_deposit(investor_id, Money.parse("75.00", "USD"), "bank_transfer")
                asking.set()
                time.sleep(1.0)
            return "asked"
        asking.wait(10)
        close_account(db.session.get(User, investor_id), actor=None, reason="race", via="self")
        return "closed"

    results = run_threads(app, 2, work)
    assert results[0] == "asked"
    assert isinstance(results[1], Conflict) and set(results[1].errors) == {"deposits"}
    db.session.expire_all()
    assert db.session.get(User, investor_id).status == "active"
