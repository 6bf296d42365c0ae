"""A small fake of the Stripe API endpoints Freehold uses, served over real HTTP on 127.0.0.1 (werkzeug server on an
ephemeral port, daemon thread), so the official `stripe` client talks to it unchanged:

    POST /v1/checkout/sessions              GET /v1/checkout/sessions[/<id>]     POST /v1/checkout/sessions/<id>/expire
    GET  /v1/payment_intents/<id>           GET /v1/charges/<id>
    POST /v1/refunds                        GET /v1/refunds/<id>
    GET  /v1/disputes/<id>

Like Stripe it checks the bearer secret key (401 otherwise; the message repeats the key unmasked, unlike Stripe, so
tests can prove the gateway never passes it on), parses form-encoded bracket keys into nested params, honours
`expand[]` (also `data.`-prefixed on lists), lists newest first with `created[gte|gt|lte|lt]`, `status`, `limit`,
`starting_after` and `has_more`, and replays POSTs by `Idempotency-Key` (same key and same params: the same answer
with `Idempotent-Replayed: true`; same key and other params: 400 `idempotency_error`).

Usage in a test (the fixtures `fake_stripe` and `stripe_config` are in tests/payments/conftest.py):

    def test_something(stripe_config):          # app.config points at the fake; stripe_config is the FakeStripe
        checkout = StripeGateway().create_payment(...)
        stripe_config.complete_session(checkout.reference)
        body = stripe_config.event("checkout.session.completed", checkout.reference)
        headers = {"Stripe-Signature": stripe_config.sign(body)}

Test helpers: complete_session, expire_session, fail_async, refund_charge, set_amount, fail_next, event, sign,
create_dispute / update_dispute / close_dispute (a payer's chargeback on a paid charge, its status, won or lost),
session / payment_intent / charge / dispute (current objects), requests (everything received) and
calls(method, path).

In a process of its own (so that a benchmark's measuring process and the fake do not share one interpreter):

    python -m tests.fakes.stripe_api [--port N]     # prints its URL on the first line; stops when stdin closes

where the same helpers are reached over HTTP at POST /_fake/<helper> (JSON {"args": [...], "kwargs": {...}});
RemoteFakeStripe starts one and offers the helpers as methods."""
from __future__ import annotations

import argparse
import copy
import json
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl

import stripe
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SECRET_KEY = "sk_test_fake"
WEBHOOK_SECRET = "whsec_test"
CHECKOUT_HOST = "https://checkout.stripe.test"
API_VERSION = stripe.api_version
MIN_EXPIRY, MAX_EXPIRY = 30 * 60, 24 * 3600  # Stripe's bounds for a Checkout Session's expires_at
# the helpers a fake in its own process offers over HTTP (POST /_fake/<name>)
REMOTE_HELPERS = ("complete_session", "expire_session", "fail_async", "refund_charge", "set_amount", "fail_next",
                  "event", "session", "payment_intent", "charge", "create_dispute", "update_dispute", "close_dispute",
                  "dispute")
# a dispute's statuses (Stripe's): open ones, then the closed ones
DISPUTE_OPEN_STATUSES = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
DISPUTE_CLOSED_STATUSES = ("warning_closed", "won", "lost")


# form decoding ---------------------------------------------------------------------------------------------------
def parse_params(pairs) -> dict:
    """[("line_items[0][price_data][unit_amount]", "500"), ("expand[]", "x")] -> nested dicts and lists.
    Bracketed integer indices and empty brackets become lists; values stay strings, as Stripe receives them."""
    root: dict = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        tokens = [head] + (re.findall(r"([^\[\]]*)\]", "[" + rest) if rest else [])
        node = root
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            if token == "":  # "expand[]": append
                token = str(len(node))
            if last:
                node[token] = value
            else:
                node = node.setdefault(token, {})
                if not isinstance(node, dict):  # "a=1&a[b]=2": keep the later, like a lenient server
                    node = {}
    return _listify(root)


