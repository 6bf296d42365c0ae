"""The OpenAPI document is valid and describes every answer exactly as it is sent.

Every operation the document lists is called with real requests (the test client, the suite's fixtures); each
answer's status must be documented for its operation and its body must match the schema documented for that status
(jsonschema, with OpenAPI's `nullable` and `$ref`s resolved here). The answers cover success and the error codes
(400, 401, 403, 404, 409, 422, 429) the document names."""
from __future__ import annotations

import io
import json
from datetime import date, timedelta
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

from app.auth.services import notify_security_change
from app.extensions import db
from app.investing.models import Investment
from app.kyc.demo import ensure_forms
from app.notifications import phone
from tests.api.market_helpers import close_funding, holding, resale_property
from tests.core import files
from tests.payouts.helpers import BANK, approve_kyc, usable_method
from tests.support import PASSWORD, identity_parts

METHODS = ("get", "put", "post", "delete", "patch")
MONEY_FIELDS = {  # the money members of the answers: each is {amount, currency}
    "Wallet": ("available", "held"), "Transaction": ("amount",),
    "Installment": ("amount", "late_fee"), "Return": ("amount", "capital"),
    "Investment": ("amount", "paid_amount", "returns_earned", "next_return_amount", "refunded_amount", "fees_paid"),
    "Summary": ("invested", "paid_in", "returns_earned", "next_return_amount"),
    "Quote": ("amount", "fee", "total", "available", "daily_remaining", "monthly_remaining"),
    "Deposit": ("amount", "fee", "total"), "Payout": ("amount", "fee", "total"),
    "Property": ("target_amount", "raised_amount", "remaining_funding", "min_investment", "max_investment",
                 "fixed_amount"),
    "Terms": ("return_fixed_amount", "late_fee"), "NextInstallment": ("amount",), "Month": ("amount",),
    "Listing": ("unit_price", "price_per_unit", "seller_fee_min", "buyer_fee_min"),
    "Offer": ("price_per_unit", "counter_price_per_unit", "buyer_fee", "held"),
    "Trade": ("price_per_unit", "amount", "buyer_fee", "seller_fee", "total"),
}


