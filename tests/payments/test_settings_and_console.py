"""Gateway settings: enabled and instructions are changed through their service (finance only, audited), limits and
fees through a proposal a second person approves (bounds in code), the console only calls them; a deposit begins in two units of work; the console's Reprocess goes through
the inbox service. The ledger verifies after each test."""
import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work
from app.core.errors import Forbidden, ValidationError
from app.core.money import Money
from app.extensions import db
from app.payments import services as payments
from app.payments.gateways.base import WebhookEvent
from app.payments.models import Deposit, GatewaySetting, WebhookInbox
from app.payments.tasks import process_webhook
from app.settings import services as money_settings
from app.settings.models import SettingChange
from tests.support import csrf_from

VALID = {"enabled": True, "instructions": "Card payments."}


@pytest.mark.parametrize("key, value", [("gateway.stripe.min_amount", 0),
                                        ("gateway.stripe.max_amount", 400),  # below the minimum (10.00)
                                        ("gateway.stripe.fee_bps", 5001),
                                        ("gateway.stripe.fee_fixed", -1)])
def test_settings_out_of_bounds_are_refused(app, make_user, key, value):
    with pytest.raises(ValidationError) as refused:
        money_settings.propose(key, value, actor=make_user(role="finance"), reason="new terms")
    assert "new_value" in refused.value.errors
    assert db.session.scalar(select(func.count(SettingChange.id))) == 0


def test_only_finance_changes_settings(app, make_user):
    with pytest.raises(Forbidden):
        payments.update_gateway_settings(payments.gateway_row("stripe"), actor=make_user(role="support"), **VALID)
    with pytest.raises(Forbidden):
        money_settings.propose("gateway.stripe.fee_bps", 120, actor=make_user(role="support"), reason="new terms")


def test_settings_are_saved_and_audited(app, make_user):
    finance, finance2 = make_user(role="finance"), make_user(role="finance")
    with unit_of_work():
        payments.update_gateway_settings(payments.gateway_row("stripe"), actor=finance, enabled=False,
                                         instructions="Card payments.")
    for key, value in (("gateway.stripe.min_amount", 500), ("gateway.stripe.max_amount", 900_000),
                       ("gateway.stripe.fee_bps", 120), ("gateway.stripe.fee_fixed", 25)):
        with unit_of_work():
            change = money_settings.propose(key, value, actor=finance, reason="new card terms")
        with unit_of_work():
            money_settings.approve(change, actor=finance2)
    db.session.expire_all()
    setting = payments.settings_for("stripe")
    assert (setting.min_amount, setting.max_amount, setting.fee_bps, setting.fee_fixed) == (500, 900_000, 120, 25)
    assert not setting.enabled and setting.instructions == "Card payments."
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "payments.settings_saved"))
    assert record.actor_id == finance.id and record.after["enabled"] is False
    approved = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "settings.approved")).all()
    assert {r.after["key"]: r.after["value"] for r in approved}["gateway.stripe.fee_bps"] == 120
    assert all(r.actor_id == finance2.id for r in approved)


def _edit(client, setting_id: int, **values) -> str:
    page = client.get(f"/admin/gateway_settings/edit/?id={setting_id}").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), **{k: "" if v is None else str(v) for k, v in values.items()}}
    if not values.get("enabled"):
        form.pop("enabled", None)
    else:
        form["enabled"] = "y"
    return client.post(f"/admin/gateway_settings/edit/?id={setting_id}", data=form,
                       follow_redirects=True).get_data(as_text=True)


def test_the_console_edits_only_what_is_not_money(client, make_user, login):
    """Enabled and instructions are saved through the service; limits and fees posted with them change nothing
    (they take a proposal and a second person's approval)."""
    setting_id = payments.gateway_row("stripe").id
    db.session.commit()
    login(make_user(role="finance"))
    _edit(client, setting_id, enabled=False, instructions="Cards are paused.", min_amount=1_000, max_amount=999,
          fee_bps=120)
    listing = client.get("/admin/gateway_settings/").get_data(as_text=True)
    assert "USD 10.00" in listing and "USD 100,000.00" in listing  # the limits in force, in the currency
    db.session.expire_all()
    assert db.session.get(GatewaySetting, setting_id).instructions == "Cards are paused."
    terms = payments.settings_for("stripe")
    assert (terms.enabled, terms.min_amount, terms.max_amount, terms.fee_bps) == (False, 1_000, 10_000_000, 0)
    assert db.session.scalar(select(func.count(SettingChange.id))) == 0


def test_a_deposit_and_its_checkout_commit_in_the_callers_unit_of_work(app, stripe_config, make_user):
    investor = make_user()
    with app.test_request_context():
        with unit_of_work():
            deposit = payments.begin_deposit(investor, Money.parse("100.00", "USD"), "stripe")
        db.session.expire_all()
        assert db.session.get(Deposit, deposit.id).gateway_reference  # both committed, together
        with pytest.raises(RuntimeError), unit_of_work():  # the request fails once the checkout is open
            payments.begin_deposit(investor, Money.parse("100.00", "USD"), "stripe")
            raise RuntimeError("the answer could not be written")
        assert db.session.scalar(select(func.count(Deposit.id))) == 1  # nothing of the failed one is left


def test_reprocess_from_the_console_queues_the_event_again(client, stripe_config, make_user, login):
    investor = make_user()
    with client.application.test_request_context(), unit_of_work():
        deposit = payments.begin_deposit(investor, Money.parse("100.00", "USD"), "stripe")
    stripe_config.complete_session(deposit.gateway_reference)
    event = payments.store_events([("stripe", WebhookEvent("evt_again", "checkout.session.completed",
                                                           deposit.gateway_reference, {}))],
                                  connection=db.session.connection())
    db.session.commit()
    assert process_webhook(event[0]) == "processed"
    login(make_user(role="finance"))
    page = client.get(f"/admin/webhooks_inbox/details/?id={event[0]}").get_data(as_text=True)
    client.post(f"/admin/webhooks_inbox/{event[0]}/reprocess", data={"csrf_token": csrf_from(page)})
    db.session.expire_all()
    row = db.session.get(WebhookInbox, event[0])
    assert row.status == "processed" and row.attempts == 2  # processed again (eager here), credited once
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "webhooks.reprocess")) is not None
    assert db.session.get(Deposit, deposit.id).status == "succeeded"
