"""A fake of the PayPal REST API endpoints Freehold uses, served on 127.0.0.1 (werkzeug, ephemeral port, daemon
thread). The token endpoint checks HTTP basic auth (client id : secret); every other endpoint a bearer token it
issued and has not expired.

    POST /v1/oauth2/token                           client-credentials token (expires_in = token_lifetime)
    POST /v2/checkout/orders                        create an order (PayPal-Request-Id: the same id answers the same)
    GET  /v2/checkout/orders/{id}                   one order, with its captures and refunds
    POST /v2/checkout/orders/{id}/capture           capture an APPROVED order (PayPal-Request-Id honoured; 422
                                                    ORDER_ALREADY_CAPTURED / ORDER_NOT_APPROVED otherwise)
    GET  /v2/payments/captures/{id}                 one capture
    POST /v2/payments/captures/{id}/refund          refund (amount optional: all that is left), PayPal-Request-Id
    POST /v1/notifications/verify-webhook-signature SUCCESS only for a delivery this fake built (webhook()) with
                                                    this webhook id, headers and event unchanged; FAILURE otherwise
    GET  /v1/reporting/transactions                 captures in [start_date, end_date], page by page
    GET  /v1/customer/disputes?disputed_transaction_id=  the disputes of a capture
    GET  /v1/customer/disputes/{id}                 one dispute

Helpers act as the investor and PayPal would: approve(), deny(), refund(), reverse(), open_dispute(),
resolve_dispute(); webhook() builds a delivery (body, headers); fail_next() programs errors; expire_tokens() makes
every issued token stale (the next call answers 401). Every request is recorded.

The fixtures `fake_paypal` and `paypal_config` are in tests/payments/conftest.py."""
from __future__ import annotations

import base64
import hmac
import json
import secrets
import string
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

CLIENT_ID = "fake-paypal-client-id-AbC123"
CLIENT_SECRET = "fake-paypal-client-secret-9f8e7d"
WEBHOOK_ID = "8PT597110X687430LKGECATA"
APPROVE_BASE = "https://www.sandbox.paypal.com/checkoutnow?token="
_ID_CHARS = string.ascii_uppercase + string.digits


def new_id(length: int = 17) -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def minor(value: str) -> int:
    return int(Decimal(value).scaleb(2))


def major(amount: int) -> str:
    return f"{Decimal(amount).scaleb(-2):.2f}"


def error_body(name: str, message: str, issue: str | None = None) -> dict:
    body: dict = {"name": name, "message": message, "debug_id": new_id(13).lower()}
    if issue:
        body["details"] = [{"issue": issue, "description": message}]
    return body


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Programmed:
    status: int
    body: object = None
    delay: float = 0.0
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _QuietHandler(WSGIRequestHandler):
    def log(self, *args, **kwargs):
        pass


