"""Razorpay over its REST API (Orders, Payments, Refunds), spoken with `requests` and HTTP basic auth
(key id : key secret).

One order is opened per deposit (receipt "deposit-<id>", notes.deposit_id); the investor pays it in Razorpay's
checkout widget, which needs the key id and the order id (Checkout.data). What counts is the order and its payments
as the API reports them, never what the widget or a webhook body claims.

Idempotency does not rest on Razorpay: before opening an order we look for one with the deposit's receipt and reuse
it, and before refunding we look for a refund carrying the idempotency key as its receipt. The
X-Razorpay-Idempotency-Key header is sent as well."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime

import requests
from flask import current_app

from app.payments.gateways.base import (
    Checkout,
    Gateway,
    GatewayError,
    Payment,
    WebhookEvent,
    WebhookRejected,
)
from app.payments.gateways.razorpay_objects import (
    as_int,
    captured_payment,
    deposit_id_from_notes,
    is_captured,
    payment_from_order,
    signed_event_key,
    webhook_reference,
)

DEFAULT_API_BASE = "https://api.razorpay.com"
IDEMPOTENCY_HEADER = "X-Razorpay-Idempotency-Key"
SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "X-Razorpay-Event-Id"
RECEIPT_PREFIX = "deposit-"
MAX_RECEIPT_CHARS = 40  # Razorpay's limit for an order's or a refund's receipt
PAGE_SIZE = 100  # the most Razorpay returns per page
MAX_PAGES = 1000  # a listing longer than this is an error, not an endless loop
WEBHOOK_MAX_FUTURE_SECONDS = 5 * 60
WEBHOOK_MAX_AGE_SECONDS = 3 * 24 * 60 * 60
MAX_EVENT_ID_CHARS = 255

_ORDER_ID = re.compile(r"order_[A-Za-z0-9]{1,40}")
_PAYMENT_ID = re.compile(r"pay_[A-Za-z0-9]{1,40}")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,255}")

# requests errors that mean the configuration is wrong, not that the network hiccuped
_CONFIG_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


def sign(body: bytes, secret: str) -> str:
    """Razorpay's webhook signature: hex HMAC-SHA256 of the raw body keyed with the webhook secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def receipt_for(deposit_id: int) -> str:
    if isinstance(deposit_id, bool) or not isinstance(deposit_id, int) or deposit_id <= 0:
        raise GatewayError("deposit id must be a positive integer", retryable=False)
    receipt = f"{RECEIPT_PREFIX}{deposit_id}"
    if len(receipt) > MAX_RECEIPT_CHARS:
        raise GatewayError("deposit id is too long for a Razorpay receipt", retryable=False)
    return receipt


