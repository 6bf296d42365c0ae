"""Reading PayPal's objects (orders, captures, refunds, disputes, webhook resources) into the gateway's types, and
the small helpers the PayPal gateway (paypal.py) speaks with."""
from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import requests

from app.core.money import Money, MoneyError, is_currency
from app.payments.gateways.base import (
    EXPIRED,
    FAILED,
    PAID,
    REFUNDED,
    UNPAID,
    GatewayDispute,
    GatewayError,
    Payment,
)

MAX_REQUEST_ID_CHARS = 108  # PayPal-Request-Id's documented limit
MAX_INVOICE_ID_CHARS = 127
_ID = re.compile(r"[A-Z0-9-]{1,64}")  # PayPal's order, capture, refund and dispute ids
_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,108}")
_PRINTABLE = re.compile(r"[\x21-\x7e]+")


# reading PayPal's objects -------------------------------------------------------------------------------------------
def _object(obj: dict, key: str) -> dict:
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def _unit(order: dict) -> dict:
    units = order.get("purchase_units")
    unit = units[0] if isinstance(units, list) and units else None
    return unit if isinstance(unit, dict) else {}


def payment_from_order(order_id: str, order: dict, *, reversal_is_refund: bool = True) -> Payment:
    """An order as a Payment: PAID only with a COMPLETED (or later refunded) capture, for the capture's amount.
    A REVERSED capture counts as refunded in full, unless reversal_is_refund is False (a dispute's chargeback)."""
    unit = _unit(order)
    payments = _object(unit, "payments")
    captures = [c for c in payments.get("captures") or [] if isinstance(c, dict)]
    refunds = [r for r in payments.get("refunds") or [] if isinstance(r, dict)]
    deposit_id = _deposit_id(unit.get("custom_id"))
    if captures:
        return _payment_from_capture(order_id, captures[0], refunds=refunds, deposit_id=deposit_id,
                                     raw={"order": order}, reversal_is_refund=reversal_is_refund)
    amount = _object(unit, "amount")
    currency = str(amount.get("currency_code") or "").upper()
    status = EXPIRED if order.get("status") == "VOIDED" else UNPAID
    return Payment(reference=order_id, status=status, amount=_minor(amount.get("value"), currency),
                   currency=currency, deposit_id=deposit_id, created_at=_parse_time(order.get("create_time")),
                   raw={"order": order})


def _payment_from_capture(order_id: str, capture: dict, *, refunds: list | None = None,
                          deposit_id: int | None = None, raw: dict, reversal_is_refund: bool = True) -> Payment:
    amount_field = _object(capture, "amount")
    currency = str(amount_field.get("currency_code") or "").upper()
    amount = _minor(amount_field.get("value"), currency)
    status = capture.get("status")
    refunded = sum(_minor((r.get("amount") or {}).get("value"), currency) for r in refunds or []
                   if r.get("status") == "COMPLETED" and str((r.get("amount") or {}).get("currency_code") or "")
                   .upper() == currency)
    if status == "REFUNDED":
        refunded = max(refunded, amount)
    elif status == "REVERSED" and reversal_is_refund:  # taken back by PayPal: all of it is gone
        refunded = amount
    if status in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED", "REVERSED"):
        state = REFUNDED if amount and refunded >= amount else PAID
    elif status in ("DECLINED", "FAILED"):
        state = FAILED
    else:  # PENDING: not money yet
        state = UNPAID
    if deposit_id is None:
        deposit_id = _deposit_id(capture.get("custom_id"))
    return Payment(reference=order_id, status=state, amount=amount, currency=currency, deposit_id=deposit_id,
                   charge_reference=capture.get("id") if isinstance(capture.get("id"), str) else None,
                   refunded_amount=min(refunded, amount) if state != UNPAID else 0,
                   created_at=_parse_time(capture.get("create_time")), raw=raw)


def _related_order(capture: dict) -> str | None:
    supplementary = capture.get("supplementary_data")
    related = supplementary.get("related_ids") if isinstance(supplementary, dict) else None
    order_id = related.get("order_id") if isinstance(related, dict) else None
    return order_id if isinstance(order_id, str) and _ID.fullmatch(order_id) else None


def webhook_reference(event_type: str, resource: dict) -> str | None:
    """The order the event is about (a deposit's gateway reference) or, failing that, the capture (its charge
    reference): CHECKOUT.ORDER.* carry the order, PAYMENT.CAPTURE.* the capture with its order among the related
    ids, a refund or reversal the capture in its "up" link, a dispute the capture as the seller transaction."""
    if event_type.startswith("CHECKOUT.ORDER."):
        value = resource.get("id")
        return value if isinstance(value, str) and _ID.fullmatch(value) else None
    if event_type.startswith("CUSTOMER.DISPUTE."):  # the dispute (processing reads it again)
        value = resource.get("dispute_id")
        return value if isinstance(value, str) and _ID.fullmatch(value) else None
    order_id = _related_order(resource)
    if order_id:
        return order_id
    up = _link(resource, "up")
    match = re.search(r"/v2/payments/captures/([A-Z0-9-]{1,64})$", up or "")
    if match:
        return match.group(1)
    value = resource.get("id")
    if event_type.startswith("PAYMENT.CAPTURE.") and isinstance(value, str) and _ID.fullmatch(value):
        return value
    return None