class FakePayPal:
    def __init__(self, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET,
                 webhook_id: str = WEBHOOK_ID, token_lifetime: int = 32_400):
        self.client_id, self.client_secret, self.webhook_id = client_id, client_secret, webhook_id
        self.token_lifetime = token_lifetime
        self.tokens: set[str] = set()
        self.orders: dict[str, dict] = {}
        self.captures: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self.requests: list[Recorded] = []
        self.signed: dict[str, tuple[str, dict]] = {}  # transmission id -> (signature, event as sent)
        self._replies: dict[tuple[str, str], tuple[int, dict]] = {}  # (path, PayPal-Request-Id) -> first answer
        self._capture_as: dict[str, dict] = {}  # order id -> what its capture will be (status, amount, currency)
        self._programmed: deque[Programmed] = deque()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # lifecycle ------------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakePayPal:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status: int, body=None, *, times: int = 1, delay: float = 0.0, path: str | None = None,
                  headers: dict[str, str] | None = None) -> None:
        if body is None and status >= 400:
            body = error_body("INTERNAL_SERVER_ERROR" if status >= 500 else "INVALID_REQUEST", "programmed failure")
        for _ in range(times):
            self._programmed.append(Programmed(status, body, delay, path, headers or {}))

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # the investor and PayPal -----------------------------------------------------------------------------------
    def order(self, order_id: str) -> dict:
        return self.orders[order_id]

    def approve(self, order_id: str, *, capture_status: str = "COMPLETED", amount: int | None = None,
                currency: str | None = None) -> dict:
        """The investor approves the order on PayPal. capture_status, amount, currency: what its capture will be
        (another amount or currency than the order's simulates a payment that does not match)."""
        with self._lock:
            order = self.orders[order_id]
            order["status"] = "APPROVED"
            order["payer"] = {"payer_id": new_id(13), "email_address": "investor@example.com"}
            self._capture_as[order_id] = {"status": capture_status, "amount": amount, "currency": currency}
            return order

    def capture(self, order_id: str) -> dict:
        """Capture an APPROVED order (what POST .../capture does); ValueError otherwise."""
        with self._lock:
            order = self.orders[order_id]
            if order["status"] == "COMPLETED":
                raise ValueError("ORDER_ALREADY_CAPTURED")
            if order["status"] != "APPROVED":
                raise ValueError("ORDER_NOT_APPROVED")
            unit = order["purchase_units"][0]
            how = self._capture_as.get(order_id, {})
            amount = unit["amount"]["value"] if how.get("amount") is None else major(how["amount"])
            currency = how.get("currency") or unit["amount"]["currency_code"]
            capture = {
                "id": new_id(), "status": how.get("status") or "COMPLETED",
                "amount": {"currency_code": currency, "value": amount}, "final_capture": True,
                "custom_id": unit.get("custom_id"), "invoice_id": unit.get("invoice_id"),
                "seller_protection": {"status": "ELIGIBLE"},
                "supplementary_data": {"related_ids": {"order_id": order_id}},
                "create_time": iso(), "update_time": iso(),
                "links": [{"rel": "self", "method": "GET", "href": f"{self.url}/v2/payments/captures/"},
                          {"rel": "up", "method": "GET", "href": f"{self.url}/v2/checkout/orders/{order_id}"}],
            }
            capture["links"][0]["href"] += capture["id"]
            self.captures[capture["id"]] = capture
            unit["payments"] = {"captures": [capture], "refunds": []}
            order["status"] = "COMPLETED"
            return capture

    def deny(self, capture_id: str) -> dict:
        """A PENDING capture is denied by PayPal."""
        with self._lock:
            capture = self.captures[capture_id]
            capture["status"] = "DECLINED"
            return capture

    def complete(self, capture_id: str) -> dict:
        """A PENDING capture completes."""
        with self._lock:
            capture = self.captures[capture_id]
            capture["status"] = "COMPLETED"
            return capture

    def refund(self, capture_id: str, amount: int | None = None, *, invoice_id: str | None = None) -> dict:
        """Refund a completed capture (what POST /v2/payments/captures/{id}/refund does); ValueError if not."""
        with self._lock:
            capture = self.captures[capture_id]
            if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
                raise ValueError("CAPTURE_FULLY_REFUNDED" if capture["status"] == "REFUNDED" else "INVALID_STATE")
            total = minor(capture["amount"]["value"])
            done = sum(minor(r["amount"]["value"]) for r in self.refunds.values() if r["capture_id"] == capture_id)
            left = total - done
            amount = left if amount is None else amount
            if not 0 < amount <= left:
                raise ValueError("REFUND_AMOUNT_EXCEEDED")
            refund = {
                "id": new_id(), "status": "COMPLETED", "capture_id": capture_id, "invoice_id": invoice_id,
                "amount": {"currency_code": capture["amount"]["currency_code"], "value": major(amount)},
                "create_time": iso(), "update_time": iso(),
                "links": [{"rel": "up", "method": "GET", "href": f"{self.url}/v2/payments/captures/{capture_id}"}],
            }
            self.refunds[refund["id"]] = refund
            capture["status"] = "REFUNDED" if done + amount >= total else "PARTIALLY_REFUNDED"
            self._order_of(capture)["purchase_units"][0]["payments"]["refunds"].append(refund)
            return refund

    def reverse(self, capture_id: str) -> dict:
        """PayPal takes the whole capture back (a reversal); returns the reversal (a refund-like resource)."""
        with self._lock:
            capture = self.captures[capture_id]
            capture["status"] = "REVERSED"
            return {"id": new_id(), "status": "COMPLETED", "amount": dict(capture["amount"]),
                    "create_time": iso(),
                    "links": [{"rel": "up", "method": "GET",
                               "href": f"{self.url}/v2/payments/captures/{capture_id}"}]}

    def open_dispute(self, capture_id: str, amount: int | None = None, *, reason: str = "UNAUTHORISED") -> dict:
        with self._lock:
            capture = self.captures[capture_id]
            value = capture["amount"]["value"] if amount is None else major(amount)
            dispute = {
                "dispute_id": "PP-D-" + new_id(5), "reason": reason, "status": "OPEN",
                "dispute_amount": {"currency_code": capture["amount"]["currency_code"], "value": value},
                "disputed_transactions": [{"seller_transaction_id": capture_id, "custom": capture["custom_id"]}],
                "create_time": iso(), "update_time": iso(), "dispute_life_cycle_stage": "CHARGEBACK",
                "seller_response_due_date": iso(datetime.now(UTC) + timedelta(days=10)),
            }
            self.disputes[dispute["dispute_id"]] = dispute
            return dispute

    def resolve_dispute(self, dispute_id: str, outcome: str) -> dict:
        """outcome: RESOLVED_SELLER_FAVOUR | RESOLVED_BUYER_FAVOUR."""
        with self._lock:
            dispute = self.disputes[dispute_id]
            dispute.update(status="RESOLVED", dispute_outcome={"outcome_code": outcome}, update_time=iso())
            return dispute

    def _order_of(self, capture: dict) -> dict:
        return self.orders[capture["supplementary_data"]["related_ids"]["order_id"]]

    # webhooks ---------------------------------------------------------------------------------------------------
    def event(self, event_type: str, thing_id: str | None = None, *, resource: dict | None = None,
              event_id: str | None = None) -> dict:
        """A PayPal event: CHECKOUT.ORDER.* carry the order, PAYMENT.CAPTURE.COMPLETED/DENIED/PENDING the capture,
        .REFUNDED the refund (thing_id: a refund id), .REVERSED a reversal (pass resource=reverse(...)),
        CUSTOMER.DISPUTE.* the dispute."""
        if resource is None:
            assert thing_id is not None
            if event_type.startswith("CHECKOUT.ORDER."):
                resource = self.orders[thing_id]
            elif event_type.startswith("CUSTOMER.DISPUTE."):
                resource = self.disputes[thing_id]
            elif event_type == "PAYMENT.CAPTURE.REFUNDED":
                resource = self.refunds[thing_id]
            else:
                resource = self.captures[thing_id]
        resource = json.loads(json.dumps(resource))
        return {"id": event_id or "WH-" + new_id(17) + "-" + new_id(17), "event_version": "1.0",
                "create_time": iso(), "resource_type": event_type.split(".")[-2].lower(),
                "resource_version": "2.0", "event_type": event_type, "summary": f"{event_type} happened",
                "resource": resource,
                "links": [{"href": f"{self.url}/v1/notifications/webhooks-events/x", "rel": "self",
                           "method": "GET"}]}

    def webhook(self, event_type: str | dict, thing_id: str | None = None, **kwargs) -> tuple[bytes, dict]:
        """(raw body, headers) of a delivery PayPal's verification will accept; a dict as event_type is sent as
        is."""
        event = event_type if isinstance(event_type, dict) else self.event(event_type, thing_id, **kwargs)
        body = json.dumps(event, separators=(",", ":")).encode()
        transmission_id, signature = new_id(8).lower() + "-" + new_id(12).lower(), base64.b64encode(
            secrets.token_bytes(64)).decode()
        with self._lock:
            self.signed[transmission_id] = (signature, event)
        return body, {
            "Content-Type": "application/json",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": iso(),
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    # HTTP -------------------------------------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        request = Request(environ)
        recorded = Recorded(request.method, request.path, dict(request.args.items()),
                            {k.lower(): v for k, v in request.headers.items()}, request.get_data())
        with self._lock:
            self.requests.append(recorded)
            programmed = next((p for p in self._programmed if p.path is None or request.path.startswith(p.path)),
                              None)
            if programmed is not None:
                self._programmed.remove(programmed)
        if programmed is not None:
            if programmed.delay:
                self._stopping.wait(programmed.delay)
            response = self._respond(programmed.status, programmed.body, programmed.headers)
        elif request.path == "/v1/oauth2/token":
            response = self._token(request, recorded)
        else:
            header = request.headers.get("Authorization", "")
            token = header[7:] if header.startswith("Bearer ") else ""
            with self._lock:
                known = token in self.tokens
            if not known:
                response = self._respond(401, {"error": "invalid_token",
                                               "error_description": "Token signature verification failed"})
            else:
                with self._lock:
                    response = self._idempotent(request, recorded)
        return response(environ, start_response)

    @staticmethod
    def _respond(status: int, body, headers: dict | None = None) -> Response:
        if isinstance(body, (dict, list)):
            return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)
        return Response(body or b"", status=status, mimetype="text/plain", headers=headers)

    def _token(self, request: Request, recorded: Recorded) -> Response:
        auth = request.authorization
        if auth is None or auth.type != "basic" or not (
                hmac.compare_digest(auth.username or "", self.client_id)
                and hmac.compare_digest(auth.password or "", self.client_secret)):
            return self._respond(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
        form = {k: v[0] for k, v in parse_qs(recorded.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return self._respond(400, {"error": "unsupported_grant_type", "error_description": "Grant type is NULL"})
        token = "A21AA" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return self._respond(200, {"scope": "https://uri.paypal.com/services/payments/payment", "access_token": token,
                                   "token_type": "Bearer", "app_id": "APP-80W284485P519543T",
                                   "expires_in": self.token_lifetime, "nonce": iso() + new_id(10)})

    def _idempotent(self, request: Request, recorded: Recorded) -> Response:
        request_id = recorded.headers.get("paypal-request-id")
        if request.method == "POST" and request_id:
            key = (request.path, request_id)
            if key in self._replies:
                status, body = self._replies[key]
                return self._respond(status, body)
            response = self._route(request, recorded)
            if response.status_code < 500:
                self._replies[key] = (response.status_code, json.loads(response.get_data() or b"{}"))
            return response
        return self._route(request, recorded)

    def _route(self, request: Request, recorded: Recorded) -> Response:
        parts = request.path.strip("/").split("/")
        method = request.method
        if parts == ["v2", "checkout", "orders"] and method == "POST":
            return self._create_order(recorded)
        if len(parts) == 4 and parts[:3] == ["v2", "checkout", "orders"] and method == "GET":
            order = self.orders.get(parts[3])
            return self._respond(200, order) if order else self._missing()
        if len(parts) == 5 and parts[:3] == ["v2", "checkout", "orders"] and parts[4] == "capture" \
                and method == "POST":
            if parts[3] not in self.orders:
                return self._missing()
            try:
                self.capture(parts[3])
            except ValueError as exc:
                return self._respond(422, error_body("UNPROCESSABLE_ENTITY", "The requested action could not be "
                                                     "performed.", str(exc)))
            return self._respond(201, self.orders[parts[3]])
        if len(parts) == 4 and parts[:3] == ["v2", "payments", "captures"] and method == "GET":
            capture = self.captures.get(parts[3])
            return self._respond(200, capture) if capture else self._missing()
        if len(parts) == 5 and parts[:3] == ["v2", "payments", "captures"] and parts[4] == "refund" \
                and method == "POST":
            return self._create_refund(parts[3], recorded)
        if parts == ["v1", "notifications", "verify-webhook-signature"] and method == "POST":
            return self._verify(recorded)
        if parts == ["v1", "reporting", "transactions"] and method == "GET":
            return self._transactions(request)
        if parts == ["v1", "customer", "disputes"] and method == "GET":
            capture_id = request.args.get("disputed_transaction_id")
            items = [{"dispute_id": d["dispute_id"], "status": d["status"], "reason": d["reason"],
                      "dispute_amount": d["dispute_amount"]} for d in self.disputes.values()
                     if capture_id is None or any(t["seller_transaction_id"] == capture_id
                                                  for t in d["disputed_transactions"])]
            return self._respond(200, {"items": items, "links": []})
        if len(parts) == 4 and parts[:3] == ["v1", "customer", "disputes"] and method == "GET":
            dispute = self.disputes.get(parts[3])
            return self._respond(200, dispute) if dispute else self._missing()
        return self._respond(404, error_body("NOT_FOUND", "The specified resource does not exist."))

    def _missing(self) -> Response:
        return self._respond(404, error_body("RESOURCE_NOT_FOUND", "The specified resource does not exist.",
                                             "INVALID_RESOURCE_ID"))

    def _create_order(self, recorded: Recorded) -> Response:
        try:
            data = recorded.json()
            unit = data["purchase_units"][0]
            value, currency = unit["amount"]["value"], unit["amount"]["currency_code"]
            assert data["intent"] == "CAPTURE" and minor(value) > 0 and len(currency) == 3
        except (ValueError, KeyError, IndexError, TypeError, AssertionError):
            return self._respond(400, error_body("INVALID_REQUEST", "Request is not well-formed.",
                                                 "MALFORMED_REQUEST_JSON"))
        order_id = new_id()
        order = {
            "id": order_id, "intent": "CAPTURE", "status": "PAYER_ACTION_REQUIRED", "create_time": iso(),
            "purchase_units": [{k: v for k, v in unit.items()}],
            "payment_source": {"paypal": {}},
            "links": [{"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"},
                      {"href": APPROVE_BASE + order_id, "rel": "payer-action", "method": "GET"}],
            "experience_context": data.get("payment_source", {}).get("paypal", {}).get("experience_context"),
        }
        self.orders[order_id] = order
        return self._respond(200, {"id": order_id, "status": order["status"], "payment_source": {"paypal": {}},
                                   "links": order["links"]})

    def _create_refund(self, capture_id: str, recorded: Recorded) -> Response:
        if capture_id not in self.captures:
            return self._missing()
        try:
            data = recorded.json() if recorded.body else {}
            amount = data.get("amount")
            value = None if amount is None else minor(amount["value"])
        except (ValueError, KeyError, TypeError):
            return self._respond(400, error_body("INVALID_REQUEST", "Request is not well-formed."))
        try:
            refund = self.refund(capture_id, value, invoice_id=data.get("invoice_id"))
        except ValueError as exc:
            return self._respond(422, error_body("UNPROCESSABLE_ENTITY", "The refund could not be made.", str(exc)))
        return self._respond(201, {"id": refund["id"], "status": refund["status"], "links": refund["links"]})

    def _verify(self, recorded: Recorded) -> Response:
        try:
            data = recorded.json()
        except ValueError:
            return self._respond(400, error_body("VALIDATION_ERROR", "Invalid request - see details"))
        signed = self.signed.get(str(data.get("transmission_id")))
        ok = (signed is not None and data.get("webhook_id") == self.webhook_id
              and data.get("transmission_sig") == signed[0] and data.get("webhook_event") == signed[1]
              and data.get("auth_algo") and data.get("cert_url") and data.get("transmission_time"))
        return self._respond(200, {"verification_status": "SUCCESS" if ok else "FAILURE"})

    def _transactions(self, request: Request) -> Response:
        try:
            start = datetime.fromisoformat(request.args["start_date"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(request.args["end_date"].replace("Z", "+00:00"))
            page = int(request.args.get("page", 1))
            size = int(request.args.get("page_size", 100))
        except (KeyError, ValueError):
            return self._respond(400, error_body("INVALID_REQUEST", "Request is not well-formed."))
        if (end - start).days > 31 or not 1 <= size <= 500 or page < 1:
            return self._respond(400, error_body("INVALID_REQUEST", "Date range is greater than 31 days"))
        rows = []
        for capture in self.captures.values():
            when = datetime.fromisoformat(capture["create_time"].replace("Z", "+00:00"))
            if not start <= when <= end or capture["status"] in ("PENDING", "DECLINED"):
                continue
            rows.append({"transaction_info": {
                "transaction_id": capture["id"], "transaction_event_code": "T0006",
                "transaction_initiation_date": capture["create_time"], "transaction_status": "S",
                "transaction_amount": dict(capture["amount"]), "invoice_id": capture["invoice_id"],
                "custom_field": capture["custom_id"]}})
        pages = max(1, -(-len(rows) // size))
        return self._respond(200, {"transaction_details": rows[(page - 1) * size:page * size],
                                   "account_number": "XZXSPECYZZZZZ", "start_date": iso(start),
                                   "end_date": iso(end), "page": page, "total_items": len(rows),
                                   "total_pages": pages})
