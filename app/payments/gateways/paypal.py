"""PayPal over its REST API (Orders v2, Payments v2, Webhooks, Reporting, Disputes), spoken with `requests` and an
OAuth2 client-credentials token.

One order is opened per deposit (intent CAPTURE, one purchase unit whose custom_id is the deposit id and whose
invoice_id is the deposit's idempotency key); the investor approves it on PayPal. The platform captures it, once:
reading an order that PayPal reports APPROVED captures it (PayPal-Request-Id "freehold-capture-<deposit id>", so a
second capture of the same order, even a concurrent one, is the first one replayed by PayPal). Whichever comes first
- the investor's return to the portal or the CHECKOUT.ORDER.APPROVED event - reads the order under the deposit's row
lock, so only one of them captures, and the deposit is credited only from a capture PayPal reports COMPLETED.

Webhooks are verified by PayPal itself (POST /v1/notifications/verify-webhook-signature with the transmission
headers, the webhook id and the event as received); anything but SUCCESS is rejected."""
from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import requests
from flask import current_app

from app.payments.gateways.base import (
    Checkout,
    Gateway,
    GatewayDispute,
    GatewayError,
    Payment,
    WebhookEvent,
    WebhookRejected,
)
from app.payments.gateways.paypal_objects import (  # the objects' readers, used by the gateway and its tests
    _ID,
    _amount,
    _deposit_id,
    _failure,
    _header,
    _header_safe,
    _id,
    _invoice_id,
    _iso,
    _json,
    _link,
    _object,
    _payment_from_capture,
    _redact,
    _related_order,
    _unit,
    _utc,
    _without_placeholder,
    dispute_from_object,
    payment_from_order,
    webhook_reference,
)

DEFAULT_API_BASE = "https://api-m.paypal.com"
REQUEST_ID_HEADER = "PayPal-Request-Id"
TOKEN_MARGIN_SECONDS = 120  # a cached token is renewed this long before PayPal says it expires
PAGE_SIZE = 500  # the most the transactions report returns per page
MAX_PAGES = 200
MAX_REPORT_DAYS = 31  # the transactions report covers at most 31 days per request
WEBHOOK_HEADERS = {  # verify-webhook-signature field -> the header PayPal sends it in
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "cert_url": "PAYPAL-CERT-URL",
    "auth_algo": "PAYPAL-AUTH-ALGO",
}

_EVENT_ID = re.compile(r"[A-Za-z0-9-]{1,200}")

# requests errors that mean the configuration is wrong, not that the network hiccuped
_CONFIG_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)

# (api base, client id) -> (access token, monotonic time it stops being used): one per process is enough
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def capture_request_id(deposit_id: int) -> str:
    return f"freehold-capture-{deposit_id}"


