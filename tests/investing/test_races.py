"""PostgreSQL only: investments racing for the last units of a property, one investor racing against their own
wallet, and one Idempotency-Key sent many times at once. The ledger verifies after each."""
import threading
import time

import pytest
from sqlalchemy import func, select, text

from app.auth.models import User
from app.core.errors import Conflict, InsufficientFunds
from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import Investment
from app.ledger.checks import verify
from app.ledger.services import balance_of
from app.properties.models import Property
from tests.concurrency import run_threads

pytestmark = pytest.mark.postgres


class RaisedWatcher:
    """Reads the property's raised amount over and over while the race runs: it must never pass the target."""

    def __init__(self, app, property_id):
        self.app, self.property_id = app, property_id
        self.samples: list[tuple[int, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self):
        with self.app.app_context():
            try:
                while not self.stop.is_set():
                    with db.engine.connect() as conn:
                        self.samples.append(tuple(conn.execute(
                            text("SELECT raised_amount, target_amount FROM properties WHERE id = :id"),
                            {"id": self.property_id}).one()))
                    time.sleep(0.005)
            finally:
                db.session.remove()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)


def _no_negative_wallet():
    return db.session.scalar(text(
        "SELECT count(*) FROM ledger_accounts WHERE user_id IS NOT NULL AND balance < 0")) == 0


@pytest.mark.parametrize("target", [1_000_000, 1_050_000], ids=["exactly-ten", "ten-and-a-half"])
def test_a_hundred_investors_race_for_ten_units(app, postgres, make_user, fund, make_property, kyc_open, target):
    p = make_property(target_amount=target, min_investment=10_000, max_investment=100_000)  # room for 10 of 1,000.00
    user_ids = []
    for n in range(100):
        user = make_user(f"racer{n}@example.com", verified=True)
        fund(user, "1500.00")
        user_ids.append(user.id)
    property_id = p.id

    def invest(index):
        user = db.session.get(User, user_ids[index])
        return investing.invest(user, property_id, Money.parse("1000.00", "USD"), acknowledged=True,
                                ip="198.51.100.7").id

    with RaisedWatcher(app, property_id) as watcher:
        results = run_threads(app, 100, invest, timeout=180)
    won = [r for r in results if isinstance(r, int)]
    lost = [r for r in results if isinstance(r, Conflict)]
    unexpected = [r for r in results if not isinstance(r, (int, Conflict))]
    assert not unexpected, unexpected[:3]
    assert len(won) == 10 and len(lost) == 90
    if target == 1_000_000:  # the last unit funds the property: the others find it funded
        assert {e.message for e in lost} <= {"this property is funded and not open for investment"}, lost[:3]
    else:  # 500.00 stays open: the others are told so, in major units
        assert {e.message for e in lost} == {"not enough funding left: 500.00 USD remains"}, lost[:3]
        assert all(e.errors == {"amount": ["At most 500.00 USD remains."]} for e in lost)
    assert watcher.samples and all(raised <= target for raised, target in watcher.samples)

    db.session.expire_all()
    p = db.session.get(Property, property_id)
    assert p.raised_amount == 1_000_000 and p.remaining_amount == target - 1_000_000
    assert p.status == ("funded" if target == 1_000_000 else "active")
    assert db.session.scalar(select(func.count(Investment.id))) == 10
    assert investing.escrow_account(property_id).balance == 1_000_000
    winners = set(db.session.scalars(select(Investment.user_id)))
    for uid in user_ids:
        assert balance_of(uid).available.amount_str() == ("500.00" if uid in winners else "1500.00")
    assert _no_negative_wallet()
    result = verify()
    assert result.ok, result.violations


def test_one_investor_fires_twenty_requests_that_exceed_the_wallet(app, postgres, make_investor,
                                                                   make_property, token_for):
    user = make_investor("5000.00")
    p = make_property()
    headers = token_for(user)
    property_id = p.id
    barrier = threading.Barrier(20)
    answers: list = [None] * 20

    def send(index):
        http = app.test_client()
        barrier.wait(timeout=60)
        response = http.post(f"/api/v1/properties/{property_id}/invest", json={"amount": "1000.00"},
                             headers={**headers, "Idempotency-Key": f"burst-{index}"})
        answers[index] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    codes = [a[0] for a in answers]
    assert codes.count(201) == 5, codes
    assert codes.count(422) == 15, codes
    for status, body in answers:
        assert body["status"] == ("success" if status == 201 else "error")
        if status == 422:
            assert "your wallet holds" in body["message"]
    db.session.expire_all()
    assert balance_of(user.id).available.minor == 0
    assert db.session.get(Property, property_id).raised_amount == 500_000
    assert db.session.scalar(select(func.count(Investment.id))) == 5
    assert _no_negative_wallet()
    result = verify()
    assert result.ok, result.violations


def test_twenty_investors_in_threads_never_overdraw_one_shared_rule(app, postgres, make_investor,
                                                                    make_property):
    """The same through the service: one wallet, twenty investments at once in two properties (two lock orders)."""
    user = make_investor("3000.00")
    p, q = make_property(), make_property()
    user_id, ids = user.id, (p.id, q.id)

    def invest(index):
        return investing.invest(db.session.get(User, user_id), ids[index % 2], Money.parse("500.00", "USD"),
                                acknowledged=True).id

    results = run_threads(app, 20, invest, timeout=180)
    won = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(won) == 6 and len(refused) == 14, [type(r).__name__ for r in results]
    db.session.expire_all()
    assert balance_of(user_id).available.minor == 0
    raised = sum(db.session.get(Property, i).raised_amount for i in ids)
    assert raised == 300_000
    assert _no_negative_wallet()
    result = verify()
    assert result.ok, result.violations


def test_one_idempotency_key_sent_ten_times_at_once_invests_once(app, postgres, make_investor, make_property,
                                                                 token_for):
    user = make_investor("10000.00")
    p = make_property()
    headers = {**token_for(user), "Idempotency-Key": "same-key-at-once"}
    property_id = p.id
    barrier = threading.Barrier(10)
    answers: list = []
    lock = threading.Lock()

    def send():
        http = app.test_client()
        barrier.wait(timeout=60)
        response = http.post(f"/api/v1/properties/{property_id}/invest", json={"amount": "1000.00"},
                             headers=headers)
        with lock:
            answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # the first to insert the key does the work; the others wait on the key's unique index, then replay its answer
    assert [status for status, _ in answers] == [201] * 10, answers
    created = [body["data"]["id"] for _, body in answers]
    assert len(set(created)) == 1 and all(body == answers[0][1] for _, body in answers)
    # retried afterwards: the same investment; with another amount: 409
    http = app.test_client()
    again = http.post(f"/api/v1/properties/{property_id}/invest", json={"amount": "1000.00"}, headers=headers)
    assert again.status_code == 201 and again.get_json()["data"]["id"] == created[0]
    other = http.post(f"/api/v1/properties/{property_id}/invest", json={"amount": "2000.00"}, headers=headers)
    assert other.status_code == 409 and "Idempotency-Key" in other.get_json()["message"]
    assert db.session.scalar(select(func.count(Investment.id))) == 1
    assert balance_of(user.id).available.amount_str() == "9000.00"
    result = verify()
    assert result.ok, result.violations