def dispute_from_object(data: dict) -> GatewayDispute:
    """A PayPal dispute as the gateway-neutral GatewayDispute: the disputed amount, the capture it disputes."""
    external_id = data.get("dispute_id")
    if not isinstance(external_id, str) or not _ID.fullmatch(external_id):
        raise GatewayError("PayPal answered a dispute without its id", retryable=True)
    amount = _object(data, "dispute_amount")
    currency = str(amount.get("currency_code") or "").upper()
    capture_id = None
    for transaction in data.get("disputed_transactions") or []:
        value = transaction.get("seller_transaction_id") if isinstance(transaction, dict) else None
        if isinstance(value, str) and _ID.fullmatch(value):
            capture_id = value
            break
    status = str(data.get("status") or "")
    if status == "RESOLVED":
        status = str(_object(data, "dispute_outcome").get("outcome_code") or status)
    return GatewayDispute(external_id=external_id, status=status[:40], amount=_minor(amount.get("value"), currency),
                          currency=currency, charge_reference=capture_id, reason=str(data.get("reason") or ""),
                          evidence_due_at=_parse_time(data.get("seller_response_due_date")), raw=data)


# helpers ------------------------------------------------------------------------------------------------------------
def _link(obj: dict, rel: str) -> str | None:
    for link in obj.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == rel and isinstance(link.get("href"), str):
            return link["href"]
    return None


def _id(value, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise GatewayError(f"not a PayPal {what} id", retryable=False)
    return value


def _deposit_id(value) -> int | None:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        number = int(value.strip())
        return number if number > 0 else None
    return None


def _amount(amount: int, currency: str) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise GatewayError("amount must be a positive number of minor units", retryable=False)
    if not isinstance(currency, str) or not is_currency(currency.upper()):
        raise GatewayError("currency must be an ISO 4217 code", retryable=False)
    return Money(amount, currency.upper()).amount_str()


def _minor(value, currency: str) -> int:
    """PayPal's decimal string in the currency's minor units; 0 when it is unreadable."""
    if not isinstance(value, str) or not is_currency(currency):
        return 0
    try:
        return Money.parse(value, currency, allow_zero=True).minor
    except MoneyError:
        return 0


def _invoice_id(key: str) -> str:
    """The idempotency key as an invoice id (unique per deposit row, or per refund); hashed when PayPal would not
    take it as it is."""
    if len(key) <= MAX_INVOICE_ID_CHARS and _PRINTABLE.fullmatch(key):
        return key
    return "key-" + hashlib.sha256(key.encode()).hexdigest()


def _without_placeholder(url: str) -> str:
    """The return URL without a checkout-session placeholder (PayPal adds ?token=<order id> itself)."""
    return re.sub(r"[?&]session_id=\{CHECKOUT_SESSION_ID\}", "", url)


def _header_safe(value: str) -> str:
    return value if _HEADER_SAFE.fullmatch(value) else hashlib.sha256(value.encode()).hexdigest()


def _header(headers, name: str) -> str | None:
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


def _json(response: requests.Response) -> dict:
    if response.status_code == 204 or not response.content:
        return {}
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise GatewayError(f"PayPal sent an unreadable answer (HTTP {response.status_code})", retryable=True)
    return payload


def _utc(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise GatewayError("since must be a datetime", retryable=False)
    if moment.tzinfo is None:  # naive datetimes are UTC in this code base
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _failure(response: requests.Response, *secrets: str) -> GatewayError:
    status = response.status_code
    detail = _paypal_error(response)
    if status in (408, 429) or status >= 500:
        error = GatewayError(_redact(f"PayPal is unavailable (HTTP {status}){detail}", *secrets), retryable=True)
    elif status == 401:
        error = GatewayError(_redact(f"PayPal rejected the credentials (HTTP 401){detail}: check PAYPAL_CLIENT_ID "
                                     "and PAYPAL_CLIENT_SECRET", *secrets), retryable=False)
    else:
        error = GatewayError(_redact(f"PayPal refused the request (HTTP {status}){detail}", *secrets),
                             retryable=False)
    error.http_status = status
    error.request_id = response.headers.get("Paypal-Debug-Id")
    return error


def _paypal_error(response: requests.Response) -> str:
    """PayPal's {"name": ..., "message": ..., "details": [{"issue": ...}]} (or OAuth's error_description)."""
    try:
        payload = response.json()
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    parts = [str(payload[key])[:300] for key in ("name", "error", "message", "error_description") if payload.get(key)]
    details = payload.get("details")
    if isinstance(details, list) and details and isinstance(details[0], dict) and details[0].get("issue"):
        parts.append(str(details[0]["issue"])[:100])
    return "".join(": " + part for part in parts)


def _redact(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