def _listify(node):
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v) for k, v in node.items()}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class StripeFailure(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict  # form body (POST) or query string (GET), nested
    body: bytes = b""
    status: int = 0  # what the fake answered

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class _Programmed:
    status: int
    body: dict
    headers: dict = field(default_factory=dict)


class FakeStripe:
    def __init__(self, secret_key: str = SECRET_KEY, webhook_secret: str = WEBHOOK_SECRET, *,
                 remote_helpers: bool = False):
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.remote_helpers = remote_helpers  # serve POST /_fake/<helper> (a fake in its own process)
        self.sessions: dict[str, dict] = {}
        self.payment_intents: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self.requests: list[Recorded] = []
        self.page_limit: int | None = None  # caps `limit` on lists (Stripe: 100), to test pagination cheaply
        self._idempotent: dict[str, tuple[str, str, dict, int, dict]] = {}
        self._programmed: list[_Programmed] = []
        self._lock = threading.RLock()
        self._clock = 0  # tie-breaker for objects created in the same second
        self._server = None
        self._thread = None

    # server ------------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self, port: int = 0) -> FakeStripe:
        class Quiet(WSGIRequestHandler):
            def log_request(self, *args, **kwargs):
                pass

        self._server = make_server("127.0.0.1", port, self._wsgi, threaded=True, request_handler=Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        if self.remote_helpers and request.path.startswith("/_fake/"):
            return self._remote_helper(request.path[len("/_fake/"):], body)(environ, start_response)
        pairs = parse_qsl(body.decode() if request.method == "POST" else request.query_string.decode(),
                          keep_blank_values=True)
        recorded = Recorded(request.method, request.path, {k.lower(): v for k, v in request.headers.items()},
                            parse_params(pairs), body)
        with self._lock:
            self.requests.append(recorded)
            status, payload, headers = self._handle(recorded)
            recorded.status = status
        response = Response(json.dumps(payload), status=status, mimetype="application/json",
                            headers={"Request-Id": _new_id("req"), "Stripe-Version": API_VERSION, **headers})
        return response(environ, start_response)

    def _remote_helper(self, name: str, body: bytes) -> Response:
        """A test helper called over HTTP: {"args": [...], "kwargs": {...}} -> {"result": ...} (bytes as text)."""
        if name not in REMOTE_HELPERS:
            return Response(json.dumps({"error": f"no helper {name!r}"}), status=404, mimetype="application/json")
        try:
            call = json.loads(body or b"{}")
            result = getattr(self, name)(*call.get("args", ()), **call.get("kwargs", {}))
        except (KeyError, ValueError, TypeError) as exc:
            return Response(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), status=400,
                            mimetype="application/json")
        if isinstance(result, bytes):
            result = {"bytes": result.decode()}
        return Response(json.dumps({"result": result}), mimetype="application/json")

    def _handle(self, recorded: Recorded) -> tuple[int, dict, dict]:
        auth = recorded.headers.get("authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        if not secrets.compare_digest(key.encode(), self.secret_key.encode()):
            message = f"Invalid API Key provided: {key}" if key else "You did not provide an API key."
            return 401, StripeFailure(401, message).body(), {}
        if self._programmed:
            programmed = self._programmed.pop(0)
            return programmed.status, programmed.body, programmed.headers
        idem = recorded.idempotency_key if recorded.method == "POST" else None
        if idem and idem in self._idempotent:
            method, path, params, status, payload = self._idempotent[idem]
            if (method, path, params) != (recorded.method, recorded.path, recorded.params):
                return 400, StripeFailure(
                    400, "Keys for idempotent requests can only be used with the same parameters they were first "
                         f"used with. Try using a key other than '{idem}' if you meant to execute a different "
                         "request.", type="idempotency_error").body(), {}
            return status, copy.deepcopy(payload), {"Idempotent-Replayed": "true", "Idempotency-Key": idem}
        try:
            status, payload = 200, self._route(recorded)
        except StripeFailure as failure:
            status, payload = failure.status, failure.body()
        if idem and status < 500:
            self._idempotent[idem] = (recorded.method, recorded.path, recorded.params, status,
                                      copy.deepcopy(payload))
        return status, payload, ({"Idempotency-Key": idem} if idem else {})

    def _route(self, r: Recorded) -> dict:
        p = r.params
        routes = [
            ("POST", r"/v1/checkout/sessions", lambda: self._create_session(p)),
            ("GET", r"/v1/checkout/sessions", lambda: self._list_sessions(p)),
            ("GET", r"/v1/checkout/sessions/([^/]+)", lambda i: self._render("session", self._get(self.sessions, i),
                                                                             p.get("expand"))),
            ("POST", r"/v1/checkout/sessions/([^/]+)/expire", lambda i: self._expire_via_api(i, p)),
            ("GET", r"/v1/payment_intents/([^/]+)",
             lambda i: self._render("payment_intent", self._get(self.payment_intents, i), p.get("expand"))),
            ("GET", r"/v1/charges/([^/]+)", lambda i: self._render("charge", self._get(self.charges, i),
                                                                   p.get("expand"))),
            ("POST", r"/v1/refunds", lambda: self._create_refund_via_api(p)),
            ("GET", r"/v1/refunds/([^/]+)", lambda i: self._render("refund", self._get(self.refunds, i),
                                                                   p.get("expand"))),
            ("GET", r"/v1/disputes/([^/]+)", lambda i: self._render("dispute", self._get(self.disputes, i),
                                                                    p.get("expand"))),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, r.path)
            if match and method == r.method:
                return handler(*match.groups())
        raise StripeFailure(404, f"Unrecognized request URL ({r.method}: {r.path}).")

    # objects -----------------------------------------------------------------------------------------------------
    def _now(self) -> int:
        return int(time.time())

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    @staticmethod
    def _get(store: dict, object_id: str) -> dict:
        if object_id not in store:
            raise StripeFailure(404, f"No such object: '{object_id}'", code="resource_missing", param="id")
        return store[object_id]

    _EXPANDABLE: ClassVar[dict] = {
        "session": {"payment_intent": ("payment_intent", "payment_intents")},
        "payment_intent": {"latest_charge": ("charge", "charges")},
        "charge": {"payment_intent": ("payment_intent", "payment_intents")},
        "refund": {"charge": ("charge", "charges"), "payment_intent": ("payment_intent", "payment_intents")},
        "dispute": {"charge": ("charge", "charges"), "payment_intent": ("payment_intent", "payment_intents")},
    }

    def _render(self, kind: str, obj: dict, expand=None) -> dict:
        out = {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
        for path in _as_list(expand):
            self._expand(kind, out, path.split("."), path)
        return out

    def _expand(self, kind: str, obj: dict, parts: list[str], full: str) -> None:
        head, rest = parts[0], parts[1:]
        target = self._EXPANDABLE.get(kind, {}).get(head)
        if target is None:
            raise StripeFailure(400, f"This property cannot be expanded ({full}).", param="expand")
        sub_kind, store_name = target
        value = obj.get(head)
        if isinstance(value, str):
            obj[head] = value = self._render(sub_kind, getattr(self, store_name)[value])
        if rest and isinstance(value, dict):
            self._expand(sub_kind, value, rest, full)

    def _create_session(self, p: dict) -> dict:
        if p.get("mode") != "payment":
            raise StripeFailure(400, "This fake supports mode=payment only.", param="mode")
        items = p.get("line_items")
        if not isinstance(items, list) or len(items) != 1:
            raise StripeFailure(400, "line_items: exactly one item expected.", param="line_items")
        item = items[0]
        price = item.get("price_data") or {}
        try:
            unit_amount, quantity = int(price.get("unit_amount")), int(item.get("quantity"))
        except (TypeError, ValueError):
            raise StripeFailure(400, "Invalid integer: unit_amount / quantity.", param="line_items[0]") from None
        currency = price.get("currency") or ""
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeFailure(400, "Invalid currency.", param="line_items[0][price_data][currency]")
        if unit_amount < 1 or quantity < 1:
            raise StripeFailure(400, "Amounts must be positive.", param="line_items[0][price_data][unit_amount]")
        if not (price.get("product_data") or {}).get("name"):
            raise StripeFailure(400, "Missing required param: product_data[name].",
                                param="line_items[0][price_data][product_data][name]")
        if not p.get("success_url"):
            raise StripeFailure(400, "Missing required param: success_url.", param="success_url")
        now = self._now()
        expires_at = int(p["expires_at"]) if p.get("expires_at") else now + MAX_EXPIRY
        if not now + MIN_EXPIRY <= expires_at <= now + MAX_EXPIRY:
            raise StripeFailure(400, "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                                     "Checkout Session creation.", param="expires_at")
        session_id = _new_id("cs_test")
        self.sessions[session_id] = {
            "id": session_id, "object": "checkout.session", "mode": "payment", "livemode": False,
            "url": f"{CHECKOUT_HOST}/pay/{session_id}", "amount_subtotal": unit_amount * quantity,
            "amount_total": unit_amount * quantity, "currency": currency, "status": "open",
            "payment_status": "unpaid", "metadata": p.get("metadata") or {},
            "client_reference_id": p.get("client_reference_id"), "customer_email": p.get("customer_email"),
            "customer_details": None, "payment_intent": None, "success_url": p.get("success_url"),
            "cancel_url": p.get("cancel_url"), "created": now, "expires_at": expires_at,
            "_seq": self._tick(), "_line_items": items,
            "_payment_intent_data": p.get("payment_intent_data") or {},
        }
        return self._render("session", self.sessions[session_id])

    def _list_sessions(self, p: dict) -> dict:
        rows = sorted(self.sessions.values(), key=lambda s: (s["created"], s["_seq"]), reverse=True)
        created = p.get("created")
        if isinstance(created, dict):
            ops = {"gte": lambda a, b: a >= b, "gt": lambda a, b: a > b, "lte": lambda a, b: a <= b,
                   "lt": lambda a, b: a < b}
            for op, bound in created.items():
                if op not in ops:
                    raise StripeFailure(400, f"Received unknown parameter: created[{op}]", param="created")
                rows = [s for s in rows if ops[op](s["created"], int(bound))]
        elif created is not None:
            rows = [s for s in rows if s["created"] == int(created)]
        if p.get("status"):
            rows = [s for s in rows if s["status"] == p["status"]]
        if p.get("payment_intent"):
            rows = [s for s in rows if s["payment_intent"] == p["payment_intent"]]
        if p.get("starting_after"):
            ids = [s["id"] for s in rows]
            if p["starting_after"] not in ids:
                raise StripeFailure(400, "starting_after: no such object in this list.", param="starting_after")
            rows = rows[ids.index(p["starting_after"]) + 1:]
        limit = int(p.get("limit") or 10)
        if not 1 <= limit <= 100:
            raise StripeFailure(400, "limit must be between 1 and 100.", param="limit")
        if self.page_limit:
            limit = min(limit, self.page_limit)
        page, has_more = rows[:limit], len(rows) > limit
        item_expand = [e[5:] for e in _as_list(p.get("expand")) if e.startswith("data.")]
        return {"object": "list", "url": "/v1/checkout/sessions", "has_more": has_more,
                "data": [self._render("session", s, item_expand) for s in page]}

    def _expire_via_api(self, session_id: str, p: dict) -> dict:
        session = self._get(self.sessions, session_id)
        if session["status"] != "open":
            raise StripeFailure(400, f"Only Checkout Sessions with a status in [\"open\"] can be expired. This "
                                     f"Checkout Session has a status of \"{session['status']}\".")
        return self.expire_session(session_id)

    def _payment_intent_for(self, session: dict, status: str) -> dict:
        if session["payment_intent"]:
            intent = self.payment_intents[session["payment_intent"]]
            intent["status"] = status
            return intent
        intent_id = _new_id("pi_test")
        intent = {
            "id": intent_id, "object": "payment_intent", "amount": session["amount_total"],
            "amount_received": 0, "currency": session["currency"], "status": status, "latest_charge": None,
            "metadata": dict(session["_payment_intent_data"].get("metadata") or {}), "created": self._now(),
            "last_payment_error": None, "livemode": False,
        }
        self.payment_intents[intent_id] = intent
        session["payment_intent"] = intent_id
        return intent

    def _new_charge(self, intent: dict, *, paid: bool) -> dict:
        charge_id = _new_id("ch_test")
        charge = {
            "id": charge_id, "object": "charge", "amount": intent["amount"],
            "amount_captured": intent["amount"] if paid else 0, "amount_refunded": 0, "refunded": False,
            "captured": paid, "paid": paid, "status": "succeeded" if paid else "failed",
            "currency": intent["currency"], "payment_intent": intent["id"], "metadata": dict(intent["metadata"]),
            "created": self._now(), "failure_code": None if paid else "insufficient_funds", "livemode": False,
        }
        self.charges[charge_id] = charge
        intent["latest_charge"] = charge_id
        if paid:
            intent["amount_received"] = intent["amount"]
        return charge

    def _create_refund_via_api(self, p: dict) -> dict:
        if p.get("charge"):
            charge = self._get(self.charges, p["charge"])
        elif p.get("payment_intent"):
            intent = self._get(self.payment_intents, p["payment_intent"])
            if not intent["latest_charge"] or intent["status"] != "succeeded":
                raise StripeFailure(400, f"This PaymentIntent ({intent['id']}) does not have a successful charge "
                                         "to refund.", code="charge_not_refundable")
            charge = self.charges[intent["latest_charge"]]
        else:
            raise StripeFailure(400, "One of the following params should be provided for this request: "
                                     "payment_intent or charge.")
        amount = int(p["amount"]) if p.get("amount") else None
        return self._render("refund", self._refund(charge, amount, metadata=p.get("metadata") or {}))

    def _refund(self, charge: dict, amount: int | None, metadata: dict | None = None) -> dict:
        remaining = charge["amount"] - charge["amount_refunded"]
        if not charge["paid"]:
            raise StripeFailure(400, f"Charge {charge['id']} has not been captured.", code="charge_not_refundable")
        if remaining <= 0:
            raise StripeFailure(400, f"Charge {charge['id']} has already been refunded.",
                                code="charge_already_refunded")
        amount = remaining if amount is None else amount
        if amount < 1 or amount > remaining:
            raise StripeFailure(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                                     f"({remaining})", code="amount_too_large", param="amount")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        refund_id = _new_id("re_test")
        refund = {"id": refund_id, "object": "refund", "amount": amount, "charge": charge["id"],
                  "payment_intent": charge["payment_intent"], "currency": charge["currency"],
                  "status": "succeeded", "metadata": metadata or {}, "created": self._now()}
        self.refunds[refund_id] = refund
        return refund

    # test helpers ------------------------------------------------------------------------------------------------
    def session(self, session_id: str, expand=None) -> dict:
        with self._lock:
            return self._render("session", self.sessions[session_id], expand)

    def payment_intent(self, intent_id: str) -> dict:
        with self._lock:
            return self._render("payment_intent", self.payment_intents[intent_id])

    def charge(self, charge_id: str) -> dict:
        with self._lock:
            return self._render("charge", self.charges[charge_id])

    def dispute(self, dispute_id: str) -> dict:
        with self._lock:
            return self._render("dispute", self.disputes[dispute_id])

    def create_dispute(self, ref: str, amount: int | None = None, *, reason: str = "fraudulent",
                       status: str = "needs_response", with_payment_intent: bool = True) -> dict:
        """The payer disputes a paid charge with their bank: ref is a session, payment intent or charge id; amount
        None disputes the whole charge. with_payment_intent=False leaves the dispute's payment_intent empty (older
        API versions): only its charge names the payment. Returns the dispute."""
        if status not in DISPUTE_OPEN_STATUSES:
            raise ValueError(f"a dispute opens as one of {DISPUTE_OPEN_STATUSES}")
        with self._lock:
            if ref in self.sessions:
                ref = self.sessions[ref]["payment_intent"]
            if ref in self.payment_intents:
                ref = self.payment_intents[ref]["latest_charge"]
            charge = self.charges[ref]
            if not charge["paid"]:
                raise ValueError("only a paid charge can be disputed")
            amount = charge["amount"] if amount is None else int(amount)
            if not 0 < amount <= charge["amount"]:
                raise ValueError("a dispute is for at most the charge's amount")
            dispute_id = _new_id("du_test")
            now = self._now()
            dispute = {
                "id": dispute_id, "object": "dispute", "amount": amount, "currency": charge["currency"],
                "charge": charge["id"], "payment_intent": charge["payment_intent"] if with_payment_intent else None,
                "reason": reason, "status": status, "created": now, "is_charge_refundable": False,
                "evidence_details": {"due_by": now + 7 * 86400, "has_evidence": False, "past_due": False,
                                     "submission_count": 0},
                "balance_transactions": [], "metadata": {}, "livemode": False,
            }
            charge["disputed"] = True
            self.disputes[dispute_id] = dispute
            return self._render("dispute", dispute)

    def update_dispute(self, dispute_id: str, status: str = "under_review") -> dict:
        """The dispute moves on while open (evidence submitted: under_review)."""
        if status not in DISPUTE_OPEN_STATUSES:
            raise ValueError(f"an open dispute is one of {DISPUTE_OPEN_STATUSES}")
        with self._lock:
            dispute = self.disputes[dispute_id]
            if dispute["status"] in DISPUTE_CLOSED_STATUSES:
                raise ValueError("the dispute is closed")
            dispute["status"] = status
            return self._render("dispute", dispute)

    def close_dispute(self, dispute_id: str, status: str) -> dict:
        """The issuer decides: won, lost, or (an inquiry) warning_closed."""
        if status not in DISPUTE_CLOSED_STATUSES:
            raise ValueError(f"a dispute closes as one of {DISPUTE_CLOSED_STATUSES}")
        with self._lock:
            dispute = self.disputes[dispute_id]
            if dispute["status"] in DISPUTE_CLOSED_STATUSES:
                raise ValueError("the dispute is closed already")
            dispute["status"] = status
            return self._render("dispute", dispute)

    def calls(self, method: str, path: str) -> list[Recorded]:
        """Requests received for one method and path (exact, or a regex matching the whole path)."""
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.path)]

    def complete_session(self, session_id: str, paid: bool = True) -> dict:
        """The investor finished Checkout: paid (card), or unpaid with the payment still processing (async
        method such as a bank debit; settle it with complete_session again or fail it with fail_async)."""
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] == "expired":
                raise ValueError("an expired session cannot be completed")
            intent = self._payment_intent_for(session, "succeeded" if paid else "processing")
            if paid:
                self._new_charge(intent, paid=True)
            session.update(status="complete", payment_status="paid" if paid else "unpaid",
                           customer_details={"email": session["customer_email"]})
            return self._render("session", session)

    def expire_session(self, session_id: str) -> dict:
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] == "complete":
                raise ValueError("a completed session cannot expire")
            session.update(status="expired", url=None)
            if session["payment_intent"]:
                self.payment_intents[session["payment_intent"]]["status"] = "canceled"
            return self._render("session", session)

    def fail_async(self, session_id: str) -> dict:
        """The delayed payment of a completed-but-unpaid session failed (checkout.session.async_payment_failed)."""
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] != "complete" or session["payment_status"] != "unpaid":
                raise ValueError("only a completed session still waiting for its payment can fail")
            intent = self._payment_intent_for(session, "requires_payment_method")
            self._new_charge(intent, paid=False)
            intent["last_payment_error"] = {"type": "card_error", "code": "insufficient_funds"}
            return self._render("session", session)

    def refund_charge(self, ref: str, amount: int | None = None) -> dict:
        """Refund from outside the app (Stripe dashboard): ref is a session, payment intent or charge id;
        amount None refunds what is left. Returns the refund."""
        with self._lock:
            if ref in self.sessions:
                ref = self.sessions[ref]["payment_intent"]
            if ref in self.payment_intents:
                ref = self.payment_intents[ref]["latest_charge"]
            return self._render("refund", self._refund(self.charges[ref], amount))

    def set_amount(self, session_id: str, amount: int, currency: str | None = None) -> dict:
        """Make Stripe report another amount (and currency) for a session, its payment intent and charge."""
        with self._lock:
            session = self.sessions[session_id]
            session.update(amount_total=amount, amount_subtotal=amount)
            if currency:
                session["currency"] = currency.lower()
            if session["payment_intent"]:
                intent = self.payment_intents[session["payment_intent"]]
                intent.update(amount=amount, currency=session["currency"])
                if intent["latest_charge"]:
                    self.charges[intent["latest_charge"]].update(amount=amount, currency=session["currency"])
            return self._render("session", session)

    def fail_next(self, status: int, message: str = "Something went wrong on Stripe's end.", *,
                  type: str = "api_error", code: str | None = None, times: int = 1) -> None:
        """Answer the next `times` authenticated requests with this error instead of handling them."""
        body = StripeFailure(status, message, type=type, code=code).body()
        with self._lock:
            self._programmed.extend(_Programmed(status, copy.deepcopy(body)) for _ in range(times))

    def event(self, type: str, obj, *, event_id: str | None = None, created: int | None = None) -> bytes:
        """A webhook body for `type` about obj: a dict, or the id of a session, payment intent, charge, refund or
        dispute held by the fake (rendered as it is now). Each call gets a fresh evt_ id unless one is given."""
        with self._lock:
            if isinstance(obj, str):
                for kind, store in (("session", self.sessions), ("payment_intent", self.payment_intents),
                                    ("charge", self.charges), ("refund", self.refunds),
                                    ("dispute", self.disputes)):
                    if obj in store:
                        obj = self._render(kind, store[obj])
                        break
                else:
                    raise KeyError(obj)
        payload = {
            "id": event_id or _new_id("evt_test"), "object": "event", "api_version": API_VERSION,
            "created": created or self._now(), "type": type, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "data": {"object": obj},
        }
        return json.dumps(payload, indent=2).encode()

    def sign(self, body: bytes | str, secret: str | None = None, timestamp: int | None = None) -> str:
        """The Stripe-Signature header for body, signed with secret (default: the fake's webhook secret)."""
        text = body.decode() if isinstance(body, (bytes, bytearray)) else body
        return stripe.WebhookSignature.generate_signature_header(text, secret or self.webhook_secret,
                                                                  timestamp=timestamp)


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# in a process of its own -----------------------------------------------------------------------------------------
class RemoteFakeStripe:
    """A FakeStripe running in a child process (`python -m tests.fakes.stripe_api`): the same URL, keys and
    helpers (each one an HTTP call to the child), without sharing an interpreter with the caller."""

    def __init__(self, secret_key: str = SECRET_KEY, webhook_secret: str = WEBHOOK_SECRET):
        self.secret_key = secret_key
        self.webhook_secret = webhook_secret
        self.url = None
        self._process = None

    def start(self) -> RemoteFakeStripe:
        root = Path(__file__).resolve().parents[2]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.stripe_api", "--secret-key", self.secret_key,
             "--webhook-secret", self.webhook_secret], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the Stripe fake did not start: {line!r}")
        self.url = line
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stdin.close()  # the child stops when its stdin closes
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _call(self, name: str, *args, **kwargs):
        request = urllib.request.Request(f"{self.url}/_fake/{name}", method="POST",
                                         data=json.dumps({"args": args, "kwargs": kwargs}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                result = json.loads(response.read())["result"]
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"Stripe fake helper {name} failed: {exc.read().decode()}") from None
        return result["bytes"].encode() if isinstance(result, dict) and set(result) == {"bytes"} else result

    def __getattr__(self, name: str):
        if name in REMOTE_HELPERS:
            return lambda *args, **kwargs: self._call(name, *args, **kwargs)
        raise AttributeError(name)

    sign = FakeStripe.sign  # needs only the webhook secret


def main(argv: list[str] | None = None) -> None:
    """Serve the fake until stdin closes: under gunicorn (one worker process holds the state; its threads keep
    connections alive, as Stripe's API does), or werkzeug's server without gunicorn."""
    parser = argparse.ArgumentParser(description="The Stripe API fake on 127.0.0.1, until stdin closes.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret-key", default=SECRET_KEY)
    parser.add_argument("--webhook-secret", default=WEBHOOK_SECRET)
    options = parser.parse_args(argv)
    fake = FakeStripe(options.secret_key, options.webhook_secret, remote_helpers=True)
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        fake.start(port=options.port)
        print(fake.url, flush=True)
        try:
            sys.stdin.read()  # returns when the parent closes our stdin (or exits)
        finally:
            fake.stop()
        return

    import os
    import signal
    import socket

    port = options.port
    if not port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]

    def when_ready(server):
        print(f"http://127.0.0.1:{port}", flush=True)

        def stop_when_stdin_closes():
            sys.stdin.read()
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=stop_when_stdin_closes, daemon=True).start()

    class Server(BaseApplication):
        def load_config(self):
            for key, value in {"bind": f"127.0.0.1:{port}", "workers": 1, "worker_class": "gthread", "threads": 4,
                               "keepalive": 30, "loglevel": "warning", "when_ready": when_ready}.items():
                self.cfg.set(key, value)

        def load(self):
            return fake._wsgi

    Server().run()


if __name__ == "__main__":
    main()
