"""The market API (CONTRACT.md): listings, buying, prefunded offers and trades through HTTP, in envelopes, with money
as {amount, currency}; every refusal a clear 4xx that writes nothing; Idempotency-Key on every money move;
object-level checks (another user's listing can be read, not cancelled; another user's offer does not exist)."""
from datetime import timedelta

import pytest

from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.market import services as market
from app.market.models import Offer
from tests.api.market_helpers import (
    MARKET,
    close_funding,
    holding,
    listed,
    offered,
    resale_property,
    snapshot,
    wallet,
)

USD = "USD"


def money(amount: str) -> dict:
    return {"amount": amount, "currency": USD}


@pytest.fixture(autouse=True)
def _generous_limits(app, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_USER", "10000/minute")


@pytest.fixture
def seller(make_investor):
    return make_investor("5000.00")


@pytest.fixture
def buyer(make_investor):
    return make_investor("5000.00")


@pytest.fixture
def prop(make_property):
    return resale_property(make_property)


@pytest.fixture
def position(seller, prop):
    """The seller's holding of 500 units (500.00 at 1.00 a unit), its property's lock-up over."""
    inv = holding(seller, prop, "500.00")
    close_funding(prop)
    return inv


@pytest.fixture
def listing(seller, position):
    return listed(seller, position, units=100, price="1.00")


# listings ----------------------------------------------------------------------------------------------------------
def test_list_units_then_read_them_as_seller_and_as_anyone(client, token_for, seller, buyer, position, prop):
    as_seller, as_buyer = token_for(seller), token_for(buyer)
    response = client.post(f"{MARKET}/listings", headers=as_seller, json={
        "investment_id": position.id, "units": 200, "price_per_unit": "1.10"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "success" and body["meta"] is None
    data = body["data"]
    assert data["investment_id"] == position.id and data["mine"] is True
    assert data["property_id"] == prop.id and data["units"] == 200 and data["units_remaining"] == 200
    assert data["price_per_unit"] == money("1.10") and data["unit_price"] == money("1.00")
    assert data["status"] == "open" and data["expires_at"]
    assert data["seller_fee_bps"] == 100 and data["buyer_fee_bps"] == 100

    other = client.get(f"{MARKET}/listings/{data['id']}", headers=as_buyer).get_json()["data"]
    assert other["investment_id"] is None and other["mine"] is False, "the holding is the seller's business"
    assert other["price_per_unit"] == money("1.10")

    page = client.get(f"{MARKET}/listings", headers=as_buyer, query_string={"property_id": prop.id}).get_json()
    assert [row["id"] for row in page["data"]] == [data["id"]]
    assert page["meta"] == {"page": 1, "per_page": 20, "total": 1, "pages": 1}
    assert page["data"][0]["investment_id"] is None
    elsewhere = client.get(f"{MARKET}/listings", headers=as_buyer, query_string={"property_id": prop.id + 1000})
    assert elsewhere.get_json()["data"] == [] and elsewhere.get_json()["meta"]["total"] == 0
    mine = client.get(f"{MARKET}/listings", headers=as_seller, query_string={"mine": "true"}).get_json()
    assert [row["id"] for row in mine["data"]] == [data["id"]] and mine["data"][0]["investment_id"] == position.id
    assert client.get(f"{MARKET}/listings", headers=as_buyer, query_string={"mine": "true"}).get_json()["data"] == []


def test_listings_are_paginated(client, token_for, seller, buyer, position):
    for _ in range(3):
        listed(seller, position, units=10)
    first = client.get(f"{MARKET}/listings", headers=token_for(buyer), query_string={"per_page": 2}).get_json()
    assert len(first["data"]) == 2 and first["meta"]["total"] == 3 and first["meta"]["pages"] == 2
    second = client.get(f"{MARKET}/listings", headers=token_for(buyer),
                        query_string={"per_page": 2, "page": 2}).get_json()
    assert len(second["data"]) == 1
    assert {r["id"] for r in first["data"]} | {r["id"] for r in second["data"]} == {
        r.id for r in market.listings_of(seller)}


def test_listing_creation_is_idempotent(client, token_for, seller, position):
    headers = {**token_for(seller), "Idempotency-Key": "list-1"}
    body = {"investment_id": position.id, "units": 50, "price_per_unit": "1.00"}
    first = client.post(f"{MARKET}/listings", headers=headers, json=body)
    again = client.post(f"{MARKET}/listings", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.get_json() == again.get_json()
    assert len(market.listings_of(seller)) == 1
    other = client.post(f"{MARKET}/listings", headers=headers, json={**body, "units": 51})
    assert other.status_code == 409 and "Idempotency-Key" in other.get_json()["errors"]


def test_seller_cancels_and_the_offers_holds_come_back(client, token_for, seller, buyer, listing):
    before = wallet(buyer)
    offer = offered(buyer, listing, units=10, price="0.90")
    assert wallet(buyer)[1] > 0
    response = client.delete(f"{MARKET}/listings/{listing.id}", headers=token_for(seller))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["status"] == "cancelled"
    assert wallet(buyer) == before, "the offer's hold is released"
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status != "open"
    assert client.delete(f"{MARKET}/listings/{listing.id}", headers=token_for(seller)).status_code == 409


def test_another_users_listing_can_be_read_not_cancelled(client, token_for, buyer, listing):
    before = snapshot(buyer)
    assert client.get(f"{MARKET}/listings/{listing.id}", headers=token_for(buyer)).status_code == 200
    response = client.delete(f"{MARKET}/listings/{listing.id}", headers=token_for(buyer))
    assert response.status_code == 403 and response.get_json()["status"] == "error"
    assert snapshot(buyer) == before
    assert client.get(f"{MARKET}/listings/999999", headers=token_for(buyer)).status_code == 404
    assert client.delete(f"{MARKET}/listings/999999", headers=token_for(buyer)).status_code == 404


# buying ------------------------------------------------------------------------------------------------------------
def test_buy_units_pays_both_sides_and_shows_the_trade(client, token_for, seller, buyer, listing):
    seller_before, buyer_before = wallet(seller), wallet(buyer)
    response = client.post(f"{MARKET}/listings/{listing.id}/buy", headers=token_for(buyer), json={"units": 40})
    assert response.status_code == 201, response.get_json()
    trade = response.get_json()["data"]
    assert trade["side"] == "buy" and trade["units"] == 40 and trade["listing_id"] == listing.id
    assert trade["price_per_unit"] == money("1.00") and trade["amount"] == money("40.00")
    assert trade["buyer_fee"] == money("1.00") and trade["seller_fee"] == money("1.00"), "the minimum fee"
    assert trade["total"] == money("41.00") and trade["settled_at"] and trade["investment_id"]
    assert wallet(buyer)[0] == buyer_before[0] - 4100
    assert wallet(seller)[0] == seller_before[0] + 3900
    assert client.get(f"{MARKET}/listings/{listing.id}", headers=token_for(buyer)).get_json()["data"][
        "units_remaining"] == 60

    sold = client.get(f"{MARKET}/trades", headers=token_for(seller)).get_json()
    assert sold["meta"]["total"] == 1 and sold["data"][0]["side"] == "sell"
    assert sold["data"][0]["total"] == money("39.00") and sold["data"][0]["investment_id"] == listing.investment_id
    bought = client.get(f"{MARKET}/trades", headers=token_for(buyer)).get_json()["data"]
    assert [(t["id"], t["side"]) for t in bought] == [(trade["id"], "buy")]
    holdings = client.get("/api/v1/investments", headers=token_for(buyer)).get_json()["data"]
    bought_holding = next(h for h in holdings if h["id"] == trade["investment_id"])
    assert bought_holding["units"] == 40 and bought_holding["acquired_by"] == "trade"
    assert bought_holding["amount"] == money("40.00"), "the units' nominal value"
    sold_from = client.get(f"/api/v1/investments/{listing.investment_id}", headers=token_for(seller)).get_json()
    assert sold_from["data"]["units"] == 460 and sold_from["data"]["acquired_by"] == "offering"


def test_buy_replayed_with_its_key_answers_the_same_trade_and_pays_once(client, token_for, buyer, listing):
    headers = {**token_for(buyer), "Idempotency-Key": "buy-7"}
    before = wallet(buyer)
    first = client.post(f"{MARKET}/listings/{listing.id}/buy", headers=headers, json={"units": 10})
    again = client.post(f"{MARKET}/listings/{listing.id}/buy", headers=headers, json={"units": 10})
    assert first.status_code == again.status_code == 201
    assert again.get_json()["data"]["id"] == first.get_json()["data"]["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert wallet(buyer)[0] == before[0] - 1100, "paid once"
    assert client.get(f"{MARKET}/trades", headers=token_for(buyer)).get_json()["meta"]["total"] == 1
    other = client.post(f"{MARKET}/listings/{listing.id}/buy", headers=headers, json={"units": 11})
    assert other.status_code == 409
    assert wallet(buyer)[0] == before[0] - 1100


@pytest.mark.parametrize("units", ["10", 10.0, 2.5, True, 0, -3, 10**9 + 1, None, [1]])
def test_units_must_be_a_json_integer_in_range(client, token_for, seller, buyer, listing, units):
    before = snapshot(seller, buyer)
    response = client.post(f"{MARKET}/listings/{listing.id}/buy", headers=token_for(buyer), json={"units": units})
    assert response.status_code == 422, response.get_json()
    assert "units" in response.get_json()["errors"]
    offer = client.post(f"{MARKET}/listings/{listing.id}/offers", headers=token_for(buyer),
                        json={"units": units, "price_per_unit": "1.00"})
    assert offer.status_code == 422 and "units" in offer.get_json()["errors"]
    assert snapshot(seller, buyer) == before


@pytest.mark.parametrize("price", [1.0, 1, "-1.00", "0", "0.00", "1.001", "1e2", "", "abc", "99999999999999.00"])
def test_prices_are_decimal_strings(client, token_for, seller, buyer, position, listing, price):
    before = snapshot(seller, buyer)
    made = client.post(f"{MARKET}/listings", headers=token_for(seller),
                       json={"investment_id": position.id, "units": 10, "price_per_unit": price})
    assert made.status_code == 422 and "price_per_unit" in made.get_json()["errors"], made.get_json()
    offer = client.post(f"{MARKET}/listings/{listing.id}/offers", headers=token_for(buyer),
                        json={"units": 5, "price_per_unit": price})
    assert offer.status_code == 422 and "price_per_unit" in offer.get_json()["errors"]
    assert snapshot(seller, buyer) == before


def test_buy_refusals_write_nothing(client, token_for, make_investor, make_user, seller, buyer, listing, finance):
    no_kyc, unverified, poor = make_investor("5000.00", kyc=False), make_user(verified=False), make_investor("10.00")
    before = snapshot(seller, buyer)

    def refused(user, units, status):
        response = client.post(f"{MARKET}/listings/{listing.id}/buy", headers=token_for(user), json={"units": units})
        assert response.status_code == status, response.get_json()
        assert response.get_json()["status"] == "error" and response.get_json()["message"]
        assert snapshot(seller, buyer) == before

    refused(seller, 1, 403)  # from yourself
    refused(buyer, 101, 409)  # more units than remain
    refused(no_kyc, 1, 403)  # KYC not approved
    refused(unverified, 1, 403)  # e-mail not verified
    refused(poor, 100, 422)  # more than the wallet holds
    assert client.post(f"{MARKET}/listings/999999/buy", headers=token_for(buyer),
                       json={"units": 1}).status_code == 404
    with unit_of_work():
        market.halt(finance, listing.property_id, "Suspicious prices under review")
    before = snapshot(seller, buyer)
    refused(buyer, 1, 409)  # trading halted


# listing refusals --------------------------------------------------------------------------------------------------
def test_listing_refusals_write_nothing(client, token_for, make_property, make_investor, make_user, seller, buyer,
                                        position, prop, finance):
    def refused(user, investment_id, status, units=10, price="1.00"):
        before = snapshot(seller, buyer)
        response = client.post(f"{MARKET}/listings", headers=token_for(user), json={
            "investment_id": investment_id, "units": units, "price_per_unit": price})
        assert response.status_code == status, response.get_json()
        assert response.get_json()["status"] == "error"
        assert snapshot(seller, buyer) == before

    refused(seller, position.id, 409, units=501)  # more units than the holding has free
    refused(seller, position.id, 422, price="0.49")  # below the price band
    refused(seller, position.id, 422, price="1.51")  # above it
    refused(buyer, position.id, 404)  # another user's holding
    refused(seller, 999999, 404)

    no_resale = make_property(resale_allowed=False, resale_lockup_days=0)
    closed = holding(seller, no_resale, "200.00")
    close_funding(no_resale)
    refused(seller, closed.id, 409)  # resale not allowed

    locked = resale_property(make_property, resale_lockup_days=365)
    young = holding(seller, locked, "200.00")
    close_funding(locked)
    refused(seller, young.id, 409)  # lock-up not over

    with unit_of_work():
        market.halt(finance, prop.id, "Under review")
    refused(seller, position.id, 409)  # trading halted


def test_unverified_or_unapproved_sellers_cannot_list(client, token_for, make_property, make_investor):
    p = resale_property(make_property)
    owner = make_investor("1000.00")
    inv = holding(owner, p, "200.00")
    close_funding(p)
    with unit_of_work():
        owner = db.session.merge(owner)
        owner.email_verified, owner.email_verified_at = False, None
    before = snapshot(owner)
    response = client.post(f"{MARKET}/listings", headers=token_for(owner),
                           json={"investment_id": inv.id, "units": 10, "price_per_unit": "1.00"})
    assert response.status_code == 403, response.get_json()
    assert snapshot(owner) == before


def test_a_holding_with_installments_due_cannot_be_listed(client, token_for, make_property, seller, buyer):
    plan = resale_property(make_property, min_investment=None, max_investment=None, fixed_amount=120_000,
                           target_amount=12_000_000, return_rate_bps=None, return_fixed_amount=1_000,
                           return_frequency="monthly", return_periods=12, installments_count=3,
                           installment_interval=1, installment_unit="months", late_fee=2_500)
    inv = holding(seller, plan, "1200.00")
    close_funding(plan)
    before = snapshot(seller, buyer)
    response = client.post(f"{MARKET}/listings", headers=token_for(seller),
                           json={"investment_id": inv.id, "units": 1, "price_per_unit": "1200.00"})
    assert response.status_code == 409, response.get_json()
    assert snapshot(seller, buyer) == before


# offers ------------------------------------------------------------------------------------------------------------
def test_offer_holds_its_cost_and_the_seller_accepts(client, token_for, seller, buyer, listing):
    buyer_before, seller_before = wallet(buyer), wallet(seller)
    response = client.post(f"{MARKET}/listings/{listing.id}/offers", headers=token_for(buyer), json={
        "units": 20, "price_per_unit": "0.95", "message": "Would you take 0.95?"})
    assert response.status_code == 201, response.get_json()
    offer = response.get_json()["data"]
    assert offer["status"] == "open" and offer["side"] == "made" and offer["units"] == 20
    assert offer["price_per_unit"] == money("0.95") and offer["held"] == money("20.00")  # 19.00 + the 1.00 minimum
    assert offer["counter_price_per_unit"] is None and offer["buyer_message"] == "Would you take 0.95?"
    assert wallet(buyer) == (buyer_before[0] - 2000, buyer_before[1] + 2000)

    received = client.get(f"{MARKET}/offers", headers=token_for(seller)).get_json()
    assert [(o["id"], o["side"]) for o in received["data"]] == [(offer["id"], "received")]
    assert received["meta"]["total"] == 1

    accepted = client.post(f"{MARKET}/offers/{offer['id']}/accept", headers=token_for(seller), json={})
    assert accepted.status_code == 200, accepted.get_json()
    data = accepted.get_json()["data"]
    assert data["status"] == "accepted" and data["trade"]["side"] == "sell" and data["trade_id"] == data["trade"]["id"]
    assert data["trade"]["amount"] == money("19.00") and data["trade"]["units"] == 20
    assert wallet(buyer) == (buyer_before[0] - 2000, buyer_before[1])
    assert wallet(seller)[0] == seller_before[0] + 1800
    assert client.get(f"{MARKET}/trades", headers=token_for(buyer)).get_json()["data"][0]["side"] == "buy"


def test_counter_then_the_buyer_accepts_the_counter(client, token_for, seller, buyer, listing):
    offer = offered(buyer, listing, units=10, price="0.80")
    countered = client.post(f"{MARKET}/offers/{offer.id}/counter", headers=token_for(seller),
                            json={"price_per_unit": "0.90", "message": "Meet me at 0.90"})
    assert countered.status_code == 200, countered.get_json()
    data = countered.get_json()["data"]
    assert data["status"] == "countered" and data["counter_price_per_unit"] == money("0.90")
    assert data["seller_message"] == "Meet me at 0.90" and data["side"] == "received"
    before = wallet(buyer)
    accepted = client.post(f"{MARKET}/offers/{offer.id}/accept", headers=token_for(buyer), json={})
    assert accepted.status_code == 200, accepted.get_json()
    trade = accepted.get_json()["data"]["trade"]
    assert trade["side"] == "buy" and trade["price_per_unit"] == money("0.90") and trade["total"] == money("10.00")
    assert wallet(buyer) == (before[0] + before[1] - 1000, 0), "the hold settled the trade, the excess came back"


def test_reject_and_withdraw_release_the_hold(client, token_for, seller, buyer, listing):
    before = wallet(buyer)
    first = offered(buyer, listing, units=10, price="0.90")
    rejected = client.post(f"{MARKET}/offers/{first.id}/reject", headers=token_for(seller), json={"message": "No"})
    assert rejected.status_code == 200 and rejected.get_json()["data"]["status"] == "rejected"
    assert rejected.get_json()["data"]["held"] == money("0.00")
    assert wallet(buyer) == before
    second = offered(buyer, listing, units=10, price="0.90")
    withdrawn = client.post(f"{MARKET}/offers/{second.id}/withdraw", headers=token_for(buyer))
    assert withdrawn.status_code == 200 and withdrawn.get_json()["data"]["status"] == "withdrawn"
    assert wallet(buyer) == before
    assert client.post(f"{MARKET}/offers/{second.id}/withdraw", headers=token_for(buyer)).status_code == 409
    assert wallet(buyer) == before, "released once"


def test_hostile_message_text_comes_back_as_plain_text(client, token_for, seller, buyer, listing):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    response = client.post(f"{MARKET}/listings/{listing.id}/offers", headers=token_for(buyer),
                           json={"units": 10, "price_per_unit": "1.00", "message": hostile})
    assert response.status_code == 201, response.get_json()
    assert response.mimetype == "application/json"
    assert response.get_json()["data"]["buyer_message"] == hostile
    listed_offers = client.get(f"{MARKET}/offers", headers=token_for(seller)).get_json()["data"]
    assert listed_offers[0]["buyer_message"] == hostile
    too_long = client.post(f"{MARKET}/listings/{listing.id}/offers", headers=token_for(buyer),
                           json={"units": 10, "price_per_unit": "1.00", "message": "x" * 501})
    assert too_long.status_code == 422 and "message" in too_long.get_json()["errors"]


def test_offer_is_idempotent_and_holds_once(client, token_for, buyer, listing):
    headers = {**token_for(buyer), "Idempotency-Key": "offer-1"}
    before = wallet(buyer)
    body = {"units": 10, "price_per_unit": "0.90"}
    first = client.post(f"{MARKET}/listings/{listing.id}/offers", headers=headers, json=body)
    again = client.post(f"{MARKET}/listings/{listing.id}/offers", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["data"]["id"] == again.get_json()["data"]["id"]
    assert wallet(buyer)[1] == before[1] + 1000, "held once"
    assert client.post(f"{MARKET}/listings/{listing.id}/offers", headers=headers,
                       json={**body, "units": 11}).status_code == 409


def test_accept_and_counter_replay_with_their_keys(client, token_for, seller, buyer, listing):
    offer = offered(buyer, listing, units=10, price="0.90")
    counter = {**token_for(seller), "Idempotency-Key": "counter-1"}
    one = client.post(f"{MARKET}/offers/{offer.id}/counter", headers=counter, json={"price_per_unit": "0.95"})
    two = client.post(f"{MARKET}/offers/{offer.id}/counter", headers=counter, json={"price_per_unit": "0.95"})
    assert one.status_code == two.status_code == 200 and two.headers.get("Idempotent-Replayed") == "true"
    accept = {**token_for(buyer), "Idempotency-Key": "accept-1"}
    seller_before = wallet(seller)
    first = client.post(f"{MARKET}/offers/{offer.id}/accept", headers=accept, json={})
    again = client.post(f"{MARKET}/offers/{offer.id}/accept", headers=accept, json={})
    assert first.status_code == again.status_code == 200, first.get_json()
    assert first.get_json()["data"]["trade"]["id"] == again.get_json()["data"]["trade"]["id"]
    assert wallet(seller)[0] == seller_before[0] + 950 - 100, "settled once"


def test_offer_refusals_write_nothing(client, token_for, make_investor, make_user, seller, buyer, listing):
    no_kyc, poor = make_investor("5000.00", kyc=False), make_investor("1.00")

    def refused(user, body, status):
        before = snapshot(seller, buyer)
        response = client.post(f"{MARKET}/listings/{listing.id}/offers", headers=token_for(user), json=body)
        assert response.status_code == status, response.get_json()
        assert snapshot(seller, buyer) == before

    refused(seller, {"units": 1, "price_per_unit": "1.00"}, 403)  # your own listing
    refused(buyer, {"units": 101, "price_per_unit": "1.00"}, 409)  # more than remain
    refused(no_kyc, {"units": 1, "price_per_unit": "1.00"}, 403)
    refused(poor, {"units": 100, "price_per_unit": "1.00"}, 422)  # the wallet cannot hold it
    refused(buyer, {"units": 1, "price_per_unit": "1.00", "expires_at": "yesterday"}, 422)


def test_another_users_offer_is_not_found(client, token_for, make_investor, seller, buyer, listing):
    offer = offered(buyer, listing, units=10)
    stranger = token_for(make_investor("100.00"))
    before = snapshot(seller, buyer)
    for action, body in (("accept", {}), ("reject", {}), ("withdraw", None),
                         ("counter", {"price_per_unit": "1.00"})):
        response = client.post(f"{MARKET}/offers/{offer.id}/{action}", headers=stranger,
                               **({"json": body} if body is not None else {}))
        assert response.status_code == 404, (action, response.get_json())
    assert client.get(f"{MARKET}/offers", headers=stranger).get_json()["data"] == []
    assert snapshot(seller, buyer) == before
    # a party acting out of turn
    assert client.post(f"{MARKET}/offers/{offer.id}/accept", headers=token_for(buyer), json={}).status_code in (
        403, 409)
    assert snapshot(seller, buyer) == before


def test_an_expired_offer_cannot_be_accepted(client, token_for, seller, buyer, listing):
    offer = offered(buyer, listing, units=10)
    db.session.get(Offer, offer.id).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    before = snapshot(seller, buyer)
    response = client.post(f"{MARKET}/offers/{offer.id}/accept", headers=token_for(seller), json={})
    assert response.status_code == 409, response.get_json()
    assert snapshot(seller, buyer) == before


def test_market_routes_need_a_token(client, listing):
    assert client.get(f"{MARKET}/listings").status_code == 401
    assert client.post(f"{MARKET}/listings/{listing.id}/buy", json={"units": 1}).status_code == 401


def test_the_openapi_document_lists_the_market(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    expected = {
        "/api/v1/market/listings": {"get", "post"},
        "/api/v1/market/listings/{listing_id}": {"get", "delete"},
        "/api/v1/market/listings/{listing_id}/buy": {"post"},
        "/api/v1/market/listings/{listing_id}/offers": {"post"},
        "/api/v1/market/offers": {"get"},
        "/api/v1/market/offers/{offer_id}/accept": {"post"},
        "/api/v1/market/offers/{offer_id}/reject": {"post"},
        "/api/v1/market/offers/{offer_id}/withdraw": {"post"},
        "/api/v1/market/offers/{offer_id}/counter": {"post"},
        "/api/v1/market/trades": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    buy = paths["/api/v1/market/listings/{listing_id}/buy"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in buy["parameters"]]
    assert {"201", "403", "404", "409", "422"} <= set(buy["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["BuyRequest"]["properties"]["units"]["type"] == "integer"
    assert schemas["OfferRequest"]["properties"]["price_per_unit"]["type"] == "string"
    assert schemas["Offer"]["properties"]["held"]["required"] == ["amount", "currency"]
