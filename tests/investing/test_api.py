"""The investing API: POST /properties/{id}/invest and the caller's portfolio, with the answers CONTRACT.md names."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.money import Money
from app.extensions import db
from app.investing import services as investing
from app.investing.models import Investment
from app.ledger.checks import verify
from app.ledger.services import balance_of


def invest(client, headers, p, body, **extra):
    return client.post(f"/api/v1/properties/{p.id}/invest", json=body, headers={**headers, **extra})


def error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "error" and body["message"]
    return body


def test_invest_answers_201_with_the_investment_and_records_the_acknowledgement(client, make_investor,
                                                                                make_property, token_for):
    user = make_investor("10000.00")
    p = make_property()
    headers = token_for(user)
    response = invest(client, headers, p, {"amount": "2500.00"}, **{"X-Forwarded-For": "198.51.100.1"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "success"
    data = body["data"]
    assert data["property_id"] == p.id and data["property_title"] == p.title
    assert data["amount"] == {"amount": "2500.00", "currency": "USD"}
    assert data["paid_amount"] == {"amount": "2500.00", "currency": "USD"}
    assert data["returns_earned"] == {"amount": "0.00", "currency": "USD"}
    assert data["status"] == "active"
    assert date.fromisoformat(data["next_return_date"]) > date.today()
    assert data["next_return_amount"] == {"amount": "50.00", "currency": "USD"}  # 8 % a year, quarterly
    assert len(data["schedule"]) == 8 and data["schedule"][-1]["capital"]["amount"] == "2500.00"
    assert data["installments"] == [{"index": 1, "due_on": data["invested_on"],
                                     "amount": {"amount": "2500.00", "currency": "USD"}, "status": "paid",
                                     "late_fee": {"amount": "0.00", "currency": "USD"},
                                     "paid_at": data["installments"][0]["paid_at"]}]
    inv = db.session.get(Investment, data["id"])
    assert inv.documents_version == investing.offering_version(p) == data["documents_version"]
    assert inv.acknowledged_at is not None and inv.acknowledged_ip
    assert balance_of(user.id).available.amount_str() == "7500.00"
    assert verify().ok, verify().violations


def test_the_property_detail_gives_the_documents_version_to_send_back(client, make_investor, make_property,
                                                                      token_for):
    user = make_investor("10000.00")
    p = make_property()
    headers = token_for(user)
    version = client.get(f"/api/v1/properties/{p.id}", headers=headers).get_json()["data"]["documents_version"]
    assert version == investing.offering_version(p)
    ok = invest(client, headers, p, {"amount": "100.00", "acknowledge": True, "documents_version": version})
    assert ok.status_code == 201
    stale = invest(client, headers, p, {"amount": "100.00", "documents_version": "0" * 64})
    assert "changed" in error(stale, 409)["message"]
    refused = invest(client, headers, p, {"amount": "100.00", "acknowledge": False})
    assert "acknowledge" in error(refused, 422)["errors"]
    assert "acknowledge" in error(invest(client, headers, p, {"amount": "100.00", "acknowledge": "yes"}), 422)["errors"]
    assert db.session.scalar(select(func.count(Investment.id))) == 1


@pytest.mark.parametrize("amount", [100.5, 100, "-100.00", "0", "0.00", "100.001", "1e3", "", None, "ten"])
def test_malformed_amounts_are_422_and_change_nothing(client, make_investor, make_property, token_for,
                                                      amount):
    user = make_investor("10000.00")
    p = make_property()
    body = error(invest(client, token_for(user), p, {"amount": amount}), 422)
    assert "amount" in body["errors"]
    assert db.session.scalar(select(func.count(Investment.id))) == 0


def test_missing_body_and_unknown_fields_are_422(client, make_investor, make_property, token_for):
    user = make_investor()
    p = make_property()
    headers = token_for(user)
    error(client.post(f"/api/v1/properties/{p.id}/invest", headers=headers), 422)
    error(invest(client, headers, p, {}), 422)
    error(invest(client, headers, p, {"amount": "100.00", "price": "1"}), 422)


def test_limits_funding_wallet_and_kyc_map_to_422_409_403(client, make_investor, make_property, make_user,
                                                          fund, token_for):
    from app.kyc.demo import ensure_forms

    ensure_forms()
    user = make_investor("3000.00")
    p = make_property(target_amount=500_000, max_investment=400_000)
    headers = token_for(user)
    assert "minimum" in error(invest(client, headers, p, {"amount": "99.99"}), 422)["message"]
    assert "maximum" in error(invest(client, headers, p, {"amount": "4000.01"}), 422)["message"]
    poor = error(invest(client, headers, p, {"amount": "3500.00"}), 422)
    assert "3000.00" in poor["message"] and "amount" in poor["errors"]
    assert invest(client, headers, p, {"amount": "2000.00"}).status_code == 201
    rich = make_investor("50000.00")
    gone = error(invest(client, token_for(rich), p, {"amount": "3500.00"}), 409)
    assert "3000.00" in gone["message"] and "remains" in gone["message"]
    assert invest(client, token_for(rich), p, {"amount": "3000.00"}).status_code == 201
    funded = error(invest(client, token_for(rich), p, {"amount": "100.00"}), 409)
    assert "funded" in funded["message"]
    no_kyc = make_user(verified=True)
    fund(no_kyc, "1000.00")
    q = make_property()
    forbidden = error(invest(client, token_for(no_kyc), q, {"amount": "100.00"}), 403)
    assert "identity" in forbidden["message"].lower()
    error(invest(client, token_for(no_kyc), q, {"amount": "100.00"}), 403)
    error(client.post(f"/api/v1/properties/{q.id + 100}/invest", json={"amount": "100.00"}, headers=token_for(rich)),
          404)
    error(client.post(f"/api/v1/properties/{q.id}/invest", json={"amount": "100.00"}), 401)
    assert verify().ok, verify().violations


def test_idempotency_key_replays_the_same_investment_and_refuses_another_body(client, make_investor,
                                                                              make_property, token_for):
    user = make_investor("10000.00")
    p = make_property()
    headers = {**token_for(user), "Idempotency-Key": "invest-once-1"}
    first = invest(client, headers, p, {"amount": "1000.00"})
    again = invest(client, headers, p, {"amount": "1000.00"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.get_json()["data"]["id"] == again.get_json()["data"]["id"]
    other = error(invest(client, headers, p, {"amount": "2000.00"}), 409)
    assert "Idempotency-Key" in other["message"]
    assert db.session.scalar(select(func.count(Investment.id))) == 1
    assert balance_of(user.id).available.amount_str() == "9000.00"
    # a refusal is not kept: nothing was done, so the same key is evaluated again (see tests/security)
    refused_key = {**token_for(user), "Idempotency-Key": "too-much"}
    assert error(invest(client, refused_key, p, {"amount": "9500.00"}), 422)
    assert error(invest(client, refused_key, p, {"amount": "9500.00"}), 422)
    assert verify().ok, verify().violations


def test_installments_through_the_api(client, make_investor, make_property, token_for):
    user = make_investor("10000.00")
    p = make_property(min_investment=None, max_investment=None, fixed_amount=120_000, target_amount=12_000_000,
                      return_rate_bps=None,
                      return_fixed_amount=1_000, return_frequency="monthly", return_periods=12,
                      installments_count=3, installment_interval=1, installment_unit="months", late_fee=2_500)
    headers = token_for(user)
    error(invest(client, headers, p, {"amount": "1000.00"}), 422)  # a fixed amount: exactly 1200.00
    created = invest(client, headers, p, {"amount": "1200.00"}).get_json()["data"]
    assert created["status"] == "paying" and created["paid_amount"]["amount"] == "400.00"
    assert [i["status"] for i in created["installments"]] == ["paid", "due", "due"]
    assert created["next_installment"]["index"] == 2 and created["next_installment"]["amount"]["amount"] == "400.00"
    assert created["next_return_date"] is None and created["schedule"] == []
    inv = db.session.get(Investment, created["id"])
    inv.installments[1].due_on = date.today() - timedelta(days=10)  # late: the fee applies
    db.session.commit()
    late = client.get(f"/api/v1/investments/{inv.id}", headers=headers).get_json()["data"]
    assert late["installments"][1]["late_fee"]["amount"] == "25.00"
    assert late["next_installment"]["amount"]["amount"] == "425.00"
    url = f"/api/v1/investments/{inv.id}/installments/pay"
    paid = client.post(url, json={}, headers=headers).get_json()["data"]
    assert paid["paid_amount"]["amount"] == "800.00" and paid["fees_paid"]["amount"] == "25.00"
    done = client.post(url, json={"all_remaining": True}, headers={**headers, "Idempotency-Key": "pay-rest"})
    assert done.status_code == 200
    data = done.get_json()["data"]
    assert data["status"] == "active" and len(data["schedule"]) == 12
    assert data["next_return_amount"]["amount"] == "10.00"
    error(client.post(url, json={}, headers=headers), 409)  # nothing is due
    assert client.post(url, json={"all_remaining": True}, headers={**headers, "Idempotency-Key": "pay-rest"}
                       ).status_code == 200  # replayed
    assert balance_of(user.id).available.amount_str() == "8775.00"
    assert verify().ok, verify().violations


def test_list_detail_summary_and_someone_elses_investment(client, make_investor, make_property, token_for):
    a, b = make_investor("20000.00"), make_investor("5000.00")
    p, q = make_property(), make_property(return_frequency="monthly", return_periods=12)
    for prop, amount in ((p, "1000.00"), (q, "3000.00"), (p, "500.00")):
        investing.invest(a, prop.id, Money.parse(amount, "USD"), acknowledged=True)
        db.session.commit()
    mine = investing.invest(b, p.id, Money.parse("100.00", "USD"), acknowledged=True)
    db.session.commit()
    headers = token_for(a)
    body = client.get("/api/v1/investments?per_page=2", headers=headers).get_json()
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    assert [i["amount"]["amount"] for i in body["data"]] == ["500.00", "3000.00"]
    for item in body["data"]:
        assert {"id", "property_id", "amount", "paid_amount", "returns_earned", "status", "next_return_date",
                "next_return_amount"} <= set(item)
    page2 = client.get("/api/v1/investments?per_page=2&page=2", headers=headers).get_json()
    assert [i["amount"]["amount"] for i in page2["data"]] == ["1000.00"]
    assert client.get("/api/v1/investments?status=paying", headers=headers).get_json()["meta"]["total"] == 0
    error(client.get("/api/v1/investments?status=lost", headers=headers), 422)
    error(client.get("/api/v1/investments?per_page=1000", headers=headers), 422)
    summary = client.get("/api/v1/investments/summary", headers=headers).get_json()["data"]
    assert summary["invested"] == {"amount": "4500.00", "currency": "USD"}
    assert summary["returns_earned"]["amount"] == "0.00" and summary["holdings"] == 3
    # the monthly property pays first: 8 % a year on 3,000.00 is 20.00 a month
    assert summary["next_return_amount"] == {"amount": "20.00", "currency": "USD"}
    assert len(summary["returns_by_month"]) == 12
    error(client.get(f"/api/v1/investments/{mine.id}", headers=headers), 404)
    error(client.get("/api/v1/investments/999999", headers=headers), 404)
    error(client.get("/api/v1/investments"), 401)


def test_returns_earned_and_next_return_follow_paid_periods(client, make_investor, make_property, token_for):
    from app.core.db import utcnow
    from app.investing.models import ReturnPayment, ScheduledReturn
    from app.ledger import services as ledger
    from app.ledger.models import USER_WALLET
    from tests.support import fund_distributions

    user = make_investor("10000.00")
    p = make_property(return_frequency="monthly", return_periods=12)
    inv = investing.invest(user, p.id, Money.parse("6000.00", "USD"), acknowledged=True)
    db.session.commit()
    first = db.session.scalar(select(ScheduledReturn).where(ScheduledReturn.investment_id == inv.id,
                                                            ScheduledReturn.period_index == 1))
    fund_distributions(p.id, first.amount)
    entry = ledger.post([(investing.distributions_account(p.id), -first.amount),
                         (ledger.user_account(user.id, USER_WALLET), first.amount)],
                        key=f"test-return:{inv.id}:1", kind="return", memo="period 1")
    db.session.add(ReturnPayment(investment_id=inv.id, period_index=1, due_on=first.due_on, amount=first.amount,
                                 capital=0, entry_id=entry.id, paid_at=utcnow()))
    db.session.delete(first)  # a paid period leaves the calendar
    db.session.commit()
    data = client.get(f"/api/v1/investments/{inv.id}", headers=token_for(user)).get_json()["data"]
    assert data["returns_earned"]["amount"] == "40.00"
    assert data["schedule"][0]["status"] == "paid" and data["schedule"][0]["paid_at"]
    assert data["schedule"][1]["status"] == "upcoming"
    assert [r["period"] for r in data["schedule"]] == list(range(1, 13))  # each period once, paid or to come
    assert data["next_return_date"] == data["schedule"][1]["due_on"]
    listed = client.get("/api/v1/investments", headers=token_for(user)).get_json()["data"][0]
    assert listed["returns_earned"]["amount"] == "40.00"
    assert verify().ok, verify().violations


def _holdings(make_investor, make_property, count):
    user = make_investor("100000.00")
    props = [make_property(installments_count=2, installment_interval=1, installment_unit="months")
             if i % 2 else make_property() for i in range(min(count, 4))]
    for i in range(count):
        investing.invest(user, props[i % len(props)].id, Money.parse("200.00", "USD"), acknowledged=True)
        db.session.commit()
    return user


def test_listing_investments_costs_the_same_queries_for_1_or_20_holdings(client, make_investor, make_property,
                                                                          token_for, count_queries):
    counts = {}
    for n in (1, 20):
        user = _holdings(make_investor, make_property, n)
        headers = token_for(user)
        client.get("/api/v1/investments?per_page=50", headers=headers)  # warm up
        with count_queries() as queries:
            body = client.get("/api/v1/investments?per_page=50", headers=headers).get_json()
        assert body["meta"]["total"] == n
        counts[n] = len(queries)
        with count_queries() as queries:
            client.get("/api/v1/investments/summary", headers=headers)
        counts[f"summary-{n}"] = len(queries)
    assert counts[1] == counts[20], counts
    assert counts["summary-1"] == counts["summary-20"], counts


def test_openapi_documents_the_investing_routes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/properties/{property_id}/invest" in spec["paths"]
    assert "/api/v1/investments" in spec["paths"] and "/api/v1/investments/{investment_id}" in spec["paths"]
    post = spec["paths"]["/api/v1/properties/{property_id}/invest"]["post"]
    assert any(param["name"] == "Idempotency-Key" for param in post["parameters"])
