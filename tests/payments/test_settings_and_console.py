"""Gateway settings are changed through their service (limits that make sense, a fee within bounds, finance only,
audited), the console only calls it; a deposit begins in two units of work; the console's Reprocess goes through
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
from tests.support import csrf_from

VALID = {"enabled": True, "min_amount": 500, "max_amount": 900_000, "fee_bps": 120, "fee_fixed": 25,
         "second_approval_above": None, "instructions": "Card payments."}


@pytest.mark.parametrize("change, field", [({"min_amount": 0}, "min_amount"),
                                           ({"max_amount": 400}, "min_amount"),
                                           ({"fee_bps": 5001}, "fee_bps"),
                                           ({"fee_fixed": -1}, "fee_fixed")])
def test_settings_out_of_bounds_are_refused(app, make_user, change, field):
    setting = payments.settings_for("stripe")
    with pytest.raises(ValidationError) as refused:
        payments.update_gateway_settings(setting, actor=make_user(role="finance"), **{**VALID, **change})
    assert field in refused.value.errors


def test_only_finance_changes_settings(app, make_user):
    with pytest.raises(Forbidden):
        payments.update_gateway_settings(payments.settings_for("stripe"), actor=make_user(role="support"), **VALID)


def test_settings_are_saved_and_audited(app, make_user):
    finance = make_user(role="finance")
    with unit_of_work():
        payments.update_gateway_settings(payments.settings_for("stripe"), actor=finance, **VALID)
    db.session.expire_all()
    setting = payments.settings_for("stripe")
    assert (setting.min_amount, setting.max_amount, setting.fee_bps, setting.fee_fixed) == (500, 900_000, 120, 25)
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "payments.settings_saved"))
    assert record.actor_id == finance.id and record.after["fee_bps"] == 120


def _edit(client, setting_id: int, **values) -> str:
    page = client.get(f"/admin/gateway_settings/edit/?id={setting_id}").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), **{k: "" if v is None else str(v) for k, v in values.items()}}
    if not values.get("enabled"):
        form.pop("enabled", None)
    else:
        form["enabled"] = "y"
    return client.post(f"/admin/gateway_settings/edit/?id={setting_id}", data=form,
                       follow_redirects=True).get_data(as_text=True)


def test_the_console_saves_through_the_service_and_shows_a_refusal(client, make_user, login):
    setting_id = payments.settings_for("stripe").id
    db.session.commit()
    login(make_user(role="finance"))
    page = _edit(client, setting_id, **{**VALID, "min_amount": 1_000, "max_amount": 999})
    assert "The minimum must be positive and not above the maximum." in page
    db.session.expire_all()
    assert db.session.get(GatewaySetting, setting_id).max_amount == 10_000_000  # unchanged
    _edit(client, setting_id, **VALID)
    db.session.expire_all()
    assert db.session.get(GatewaySetting, setting_id).fee_bps == 120


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
