"""Money races and crashes, each as the attack: two finance users refunding one deposit at once, a refund of more
than is left, the same Idempotency-Key sent twice at once, and a server killed between the work and its answer.
Nothing is ever debited twice, nothing is half-written, and the ledger verifies after each test."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.api.idempotency import IdempotencyKey
from app.core.audit import AuditRecord
from app.core.db import discard, unit_of_work
from app.extensions import db
from app.ledger.models import Hold, JournalEntry
from app.ledger.services import balance_of
from app.payments.models import Deposit, Receivable
from app.payouts.models import Payout
from tests.factories import DepositFactory
from tests.fakes.stripe_api import FakeStripe
from tests.payouts.helpers import balances
from tests.support import csrf_from, free_port

ROOT = Path(__file__).resolve().parent.parent.parent


# refunds -----------------------------------------------------------------------------------------------------------
@pytest.fixture
def deposit(make_user):
    """A completed 100.00 bank-transfer deposit: the investor's whole wallet."""
    with unit_of_work():
        return DepositFactory(user=make_user(), amount="100.00")


def _console(app, login, user):
    http = app.test_client()
    assert login(user, http=http).status_code == 302
    return http


def _refund(http, deposit_id: int, amount: str, reason: str = "the investor asked for it back"):
    page = http.get(f"/admin/deposits/details/?id={deposit_id}").get_data(as_text=True)
    return http.post(f"/admin/deposits/{deposit_id}/refund",
                     data={"csrf_token": csrf_from(page), "amount": amount, "reason": reason}, follow_redirects=True)


def _refunds(deposit_id: int) -> tuple[int, int, int]:
    """(refund entries, what the deposit says was refunded, what left the investor's wallet and receivables)."""
    db.session.expire_all()
    dep = db.session.get(Deposit, deposit_id)
    entries = db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.kind == "deposit_refund"))
    owed = db.session.scalar(select(func.coalesce(func.sum(Receivable.amount), 0))) or 0
    taken = dep.amount - balance_of(dep.user_id).available.minor + owed
    return entries, dep.refunded_amount, taken


