"""Card payments through Stripe Checkout in redirect mode (card data never reaches our servers: PCI SAQ A).

Configuration (app.config): STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and STRIPE_API_BASE (None: Stripe's API; set
it to point the client at another server, such as the test fake; the client then makes no retries of its own)."""
from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
import stripe
from flask import current_app

from app.payments.gateways.base import (
    EXPIRED,
    FAILED,
    PAID,
    REFUNDED,
    UNPAID,
    Checkout,
    Gateway,
    GatewayDispute,
    GatewayError,
    Payment,
    WebhookEvent,
    WebhookRejected,
)

if TYPE_CHECKING:
    from stripe.params.checkout import SessionListParams

PRODUCT_NAME = "Wallet deposit"
SESSION_LIFETIME = 23 * 3600  # Stripe accepts 30 minutes to 24 hours
EXPIRY_STEP = 600  # expires_at is rounded down to this step so that a retry sends the same parameters
EXPIRY_STEPS_BACK = 6  # a retry up to an hour later finds the step the first attempt used
WEBHOOK_TOLERANCE = 300  # seconds, both ways
TIMEOUT_SECONDS = 30
FETCH_THREADS = 8  # session lookups in flight at once for a batch of webhooks
PRODUCTION_RETRIES = 2
FAILED_INTENT_STATUSES = {"canceled", "requires_payment_method"}
_SECRET_PATTERN = re.compile(r"\b(?:sk|rk|whsec)_[A-Za-z0-9_]+")


class _HTTPClient(stripe.RequestsClient):
    """Stripe's requests client, each thread's session set up once: the proxies the environment names for the
    API are read when the session is made, instead of being looked up (with ~/.netrc) on every call."""

    def __init__(self, api_url: str, **kwargs):
        super().__init__(**kwargs)
        self._api_url = api_url

    def session(self):
        """This thread's session (made on first use)."""
        session = getattr(self._thread_local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            session.proxies.update(requests.utils.get_environ_proxies(self._api_url))
            self._thread_local.session = session
        return session

    def _request_internal(self, *args, **kwargs):
        self.session()
        return super()._request_internal(*args, **kwargs)


@lru_cache(maxsize=8)
def _client(secret_key: str, api_base: str | None) -> stripe.StripeClient:
    options: dict[str, Any] = {
        "max_network_retries": 0 if api_base else PRODUCTION_RETRIES,
        "http_client": _HTTPClient(api_base or stripe.api_base, timeout=TIMEOUT_SECONDS)}
    if api_base:
        options["base_addresses"] = {"api": api_base.rstrip("/")}
    return stripe.StripeClient(secret_key, **options)


@lru_cache(maxsize=1)
def _fetch_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="stripe-fetch")


def _plain(obj) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()
    return dict(obj)


def _get_id(value) -> str | None:
    """The id of an expandable field: the string itself, or the expanded object's id."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _signed_timestamp(header: str) -> int | None:
    """The t= value Stripe's verification uses (the first one)."""
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key == "t":
            return int(value) if value.isdigit() else None
    return None


def _deposit_id(metadata) -> int | None:
    value = str((metadata or {}).get("deposit_id") or "")
    return int(value) if value.isdigit() else None


def payment_from_session(session: dict) -> Payment:
    """Map a Checkout Session (a plain dict, payment_intent and its latest_charge expanded when known) to a
    Payment. complete+paid -> PAID (REFUNDED once the charge is fully refunded); expired -> EXPIRED;
    complete+unpaid -> UNPAID while an asynchronous payment is processing, FAILED once its payment intent has gone
    back to requires_payment_method or was canceled; open -> UNPAID."""
    intent = session.get("payment_intent")
    intent = intent if isinstance(intent, dict) else None
    charge = (intent or {}).get("latest_charge")
    charge = charge if isinstance(charge, dict) else None
    amount = int(session.get("amount_total") or 0)
    refunded = int((charge or {}).get("amount_refunded") or 0)
    status, payment_status = session.get("status"), session.get("payment_status")

    if status == "expired":
        result = EXPIRED
    elif status == "complete" and payment_status == "paid":
        charged = int((charge or {}).get("amount") or amount)
        result = REFUNDED if charge and (charge.get("refunded") or (charged and refunded >= charged)) else PAID
    elif status == "complete" and intent and intent.get("status") in FAILED_INTENT_STATUSES:
        result = FAILED
    else:
        result = UNPAID
    created = session.get("created")
    return Payment(
        reference=session["id"],
        status=result,
        amount=amount,
        currency=(session.get("currency") or "").upper(),
        deposit_id=_deposit_id(session.get("metadata")),
        charge_reference=_get_id(session.get("payment_intent")),
        refunded_amount=refunded,
        created_at=datetime.fromtimestamp(int(created), UTC) if created else None,
        raw=session,
    )


DISPUTE_EVENT_PREFIX = "charge.dispute."


