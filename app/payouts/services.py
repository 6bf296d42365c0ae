"""Payout method services. They flush and never commit."""
from __future__ import annotations

from app.core.errors import ValidationError
from app.extensions import db
from app.payouts.models import PayoutMethod


def add_bank_method(user_id: int, *, holder_name: str, bank_name: str, account_number: str, country: str,
                    routing_number: str | None = None, iban: str | None = None) -> PayoutMethod:
    errors = {}
    if not holder_name.strip():
        errors["holder_name"] = ["Required."]
    if not bank_name.strip():
        errors["bank_name"] = ["Required."]
    if not account_number.strip().replace(" ", "").isalnum():
        errors["account_number"] = ["Letters and digits only."]
    if not (routing_number or iban):
        errors["routing_number"] = ["A routing number or an IBAN is required."]
    if len(country) != 2 or not country.isalpha():
        errors["country"] = ["A two-letter country code."]
    if errors:
        raise ValidationError("the payout method is not valid", errors)
    method = PayoutMethod(user_id=user_id, kind="bank", holder_name=holder_name.strip(),
                          bank_name=bank_name.strip(), account_number=account_number.replace(" ", ""),
                          routing_number=routing_number, iban=iban, country=country.upper())
    db.session.add(method)
    db.session.flush()
    return method
