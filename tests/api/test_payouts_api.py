"""The payouts API (CONTRACT.md): bank accounts shown masked, requests that hold amount + fee, strict amounts,
Idempotency-Key, cancel while requested, object-level checks. The ledger verifies after each test."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app.core.db import utcnow
from app.extensions import db
from app.payouts import services as payouts
from app.payouts.models import Payout, PayoutMethod
from tests.payouts.helpers import BANK, approve_kyc, balances, usable_method
from tests.support import outbox, set_setting


@pytest.fixture
def headers(investor, token_for):
    return token_for(investor)


def request_payout(client, headers, method_id, amount="100.00", key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/payouts", json={"amount": amount, "payout_method_id": method_id},
                       headers={**headers, **extra})


# payout methods ----------------------------------------------------------------------------------------------------
def test_add_a_bank_account_masked_announced_and_cooling_off(client, headers, investor):
    response = client.post("/api/v1/payout-methods", json=BANK, headers=headers)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()["data"]
    assert data["account_number"].endswith("6789") and "000123456789" not in response.get_data(as_text=True)
    assert data["routing_number"].endswith("0021") and data["routing_number"] != "021000021"
    assert data["usable"] is False and data["usable_from"]
    assert data["name_matches_kyc"] is True
    listed = client.get("/api/v1/payout-methods", headers=headers)
    assert "000123456789" not in listed.get_data(as_text=True)
    assert [m["id"] for m in listed.get_json()["data"]] == [data["id"]]
    assert outbox(investor.email, "payout_method_added"), "a new account is announced by e-mail"
    stored = db.session.execute(text("SELECT account_number FROM payout_methods")).scalar_one()
    assert "000123456789" not in stored, "encrypted at rest"
    # not usable during cooling-off
    assert request_payout(client, headers, data["id"]).status_code == 422


def test_iban_and_bic_accounts(client, headers):
    body = {"holder_name": "Test User", "bank_name": "Deutsche Test", "iban": "DE89 3704 0044 0532 0130 00",
            "bic": "COBADEFFXXX", "country": "DE"}
    response = client.post("/api/v1/payout-methods", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["data"]["iban"].endswith("3000")


@pytest.mark.parametrize("change,field", [
    ({"routing_number": None}, "routing_number"),
    ({"routing_number": "123456789"}, "routing_number"),  # bad ABA check digit
    ({"country": "USA"}, "country"),
    ({"account_number": "12-34!"}, "account_number"),
    ({"holder_name": "  "}, "holder_name"),
    ({"account_number": None, "iban": "GB00BUKB20201555555555", "country": "GB"}, "iban"),
])
def test_bad_bank_accounts_are_422_per_field(client, headers, change, field):
    response = client.post("/api/v1/payout-methods", json={**BANK, **change}, headers=headers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert db.session.scalar(select(func.count(PayoutMethod.id))) == 0


def test_holder_name_that_differs_from_kyc_is_flagged(client, headers):
    data = client.post("/api/v1/payout-methods", json={**BANK, "holder_name": "Somebody Else"},
                       headers=headers).get_json()["data"]
    assert data["name_matches_kyc"] is False


def test_others_methods_are_404_and_removal_rules(client, headers, investor, make_user, token_for, method):
    other = make_user()
    theirs = usable_method(other, holder_name=other.full_name)
    assert client.get(f"/api/v1/payout-methods/{theirs.id}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/payout-methods/{theirs.id}", headers=headers).status_code == 404
    assert request_payout(client, headers, theirs.id).status_code == 422
    # used by a payout: stays
    assert request_payout(client, headers, method.id).status_code == 201
    assert client.delete(f"/api/v1/payout-methods/{method.id}", headers=headers).status_code == 409
    assert client.put(f"/api/v1/payout-methods/{method.id}", json=BANK, headers=headers).status_code == 409
    spare = usable_method(investor)
    spare_id = spare.id
    assert client.delete(f"/api/v1/payout-methods/{spare_id}", headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(PayoutMethod.id).where(PayoutMethod.id == spare_id)) is None


def test_changing_an_account_restarts_cooling_off(client, headers, investor):
    spare = usable_method(investor)
    response = client.put(f"/api/v1/payout-methods/{spare.id}", json={**BANK, "account_number": "99887766"},
                          headers=headers)
    assert response.status_code == 200 and response.get_json()["data"]["usable"] is False
    assert request_payout(client, headers, spare.id).status_code == 422


# requests ------------------------------------------------------------------------------------------------------------
def test_request_holds_amount_and_fee(client, headers, investor, method):
    before = balances(investor)
    response = request_payout(client, headers, method.id, "100.00")
    assert response.status_code == 201, response.get_json()
    data = response.get_json()["data"]
    assert data["amount"] == {"amount": "100.00", "currency": "USD"}
    assert data["fee"] == {"amount": "1.50", "currency": "USD"}  # 0.5 % + 1.00
    assert data["status"] == "requested" and data["payout_method_id"] == method.id and data["requested_at"]
    available, held = balances(investor)
    assert (available, held) == (before[0] - 10_150, before[1] + 10_150)
    assert sum(before) == available + held
    got = client.get(f"/api/v1/payouts/{data['id']}", headers=headers).get_json()["data"]
    assert got["status"] == "requested" and got["total"]["amount"] == "101.50"
    listed = client.get("/api/v1/payouts", headers=headers).get_json()
    assert listed["meta"]["total"] == 1 and listed["data"][0]["id"] == data["id"]
    assert client.get("/api/v1/payouts?status=paid", headers=headers).get_json()["meta"]["total"] == 0
    assert outbox(investor.email, "payout_requested")


def test_above_the_available_balance_is_422(client, headers, investor, method):
    response = request_payout(client, headers, method.id, "999.00")  # + 5.995 + 1 fee > 1000
    assert response.status_code == 422 and "amount" in response.get_json()["errors"]
    assert balances(investor) == (100_000, 0)
    assert db.session.scalar(select(func.count(Payout.id))) == 0


@pytest.mark.parametrize("amount", [100.5, 100, "-10.00", "0", "0.00", "10.001", "abc", "", None, "1e3"])
def test_bad_amounts_are_422(client, headers, investor, method, amount):
    response = client.post("/api/v1/payouts", json={"amount": amount, "payout_method_id": method.id},
                           headers=headers)
    assert response.status_code == 422
    assert balances(investor) == (100_000, 0)


def test_bad_method_ids_are_422(client, headers, method):
    for body in ({"amount": "10.00"}, {"amount": "10.00", "payout_method_id": "x"},
                 {"amount": "10.00", "payout_method_id": 10**9}):
        assert client.post("/api/v1/payouts", json=body, headers=headers).status_code == 422


def test_limits(app, client, headers, method, monkeypatch):
    set_setting("payout.min", 2_000)
    set_setting("payout.max", 30_000)
    set_setting("payout.daily_limit", 40_000)
    set_setting("payout.monthly_limit", 50_000)
    assert request_payout(client, headers, method.id, "19.99").status_code == 422
    assert request_payout(client, headers, method.id, "300.01").status_code == 422
    assert request_payout(client, headers, method.id, "300.00").status_code == 201
    over_daily = request_payout(client, headers, method.id, "100.01")
    assert over_daily.status_code == 422 and "daily" in over_daily.get_json()["message"]
    assert request_payout(client, headers, method.id, "100.00").status_code == 201
    # cancelled payouts no longer count; yesterday's count for the month, not for the day
    payout = db.session.scalars(select(Payout).order_by(Payout.id)).first()
    payout.created_at = utcnow() - timedelta(days=1) if utcnow().day > 1 else payout.created_at
    db.session.commit()
    if utcnow().day > 1:
        monthly = request_payout(client, headers, method.id, "100.01")
        assert monthly.status_code == 422 and "monthly" in monthly.get_json()["message"]


def test_kyc_and_verified_email_are_required(client, make_user, fund, token_for, kyc_reviewer):
    unverified = make_user(verified=False)
    approve_kyc(unverified, kyc_reviewer)
    m = usable_method(unverified)
    assert request_payout(client, token_for(unverified), m.id, "10.00").status_code == 403
    no_kyc = make_user()
    fund(no_kyc, "100.00")
    m = usable_method(no_kyc)
    response = request_payout(client, token_for(no_kyc), m.id, "10.00")
    assert response.status_code == 403 and "Identity" in response.get_json()["message"]


def test_idempotency_key(client, headers, investor, method):
    first = request_payout(client, headers, method.id, "50.00", key="k-1")
    again = request_payout(client, headers, method.id, "50.00", key="k-1")
    assert first.status_code == again.status_code == 201
    assert first.get_json()["data"]["id"] == again.get_json()["data"]["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert request_payout(client, headers, method.id, "60.00", key="k-1").status_code == 409
    assert db.session.scalar(select(func.count(Payout.id))) == 1
    assert balances(investor)[1] == 5_000 + 125


def test_others_payouts_are_404(client, headers, make_user, token_for, method):
    payout_id = request_payout(client, headers, method.id).get_json()["data"]["id"]
    stranger = token_for(make_user())
    assert client.get(f"/api/v1/payouts/{payout_id}", headers=stranger).status_code == 404
    assert client.post(f"/api/v1/payouts/{payout_id}/cancel", headers=stranger).status_code == 404
    assert client.get("/api/v1/payouts", headers=stranger).get_json()["meta"]["total"] == 0
    assert client.get("/api/v1/payouts").status_code == 401


def test_cancel_releases_exactly_once(client, headers, investor, method):
    before = balances(investor)
    payout_id = request_payout(client, headers, method.id, "123.45").get_json()["data"]["id"]
    response = client.post(f"/api/v1/payouts/{payout_id}/cancel", headers=headers)
    assert response.status_code == 200 and response.get_json()["data"]["status"] == "cancelled"
    assert balances(investor) == before
    assert client.post(f"/api/v1/payouts/{payout_id}/cancel", headers=headers).status_code == 409
    assert balances(investor) == before


def test_cancel_after_approval_is_refused(client, headers, investor, method, finance):
    payout_id = request_payout(client, headers, method.id, "100.00").get_json()["data"]["id"]
    payouts.approve(db.session.get(Payout, payout_id), actor=finance)
    db.session.commit()
    held = balances(investor)
    response = client.post(f"/api/v1/payouts/{payout_id}/cancel", headers=headers)
    assert response.status_code == 409
    assert balances(investor) == held
    assert client.get(f"/api/v1/payouts/{payout_id}", headers=headers).get_json()["data"]["status"] == "approved"


def test_quote(client, headers, method):
    data = client.get("/api/v1/payouts/quote?amount=200.00", headers=headers).get_json()["data"]
    assert data["fee"]["amount"] == "2.00" and data["total"]["amount"] == "202.00"
    assert data["available"]["amount"] == "1000.00"
    assert client.get("/api/v1/payouts/quote?amount=2.5e1", headers=headers).status_code == 422


def test_out_of_range_ids_are_404_or_422_not_500(client, headers, method):
    huge = 10**20
    assert client.get(f"/api/v1/payouts/{huge}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/payouts/{huge}/cancel", headers=headers).status_code == 404
    assert client.get(f"/api/v1/payout-methods/{huge}", headers=headers).status_code == 404
    response = client.post("/api/v1/payouts", json={"amount": "10.00", "payout_method_id": huge}, headers=headers)
    assert response.status_code == 422
