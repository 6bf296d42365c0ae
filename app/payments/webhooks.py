"""POST /webhooks/<provider>: verify the signature on the raw body, store the event once, answer 2xx; the work is
done by Celery after commit. A bad signature is a 400 and stores nothing."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from app.core.db import commit
from app.extensions import csrf, limiter
from app.payments.gateways.base import WebhookRejected

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
PROVIDERS = ("stripe", "razorpay")


@bp.post("/<provider>")
@limiter.exempt
def receive(provider: str):
    from app.payments.gateways.registry import get_gateway
    from app.payments.services import store_event

    if provider not in PROVIDERS:
        abort(404)
    gateway = get_gateway(provider)
    if not gateway.enabled():
        abort(404)
    try:
        event = gateway.parse_webhook(request.get_data(cache=False), request.headers)
    except WebhookRejected:
        return jsonify(status="error", message="The signature is not valid.", errors=None), 400
    stored = store_event(provider, event)
    commit()
    return jsonify(status="success", message=None, data={"received": True, "duplicate": stored is None},
                   meta=None), 200


csrf.exempt(bp)
