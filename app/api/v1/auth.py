"""POST /auth/token, DELETE /auth/token."""
from flask import abort
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import public, resolve_token
from app.api.envelope import envelope, ok
from app.auth import services as auth
from app.core.db import commit

URL = "/auth"
blp = Blueprint("api_auth", __name__, description="Tokens")


class TokenRequestSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=128), load_only=True)
    otp = fields.String(load_default=None, validate=validate.Length(max=12))


class TokenSchema(Schema):
    token = fields.String()
    expires_at = fields.DateTime()


@blp.post("/token")
@public
@blp.arguments(TokenRequestSchema)
@blp.response(200, envelope(TokenSchema))
def create_token(body):
    """Exchange e-mail, password (and a TOTP code when 2FA is on) for a bearer token."""
    user = auth.authenticate(body["email"], body["password"])
    if user is None:
        commit()
        abort(401, description="The e-mail address or password is not correct.")
    if user.totp_enabled:
        if not body.get("otp"):
            abort(401, description="A two-factor code is required.")
        if not auth.verify_totp(user, body["otp"]):
            commit()
            abort(401, description="The two-factor code is not correct.")
    raw, token = auth.issue_token(user)
    auth.record_login(user)
    commit()
    return ok({"token": raw, "expires_at": token.expires_at})


@blp.delete("/token")
@blp.response(200, envelope(None))
@blp.doc(security=[{"bearerAuth": []}])
def revoke_token():
    """Revoke the token presented with this request."""
    auth.revoke_token(resolve_token())
    commit()
    return ok(None, message="Token revoked.")
