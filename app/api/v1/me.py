"""GET /me."""
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.auth import current_api_user
from app.api.envelope import envelope, ok
from app.api.examples import accounts as ex
from app.kyc.services import overall_status as kyc_overall_status

URL = "/me"
blp = Blueprint("api_me", __name__, description="The signed-in user")


class MeSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    roles = fields.List(fields.String())
    email_verified = fields.Boolean()
    kyc_status = fields.String()
    two_factor_enabled = fields.Boolean()
    created_at = fields.DateTime()


@blp.get("")
@blp.response(200, envelope(MeSchema), example=ex.ME)
@blp.doc(security=[{"bearerAuth": []}])
def me():
    """Profile, KYC status and two-factor status of the token's user."""
    user = current_api_user()
    return ok({
        "id": user.id, "email": user.email, "first_name": user.first_name, "last_name": user.last_name,
        "roles": sorted(user.role_names), "email_verified": user.email_verified,
        "kyc_status": kyc_overall_status(user.id), "two_factor_enabled": user.totp_enabled,
        "created_at": user.created_at,
    })
