"""A fake of the Razorpay REST API endpoints Freehold uses, served on 127.0.0.1 (werkzeug, ephemeral port,
daemon thread). HTTP basic auth (key id : key secret) is checked on every call.

    POST /v1/orders                       create an order (amount, currency, receipt <= 40 chars, notes)
    GET  /v1/orders?receipt=&count=&skip= orders whose receipt *contains* the value, newest first (as documented)
    GET  /v1/orders/{id}                  one order
    GET  /v1/orders/{id}/payments         the order's payments
    GET  /v1/payments?from=&to=&count=&skip=  payments created in [from, to], newest first
    GET  /v1/payments/{id}                one payment
    POST /v1/payments/{id}/refund         refund (amount, receipt); updates the payment
    GET  /v1/payments/{id}/refunds        the payment's refunds

Helpers move money the way the investor and Razorpay would: capture(), fail(), authorize(), refund(); webhook()
builds a signed event body with its headers. fail_next() programs errors and delays. Every request is recorded.

The fixtures `fake_razorpay` and `razorpay_config` (the app configured against it) are in tests/payments/conftest.py."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

KEY_ID = "rzp_test_FreeholdFake01"
KEY_SECRET = "fake-razorpay-key-secret-7c1e0b9a"
WEBHOOK_SECRET = "fake-razorpay-webhook-secret-51d2"
ACCOUNT_ID = "acc_FreeholdFake01"
MAX_COUNT = 100
_ID_CHARS = string.ascii_letters + string.digits


def sign(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of the raw body, as Razorpay puts it in X-Razorpay-Signature."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ID_CHARS) for _ in range(14))


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
    body: object = None  # dict/list -> JSON, str/bytes -> as is
    delay: float = 0.0
    path: str | None = None  # only requests whose path starts with this
    headers: dict[str, str] = field(default_factory=dict)


def error_body(description: str, *, code: str = "BAD_REQUEST_ERROR", field_name: str | None = None) -> dict:
    return {"error": {"code": code, "description": description, "source": "business", "step": "payment_initiation",
                      "reason": "input_validation_failed", "metadata": {}, "field": field_name}}


class _QuietHandler(WSGIRequestHandler):
    def log(self, *args, **kwargs):
        pass


class FakeRazorpay:
    def __init__(self, key_id: str = KEY_ID, key_secret: str = KEY_SECRET, webhook_secret: str = WEBHOOK_SECRET):
        self.key_id, self.key_secret, self.webhook_secret = key_id, key_secret, webhook_secret
        self.orders: dict[str, dict] = {}
        self.payments: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.requests: list[Recorded] = []
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

    def start(self) -> FakeRazorpay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # programming ------------------------------------------------------------------------------------------------
    def fail_next(self, status: int, body=None, *, times: int = 1, delay: float = 0.0, path: str | None = None,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` requests (under `path`, when given) with this status and body after `delay`."""
        if body is None and status >= 400:
            body = error_body("programmed failure", code="SERVER_ERROR" if status >= 500 else "BAD_REQUEST_ERROR")
        for _ in range(times):
            self._programmed.append(Programmed(status, body, delay, path, headers or {}))

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # money moves ------------------------------------------------------------------------------------------------
    @staticmethod
    def now() -> int:
        return int(time.time())

    def create_order(self, amount: int, currency: str = "USD", *, receipt: str | None = None,
                     notes: dict | None = None, created_at: int | None = None) -> dict:
        with self._lock:
            order = {
                "id": new_id("order"), "entity": "order", "amount": amount, "amount_paid": 0, "amount_due": amount,
                "currency": currency, "receipt": receipt, "offer_id": None, "status": "created", "attempts": 0,
                "notes": dict(notes) if notes else [], "created_at": created_at or self.now(),
            }
            self.orders[order["id"]] = order
            return order

    def _new_payment(self, order: dict, status: str, *, amount: int | None, created_at: int | None) -> dict:
        payment = {
            "id": new_id("pay"), "entity": "payment", "amount": order["amount"] if amount is None else amount,
            "currency": order["currency"], "status": status, "order_id": order["id"], "invoice_id": None,
            "international": False, "method": "card", "amount_refunded": 0, "refund_status": None,
            "captured": status == "captured", "description": None, "email": "investor@example.com",
            "contact": "+447700900123", "notes": [], "fee": None, "tax": None,
            "error_code": "BAD_REQUEST_ERROR" if status == "failed" else None,
            "error_description": "Payment failed" if status == "failed" else None,
            "created_at": created_at or self.now(),
        }
        self.payments[payment["id"]] = payment
        order["attempts"] += 1
        return payment

    def capture(self, order_id: str, *, amount: int | None = None, created_at: int | None = None) -> dict:
        """The investor pays and the payment is captured: the order becomes paid."""
        with self._lock:
            order = self.orders[order_id]
            payment = self._new_payment(order, "captured", amount=amount, created_at=created_at)
            order.update(status="paid", amount_paid=order["amount_paid"] + payment["amount"], amount_due=0)
            return payment

    def authorize(self, order_id: str, *, created_at: int | None = None) -> dict:
        """Authorised, not captured yet: the order is attempted."""
        with self._lock:
            order = self.orders[order_id]
            payment = self._new_payment(order, "authorized", amount=None, created_at=created_at)
            order["status"] = "attempted"
            return payment

    def fail(self, order_id: str, *, created_at: int | None = None) -> dict:
        """A payment attempt that failed: the order is attempted."""
        with self._lock:
            order = self.orders[order_id]
            payment = self._new_payment(order, "failed", amount=None, created_at=created_at)
            if order["status"] == "created":
                order["status"] = "attempted"
            return payment

    def refund(self, payment_id: str, amount: int | None = None, *, receipt: str | None = None) -> dict:
        """Refund a captured payment (what POST /v1/payments/{id}/refund does); ValueError when not allowed."""
        with self._lock:
            payment = self.payments[payment_id]
            if not payment["captured"]:
                raise ValueError("The payment has not been captured")
            remaining = payment["amount"] - payment["amount_refunded"]
            if remaining <= 0:
                raise ValueError("The payment has been fully refunded already")
            amount = remaining if amount is None else amount
            if amount <= 0 or amount > remaining:
                raise ValueError("The refund amount provided is greater than amount captured")
            refund = {
                "id": new_id("rfnd"), "entity": "refund", "amount": amount, "currency": payment["currency"],
                "payment_id": payment_id, "notes": [], "receipt": receipt, "acquirer_data": {"arn": None},
                "created_at": self.now(), "batch_id": None, "status": "processed", "speed_processed": "normal",
                "speed_requested": "normal",
            }
            self.refunds[refund["id"]] = refund
            payment["amount_refunded"] += amount
            full = payment["amount_refunded"] >= payment["amount"]
            payment["refund_status"] = "full" if full else "partial"
            if full:
                payment["status"] = "refunded"
            return refund

    # webhooks ---------------------------------------------------------------------------------------------------
    def event(self, event_type: str, *, payment_id: str | None = None, order_id: str | None = None,
              refund_id: str | None = None, created_at: int | None = None) -> dict:
        """A Razorpay event object: payment.* carry the payment, order.paid the payment and the order,
        refund.* the refund and its payment."""
        payload: dict = {}
        contains: list[str] = []
        if refund_id:
            refund = self.refunds[refund_id]
            payload["refund"] = {"entity": dict(refund)}
            contains.append("refund")
            payment_id = payment_id or refund["payment_id"]
        if payment_id:
            payload["payment"] = {"entity": dict(self.payments[payment_id])}
            contains.append("payment")
        if order_id:
            payload["order"] = {"entity": dict(self.orders[order_id])}
            contains.append("order")
        return {"entity": "event", "account_id": ACCOUNT_ID, "event": event_type, "contains": contains,
                "payload": payload, "created_at": self.now() if created_at is None else created_at}

    def webhook(self, event_type: str | dict, *, secret: str | None = None, event_id: str | None = None,
                **event_kwargs) -> tuple[bytes, dict[str, str]]:
        """(raw body, headers) of a signed delivery; pass a dict as event_type to sign a body of your own."""
        event = event_type if isinstance(event_type, dict) else self.event(event_type, **event_kwargs)
        body = json.dumps(event, separators=(",", ":")).encode()
        return body, {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": sign(body, self.webhook_secret if secret is None else secret),
            "X-Razorpay-Event-Id": event_id or new_id("evt")[4:],
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
        else:
            auth = request.authorization
            if auth is None or auth.type != "basic" or not (
                    hmac.compare_digest(auth.username or "", self.key_id)
                    and hmac.compare_digest(auth.password or "", self.key_secret)):
                response = self._respond(401, error_body("The api key provided is invalid"))
            else:
                with self._lock:
                    response = self._route(request, recorded)
        return response(environ, start_response)

    @staticmethod
    def _respond(status: int, body, headers: dict | None = None) -> Response:
        if isinstance(body, (dict, list)):
            return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)
        return Response(body or b"", status=status, mimetype="text/plain", headers=headers)

    def _route(self, request: Request, recorded: Recorded) -> Response:
        parts = request.path.strip("/").split("/")
        method = request.method
        if parts[:1] != ["v1"]:
            return self._respond(404, error_body("The requested URL was not found on the server."))
        parts = parts[1:]
        if parts == ["orders"] and method == "POST":
            return self._create_order(recorded)
        if parts == ["orders"] and method == "GET":
            receipt = request.args.get("receipt")
            orders = [o for o in self.orders.values() if receipt is None or receipt in (o["receipt"] or "")]
            return self._page(orders, request)
        if len(parts) == 2 and parts[0] == "orders" and method == "GET":
            order = self.orders.get(parts[1])
            return self._respond(200, order) if order else self._missing()
        if len(parts) == 3 and parts[0] == "orders" and parts[2] == "payments" and method == "GET":
            if parts[1] not in self.orders:
                return self._missing()
            items = [p for p in self.payments.values() if p["order_id"] == parts[1]]
            return self._respond(200, {"entity": "collection", "count": len(items), "items": items})
        if parts == ["payments"] and method == "GET":
            try:
                start = int(request.args.get("from", 0))
                end = int(request.args.get("to", 2**62))
            except ValueError:
                return self._respond(400, error_body("from and to must be integers"))
            items = [p for p in self.payments.values() if start <= p["created_at"] <= end]
            return self._page(items, request)
        if len(parts) == 2 and parts[0] == "payments" and method == "GET":
            payment = self.payments.get(parts[1])
            return self._respond(200, payment) if payment else self._missing()
        if len(parts) == 3 and parts[0] == "payments" and parts[2] == "refund" and method == "POST":
            return self._create_refund(parts[1], recorded)
        if len(parts) == 3 and parts[0] == "payments" and parts[2] == "refunds" and method == "GET":
            if parts[1] not in self.payments:
                return self._missing()
            items = [r for r in self.refunds.values() if r["payment_id"] == parts[1]]
            return self._page(items, request)
        return self._respond(404, error_body("The requested URL was not found on the server."))

    def _missing(self) -> Response:
        return self._respond(400, error_body("The id provided does not exist"))

    def _page(self, items: list[dict], request: Request) -> Response:
        try:
            count = int(request.args.get("count", 10))
            skip = int(request.args.get("skip", 0))
        except ValueError:
            return self._respond(400, error_body("count and skip must be integers"))
        if not 1 <= count <= MAX_COUNT or skip < 0:
            return self._respond(400, error_body("The count must be between 1 and 100.", field_name="count"))
        newest_first = sorted(enumerate(items), key=lambda pair: (pair[1]["created_at"], pair[0]), reverse=True)
        page = [item for _, item in newest_first][skip:skip + count]
        return self._respond(200, {"entity": "collection", "count": len(page), "items": page})

    @staticmethod
    def _body(recorded: Recorded) -> dict | None:
        if recorded.headers.get("content-type", "").startswith("application/json"):
            try:
                data = recorded.json()
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
        return {k: v[0] for k, v in parse_qs(recorded.body.decode()).items()}

    def _create_order(self, recorded: Recorded) -> Response:
        data = self._body(recorded)
        if data is None:
            return self._respond(400, error_body("The request body is not valid JSON"))
        amount, currency, receipt, notes = (data.get("amount"), data.get("currency"), data.get("receipt"),
                                            data.get("notes"))
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 100:
            return self._respond(400, error_body("The amount must be atleast INR 1.00", field_name="amount"))
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
            return self._respond(400, error_body("The currency is invalid.", field_name="currency"))
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            return self._respond(400, error_body("The receipt may not be greater than 40 characters.",
                                                 field_name="receipt"))
        if notes is not None and (not isinstance(notes, dict) or len(notes) > 15
                                  or any(len(str(v)) > 256 for v in notes.values())):
            return self._respond(400, error_body("notes must be at most 15 keys of at most 256 characters",
                                                 field_name="notes"))
        return self._respond(200, self.create_order(amount, currency, receipt=receipt, notes=notes))

    def _create_refund(self, payment_id: str, recorded: Recorded) -> Response:
        if payment_id not in self.payments:
            return self._missing()
        data = self._body(recorded)
        if data is None:
            return self._respond(400, error_body("The request body is not valid JSON"))
        amount, receipt = data.get("amount"), data.get("receipt")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            return self._respond(400, error_body("The amount must be an integer.", field_name="amount"))
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            return self._respond(400, error_body("The receipt may not be greater than 40 characters.",
                                                 field_name="receipt"))
        try:
            refund = self.refund(payment_id, amount, receipt=receipt)
        except ValueError as exc:
            return self._respond(400, error_body(str(exc)))
        return self._respond(200, refund)

