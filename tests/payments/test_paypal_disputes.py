"""PayPal disputes end to end: `CUSTOMER.DISPUTE.*` events over HTTP, stored once and processed by reading the
dispute again from the PayPal fake; the disputed money held as far as the wallet goes and the rest a receivable;
won releases, lost settles; the chargeback's reversal of the capture is the dispute's, never a second refund. The
ledger verifies after each test (its dispute check included)."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import FEE_REVENUE, USER_HELD, USER_WALLET
from app.payments.models import Deposit, Dispute, Receivable, WebhookInbox


def paid_deposit(client, fake, investor, token_for, amount="100.00") -> Deposit:
    response = client.post("/api/v1/deposits", json={"amount": amount, "gateway": "paypal"},
                           headers=token_for(investor))
    deposit = db.session.get(Deposit, response.get_json()["data"]["id"])
    fake.approve(deposit.gateway_reference)
    deliver(client, fake, "CHECKOUT.ORDER.APPROVED", deposit.gateway_reference)
    db.session.expire_all()
    deposit = db.session.get(Deposit, deposit.id)
    assert deposit.status == "succeeded"
    return deposit


def deliver(client, fake, event_type, thing_id=None, **kwargs):
    body, headers = fake.webhook(event_type, thing_id, **kwargs)
    response = client.post("/webhooks/paypal", data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def spend(user, amount: int) -> None:
    ledger.post([(ledger.user_account(user.id, USER_WALLET), -amount), (ledger.platform_account(FEE_REVENUE), amount)],
                key=f"spent-{user.id}-{amount}", kind="test")
    db.session.commit()


def balances(user) -> tuple[int, int]:
    db.session.expire_all()
    return ledger.user_account(user.id, USER_WALLET).balance, ledger.user_account(user.id, USER_HELD).balance


def the_dispute() -> Dispute:
    db.session.expire_all()
    return db.session.scalar(select(Dispute))


def test_a_dispute_on_money_already_spent_holds_the_rest_and_is_won(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = paid_deposit(client, fake, investor, token_for)
    spend(investor, 7_000)
    opened = fake.open_dispute(deposit.charge_reference)
    event = fake.event("CUSTOMER.DISPUTE.CREATED", opened["dispute_id"])
    for attempt in range(2):
        assert deliver(client, fake, event).get_json()["data"]["duplicate"] is (attempt == 1)
    deliver(client, fake, "CUSTOMER.DISPUTE.UPDATED", opened["dispute_id"])
    dispute = the_dispute()
    assert (dispute.provider, dispute.external_id, dispute.status, dispute.deposit_id) == (
        "paypal", opened["dispute_id"], "open", deposit.id)
    assert (dispute.held, dispute.receivable) == (3_000, 7_000)
    assert balances(investor) == (0, 3_000)
    assert db.session.scalar(select(Receivable.amount)) == 7_000
    row = db.session.scalar(select(WebhookInbox).where(WebhookInbox.type == "CUSTOMER.DISPUTE.CREATED"))
    assert (row.status, row.reference, row.deposit_id) == ("processed", opened["dispute_id"], deposit.id)

    fake.resolve_dispute(opened["dispute_id"], "RESOLVED_SELLER_FAVOUR")
    for _ in range(2):
        deliver(client, fake, "CUSTOMER.DISPUTE.RESOLVED", opened["dispute_id"])
    assert the_dispute().status == "won"
    assert balances(investor) == (3_000, 0)


def test_a_lost_chargeback_with_its_reversal_takes_the_money_once(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = paid_deposit(client, fake, investor, token_for)
    opened = fake.open_dispute(deposit.charge_reference)
    reversal = fake.reverse(deposit.charge_reference)  # PayPal takes the money back for the chargeback
    deliver(client, fake, "PAYMENT.CAPTURE.REVERSED", resource=reversal)  # before the dispute's own event
    deliver(client, fake, "CUSTOMER.DISPUTE.CREATED", opened["dispute_id"])
    assert balances(investor) == (0, 10_000)
    fake.resolve_dispute(opened["dispute_id"], "RESOLVED_BUYER_FAVOUR")
    deliver(client, fake, "CUSTOMER.DISPUTE.RESOLVED", opened["dispute_id"])
    deliver(client, fake, "PAYMENT.CAPTURE.REVERSED", resource=reversal)
    assert the_dispute().status == "lost"
    assert balances(investor) == (0, 0)
    db.session.expire_all()
    deposit = db.session.get(Deposit, deposit.id)
    assert (deposit.status, deposit.refunded_amount) == ("succeeded", 0)  # not a refund besides
    assert db.session.scalar(select(func.count(Receivable.id))) == 0


def test_a_dispute_resolved_before_paypal_told_of_its_opening(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = paid_deposit(client, fake, investor, token_for)
    opened = fake.open_dispute(deposit.charge_reference, 2_500)
    fake.resolve_dispute(opened["dispute_id"], "RESOLVED_BUYER_FAVOUR")
    deliver(client, fake, "CUSTOMER.DISPUTE.RESOLVED", opened["dispute_id"])
    deliver(client, fake, "CUSTOMER.DISPUTE.CREATED", opened["dispute_id"])
    dispute = the_dispute()
    assert (dispute.status, dispute.held) == ("lost", 2_500)
    assert balances(investor) == (7_500, 0)


def test_an_unknown_outcome_stays_open_for_finance(client, paypal_config, investor, token_for):
    fake = paypal_config
    deposit = paid_deposit(client, fake, investor, token_for)
    opened = fake.open_dispute(deposit.charge_reference, 1_000)
    fake.resolve_dispute(opened["dispute_id"], "RESOLVED_WITH_PAYOUT")
    deliver(client, fake, "CUSTOMER.DISPUTE.RESOLVED", opened["dispute_id"])
    assert the_dispute().status == "open"
    db.session.expire_all()
    assert "RESOLVED_WITH_PAYOUT" in db.session.get(Deposit, deposit.id).attention_reason


def test_a_dispute_on_a_payment_of_no_deposit_is_recorded_and_moves_nothing(client, paypal_config, investor,
                                                                           token_for):
    fake = paypal_config
    deposit = paid_deposit(client, fake, investor, token_for)
    foreign = dict(fake.captures[deposit.charge_reference], id="FOREIGNCAPTURE1")
    fake.captures["FOREIGNCAPTURE1"] = foreign
    opened = fake.open_dispute("FOREIGNCAPTURE1")
    deliver(client, fake, "CUSTOMER.DISPUTE.CREATED", opened["dispute_id"])
    dispute = the_dispute()
    assert dispute.deposit_id is None and dispute.status == "open"
    assert balances(investor) == (10_000, 0)