# the document as JSON Schema ---------------------------------------------------------------------------------------
def resolve(spec: dict, node: dict) -> dict:
    """Follow a `$ref` (to a schema, a response, ...) inside the document."""
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def to_json_schema(spec: dict, schema: dict) -> dict:
    """An OpenAPI 3.0 schema as a self-contained JSON Schema: `$ref`s inlined, `nullable` as a null type."""
    schema = resolve(spec, schema)
    out: dict = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: to_json_schema(spec, member) for name, member in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = to_json_schema(spec, value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(spec, part) for part in value]
        elif key not in ("nullable", "example", "readOnly", "writeOnly", "description", "default"):
            out[key] = value
    if schema.get("nullable"):
        assert "type" in schema, f"nullable needs a type in OpenAPI 3.0: {schema}"
        out["type"] = [schema["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def check_answer(spec: dict, method: str, template: str, response) -> None:
    """The answer's status is documented for the operation and its body is what the document says."""
    operation = spec["paths"][template][method]
    status = str(response.status_code)
    assert status in operation["responses"], (
        f"{method.upper()} {template} answered {status}, which the document does not list: "
        f"{sorted(operation['responses'])}; {response.get_data(as_text=True)[:300]}")
    documented = resolve(spec, operation["responses"][status])
    for header in documented.get("headers", {}):
        assert header in response.headers, f"{method.upper()} {template} {status}: no {header} header"
    content = documented.get("content")
    if not content:
        assert not response.data or response.status_code in (301, 302, 303, 307, 308), "an undocumented body"
        return
    assert response.mimetype in content, f"{method.upper()} {template} {status}: {response.mimetype} undocumented"
    schema = content[response.mimetype].get("schema", {})
    if response.mimetype != "application/json":
        assert schema.get("format") == "binary" and response.data
        return
    validator = jsonschema.Draft4Validator(to_json_schema(spec, schema), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(response.get_json()), key=lambda e: list(e.path))
    assert not errors, f"{method.upper()} {template} {status}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])


class DocumentedApi:
    """Calls operations by their documented path and checks every answer against the document."""

    def __init__(self, client, spec: dict):
        self.client, self.spec = client, spec
        self.answered: set[tuple[str, str, int]] = set()

    def call(self, method: str, template: str, expect: int, *, headers: dict | None = None,
             path: dict | None = None, **kwargs):
        url = template.format(**(path or {}))
        response = self.client.open(url, method=method.upper(), headers=headers or {}, **kwargs)
        assert response.status_code == expect, (method, url, response.status_code,
                                                response.get_data(as_text=True)[:500])
        check_answer(self.spec, method, template, response)
        self.answered.add((method, template, response.status_code))
        return response


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


# the document itself ---------------------------------------------------------------------------------------------
def test_the_document_is_valid_openapi(spec):
    validate_openapi(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "a token from POST /api/v1/auth/token"}


def test_money_is_documented_as_amount_and_currency(spec):
    schemas = spec["components"]["schemas"]
    for name, members in MONEY_FIELDS.items():
        for member in members:
            money = schemas[name]["properties"][member]
            assert money["type"] == "object" and money["required"] == ["amount", "currency"], (name, member)
            assert money["properties"]["amount"]["type"] == "string" and money["properties"]["amount"]["pattern"]
            assert money["properties"]["amount"]["example"] == "1250.00"
            assert money["properties"]["currency"]["example"] == "USD"
            assert money["additionalProperties"] is False
    assert schemas["Investment"]["properties"]["next_return_amount"]["nullable"] is True
    for request, member in (("InvestRequest", "amount"), ("DepositRequest", "amount"), ("PayoutRequest", "amount")):
        amount = schemas[request]["properties"][member]
        assert amount["type"] == "string" and amount["example"] == "100.00" and amount["pattern"], request
    no_type = [(name, member) for name, schema in schemas.items()
               for member, prop in schema.get("properties", {}).items()
               if not {"type", "$ref", "anyOf", "allOf"} & set(prop)]
    assert no_type == [], "every member of every schema has a type"


def test_the_error_envelope_allows_errors_null(spec):
    error = spec["components"]["schemas"]["ErrorEnvelope"]
    assert set(error["required"]) == {"status", "message", "errors"}
    assert error["properties"]["errors"]["nullable"] is True
    assert error["properties"]["status"]["enum"] == ["error"]
    jsonschema.validate({"status": "error", "message": "Not found.", "errors": None}, to_json_schema(spec, error))
    too_many = resolve(spec, spec["paths"]["/api/v1/me"]["get"]["responses"]["429"])
    assert "Retry-After" in too_many["headers"]


def test_the_check_refuses_what_the_document_does_not_describe(app, spec):
    wallet = {"available": {"amount": "250.00", "currency": "USD"}, "held": {"amount": "0.00", "currency": "USD"},
              "currency": "USD"}

    def answer(body, status=200):
        return app.response_class(json.dumps(body), status=status, mimetype="application/json")

    check_answer(spec, "get", "/api/v1/wallet", answer({"status": "success", "message": None, "data": wallet,
                                                        "meta": None}))
    for wrong in ({**wallet, "available": {"amount": 250.0, "currency": "USD"}},  # a number
                  {**wallet, "held": None},  # not nullable
                  {**wallet, "extra": 1},  # not documented
                  {**wallet, "available": {"amount": "250.00", "currency": "usd"}}):
        with pytest.raises(AssertionError):
            check_answer(spec, "get", "/api/v1/wallet", answer({"status": "success", "message": None, "data": wrong,
                                                                "meta": None}))
    with pytest.raises(AssertionError):  # meta is null for this operation
        check_answer(spec, "get", "/api/v1/wallet", answer({"status": "success", "message": None, "data": wallet,
                                                            "meta": {"page": 1}}))
    with pytest.raises(AssertionError):  # not a documented status
        check_answer(spec, "get", "/api/v1/wallet", answer({"status": "error", "message": "no", "errors": None}, 418))
    check_answer(spec, "get", "/api/v1/wallet", answer({"status": "error", "message": "no", "errors": None}, 401))
    with pytest.raises(AssertionError):  # errors is {field: [messages]}
        check_answer(spec, "get", "/api/v1/wallet", answer({"status": "error", "message": "no", "errors": "x"}, 401))


# every operation, with real requests -------------------------------------------------------------------------------
def test_every_operation_answers_as_documented(app, client, spec, make_user, fund, token_for, make_property,
                                               monkeypatch, manager):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_USER", "10000/minute")
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_ANONYMOUS", "10000/minute")
    api = DocumentedApi(client, spec)
    reviewer = make_user(role="compliance")
    investor = make_user(first_name="Test", last_name="User")
    approve_kyc(investor, reviewer)
    fund(investor, "20000.00")
    headers = token_for(investor)
    no_kyc = make_user()  # verified e-mail, identity not verified
    unverified = make_user(verified=False)
    approve_kyc(unverified, reviewer)

    # accounts and tokens
    api.call("post", "/api/v1/auth/register", 201, json={"email": "new.investor@example.com", "password": PASSWORD,
                                                         "first_name": "New", "last_name": "Investor"})
    api.call("post", "/api/v1/auth/register", 422, json={"email": "x@example.com"})
    api.call("post", "/api/v1/auth/register", 400, data="{not json", content_type="application/json")
    token = api.call("post", "/api/v1/auth/token", 200,
                     json={"email": investor.email, "password": PASSWORD}).get_json()["data"]["token"]
    api.call("post", "/api/v1/auth/token", 401, json={"email": investor.email, "password": "wrong-password-1"})
    api.call("post", "/api/v1/auth/token", 422, json={"email": investor.email})
    api.call("delete", "/api/v1/auth/token", 200, headers={"Authorization": f"Bearer {token}"})
    api.call("delete", "/api/v1/auth/token", 401, headers={"Authorization": f"Bearer {token}"})
    api.call("get", "/api/v1/me", 200, headers=headers)
    api.call("get", "/api/v1/me", 401)
    api.call("patch", "/api/v1/me", 200, headers=headers, json={"first_name": "Test", "locale": "es"})
    api.call("patch", "/api/v1/me", 200, headers=headers, json={"locale": None})
    api.call("patch", "/api/v1/me", 422, headers=headers, json={"locale": "xx"})
    api.call("post", "/api/v1/me/email", 202, headers=headers, json={"email": "moved.investor@example.com"})
    api.call("post", "/api/v1/me/email", 422, headers=headers, json={})
    monkeypatch.setattr(phone, "sms_available", lambda: True)  # the SMS channel is off here: nothing is sent,
    monkeypatch.setattr(phone, "new_code", lambda: "424242")  # and the code is known
    api.call("post", "/api/v1/me/phone", 422, headers=headers, json={"phone": "12"})
    api.call("post", "/api/v1/me/phone", 202, headers=headers, json={"phone": "+14155550123"})
    api.call("post", "/api/v1/me/phone/verify", 422, headers=headers, json={"code": "x"})
    api.call("post", "/api/v1/me/phone/verify", 200, headers=headers, json={"code": "424242"})

    # the wallet
    api.call("get", "/api/v1/wallet", 200, headers=headers)
    api.call("get", "/api/v1/wallet/transactions", 200, headers=headers, query_string={"per_page": 2})
    api.call("get", "/api/v1/wallet/transactions", 422, headers=headers, query_string={"per_page": 1000})

    # the catalogue
    p = make_property()
    plan = make_property(min_investment=None, max_investment=None, fixed_amount=120_000, target_amount=12_000_000,
                         return_rate_bps=None, return_fixed_amount=1_000, return_frequency="monthly",
                         return_periods=12, installments_count=3, installment_interval=1, installment_unit="months",
                         late_fee=2_500)
    api.call("get", "/api/v1/properties", 200, headers=headers, query_string={"min_amount": "", "max_amount": "0"})
    api.call("get", "/api/v1/properties", 422, headers=headers, query_string={"min_amount": "1.001"})
    api.call("get", "/api/v1/properties/{property_id}", 200, headers=headers, path={"property_id": p.id})
    api.call("get", "/api/v1/properties/{property_id}", 200, headers=headers, path={"property_id": plan.id})
    api.call("get", "/api/v1/properties/{property_id}", 404, headers=headers, path={"property_id": 999999})

    # investing
    invest = "/api/v1/properties/{property_id}/invest"
    keyed = {**headers, "Idempotency-Key": "invest-1"}
    api.call("post", invest, 201, headers=keyed, path={"property_id": p.id}, json={"amount": "2500.00"})
    api.call("post", invest, 201, headers=keyed, path={"property_id": p.id}, json={"amount": "2500.00"})  # replay
    api.call("post", invest, 409, headers=keyed, path={"property_id": p.id}, json={"amount": "2600.00"})
    api.call("post", invest, 422, headers=headers, path={"property_id": p.id}, json={"amount": 2500.5})
    api.call("post", invest, 422, headers=headers, path={"property_id": p.id}, json={"amount": "25.001"})
    api.call("post", invest, 400, headers=headers, path={"property_id": p.id}, data="{",
             content_type="application/json")
    api.call("post", invest, 403, headers=token_for(no_kyc), path={"property_id": p.id}, json={"amount": "100.00"})
    api.call("post", invest, 404, headers=headers, path={"property_id": 999999}, json={"amount": "100.00"})
    created = api.call("post", invest, 201, headers=headers, path={"property_id": plan.id},
                       json={"amount": "1200.00"}).get_json()["data"]
    inv = db.session.get(Investment, created["id"])
    inv.installments[1].due_on = date.today() - timedelta(days=10)  # late: a fee applies
    db.session.commit()
    api.call("get", "/api/v1/investments", 200, headers=headers)
    api.call("get", "/api/v1/investments", 422, headers=headers, query_string={"status": "bogus"})
    api.call("get", "/api/v1/investments/summary", 200, headers=headers)
    api.call("get", "/api/v1/investments/{investment_id}", 200, headers=headers, path={"investment_id": inv.id})
    api.call("get", "/api/v1/investments/{investment_id}", 404, headers=headers, path={"investment_id": 999999})
    pay = "/api/v1/investments/{investment_id}/installments/pay"
    api.call("post", pay, 200, headers=headers, path={"investment_id": inv.id}, json={})
    api.call("post", pay, 422, headers=headers, path={"investment_id": inv.id}, json={"all_remaining": "maybe"})
    api.call("post", pay, 200, headers=headers, path={"investment_id": inv.id}, json={"all_remaining": True})
    api.call("post", pay, 409, headers=headers, path={"investment_id": inv.id}, json={})
    api.call("post", pay, 404, headers=headers, path={"investment_id": 999999}, json={})
    api.call("post", pay, 403, headers=token_for(unverified), path={"investment_id": inv.id}, json={})

    # deposits
    deposit = api.call("post", "/api/v1/deposits", 201, headers={**headers, "Idempotency-Key": "deposit-1"},
                       json={"amount": "250.00", "gateway": "bank_transfer"}).get_json()["data"]
    api.call("post", "/api/v1/deposits", 409, headers={**headers, "Idempotency-Key": "deposit-1"},
             json={"amount": "260.00", "gateway": "bank_transfer"})
    api.call("post", "/api/v1/deposits", 422, headers=headers, json={"amount": "-5.00", "gateway": "bank_transfer"})
    api.call("post", "/api/v1/deposits", 403, headers=token_for(unverified),
             json={"amount": "250.00", "gateway": "bank_transfer"})
    api.call("get", "/api/v1/deposits/{deposit_id}", 200, headers=headers, path={"deposit_id": deposit["id"]})
    api.call("get", "/api/v1/deposits/{deposit_id}", 404, headers=token_for(no_kyc),
             path={"deposit_id": deposit["id"]})

    # bank accounts
    methods, one = "/api/v1/payout-methods", "/api/v1/payout-methods/{method_id}"
    added = api.call("post", methods, 201, headers=headers, json=BANK).get_json()["data"]
    api.call("post", methods, 422, headers=headers, json={**BANK, "routing_number": "123"})
    api.call("get", methods, 200, headers=headers)
    api.call("get", one, 200, headers=headers, path={"method_id": added["id"]})
    api.call("put", one, 200, headers=headers, path={"method_id": added["id"]}, json={**BANK, "bank_name": "Other"})
    api.call("delete", one, 200, headers=headers, path={"method_id": added["id"]})
    api.call("get", one, 404, headers=headers, path={"method_id": added["id"]})

    # payouts
    method = usable_method(investor)
    payout = api.call("post", "/api/v1/payouts", 201, headers={**headers, "Idempotency-Key": "payout-1"},
                      json={"amount": "100.00", "payout_method_id": method.id}).get_json()["data"]
    api.call("post", "/api/v1/payouts", 409, headers={**headers, "Idempotency-Key": "payout-1"},
             json={"amount": "101.00", "payout_method_id": method.id})
    api.call("post", "/api/v1/payouts", 422, headers=headers,
             json={"amount": "100000.00", "payout_method_id": method.id})
    api.call("post", "/api/v1/payouts", 403, headers=token_for(no_kyc),
             json={"amount": "10.00", "payout_method_id": usable_method(no_kyc).id})
    api.call("put", one, 409, headers=headers, path={"method_id": method.id}, json={**BANK, "bank_name": "Other"})
    api.call("delete", one, 409, headers=headers, path={"method_id": method.id})
    api.call("get", "/api/v1/payouts", 200, headers=headers)
    api.call("get", "/api/v1/payouts", 422, headers=headers, query_string={"status": "bogus"})
    api.call("get", "/api/v1/payouts/quote", 200, headers=headers, query_string={"amount": "200.00"})
    api.call("get", "/api/v1/payouts/quote", 422, headers=headers, query_string={"amount": "2e3"})
    api.call("get", "/api/v1/payouts/{payout_id}", 200, headers=headers, path={"payout_id": payout["id"]})
    api.call("get", "/api/v1/payouts/{payout_id}", 404, headers=headers, path={"payout_id": 999999})
    api.call("post", "/api/v1/payouts/{payout_id}/cancel", 200, headers=headers, path={"payout_id": payout["id"]})
    api.call("post", "/api/v1/payouts/{payout_id}/cancel", 409, headers=headers, path={"payout_id": payout["id"]})

    # notifications and push devices
    notify_security_change(investor, "A test notice.")
    db.session.commit()
    listed = api.call("get", "/api/v1/notifications", 200, headers=headers).get_json()["data"]
    api.call("get", "/api/v1/notifications", 422, headers=headers, query_string={"page": 0})
    api.call("post", "/api/v1/notifications/{notification_id}/read", 200, headers=headers,
             path={"notification_id": listed[0]["id"]})
    api.call("post", "/api/v1/notifications/{notification_id}/read", 404, headers=headers,
             path={"notification_id": 999999})
    api.call("post", "/api/v1/notifications/read-all", 200, headers=headers)
    device = api.call("post", "/api/v1/notifications/devices", 201, headers=headers,
                      json={"token": "device-token-1", "platform": "ios"}).get_json()["data"]
    api.call("post", "/api/v1/notifications/devices", 422, headers=headers, json={"token": "t", "platform": "nokia"})
    api.call("delete", "/api/v1/notifications/devices/{device_id}", 200, headers=headers,
             path={"device_id": device["id"]})
    api.call("delete", "/api/v1/notifications/devices/{device_id}", 404, headers=headers,
             path={"device_id": device["id"]})

    # identity verification
    identity, _ = ensure_forms()
    db.session.commit()
    applicant = token_for(make_user())
    submit = "/api/v1/kyc/submissions"
    api.call("post", submit, 422, headers=applicant, content_type="multipart/form-data",
             data={"form_id": str(identity.id), **identity_parts(front=files.html_as_jpeg())})
    submission = api.call("post", submit, 201, headers=applicant, content_type="multipart/form-data",
                          data={"form_id": str(identity.id), **identity_parts()}).get_json()["data"]
    api.call("post", submit, 409, headers=applicant, content_type="multipart/form-data",
             data={"form_id": str(identity.id), **identity_parts()})
    api.call("post", submit, 422, headers=applicant, content_type="multipart/form-data", data={"form_id": "x"})
    api.call("post", submit, 404, headers=applicant, content_type="multipart/form-data",
             data={"form_id": "999999", "selfie": (io.BytesIO(files.png(40, 40)), "selfie.png")})
    api.call("get", "/api/v1/kyc", 200, headers=applicant)
    api.call("get", "/api/v1/kyc", 200, headers=headers)
    document = "/api/v1/kyc/documents/{document_id}"
    api.call("get", document, 200, headers=applicant, path={"document_id": submission["documents"][0]["id"]})
    api.call("get", document, 404, headers=headers, path={"document_id": submission["documents"][0]["id"]})

    # the market
    traded = resale_property(make_property)
    position = holding(investor, traded, "500.00")
    close_funding(traded)
    counterpart = make_user()
    approve_kyc(counterpart, reviewer)
    fund(counterpart, "1000.00")
    them, stranger = token_for(counterpart), token_for(no_kyc)
    lists, a_listing = "/api/v1/market/listings", "/api/v1/market/listings/{listing_id}"
    terms = {"investment_id": position.id, "units": 100, "price_per_unit": "1.00"}
    keyed = {**headers, "Idempotency-Key": "list-1"}
    made = api.call("post", lists, 201, headers=keyed, json=terms).get_json()["data"]
    on = {"listing_id": made["id"]}
    api.call("post", lists, 409, headers=keyed, json={**terms, "units": 101})
    api.call("post", lists, 422, headers=headers, json={**terms, "units": "5"})
    api.call("post", lists, 404, headers=headers, json={**terms, "investment_id": 999999})
    api.call("get", lists, 200, headers=them, query_string={"property_id": traded.id})
    api.call("get", lists, 200, headers=headers, query_string={"mine": "true"})
    api.call("get", lists, 422, headers=them, query_string={"per_page": 1000})
    api.call("get", a_listing, 200, headers=them, path=on)
    api.call("get", a_listing, 404, headers=them, path={"listing_id": 999999})
    buy = "/api/v1/market/listings/{listing_id}/buy"
    api.call("post", buy, 201, headers={**them, "Idempotency-Key": "buy-1"}, path=on, json={"units": 10})
    api.call("post", buy, 409, headers=them, path=on, json={"units": 1000})
    api.call("post", buy, 422, headers=them, path=on, json={"units": 1.5})
    api.call("post", buy, 403, headers=headers, path=on, json={"units": 1})
    api.call("post", buy, 404, headers=them, path={"listing_id": 999999}, json={"units": 1})
    make_offer = "/api/v1/market/listings/{listing_id}/offers"
    bid = {"units": 10, "price_per_unit": "0.90", "message": "Would you take 0.90?"}
    offer = api.call("post", make_offer, 201, headers=them, path=on, json=bid).get_json()["data"]
    api.call("post", make_offer, 422, headers=them, path=on, json={**bid, "price_per_unit": "0.9001"})
    api.call("post", make_offer, 403, headers=headers, path=on, json=bid)
    api.call("post", make_offer, 409, headers=them, path=on, json={**bid, "units": 1000})
    api.call("post", make_offer, 404, headers=them, path={"listing_id": 999999}, json=bid)
    api.call("get", "/api/v1/market/offers", 200, headers=headers)
    api.call("get", "/api/v1/market/offers", 422, headers=headers, query_string={"per_page": 0})
    act = "/api/v1/market/offers/{offer_id}/"
    one = {"offer_id": offer["id"]}
    api.call("post", act + "counter", 200, headers=headers, path=one, json={"price_per_unit": "0.95"})
    api.call("post", act + "counter", 422, headers=headers, path=one, json={"price_per_unit": "-0.95"})
    api.call("post", act + "accept", 404, headers=stranger, path=one, json={})
    api.call("post", act + "accept", 200, headers=them, path=one, json={})
    api.call("post", act + "accept", 409, headers=them, path=one, json={})
    api.call("post", act + "counter", 409, headers=headers, path=one, json={"price_per_unit": "0.95"})
    second = {"offer_id": api.call("post", make_offer, 201, headers=them, path=on, json=bid).get_json()["data"]["id"]}
    api.call("post", act + "reject", 404, headers=stranger, path=second, json={})
    api.call("post", act + "reject", 200, headers=headers, path=second, json={"message": "No, thank you"})
    api.call("post", act + "reject", 409, headers=headers, path=second, json={})
    third = {"offer_id": api.call("post", make_offer, 201, headers=them, path=on, json=bid).get_json()["data"]["id"]}
    api.call("post", act + "withdraw", 404, headers=stranger, path=third)
    api.call("post", act + "withdraw", 200, headers=them, path=third)
    api.call("post", act + "withdraw", 409, headers=them, path=third)
    api.call("get", "/api/v1/market/trades", 200, headers=them)
    api.call("get", "/api/v1/market/trades", 422, headers=them, query_string={"page": 0})
    api.call("delete", a_listing, 403, headers=them, path=on)
    api.call("delete", a_listing, 200, headers=headers, path=on)
    api.call("delete", a_listing, 409, headers=headers, path=on)
    api.call("delete", a_listing, 404, headers=headers, path={"listing_id": 999999})

    # statements
    today = date.today()
    span = {"from": f"{today.year}-01-01", "to": today.isoformat()}
    made = api.call("post", "/api/v1/statements", 202, headers=headers, json=span).get_json()["data"]
    api.call("post", "/api/v1/statements", 422, headers=headers, json={**span, "to": "2999-01-01"})
    api.call("get", "/api/v1/statements", 200, headers=headers, query_string={"year": today.year})
    api.call("get", "/api/v1/statements", 422, headers=headers, query_string={"year": 1800})
    a_statement = {"statement_id": made["id"]}
    api.call("get", "/api/v1/statements/{statement_id}", 200, headers=headers, path=a_statement)
    api.call("get", "/api/v1/statements/{statement_id}", 404, headers=stranger, path=a_statement)
    statement_file = "/api/v1/statements/{statement_id}/{what}"
    api.call("get", statement_file, 200, headers=headers, path={**a_statement, "what": "pdf"})
    api.call("get", statement_file, 200, headers=headers, path={**a_statement, "what": "csv"})
    api.call("get", statement_file, 404, headers=stranger, path={**a_statement, "what": "pdf"})
    # your data and leaving
    export = api.call("post", "/api/v1/me/export", 202, headers=headers).get_json()["data"]
    one_export = {"export_id": export["id"]}
    api.call("get", "/api/v1/me/exports/{export_id}", 200, headers=headers, path=one_export)
    api.call("get", "/api/v1/me/exports/{export_id}", 404, headers=headers, path={"export_id": 999999})
    api.call("get", "/api/v1/me/exports/{export_id}/download", 200, headers=headers, path=one_export)
    api.call("get", "/api/v1/me/exports/{export_id}/download", 404, headers=token_for(no_kyc), path=one_export)
    api.call("delete", "/api/v1/me", 422, headers=headers, json={"password": "wrong-password-1"})
    api.call("delete", "/api/v1/me", 409, headers=headers, json={"password": PASSWORD})
    api.call("delete", "/api/v1/me", 200, headers=token_for(no_kyc), json={"password": PASSWORD})  # nothing left

    # setting up properties (a staff token)
    staff = token_for(manager)
    draft = {"title": "Riverside Court", "city": "Porto", "country": "PT", "target_amount": "750000.00",
             "min_investment": "100.00", "max_investment": "50000.00", "return_rate_bps": 750,
             "funding_starts_at": (date.today() + timedelta(days=1)).isoformat() + "T09:00:00",
             "funding_ends_at": (date.today() + timedelta(days=60)).isoformat() + "T18:00:00"}
    created = api.call("post", "/api/v1/properties", 201, headers=staff, json=draft).get_json()["data"]
    api.call("post", "/api/v1/properties", 403, headers=headers, json=draft)
    api.call("post", "/api/v1/properties", 422, headers=staff, json={**draft, "max_investment": "1.00"})
    one_property = "/api/v1/properties/{property_id}"
    mine = {"property_id": created["id"]}
    api.call("put", one_property, 200, headers=staff, path=mine, json={"description": "Eighteen flats."})
    api.call("put", one_property, 422, headers=staff, path=mine, json={"max_investment": "1.00"})
    api.call("put", one_property, 409, headers=staff, path={"property_id": p.id}, json={"max_investment": "90.00"})
    api.call("put", one_property, 403, headers=headers, path=mine, json={"title": "x"})
    api.call("put", one_property, 404, headers=staff, path={"property_id": 999999}, json={"title": "x"})
    photos = "/api/v1/properties/{property_id}/photos"
    api.call("post", photos, 201, headers=staff, path=mine, content_type="multipart/form-data",
             data={"photos": (io.BytesIO(files.jpeg(64, 48)), "front.jpg")})
    api.call("post", photos, 422, headers=staff, path=mine, content_type="multipart/form-data",
             data={"photos": (io.BytesIO(files.html_as_jpeg()), "front.jpg")})
    documents = "/api/v1/properties/{property_id}/documents"
    api.call("post", documents, 201, headers=staff, path=mine, content_type="multipart/form-data",
             data={"title": "Memorandum", "document": (io.BytesIO(files.minimal_pdf()), "m.pdf")})
    api.call("post", documents, 422, headers=staff, path=mine, content_type="multipart/form-data",
             data={"title": "Memorandum", "document": (io.BytesIO(files.jpeg()), "m.pdf")})
    submit_draft = "/api/v1/properties/{property_id}/submit"
    api.call("post", submit_draft, 201, headers=staff, path=mine)
    api.call("post", submit_draft, 409, headers=staff, path=mine)
    api.call("post", submit_draft, 403, headers=headers, path=mine)
    api.call("delete", one_property, 409, headers=staff, path={"property_id": p.id})
    api.call("delete", one_property, 403, headers=headers, path=mine)
    api.call("delete", one_property, 200, headers=staff, path=mine, query_string={"reason": "not this year"})
    api.call("post", "/api/v1/deposits", 403, headers=staff, json={"amount": "250.00", "gateway": "bank_transfer"})
    # support tickets
    tickets = "/api/v1/tickets"
    ticket = {"subject": "Where is my deposit?", "category": "deposits", "message": "Sent on Monday."}
    opened = api.call("post", tickets, 201, headers=headers, content_type="multipart/form-data",
                      data={**ticket, "attachments": (io.BytesIO(files.png(20, 20)), "receipt.png")}).get_json()
    api.call("post", tickets, 422, headers=headers, content_type="multipart/form-data",
             data={**ticket, "attachments": (io.BytesIO(files.html_as_jpeg()), "receipt.jpg")})
    api.call("post", tickets, 403, headers=token_for(make_user(role="support")), content_type="multipart/form-data",
             data=ticket)
    api.call("get", tickets, 200, headers=headers)
    one_ticket = {"ticket_id": opened["data"]["id"]}
    outsider = token_for(make_user())
    api.call("get", tickets + "/{ticket_id}", 200, headers=headers, path=one_ticket)
    api.call("get", tickets + "/{ticket_id}", 404, headers=outsider, path=one_ticket)
    api.call("post", tickets + "/{ticket_id}/messages", 201, headers=headers, path=one_ticket,
             content_type="multipart/form-data", data={"message": "Any news?"})
    api.call("post", tickets + "/{ticket_id}/messages", 422, headers=headers, path=one_ticket,
             content_type="multipart/form-data", data={"message": ""})
    api.call("post", tickets + "/{ticket_id}/messages", 404, headers=outsider, path=one_ticket,
             content_type="multipart/form-data", data={"message": "not mine"})
    a_file = {**one_ticket, "attachment_id": opened["data"]["messages"][0]["attachments"][0]["id"]}
    api.call("get", tickets + "/{ticket_id}/attachments/{attachment_id}", 200, headers=headers, path=a_file)
    api.call("get", tickets + "/{ticket_id}/attachments/{attachment_id}", 404, headers=outsider,
             path=a_file)

    # too many requests
    monkeypatch.setitem(app.config, "API_RATE_LIMIT_USER", "1/minute")
    api.call("get", "/api/v1/me", 200, headers=headers)
    api.call("get", "/api/v1/me", 429, headers=headers)

    documented = {(method, path) for path, operations in spec["paths"].items() for method in operations
                  if method in METHODS}
    called = {(method, path) for method, path, _ in api.answered}
    assert documented - called == set(), "operations the document lists that no request called"
    assert called <= documented
    succeeded = {(method, path) for method, path, status in api.answered if status < 300}
    assert documented - succeeded == set(), "operations never answered with success"
    codes = {status for _, _, status in api.answered}
    assert {200, 201, 400, 401, 403, 404, 409, 422, 429} <= codes
