"""JSON API v1 (flask-smorest): envelope, bearer tokens, rate limits, OpenAPI at /api/v1/openapi.json."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from app.api.auth import rate_limit_key, rate_limit_value, require_token
from app.extensions import csrf, limiter

PREFIX = "/api/v1"


class EnvelopeApi(Api):
    """Errors are rendered by app.core.errors for the whole app, as envelopes under /api/."""

    def _register_error_handlers(self):
        return None


def init_api(app: Flask) -> Api:
    from app.api.v1 import (
        auth,
        deposits,
        investments,
        kyc,
        me,
        notifications,
        payout_methods,
        payouts,
        properties,
        wallet,
    )

    api = EnvelopeApi(app, spec_kwargs={"info": {"description": "Freehold JSON API. Every response is an envelope "
                                                                   "{status, message, data, meta}."}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for module in (auth, me, wallet, notifications, kyc, properties, investments, deposits, payout_methods, payouts):
        blp = module.blp
        if not getattr(blp, "_freehold_wired", False):
            blp.before_request(require_token)
            limiter.limit(rate_limit_value, key_func=rate_limit_key)(blp)
            csrf.exempt(blp)  # bearer tokens, not cookies: no ambient credential to forge
            blp._freehold_wired = True
        api.register_blueprint(blp, url_prefix=f"{PREFIX}{module.URL}")
    app.extensions["freehold_api"] = api
    return api
