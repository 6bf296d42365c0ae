"""Reading Razorpay's objects as the API and its webhooks write them: an order and its payments as a Payment, the
order a webhook event is about, the key a webhook event is kept once under, the deposit id kept in an order's notes,
integers and timestamps."""
from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from app.payments.gateways.base import FAILED, PAID, REFUNDED, UNPAID, Payment


def is_captured(payment: dict) -> bool:
    """Captured, including captured and later refunded (an authorisation Razorpay released is not)."""
    status = payment.get("status")
    return status == "captured" or (status == "refunded" and payment.get("captured") is True)


def payment_from_order(order_id: str, order: dict, payments: list[dict]) -> Payment:
    currency = str(order.get("currency") or "").upper()
    deposit_id = deposit_id_from_notes(order.get("notes"))
    raw = {"order": order, "payments": payments}
    captured = sorted((p for p in payments if is_captured(p)),
                      key=lambda p: (as_int(p.get("created_at")), str(p.get("id"))))
    if order.get("status") == "paid" and captured:
        return captured_payment(order_id, order, captured[0], raw=raw)
    failed = bool(payments) and all(p.get("status") == "failed" for p in payments)
    return Payment(reference=order_id, status=FAILED if failed else UNPAID, amount=as_int(order.get("amount")),
                   currency=currency, deposit_id=deposit_id, created_at=as_datetime(order.get("created_at")), raw=raw)


def captured_payment(order_id: str, order: dict, payment: dict, *, raw: dict) -> Payment:
    amount = as_int(payment.get("amount"))
    refunded = as_int(payment.get("amount_refunded"))
    fully_refunded = amount > 0 and (refunded >= amount or payment.get("refund_status") == "full")
    return Payment(
        reference=order_id,
        status=REFUNDED if fully_refunded else PAID,
        amount=amount,
        currency=str(payment.get("currency") or order.get("currency") or "").upper(),
        deposit_id=deposit_id_from_notes(order.get("notes")),
        charge_reference=payment.get("id"),
        refunded_amount=refunded,
        created_at=as_datetime(payment.get("created_at")) or as_datetime(order.get("created_at")),
        raw=raw,
    )


def webhook_reference(payload: dict) -> str | None:
    """The order the event is about: payload.payment.entity.order_id, else payload.order.entity.id."""
    for entity, key in (("payment", "order_id"), ("order", "id")):
        wrapper = payload.get(entity)
        inner = wrapper.get("entity") if isinstance(wrapper, dict) else None
        value = inner.get(key) if isinstance(inner, dict) else None
        if isinstance(value, str) and value:
            return value
    return None


MAX_EVENT_KEY_CHARS = 200  # the inbox's event_id column
_KEY_SAFE = re.compile(r"[A-Za-z0-9_.:=,-]+")


def signed_event_key(data: dict, body: bytes) -> str:
    """What the inbox keeps an event once under, read from the signed body only (the X-Razorpay-Event-Id header is
    not signed: a replayed body under a new header value must not count as a new event). It is the event type
    with the id of every entity the payload carries (payment, order, refund, ...), so one thing happening to one
    payment is one event however often, and under whatever header, it is delivered. A body naming no entity is
    kept under its own digest; a key too long for the column under the digest of the key."""
    ids = []
    payload = data.get("payload")
    entities: dict = payload if isinstance(payload, dict) else {}
    for name in sorted(entities):
        wrapper = entities[name]
        inner = wrapper.get("entity") if isinstance(wrapper, dict) else None
        value = inner.get("id") if isinstance(inner, dict) else None
        if isinstance(value, str) and value:
            ids.append(f"{name}={value}")
    if not ids:
        return "body:" + hashlib.sha256(body).hexdigest()
    key = f"{data.get('account_id') or '-'}:{data.get('event')}:{','.join(ids)}"
    if len(key) > MAX_EVENT_KEY_CHARS or not _KEY_SAFE.fullmatch(key):
        return "key:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def deposit_id_from_notes(notes) -> int | None:
    """notes is a dict of strings, or an empty list when there are none."""
    if not isinstance(notes, dict):
        return None
    value = notes.get("deposit_id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        number = int(value.strip())
        return number if number > 0 else None
    return None


def as_int(value) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def as_datetime(value) -> datetime | None:
    seconds = as_int(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None