class PayPalGateway(Gateway):
    name = "paypal"
    label = "PayPal"
    automatic = True

    # configuration ----------------------------------------------------------------------------------------------
    def _config(self):
        return current_app.config

    def enabled(self) -> bool:
        config = self._config()
        return all(config.get(key) for key in ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID"))

    def _require_enabled(self) -> None:
        if not self.enabled():
            raise GatewayError("PayPal is not configured (PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET, PAYPAL_WEBHOOK_ID)",
                               retryable=False)

    def _base(self) -> str:
        return str(self._config().get("PAYPAL_API_BASE") or DEFAULT_API_BASE).rstrip("/")

    def _timeout(self) -> float:
        return float(self._config().get("PAYPAL_TIMEOUT_SECONDS") or 10)

    def _secrets(self) -> tuple[str, ...]:
        config = self._config()
        found = [config.get("PAYPAL_CLIENT_SECRET")]
        with _tokens_lock:
            found += [token for token, _ in _tokens.values()]
        return tuple(secret for secret in found if secret)

    # HTTP -------------------------------------------------------------------------------------------------------
    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            return requests.request(method, url, timeout=self._timeout(), **kwargs)
        except requests.Timeout:
            raise GatewayError("PayPal did not answer in time", retryable=True) from None
        except _CONFIG_ERRORS as exc:
            raise GatewayError(_redact(f"PayPal API address is unusable: {exc}", *self._secrets()),
                               retryable=False) from None
        except requests.RequestException as exc:
            raise GatewayError(f"PayPal could not be reached: {type(exc).__name__}", retryable=True) from None

    def _token(self, *, renew: bool = False) -> str:
        """An access token (client credentials), cached in this process until shortly before it expires."""
        config = self._config()
        key = (self._base(), str(config["PAYPAL_CLIENT_ID"]))
        now = time.monotonic()
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached and not renew and cached[1] > now:
                return cached[0]
            _tokens.pop(key, None)
        response = self._send("POST", self._base() + "/v1/oauth2/token", data={"grant_type": "client_credentials"},
                              headers={"Accept": "application/json"},
                              auth=(config["PAYPAL_CLIENT_ID"], config["PAYPAL_CLIENT_SECRET"]))
        if not 200 <= response.status_code < 300:
            raise _failure(response, *self._secrets())
        payload = _json(response)
        token, expires_in = payload.get("access_token"), payload.get("expires_in")
        if not isinstance(token, str) or not token:
            raise GatewayError("PayPal answered without an access token", retryable=True)
        lifetime = expires_in if isinstance(expires_in, int) and not isinstance(expires_in, bool) else 0
        with _tokens_lock:
            _tokens[key] = (token, now + max(0, lifetime - TOKEN_MARGIN_SECONDS))
        return token

    def _request(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None,
                 data: str | None = None, request_id: str | None = None, ok_statuses: tuple[int, ...] = ()) -> dict:
        """One API call with a bearer token; a 401 renews the token and tries once more."""
        self._require_enabled()
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if request_id:
            headers[REQUEST_ID_HEADER] = _header_safe(request_id)
        if body is not None:
            data = json.dumps(body, separators=(",", ":"))
        for attempt in range(2):
            headers["Authorization"] = f"Bearer {self._token(renew=attempt > 0)}"
            response = self._send(method, self._base() + path, params=params, data=data, headers=headers)
            if response.status_code != 401:
                break
        if not 200 <= response.status_code < 300 and response.status_code not in ok_statuses:
            raise _failure(response, *self._secrets())
        payload = _json(response)
        if response.status_code in ok_statuses:
            payload["_http_status"] = response.status_code
        return payload

    # Gateway ----------------------------------------------------------------------------------------------------
    def create_payment(self, *, deposit_id: int, amount: int, currency: str, customer_email: str,
                       success_url: str, cancel_url: str, idempotency_key: str) -> Checkout:
        self._require_enabled()
        if isinstance(deposit_id, bool) or not isinstance(deposit_id, int) or deposit_id <= 0:
            raise GatewayError("deposit id must be a positive integer", retryable=False)
        value = _amount(amount, currency)
        if not idempotency_key:
            raise GatewayError("an order needs an idempotency key", retryable=False)
        invoice_id = _invoice_id(idempotency_key)
        order = self._request("POST", "/v2/checkout/orders", request_id=idempotency_key, body={
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": f"deposit-{deposit_id}",
                "custom_id": str(deposit_id),
                "invoice_id": invoice_id,
                "description": f"Deposit #{deposit_id}",
                "amount": {"currency_code": currency.upper(), "value": value},
            }],
            "payment_source": {"paypal": {"experience_context": {
                "return_url": _without_placeholder(success_url),
                "cancel_url": cancel_url,
                "user_action": "PAY_NOW",
                "shipping_preference": "NO_SHIPPING",
            }}},
        })
        order_id = order.get("id")
        if not isinstance(order_id, str) or not _ID.fullmatch(order_id):
            raise GatewayError("PayPal answered without an order id", retryable=True)
        approve = _link(order, "payer-action") or _link(order, "approve")
        if not approve or not approve.startswith("https://"):
            raise GatewayError(f"PayPal order {order_id} has no approval link", retryable=True)
        return Checkout(reference=order_id, redirect_url=approve)

    def fetch_payment(self, reference: str) -> Payment:
        """The order as PayPal reports it; an APPROVED order is captured first (once: see the module)."""
        order_id = _id(reference, "order")
        order = self._request("GET", f"/v2/checkout/orders/{order_id}")
        if order.get("status") == "APPROVED":
            order = self._capture(order_id, order)
        payment = payment_from_order(order_id, order)
        captures = _object(_unit(order), "payments").get("captures") or []
        reversed_capture = [c for c in captures if isinstance(c, dict) and c.get("status") == "REVERSED"]
        if reversed_capture and payment.charge_reference and self._disputed(payment.charge_reference):
            # a chargeback: the money PayPal took back is the dispute's to hold and settle, not a refund
            payment = payment_from_order(order_id, order, reversal_is_refund=False)
        return payment

    def _capture(self, order_id: str, order: dict) -> dict:
        deposit_id = _deposit_id(_unit(order).get("custom_id"))
        if deposit_id is None:
            return order  # not an order this platform opened: never captured here
        answer = self._request("POST", f"/v2/checkout/orders/{order_id}/capture", body={},
                               request_id=capture_request_id(deposit_id), ok_statuses=(422,))
        if answer.get("_http_status") == 422:
            # ORDER_ALREADY_CAPTURED (captured meanwhile), INSTRUMENT_DECLINED (the payer must choose another way
            # to pay): the order as it is now tells
            return self._request("GET", f"/v2/checkout/orders/{order_id}")
        if answer.get("id") == order_id and answer.get("purchase_units"):
            return answer
        return self._request("GET", f"/v2/checkout/orders/{order_id}")  # a short answer: the order tells

    def refund(self, payment: Payment, amount: int, *, idempotency_key: str) -> str:
        self._require_enabled()
        capture_id = _id(payment.charge_reference, "capture")
        value = _amount(amount, payment.currency)
        if not idempotency_key:
            raise GatewayError("a refund needs an idempotency key", retryable=False)
        refund = self._request("POST", f"/v2/payments/captures/{capture_id}/refund", request_id=idempotency_key,
                               body={"amount": {"currency_code": payment.currency.upper(), "value": value},
                                     "invoice_id": _invoice_id(idempotency_key)})
        refund_id = refund.get("id")
        if not isinstance(refund_id, str) or not refund_id:
            raise GatewayError("PayPal answered without a refund id", retryable=True)
        return refund_id

    def parse_webhook(self, body: bytes, headers) -> WebhookEvent:
        webhook_id = self._config().get("PAYPAL_WEBHOOK_ID")
        if not webhook_id or not self.enabled():
            raise WebhookRejected("PayPal webhooks are not configured (PAYPAL_WEBHOOK_ID)")
        if isinstance(body, str):
            body = body.encode()
        if not isinstance(body, (bytes, bytearray)) or not body:
            raise WebhookRejected("empty body")
        body = bytes(body)
        fields = {}
        for field_name, header in WEBHOOK_HEADERS.items():
            value = (_header(headers, header) or "").strip()
            if not value or len(value) > 2048 or not value.isprintable():
                raise WebhookRejected(f"missing or unusable {header} header")
            fields[field_name] = value
        try:
            text = body.decode("utf-8")
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected("body is not JSON") from None
        if not isinstance(data, dict):
            raise WebhookRejected("body is not a JSON object")
        event_id, event_type, resource = data.get("id"), data.get("event_type"), data.get("resource")
        if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise WebhookRejected("event id missing")
        if not isinstance(event_type, str) or not event_type or len(event_type) > 100:
            raise WebhookRejected("event type missing")
        if not isinstance(resource, dict):
            raise WebhookRejected("resource missing")

        # PayPal checks the signature over the event exactly as it was sent: the body goes back verbatim
        fields["webhook_id"] = str(webhook_id)
        request = json.dumps(fields, separators=(",", ":"))[:-1] + ',"webhook_event":' + text + "}"
        try:
            answer = self._request("POST", "/v1/notifications/verify-webhook-signature", data=request)
        except GatewayError:
            raise WebhookRejected("the signature could not be verified with PayPal") from None
        if answer.get("verification_status") != "SUCCESS":
            raise WebhookRejected("PayPal did not verify the signature")
        return WebhookEvent(event_id=event_id, type=event_type, reference=webhook_reference(event_type, resource),
                            payload=data, body=text)

    def list_paid(self, since: datetime) -> list[Payment]:
        """Captures completed since `since` (the transactions report, 31 days per request, page after page), each
        reported against its order. Transactions this gateway did not open (no deposit id in custom_field) are
        left out."""
        start = _utc(since)
        end = datetime.now(UTC).replace(microsecond=0)
        paid: dict[str, Payment] = {}
        while start < end:
            stop = min(end, start + timedelta(days=MAX_REPORT_DAYS))
            for info in self._transactions(start, stop):
                capture_id = info.get("transaction_id")
                if not isinstance(capture_id, str) or capture_id in paid or not _ID.fullmatch(capture_id):
                    continue
                if info.get("transaction_status") != "S" or _deposit_id(info.get("custom_field")) is None:
                    continue
                value = str(_object(info, "transaction_amount").get("value") or "").strip()
                if not value or value.startswith("-"):
                    continue  # refunds and other money out
                capture = self._request("GET", f"/v2/payments/captures/{capture_id}")
                order_id = _related_order(capture)
                if order_id is None:
                    continue
                paid[capture_id] = _payment_from_capture(order_id, capture, raw={"transaction": info,
                                                                                  "capture": capture})
            start = stop
        return list(paid.values())

    def _transactions(self, start: datetime, end: datetime):
        for page in range(1, MAX_PAGES + 1):
            answer = self._request("GET", "/v1/reporting/transactions", params={
                "start_date": _iso(start), "end_date": _iso(end), "fields": "transaction_info",
                "page_size": PAGE_SIZE, "page": page})
            details = answer.get("transaction_details")
            if not isinstance(details, list):
                raise GatewayError("PayPal sent a transactions report without transaction_details", retryable=True)
            for detail in details:
                info = detail.get("transaction_info") if isinstance(detail, dict) else None
                if isinstance(info, dict):
                    yield info
            total = answer.get("total_pages")
            if not isinstance(total, int) or page >= total:
                return
        raise GatewayError(f"PayPal's transactions report has more than {MAX_PAGES} pages", retryable=False)

    # disputes ---------------------------------------------------------------------------------------------------
    def fetch_dispute(self, external_id: str) -> GatewayDispute:
        """A dispute as PayPal reports it (GET /v1/customer/disputes/{id}). Its status is PayPal's, or once it is
        RESOLVED the outcome (RESOLVED_SELLER_FAVOUR, RESOLVED_BUYER_FAVOUR, ...)."""
        return dispute_from_object(self._request("GET", f"/v1/customer/disputes/{_id(external_id, 'dispute')}"))

    def _disputed(self, capture_id: str) -> bool:
        """Whether PayPal has a dispute on this capture (GET /v1/customer/disputes?disputed_transaction_id=)."""
        answer = self._request("GET", "/v1/customer/disputes", params={"disputed_transaction_id": capture_id})
        items = answer.get("items")
        return isinstance(items, list) and any(isinstance(item, dict) for item in items)


def forget_tokens() -> None:
    """Drop the cached access tokens (tests, and a credentials change)."""
    with _tokens_lock:
        _tokens.clear()
