"""POST /auth/register, POST /auth/token, DELETE /auth/token."""
from flask import abort, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import public, resolve_token
from app.api.envelope import envelope, ok
from app.api.examples import accounts as ex
from app.auth import mfa, services
from app.core.db import unit_of_work
from app.extensions import limiter

URL = "/auth"
STAFF_NEEDS_2FA = ("Staff accounts need two-factor authentication for an API token: turn it on in the console, "
                   "then send a code as otp.")
blp = Blueprint("api_auth", __name__, description="Accounts and tokens")


def _email_key() -> str:
    body = request.get_json(silent=True) or {}
    email = body.get("email") if isinstance(body, dict) else None
    return "api-email:" + services.normalize_email(email if isinstance(email, str) else "")[:254]


class RegisterSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)
    first_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    last_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    accept_terms = fields.Boolean(load_default=True, metadata={
        "description": "The app shows the terms before sign-up; false refuses the registration."})


class RegisteredSchema(Schema):
    email = fields.String(metadata={"description": "The address, normalized; the same answer whether or not it "
                                                   "already had an account"})


class TokenRequestSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)
    otp = fields.String(load_default=None, validate=validate.Length(max=20),
                        metadata={"description": "TOTP code, or a recovery code; required when 2FA is on"})


class TokenSchema(Schema):
    token = fields.String()
    expires_at = fields.DateTime()


@blp.post("/register")
@public
@limiter.limit("10/hour", override_defaults=False)
@blp.arguments(RegisterSchema, example=ex.REGISTER_REQUEST)
@blp.response(201, envelope(RegisteredSchema), example=ex.REGISTERED,
              description="The address only: the same answer for a new address and one that has an account")
@unit_of_work
def register(body):
    """Open an investor account. A verification link is e-mailed; until it is opened the account can sign in but
    not deposit, invest or withdraw. When the address already has an account the answer is the same, nothing
    changes, and its owner is mailed instead: the answer never tells whether an address is registered."""
    email = services.register(body["email"], body["password"], first_name=body["first_name"],
                              last_name=body["last_name"], terms_accepted=body["accept_terms"])
    return ok({"email": email}, message="Check your e-mail: the message we sent tells you what to do next.")


@blp.post("/token")
@public
@limiter.limit("10/minute", key_func=_email_key, override_defaults=False)
@blp.arguments(TokenRequestSchema, example=ex.TOKEN_REQUEST)
@blp.response(200, envelope(TokenSchema), example=ex.TOKEN)
@blp.alt_response(401, description="wrong credentials, an account locked or blocked, a 2FA code missing or wrong")
@blp.alt_response(403, description="a staff member without two-factor authentication", example=ex.STAFF_NEEDS_2FA)
def create_token(body):
    """Exchange e-mail, password (and a code when 2FA is on) for a bearer token. A staff member must have 2FA on
    and send a code: their token is a staff token, valid STAFF_API_TOKEN_TTL_HOURS (8 by default), acting with
    their current permissions and refused wherever money moves or an investor acts."""
    refusal = None
    with unit_of_work():  # a refused attempt is recorded (and counted) as surely as a token is issued
        result = services.check_password(body["email"], body["password"], channel="api")
        method = "password"
        if result.reason == "needs_2fa":
            if not body.get("otp"):
                refusal = "A two-factor code is required."
            else:
                method = mfa.verify_code(result.user, body["otp"])
                if method is None:
                    services.register_failure(result.user, email=result.user.email, reason="bad_2fa_code",
                                              channel="api")
                    refusal = "The two-factor code is not correct."
        elif not result.ok:
            refusal = result.message
        elif result.user.is_staff:  # a staff token needs the second factor: staff without 2FA get none
            abort(403, description=STAFF_NEEDS_2FA)
        if refusal is None:
            raw, token = services.issue_token(result.user)
            services.complete_sign_in(result.user, channel="api", method=method)
    if refusal is not None:
        abort(401, description=refusal)
    return ok({"token": raw, "expires_at": token.expires_at})


@blp.delete("/token")
@blp.response(200, envelope(None), example=ex.TOKEN_REVOKED)
@blp.doc(security=[{"bearerAuth": []}])
@unit_of_work
def revoke_token():
    """Revoke the token presented with this request."""
    services.revoke_token(resolve_token())
    return ok(None, message="Token revoked.")