def test_two_finance_users_refunding_one_deposit_at_once_refund_it_once(app, postgres, login, finance, finance2,
                                                                        deposit):
    """60.00 and 70.00 of a 100.00 deposit at the same instant: the deposit's row lock makes them take turns, so the
    second sees only 40.00 left and is refused. Without it both read "100.00 left", both post, and the wallet loses
    130.00 for a deposit that says 60.00 or 70.00 was refunded."""
    consoles = {"60.00": _console(app, login, finance), "70.00": _console(app, login, finance2)}
    pages = {amount: http.get(f"/admin/deposits/details/?id={deposit.id}").get_data(as_text=True)
             for amount, http in consoles.items()}
    barrier = threading.Barrier(2)
    answers: dict[str, str] = {}

    def refund(amount: str) -> None:
        barrier.wait(timeout=60)
        response = consoles[amount].post(f"/admin/deposits/{deposit.id}/refund", follow_redirects=True, data={
            "csrf_token": csrf_from(pages[amount]), "amount": amount, "reason": "asked twice"})
        answers[amount] = response.get_data(as_text=True)

    threads = [threading.Thread(target=refund, args=(amount,)) for amount in consoles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    won = [amount for amount, page in answers.items() if "Refunded." in page]
    assert len(won) == 1, answers
    lost = "70.00" if won == ["60.00"] else "60.00"
    left = "40.00" if won == ["60.00"] else "30.00"
    assert f"at most {left}" in answers[lost]  # a clear refusal naming what is left
    entries, refunded, taken = _refunds(deposit.id)
    assert entries == 1 and refunded == taken == int(won[0].replace(".", ""))
    assert db.session.scalar(select(func.count(AuditRecord.id)).where(
        AuditRecord.action == "deposits.refund")) == 1


def test_a_second_full_refund_is_refused_and_writes_nothing(app, login, finance, finance2, deposit):
    assert "Refunded." in _refund(_console(app, login, finance), deposit.id, "").get_data(as_text=True)
    before = _refunds(deposit.id)
    assert before == (1, 10_000, 10_000)
    again = _refund(_console(app, login, finance2), deposit.id, "").get_data(as_text=True)
    assert "is refunded already: nothing is left to refund" in again
    assert _refunds(deposit.id) == before
    assert db.session.scalar(select(func.count(AuditRecord.id)).where(
        AuditRecord.action == "deposits.refund")) == 1
    assert db.session.get(Deposit, deposit.id).status == "refunded"


@pytest.mark.parametrize("amount,refusal", [("100.01", "at most 100.00"), ("250.00", "at most 100.00"),
                                            ("0.00", "greater than zero"), ("-5.00", "must be positive"),
                                            ("ten", "Amount")])
def test_a_refund_outside_the_deposit_is_refused_and_writes_nothing(app, login, finance, deposit, amount, refusal):
    page = _refund(_console(app, login, finance), deposit.id, amount)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Refunded." not in text and refusal in text
    assert _refunds(deposit.id) == (0, 0, 0)
    assert db.session.get(Deposit, deposit.id).status == "succeeded"


def test_partial_refunds_never_add_up_to_more_than_the_deposit(app, login, finance, finance2, deposit):
    first, second = _console(app, login, finance), _console(app, login, finance2)
    assert "Refunded." in _refund(first, deposit.id, "60.00").get_data(as_text=True)
    refused = _refund(second, deposit.id, "60.00").get_data(as_text=True)
    assert "at most 40.00" in refused
    assert "Refunded." in _refund(second, deposit.id, "40.00").get_data(as_text=True)
    assert _refunds(deposit.id) == (2, 10_000, 10_000)
    assert db.session.get(Deposit, deposit.id).status == "refunded"


# Idempotency-Key ---------------------------------------------------------------------------------------------------
@pytest.fixture
def headers(investor, token_for):
    return token_for(investor)


def _payout(client, headers, method_id: int, amount: str, key: str):
    return client.post("/api/v1/payouts", json={"amount": amount, "payout_method_id": method_id},
                       headers={**headers, "Idempotency-Key": key})


def test_the_same_key_sent_twice_at_once_makes_one_payout(app, postgres, investor, headers, method):
    """The second request waits on the key's unique index until the first commits, then replays its answer."""
    method_id = method.id
    barrier = threading.Barrier(2)
    answers: list = []

    def send() -> None:
        http = app.test_client()
        barrier.wait(timeout=60)
        response = _payout(http, headers, method_id, "100.00", "twice-at-once")
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [status for status, _ in answers] == [201, 201], answers
    assert answers[0][1] == answers[1][1]
    payout = db.session.scalars(select(Payout)).one()
    assert answers[0][1]["data"]["id"] == payout.id
    assert balances(investor)[1] == payout.amount + payout.fee
    assert db.session.scalar(select(func.count(Hold.id))) == 1


def test_a_refused_request_is_not_kept_so_the_same_key_works_once_the_cause_is_fixed(client, investor, headers,
                                                                                      method, fund):
    refused = _payout(client, headers, method.id, "2000.00", "after-top-up")
    assert refused.status_code == 422 and "available balance" in refused.get_json()["message"]
    assert db.session.scalar(select(func.count(IdempotencyKey.id))) == 0  # nothing kept, nothing held
    assert db.session.scalar(select(func.count(Payout.id))) == 0 and balances(investor)[1] == 0
    again = _payout(client, headers, method.id, "2000.00", "after-top-up")
    assert again.status_code == 422 and "Idempotent-Replayed" not in again.headers  # evaluated again, not replayed
    fund(investor, "5000.00")
    done = _payout(client, headers, method.id, "2000.00", "after-top-up")
    assert done.status_code == 201 and "Idempotent-Replayed" not in done.headers
    replayed = _payout(client, headers, method.id, "2000.00", "after-top-up")
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == done.get_json()
    other = _payout(client, headers, method.id, "10.00", "after-top-up")  # the same key for another request
    assert other.status_code == 409 and "Idempotency-Key" in other.get_json()["message"]
    assert db.session.scalar(select(func.count(Payout.id))) == 1


# a server killed between the work and its answer ------------------------------------------------------------------
class Server:
    """tests/security/crash_server.py in a process of its own, on the tests' database."""

    def __init__(self, database_url: str, crash_at: str = "", **env_vars: str):
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=str(ROOT), FREEHOLD_TEST_CRASH_AT=crash_at, **env_vars)
        self.process = subprocess.Popen([sys.executable, "-m", "tests.security.crash_server", database_url,
                                         str(self.port)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120  # a start-up, however slow the machine: nothing here is timed
        while True:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            assert self.process.poll() is None, self.process.stderr.read() if self.process.stderr else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json", **(headers or {})})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def _served_payout(server: Server, headers: dict, method_id: int, key: str):
    return server.request("POST", "/api/v1/payouts", {"amount": "100.00", "payout_method_id": method_id},
                          {**headers, "Idempotency-Key": key})


@pytest.mark.parametrize("crash_at", ["before-commit", "after-commit"])
def test_a_server_killed_between_the_work_and_its_answer_leaves_nothing_or_the_whole_answer(
        database_url, investor, headers, method, crash_at):
    """before-commit: the payout and its hold are flushed and the answer written on the key's row when the process
    dies: nothing is left, and the retry does the work, once. after-commit: everything committed, the client never
    got the answer: the retry replays it, and no second payout is made."""
    discard()  # the test's own session holds no transaction while the server works
    dying = Server(database_url, crash_at)
    try:
        with pytest.raises((http.client.HTTPException, OSError)):
            _served_payout(dying, headers, method.id, "killed-once")
        assert dying.process.wait(timeout=60) == 17, "the server died at the crash point"
    finally:
        dying.stop()
    payouts = db.session.scalar(select(func.count(Payout.id)))
    keys = db.session.scalars(select(IdempotencyKey)).all()
    if crash_at == "before-commit":
        assert payouts == 0 and keys == [] and balances(investor) == (100_000, 0)
    else:
        assert payouts == 1 and [k.status_code for k in keys] == [201]
    discard()

    server = Server(database_url)
    try:
        status, response_headers, body = _served_payout(server, headers, method.id, "killed-once")
        again = _served_payout(server, headers, method.id, "killed-once")
    finally:
        server.stop()
    assert status == 201, body
    replayed = crash_at == "after-commit"
    assert (response_headers.get("Idempotent-Replayed") == "true") is replayed
    assert again[0] == 201 and again[1].get("Idempotent-Replayed") == "true"
    assert json.loads(again[2]) == json.loads(body)
    payout = db.session.scalars(select(Payout)).one()  # exactly one, whichever the crash
    assert json.loads(body)["data"]["id"] == payout.id
    assert balances(investor) == (100_000 - payout.amount - payout.fee, payout.amount + payout.fee)
    assert db.session.scalar(select(func.count(Hold.id))) == 1


@pytest.mark.parametrize("crash_at", ["before-commit", "after-commit"])
def test_a_server_killed_after_opening_a_checkout_leaves_no_deposit_or_the_whole_answer(
        database_url, investor, headers, crash_at):
    """The gateway is asked for its checkout inside the transaction. Killed before the commit: the checkout opened
    then was shown to nobody and no deposit refers to it; the retry makes one deposit with a checkout of its own.
    Killed after the commit: the retry replays the same deposit and checkout, and the gateway is not asked again."""
    with FakeStripe() as stripe:
        stripe_env = {"STRIPE_SECRET_KEY": stripe.secret_key, "STRIPE_WEBHOOK_SECRET": stripe.webhook_secret,
                      "STRIPE_API_BASE": stripe.url}
        body = {"amount": "250.00", "gateway": "stripe"}
        keyed = {**headers, "Idempotency-Key": "deposit-killed-once"}
        discard()
        dying = Server(database_url, crash_at, **stripe_env)
        try:
            with pytest.raises((http.client.HTTPException, OSError)):
                dying.request("POST", "/api/v1/deposits", body, keyed)
            assert dying.process.wait(timeout=60) == 17, "the server died at the crash point"
        finally:
            dying.stop()
        assert len(stripe.sessions) == 1  # the checkout was opened before the process died
        stripe_deposits = select(Deposit).where(Deposit.gateway == "stripe")
        assert len(db.session.scalars(stripe_deposits).all()) == (0 if crash_at == "before-commit" else 1)
        discard()

        server = Server(database_url, **stripe_env)
        try:
            status, response_headers, answer = server.request("POST", "/api/v1/deposits", body, keyed)
            again = server.request("POST", "/api/v1/deposits", body, keyed)
        finally:
            server.stop()
        assert status == 201, answer
        assert (response_headers.get("Idempotent-Replayed") == "true") is (crash_at == "after-commit")
        assert again[0] == 201 and json.loads(again[2]) == json.loads(answer)
        deposit = db.session.scalars(stripe_deposits).one()  # exactly one, whichever the crash
        data = json.loads(answer)["data"]
        assert data["id"] == deposit.id and data["checkout_url"] == deposit.checkout_url
        session = stripe.sessions[deposit.gateway_reference]
        assert session["metadata"]["deposit_id"] == str(deposit.id) and session["url"] == deposit.checkout_url
        assert len(stripe.sessions) == (2 if crash_at == "before-commit" else 1)


def test_a_key_left_in_progress_by_the_old_three_step_design_is_refused_not_done_again(client, investor, headers,
                                                                                        method):
    """Before the answer committed with the work, a crash could leave a claimed key without an answer, its work
    possibly done. Such a row is refused with a clear 409: the work is never done a second time under it."""
    first = _payout(client, headers, method.id, "100.00", "left-in-progress")
    assert first.status_code == 201
    with unit_of_work():
        row = db.session.scalars(select(IdempotencyKey)).one()
        row.status_code, row.response = 0, None  # as the old design left it
    again = _payout(client, headers, method.id, "100.00", "left-in-progress")
    assert again.status_code == 409 and "interrupted" in again.get_json()["message"]
    assert db.session.scalar(select(func.count(Payout.id))) == 1
