"""GET/PATCH /me, POST /me/email, POST /me/phone, POST /me/phone/verify: the signed-in user's profile."""
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.account import profile
from app.api.auth import current_api_user
from app.api.envelope import envelope, ok
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.extensions import limiter
from app.kyc.services import overall_status as kyc_overall_status

URL = "/me"
blp = Blueprint("api_me", __name__, description="The signed-in user")

_PROFILE = {"id": 7, "email": "iris@example.com", "first_name": "Iris", "last_name": "Investor", "locale": "es",
            "phone": "+1•••••••••23", "phone_verified": True, "pending_email": None, "pending_name_change": None}


class PendingNameSchema(Schema):
    first_name = fields.String()
    last_name = fields.String()
    requested_at = fields.DateTime()


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
    locale = fields.String(allow_none=True, metadata={"description": "the chosen language; null: the browser's"})
    phone_verified = fields.Boolean()


class ProfileSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    locale = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "masked"})
    phone_verified = fields.Boolean()
    pending_email = fields.String(allow_none=True, metadata={"description": "the address waiting for its link"})
    pending_name_change = fields.Nested(PendingNameSchema, allow_none=True,
                                        metadata={"description": "a change of name waiting for compliance"})


class ProfilePatchSchema(Schema):
    first_name = fields.String(validate=validate.Length(max=200))
    last_name = fields.String(validate=validate.Length(max=200))
    locale = fields.String(allow_none=True, validate=validate.Length(max=8),
                           metadata={"description": "one of the languages offered (en, es); null: the browser's"})


class EmailRequestSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(max=254))


class PhoneRequestSchema(Schema):
    phone = fields.String(required=True, validate=validate.Length(max=32),
                          metadata={"description": "E.164, e.g. +14155550123"})


class PhoneCodeSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(max=12))


@blp.get("")
@blp.response(200, envelope(MeSchema), example={"status": "success", "message": None, "meta": None, "data": {
    "id": 7, "email": "iris@example.com", "first_name": "Iris", "last_name": "Investor", "roles": ["investor"],
    "email_verified": True, "kyc_status": "approved", "two_factor_enabled": False,
    "created_at": "2026-11-02T09:00:00+00:00", "locale": "es", "phone_verified": True}})
@blp.doc(security=[{"bearerAuth": []}])
def me():
    """Profile, KYC status and two-factor status of the token's user."""
    user = current_api_user()
    return ok({
        "id": user.id, "email": user.email, "first_name": user.first_name, "last_name": user.last_name,
        "roles": sorted(user.role_names), "email_verified": user.email_verified,
        "kyc_status": kyc_overall_status(user.id), "two_factor_enabled": user.totp_enabled,
        "created_at": user.created_at, "locale": user.locale,
        "phone_verified": user.phone_number is not None and user.phone_verified_at is not None,
    })


@blp.patch("")
@limiter.limit("30/hour", override_defaults=False)
@blp.arguments(ProfilePatchSchema, example={"first_name": "Iris", "last_name": "Newname", "locale": "es"})
@blp.response(200, envelope(ProfileSchema), example={"status": "success", "message": None, "meta": None,
                                                     "data": {**_PROFILE, "pending_name_change": {
                                                         "first_name": "Iris", "last_name": "Newname",
                                                         "requested_at": "2026-12-05T09:00:00+00:00"}}})
@blp.doc(security=[{"bearerAuth": []}])
def update(body):
    """Change the name and the language. Before the identity is approved a new name applies at once; after it,
    it waits for compliance (`pending_name_change`): payouts compare names with the verified identity."""
    user = current_api_user()
    with unit_of_work():
        profile.update_profile(user, first_name=body.get("first_name"), last_name=body.get("last_name"),
                               locale=body.get("locale"), set_locale_to="locale" in body)
    return ok(profile.profile_of(user))


@blp.post("/email")
@limiter.limit("5/hour", override_defaults=False)
@blp.arguments(EmailRequestSchema, example={"email": "iris.new@example.com"})
@blp.response(202, envelope(None), example={"status": "success", "meta": None, "data": None,
                                            "message": "If the address can be used, a link was sent to it."})
@blp.doc(security=[{"bearerAuth": []}])
def change_email(body):
    """Ask to move the account to a new address: a link that expires in 24 hours goes to it, and opening it
    (signed in) makes the change, ends every other session and token and tells the old address. The answer is the
    same whether or not the address already has an account."""
    user = current_api_user()
    with unit_of_work():
        profile.ask_email_change(user, body["email"], check_password=False)
    return ok(None, message="If the address can be used, a link was sent to it."), 202


@blp.post("/phone")
@limiter.limit("10/hour", override_defaults=False)
@blp.arguments(PhoneRequestSchema, example={"phone": "+14155550123"})
@blp.response(202, envelope(ProfileSchema), example={"status": "success", "meta": None,
                                                     "message": "A code was sent by SMS.",
                                                     "data": {**_PROFILE, "phone_verified": False}})
@blp.alt_response(429, description="too many codes asked for in the last hour")
@blp.doc(security=[{"bearerAuth": []}])
def change_phone(body):
    """Store the number unverified and send it a six-digit code by SMS (valid 10 minutes, 5 tries, 3 codes an
    hour). SMS notices go only to a verified number."""
    user = current_api_user()
    with unit_of_work():
        profile.send_phone_code(user, body["phone"])
    return ok(profile.profile_of(user), message="A code was sent by SMS."), 202


@blp.post("/phone/verify")
@limiter.limit("20/hour", override_defaults=False)
@blp.arguments(PhoneCodeSchema, example={"code": "123456"})
@blp.response(200, envelope(ProfileSchema), example={"status": "success", "meta": None,
                                                     "message": "Your phone number is verified.", "data": _PROFILE})
@blp.doc(security=[{"bearerAuth": []}])
def verify_phone(body):
    """Prove the number with the code it received; a wrong code counts as one of its five tries."""
    user = current_api_user()
    refused = None
    with unit_of_work():  # committed even when refused: a wrong try counts
        try:
            profile.verify_phone_code(user, body["code"])
        except DomainError as exc:
            refused = exc
    if refused is not None:
        raise refused
    return ok(profile.profile_of(user), message="Your phone number is verified.")