class RazorpayGateway(Gateway):
    name = "razorpay"
    label = "Razorpay"
    automatic = True

    # configuration ----------------------------------------------------------------------------------------------
    def _config(self):
        return current_app.config

    def enabled(self) -> bool:
        config = self._config()
        return all(config.get(key) for key in ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET"))

    def _require_enabled(self) -> None:
        if not self.enabled():
            raise GatewayError("Razorpay is not configured (RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, "
                               "RAZORPAY_WEBHOOK_SECRET)", retryable=False)

    def _secrets(self) -> tuple[str, ...]:
        config = self._config()
        key_id, key_secret = config.get("RAZORPAY_KEY_ID") or "", config.get("RAZORPAY_KEY_SECRET") or ""
        found = [config.get("RAZORPAY_KEY_SECRET"), config.get("RAZORPAY_WEBHOOK_SECRET")]
        if key_id and key_secret:
            found.append(base64.b64encode(f"{key_id}:{key_secret}".encode()).decode())
        return tuple(secret for secret in found if secret)

    # HTTP -------------------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None,
                 idempotency_key: str | None = None) -> dict:
        self._require_enabled()
        config = self._config()
        base = (config.get("RAZORPAY_API_BASE") or DEFAULT_API_BASE).rstrip("/")
        headers = {"Accept": "application/json"}
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = _header_safe(idempotency_key)
        try:
            response = requests.request(method, base + path, params=params, json=body, headers=headers,
                                        auth=(config["RAZORPAY_KEY_ID"], config["RAZORPAY_KEY_SECRET"]),
                                        timeout=float(config.get("RAZORPAY_TIMEOUT_SECONDS") or 10))
        except requests.Timeout:
            raise GatewayError("Razorpay did not answer in time", retryable=True) from None
        except _CONFIG_ERRORS as exc:
            raise GatewayError(_redact(f"Razorpay API address is unusable: {exc}", *self._secrets()),
                               retryable=False) from None
        except requests.RequestException as exc:
            raise GatewayError(f"Razorpay could not be reached: {type(exc).__name__}", retryable=True) from None

        if not 200 <= response.status_code < 300:
            raise _failure(response, *self._secrets())
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise GatewayError(f"Razorpay sent an unreadable answer (HTTP {response.status_code})", retryable=True)
        return payload

    def _collection(self, path: str, params: dict | None = None):
        """Every item of a Razorpay collection, page after page (count=100, skip=...)."""
        skip = 0
        for _ in range(MAX_PAGES):
            page = self._request("GET", path, params={**(params or {}), "count": PAGE_SIZE, "skip": skip})
            items = page.get("items")
            if not isinstance(items, list):
                raise GatewayError("Razorpay sent a list without items", retryable=True)
            yield from (item for item in items if isinstance(item, dict))
            if len(items) < PAGE_SIZE:
                return
            skip += len(items)
        raise GatewayError(f"Razorpay listing {path} has more than {MAX_PAGES} pages", retryable=False)

    # Gateway ----------------------------------------------------------------------------------------------------
    def create_payment(self, *, deposit_id: int, amount: int, currency: str, customer_email: str,
                       success_url: str, cancel_url: str, idempotency_key: str) -> Checkout:
        self._require_enabled()
        _require_amount(amount)
        currency = _currency(currency)
        receipt = receipt_for(deposit_id)

        order = self._find_order(receipt)
        if order is None:
            order = self._request("POST", "/v1/orders", body={
                "amount": amount,
                "currency": currency,
                "receipt": receipt,
                "notes": {"deposit_id": str(deposit_id)},
            }, idempotency_key=idempotency_key)
        elif as_int(order.get("amount")) != amount or str(order.get("currency") or "").upper() != currency:
            raise GatewayError(f"Razorpay order {order.get('id')} for deposit #{deposit_id} is for another amount",
                               retryable=False)

        order_id = order.get("id")
        if not isinstance(order_id, str) or not _ORDER_ID.fullmatch(order_id):
            raise GatewayError("Razorpay answered without an order id", retryable=True)
        return Checkout(reference=order_id, redirect_url=None, data={
            "key_id": self._config()["RAZORPAY_KEY_ID"],
            "order_id": order_id,
            "amount": as_int(order.get("amount")),
            "currency": str(order.get("currency") or currency).upper(),
        })

    def _find_order(self, receipt: str) -> dict | None:
        """The deposit's order when one was opened before (the oldest, should there be several)."""
        matches = [order for order in self._collection("/v1/orders", {"receipt": receipt})
                   if order.get("receipt") == receipt and isinstance(order.get("id"), str)]
        if not matches:
            return None
        return min(matches, key=lambda order: (as_int(order.get("created_at")), order["id"]))

    def fetch_payment(self, reference: str) -> Payment:
        order_id = _order_id(reference)
        order = self._request("GET", f"/v1/orders/{order_id}")
        payments = self._request("GET", f"/v1/orders/{order_id}/payments").get("items")
        if not isinstance(payments, list):
            raise GatewayError("Razorpay sent a list without items", retryable=True)
        return payment_from_order(order_id, order, [p for p in payments if isinstance(p, dict)])

    def refund(self, payment: Payment, amount: int, *, idempotency_key: str) -> str:
        self._require_enabled()
        payment_id = payment.charge_reference
        if not isinstance(payment_id, str) or not _PAYMENT_ID.fullmatch(payment_id):
            raise GatewayError(f"payment {payment.reference} has no Razorpay payment id to refund", retryable=False)
        _require_amount(amount)
        if not idempotency_key:
            raise GatewayError("a refund needs an idempotency key", retryable=False)
        receipt = _refund_receipt(idempotency_key)

        for existing in self._collection(f"/v1/payments/{payment_id}/refunds"):
            if existing.get("receipt") == receipt and isinstance(existing.get("id"), str):
                if as_int(existing.get("amount")) != amount:
                    raise GatewayError(f"refund {existing['id']} already used this idempotency key for another "
                                       "amount", retryable=False)
                return existing["id"]

        refund = self._request("POST", f"/v1/payments/{payment_id}/refund",
                               body={"amount": amount, "receipt": receipt}, idempotency_key=idempotency_key)
        refund_id = refund.get("id")
        if not isinstance(refund_id, str) or not refund_id:
            raise GatewayError("Razorpay answered without a refund id", retryable=True)
        return refund_id

    def parse_webhook(self, body: bytes, headers) -> WebhookEvent:
        secret = self._config().get("RAZORPAY_WEBHOOK_SECRET")
        if not secret:
            raise WebhookRejected("Razorpay webhooks are not configured (RAZORPAY_WEBHOOK_SECRET)")
        if isinstance(body, str):
            body = body.encode()
        if not isinstance(body, (bytes, bytearray)) or not body:
            raise WebhookRejected("empty body")
        body = bytes(body)

        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected(f"missing {SIGNATURE_HEADER} header")
        expected = sign(body, secret).encode()
        if not hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace")):
            raise WebhookRejected("signature does not match")

        # Razorpay sends its event id with every delivery, outside the signature: a delivery without a usable one is
        # not Razorpay's, but the id is never what an event is kept once by (signed_event_key below)
        event_id = (_header(headers, EVENT_ID_HEADER) or "").strip()
        if not event_id:
            raise WebhookRejected(f"missing {EVENT_ID_HEADER} header")
        if len(event_id) > MAX_EVENT_ID_CHARS or not event_id.isprintable():
            raise WebhookRejected(f"unusable {EVENT_ID_HEADER} header")

        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected("body is not JSON") from None
        if not isinstance(data, dict):
            raise WebhookRejected("body is not a JSON object")
        event_type = data.get("event")
        if not isinstance(event_type, str) or not event_type:
            raise WebhookRejected("event type missing")
        created_at = data.get("created_at")
        if isinstance(created_at, bool) or not isinstance(created_at, int):
            raise WebhookRejected("created_at missing")
        now = time.time()
        if created_at > now + WEBHOOK_MAX_FUTURE_SECONDS:
            raise WebhookRejected("event is dated in the future")
        if created_at < now - WEBHOOK_MAX_AGE_SECONDS:
            raise WebhookRejected("event is too old")
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise WebhookRejected("payload missing")

        # kept once by what is signed, not by the header (see signed_event_key)
        return WebhookEvent(event_id=signed_event_key(data, body), type=event_type,
                            reference=webhook_reference(payload), payload=data)

    def list_paid(self, since: datetime) -> list[Payment]:
        """Captured payments created since `since`, each reported against its order (the deposit's reference).
        Payments on orders this gateway did not open (no deposit id in the order's notes) are left out."""
        params = {"from": _unix(since), "to": int(time.time())}  # `to` freezes the window while paging
        orders: dict[str, dict] = {}
        seen: set[str] = set()
        paid: list[Payment] = []
        for item in self._collection("/v1/payments", params):
            payment_id, order_id = item.get("id"), item.get("order_id")
            if payment_id in seen or not is_captured(item):
                continue
            seen.add(payment_id)
            if not isinstance(order_id, str) or not _ORDER_ID.fullmatch(order_id):
                continue
            if order_id not in orders:
                orders[order_id] = self._request("GET", f"/v1/orders/{order_id}")
            order = orders[order_id]
            if deposit_id_from_notes(order.get("notes")) is None:
                continue
            paid.append(captured_payment(order_id, order, item, raw={"order": order, "payment": item}))
        return paid


