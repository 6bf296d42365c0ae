"""Webhooks: an attacker who captured one signed Razorpay delivery replays it under a new X-Razorpay-Event-Id (the
header is not signed): it is the same event, stored and processed once, and money moves once. A source that floods
a webhook endpoint is answered 429 past its limit, and nothing it sends past the limit is stored."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.ledger import services as ledger
from app.ledger.models import USER_WALLET, JournalEntry
from app.payments.models import Deposit, WebhookInbox

GATEWAY = "203.0.113.5"


def inbox_rows(provider: str) -> list[WebhookInbox]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookInbox).where(WebhookInbox.provider == provider)))


def razorpay_deposit(client, make_user, token_for, fake):
    investor = make_user()
    response = client.post("/api/v1/deposits", json={"amount": "100.00", "gateway": "razorpay"},
                           headers=token_for(investor))
    assert response.status_code == 201, response.get_data(as_text=True)
    deposit = db.session.get(Deposit, response.get_json()["data"]["id"])
    return investor, deposit, fake.capture(deposit.gateway_reference)


def test_a_replayed_razorpay_body_under_a_new_event_id_is_processed_once(client, make_user, token_for,
                                                                        razorpay_config):
    fake = razorpay_config
    investor, deposit, captured = razorpay_deposit(client, make_user, token_for, fake)
    body, headers = fake.webhook("payment.captured", payment_id=captured["id"], event_id="EvtOriginal0001")
    first = client.post("/webhooks/razorpay", data=body, headers=headers)
    assert first.status_code == 200 and first.get_json()["data"]["duplicate"] is False

    for replayed_id in ("EvtReplay0002", "EvtReplay0003"):
        replay = client.post("/webhooks/razorpay", data=body,
                             headers={**headers, "X-Razorpay-Event-Id": replayed_id})
        assert replay.status_code == 200 and replay.get_json()["data"]["duplicate"] is True

    [row] = inbox_rows("razorpay")
    assert row.event_id == f"{fake.event('payment.captured', payment_id=captured['id'])['account_id']}:" \
                           f"payment.captured:payment={captured['id']}"
    assert db.session.get(Deposit, deposit.id).status == "succeeded"
    assert ledger.user_account(investor.id, USER_WALLET).balance == 10_000
    assert db.session.scalar(select(func.count()).select_from(JournalEntry)
                             .where(JournalEntry.kind == "deposit")) == 1


def test_a_different_signed_event_about_the_same_payment_is_its_own_event(client, make_user, token_for,
                                                                          razorpay_config):
    """Kept once by what is signed, not merged by the header either: order.paid for the same payment, even under
    the header value of the earlier delivery, is a new event (and still credits nothing twice)."""
    fake = razorpay_config
    investor, deposit, captured = razorpay_deposit(client, make_user, token_for, fake)
    body, headers = fake.webhook("payment.captured", payment_id=captured["id"], event_id="EvtSame")
    assert client.post("/webhooks/razorpay", data=body, headers=headers).get_json()["data"]["duplicate"] is False
    body, headers = fake.webhook("order.paid", payment_id=captured["id"], order_id=deposit.gateway_reference,
                                 event_id="EvtSame")
    assert client.post("/webhooks/razorpay", data=body, headers=headers).get_json()["data"]["duplicate"] is False
    assert len(inbox_rows("razorpay")) == 2
    assert ledger.user_account(investor.id, USER_WALLET).balance == 10_000


def test_a_flooding_source_gets_429_past_its_limit_and_nothing_past_it_is_stored(app, client, monkeypatch,
                                                                                 make_user, token_for,
                                                                                 razorpay_config):
    fake = razorpay_config
    monkeypatch.setitem(app.config, "WEBHOOK_RATE_LIMIT", "3/minute")
    flood = {"REMOTE_ADDR": GATEWAY}
    answers = [client.post("/webhooks/razorpay", data=b"{}", environ_overrides=flood,
                           headers={"X-Razorpay-Signature": "0" * 64, "X-Razorpay-Event-Id": f"E{n}",
                                    "X-Forwarded-For": f"192.0.2.{n}"}).status_code  # forged: ignored
               for n in range(3)]
    assert answers == [400, 400, 400]
    _investor, _deposit, captured = razorpay_deposit(client, make_user, token_for, fake)
    body, headers = fake.webhook("payment.captured", payment_id=captured["id"])
    refused = client.post("/webhooks/razorpay", data=body, headers={**headers, "X-Forwarded-For": "192.0.2.99"},
                          environ_overrides=flood)
    assert refused.status_code == 429 and refused.headers.get("Retry-After")
    assert refused.get_json()["status"] == "error"
    assert inbox_rows("razorpay") == []
    # the other endpoint shares the source's budget; another source has its own
    assert client.post("/webhooks/stripe", data=b"{}", environ_overrides=flood).status_code == 429
    other = client.post("/webhooks/razorpay", data=body, headers=headers,
                        environ_overrides={"REMOTE_ADDR": "198.51.100.20"})
    assert other.status_code == 200 and len(inbox_rows("razorpay")) == 1


def test_the_webhook_limit_is_on_by_default_and_generous(app):
    count, _, per = app.config["WEBHOOK_RATE_LIMIT"].partition("/")
    assert int(count) >= 600 and per == "minute"