def dispute_from_object(data: dict) -> GatewayDispute:
    """A Stripe Dispute object (its charge expanded or not) as the gateway-neutral GatewayDispute."""
    charge = data.get("charge")
    intent = _get_id(data.get("payment_intent")) or (_get_id(charge.get("payment_intent"))
                                                     if isinstance(charge, dict) else None)
    due = (data.get("evidence_details") or {}).get("due_by")
    return GatewayDispute(
        external_id=data["id"], status=str(data.get("status") or ""), amount=int(data.get("amount") or 0),
        currency=str(data.get("currency") or "").upper(), charge_reference=intent,
        reason=str(data.get("reason") or ""),
        evidence_due_at=datetime.fromtimestamp(int(due), UTC) if due else None, raw=data)


class StripeGateway(Gateway):
    name = "stripe"
    label = "Card (Stripe)"
    automatic = True

    # configuration -----------------------------------------------------------------------------------------------
    @staticmethod
    def _config(name: str) -> str | None:
        return current_app.config.get(name) or None

    def enabled(self) -> bool:
        return bool(self._config("STRIPE_SECRET_KEY") and self._config("STRIPE_WEBHOOK_SECRET"))

    def _client(self) -> stripe.StripeClient:
        key = self._config("STRIPE_SECRET_KEY")
        if not key:
            raise GatewayError("Stripe is not configured", retryable=False)
        return _client(key, self._config("STRIPE_API_BASE"))

    def _error(self, action: str, exc: stripe.StripeError) -> GatewayError:
        """A GatewayError saying what failed, without the API key or any other secret."""
        if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError)):
            retryable = True
        elif isinstance(exc, (stripe.InvalidRequestError, stripe.AuthenticationError, stripe.PermissionError,
                              stripe.IdempotencyError, stripe.CardError, stripe.SignatureVerificationError)):
            retryable = False
        else:  # APIError and anything else: 5xx, or an answer we could not read
            retryable = exc.http_status is None or exc.http_status >= 500 or exc.http_status in (409, 429)
        detail = exc.user_message or ""
        for secret in (self._config("STRIPE_SECRET_KEY"), self._config("STRIPE_WEBHOOK_SECRET")):
            if secret:
                detail = detail.replace(secret, "[redacted]")
        detail = _SECRET_PATTERN.sub("[redacted]", detail)
        status = f" (HTTP {exc.http_status})" if exc.http_status else ""
        error = GatewayError(f"Stripe {action} failed: {type(exc).__name__}{status}: {detail}".rstrip(": "),
                             retryable=retryable)
        error.http_status = exc.http_status
        error.code = exc.code
        error.request_id = exc.request_id
        return error

    def _call(self, action: str, fn):
        """fn() with Stripe's errors turned into GatewayError."""
        try:
            return fn()
        except stripe.StripeError as exc:
            error = self._error(action, exc)
        raise error  # outside the except block: the original (whose text may quote a key) is not chained

    # payments ----------------------------------------------------------------------------------------------------
    def create_payment(self, *, deposit_id: int, amount: int, currency: str, customer_email: str,
                       success_url: str, cancel_url: str, idempotency_key: str) -> Checkout:
        """Open a Checkout Session (redirect mode) for amount minor units; success_url carries
        {CHECKOUT_SESSION_ID}. The session expires about 23 hours later (Stripe allows at most 24). expires_at is
        rounded down to a 10-minute step so that a retry with the same idempotency key sends the same parameters
        (Stripe refuses a key reused with other parameters); when Stripe says the key was used with other
        parameters, the previous steps are tried, up to an hour back, before giving up (not retryable)."""
        client = self._client()
        now = int(time.time())
        step = now - now % EXPIRY_STEP

        def params(expires_at: int) -> dict:
            return {
                "mode": "payment",
                "line_items": [{
                    "price_data": {"currency": currency.lower(), "unit_amount": int(amount),
                                   "product_data": {"name": PRODUCT_NAME}},
                    "quantity": 1,
                }],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "customer_email": customer_email,
                "client_reference_id": str(deposit_id),
                "metadata": {"deposit_id": str(deposit_id)},
                "payment_intent_data": {"metadata": {"deposit_id": str(deposit_id)}},
                "expires_at": expires_at,
            }

        options = {"idempotency_key": idempotency_key}

        def create():
            for back in range(EXPIRY_STEPS_BACK + 1):
                expires_at = step - back * EXPIRY_STEP + SESSION_LIFETIME
                try:
                    return client.v1.checkout.sessions.create(params=params(expires_at), options=options)
                except stripe.IdempotencyError:  # the key was first used during an earlier step (or elsewhere)
                    if back == EXPIRY_STEPS_BACK:
                        raise

        session = self._call("checkout session creation", create)
        return Checkout(reference=session.id, redirect_url=session.url)

    def fetch_payment(self, reference: str) -> Payment:
        """The Checkout Session with its payment intent and charge (the library's raw request: the answer is read
        as plain JSON, without building Stripe objects only to turn them back into dicts)."""
        client = self._client()
        response = self._call("checkout session lookup", lambda: client.raw_request(
            "get", f"/v1/checkout/sessions/{quote(reference, safe='')}", expand=["payment_intent.latest_charge"]))
        return payment_from_session(response.data)

    def fetch_payments(self, references: list[str]) -> dict[str, Payment]:
        """The sessions asked for side by side (up to FETCH_THREADS requests in flight; the client keeps one
        connection per thread): a batch waits for its slowest answer, not for the sum of them."""
        references = list(dict.fromkeys(references))
        if len(references) < 2:
            return super().fetch_payments(references)
        client = self._client()

        def lookup(reference: str):
            try:
                return client.raw_request("get", f"/v1/checkout/sessions/{quote(reference, safe='')}",
                                          expand=["payment_intent.latest_charge"])
            except stripe.StripeError as exc:  # turned into a GatewayError below, with the app's secrets at hand
                return exc

        answers = list(_fetch_pool().map(lookup, references))
        for answer in answers:
            if isinstance(answer, stripe.StripeError):
                raise self._error("checkout session lookup", answer)
        return {reference: payment_from_session(answer.data) for reference, answer in zip(references, answers)}

    def refund(self, payment: Payment, amount: int, *, idempotency_key: str) -> str:
        if not payment.charge_reference:
            raise GatewayError(f"Stripe payment {payment.reference} has no payment intent to refund",
                               retryable=False)
        client = self._client()
        refund = self._call("refund", lambda: client.v1.refunds.create(
            params={"payment_intent": payment.charge_reference, "amount": int(amount)},
            options={"idempotency_key": idempotency_key}))
        return refund.id

    def list_paid(self, since: datetime) -> list[Payment]:
        """Completed and paid sessions created since `since` (newest first), all pages; the payment intent and its
        charge are expanded so refunds show."""
        client = self._client()
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        params: SessionListParams = {"created": {"gte": int(since.timestamp())}, "status": "complete",
                                     "limit": 100, "expand": ["data.payment_intent.latest_charge"]}

        def paid_sessions() -> list[dict]:
            sessions = (_plain(s) for s in client.v1.checkout.sessions.list(params=params).auto_paging_iter())
            return [s for s in sessions if s.get("payment_status") == "paid"]

        return [payment_from_session(session) for session in self._call("checkout session listing", paid_sessions)]

    def fetch_dispute(self, external_id: str) -> GatewayDispute:
        """The dispute (GET /v1/disputes/{id}, its charge expanded so the payment intent is known whatever the
        API version puts on the dispute itself)."""
        client = self._client()
        response = self._call("dispute lookup", lambda: client.raw_request(
            "get", f"/v1/disputes/{quote(external_id, safe='')}", expand=["charge"]))
        return dispute_from_object(response.data)

    # webhooks ----------------------------------------------------------------------------------------------------
    def parse_webhook(self, body: bytes, headers) -> WebhookEvent:
        """Verify the Stripe-Signature header (HMAC of the raw body with STRIPE_WEBHOOK_SECRET, timestamp at most
        300 s old and at most 300 s ahead) and parse the event. The reference is the Checkout Session id for
        checkout.session.* events, the dispute id for charge.dispute.* events, the payment intent id for other
        charge.* events (charge.refunded: the caller finds the deposit through Payment.charge_reference) and
        payment_intent.* events; None otherwise.
        Raises WebhookRejected on any failure, with a message that never contains the secret."""
        secret = self._config("STRIPE_WEBHOOK_SECRET")
        if not secret:
            raise WebhookRejected("Stripe webhooks are not configured")
        header = (headers.get("Stripe-Signature") or headers.get("stripe-signature")) if headers is not None else None
        if not header:
            raise WebhookRejected("missing Stripe-Signature header")
        if isinstance(body, str):
            body = body.encode()
        try:  # the HMAC of the raw body and the age of the timestamp (the body is parsed once, below)
            stripe.WebhookSignature.verify_header(body, header, secret, tolerance=WEBHOOK_TOLERANCE)
        except stripe.SignatureVerificationError:
            raise WebhookRejected("invalid Stripe signature or stale timestamp") from None
        except Exception:
            raise WebhookRejected("unreadable Stripe event") from None
        timestamp = _signed_timestamp(header)  # construct_event refuses old timestamps only
        if timestamp is None or timestamp > time.time() + WEBHOOK_TOLERANCE:
            raise WebhookRejected("Stripe signature timestamp is in the future")
        try:
            payload = json.loads(body)
            event_id, event_type = payload["id"], payload["type"]
            obj = payload["data"]["object"]
        except (ValueError, KeyError, TypeError):
            raise WebhookRejected("unreadable Stripe event") from None
        if not isinstance(event_id, str) or not isinstance(event_type, str) or not isinstance(obj, dict):
            raise WebhookRejected("unreadable Stripe event")
        # a dispute event's reference is the dispute's id (processing reads the dispute again)
        if event_type.startswith(("checkout.session.", "payment_intent.", DISPUTE_EVENT_PREFIX)):
            reference = _get_id(obj.get("id"))
        elif event_type.startswith("charge."):
            reference = _get_id(obj.get("payment_intent"))
        else:
            reference = None
        return WebhookEvent(event_id=event_id, type=event_type, reference=reference, payload=payload,
                            body=body.decode("utf-8"))