# helpers ------------------------------------------------------------------------------------------------------------
def _order_id(reference: str) -> str:
    if not isinstance(reference, str) or not _ORDER_ID.fullmatch(reference):
        raise GatewayError("not a Razorpay order id", retryable=False)
    return reference


def _require_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise GatewayError("amount must be a positive number of minor units", retryable=False)


def _currency(currency: str) -> str:
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise GatewayError("currency must be an ISO 4217 code", retryable=False)
    return currency.upper()


def _refund_receipt(idempotency_key: str) -> str:
    """The idempotency key as the refund's receipt; a key longer than Razorpay allows is hashed."""
    if len(idempotency_key) <= MAX_RECEIPT_CHARS and _HEADER_SAFE.fullmatch(idempotency_key):
        return idempotency_key
    return "key-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:MAX_RECEIPT_CHARS - 4]


def _header_safe(value: str) -> str:
    return value if _HEADER_SAFE.fullmatch(value) else hashlib.sha256(value.encode()).hexdigest()


def _header(headers, name: str) -> str | None:
    """A header from werkzeug Headers (case-insensitive) or a plain mapping (matched case-insensitively)."""
    if headers is None:
        return None
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None and hasattr(headers, "items"):
        wanted = name.lower()
        for key, candidate in headers.items():
            if isinstance(key, str) and key.lower() == wanted:
                value = candidate
                break
    return value if isinstance(value, str) else None


def _unix(moment: datetime) -> int:
    if not isinstance(moment, datetime):
        raise GatewayError("since must be a datetime", retryable=False)
    if moment.tzinfo is None:  # naive datetimes are UTC in this code base
        moment = moment.replace(tzinfo=UTC)
    return max(0, int(moment.timestamp()))


def _failure(response: requests.Response, *secrets: str) -> GatewayError:
    status = response.status_code
    detail = _razorpay_error(response)
    if status in (408, 429) or status >= 500:
        return GatewayError(_redact(f"Razorpay is unavailable (HTTP {status}){detail}", *secrets), retryable=True)
    if status == 401:
        return GatewayError(_redact(f"Razorpay rejected the credentials (HTTP 401){detail}: check RAZORPAY_KEY_ID "
                                    "and RAZORPAY_KEY_SECRET", *secrets), retryable=False)
    return GatewayError(_redact(f"Razorpay refused the request (HTTP {status}){detail}", *secrets), retryable=False)


def _razorpay_error(response: requests.Response) -> str:
    """Razorpay's {"error": {"code": "BAD_REQUEST_ERROR", "description": "...", "field": ...}} as text."""
    try:
        payload = response.json()
    except ValueError:
        return ""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return ""
    parts = [str(error[key])[:300] for key in ("code", "description") if error.get(key)]
    if error.get("field"):
        parts.append(f"field {str(error['field'])[:100]}")
    return "".join(": " + part for part in parts)


def _redact(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
