"""GET/POST /payout-methods, GET/PUT/DELETE /payout-methods/{id}: the caller's bank accounts, numbers masked."""
from flask_smorest import Blueprint

from app.api.auth import current_api_user
from app.api.envelope import envelope, ok
from app.api.examples import payments as ex
from app.api.v1.payouts import PayoutMethodRequestSchema, PayoutMethodSchema
from app.core.db import unit_of_work
from app.extensions import limiter
from app.payouts import services as payouts

URL = "/payout-methods"
blp = Blueprint("api_payout_methods", __name__, description="Bank accounts that receive payouts")


@blp.get("")
@blp.response(200, envelope(PayoutMethodSchema, many=True), example=ex.METHODS)
@blp.doc(security=[{"bearerAuth": []}])
def index():
    """The caller's bank accounts (numbers masked)."""
    return ok(payouts.methods_of(current_api_user().id))


@blp.post("")
@limiter.limit("20/hour", override_defaults=False)
@blp.arguments(PayoutMethodRequestSchema, example=ex.METHOD_REQUEST)
@blp.response(201, envelope(PayoutMethodSchema), example=ex.METHOD_ADDED)
@blp.doc(security=[{"bearerAuth": []}])
def create(body):
    """Add a bank account: an account number (or an IBAN) with a routing number, a BIC or an IBAN. It is
    announced by e-mail and receives payouts only after the cooling-off period (`usable_from`)."""
    user = current_api_user()
    with unit_of_work():
        method = payouts.add_bank_method(user.id, **body)
    return ok(method)


@blp.get("/<int:method_id>")
@blp.response(200, envelope(PayoutMethodSchema), example=ex.METHOD_ONE)
@blp.doc(security=[{"bearerAuth": []}])
def get(method_id: int):
    """One of the caller's bank accounts (404 for anyone else's), numbers masked."""
    return ok(payouts.method_for_owner(method_id, current_api_user()))


@blp.put("/<int:method_id>")
@limiter.limit("20/hour", override_defaults=False)
@blp.arguments(PayoutMethodRequestSchema, example=ex.METHOD_REQUEST)
@blp.response(200, envelope(PayoutMethodSchema), example=ex.METHOD_CHANGED)
@blp.alt_response(409, description="a payout already used this account")
@blp.doc(security=[{"bearerAuth": []}])
def update(body, method_id: int):
    """Change an account that no payout used yet; a new cooling-off period starts. 409 once payouts used it."""
    user = current_api_user()
    with unit_of_work():
        method = payouts.update_bank_method(payouts.method_for_owner(method_id, user), user, body)
    return ok(method)


@blp.delete("/<int:method_id>")
@blp.response(200, envelope(None), example=ex.METHOD_REMOVED)
@blp.alt_response(409, description="a payout uses this account: it stays on record")
@blp.doc(security=[{"bearerAuth": []}])
def delete(method_id: int):
    """Remove an account that no payout uses (409 otherwise: it stays on record with its payouts)."""
    user = current_api_user()
    with unit_of_work():
        payouts.remove_method(payouts.method_for_owner(method_id, user), user)
    return ok(None, message="Removed.")
