"""Payout methods: an investor's bank accounts. Added, changed and removed by their owner, checked field by field
(IBAN, BIC and routing numbers in `app.core.bank_codes`), encrypted at rest, announced by e-mail and usable only
after a cooling-off period; the holder's name is compared with the approved KYC name."""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.auth.models import User
from app.core import audit, bank_codes
from app.core.db import utcnow
from app.core.errors import Conflict, NotFound, ValidationError
from app.extensions import db
from app.kyc.services import approved_full_name
from app.notifications.services import notify
from app.payouts.models import Payout, PayoutMethod, mask
from app.payouts.terms import is_id, settings

MAX_METHODS = 10
_FIELDS = ("holder_name", "bank_name", "account_number", "routing_number", "iban", "bic", "country")


def _clean_method(data: dict) -> dict:
    """Validate and normalise a bank account's fields; every problem is reported per field at once."""
    errors: dict[str, list[str]] = {}
    text = {k: (str(data.get(k)) if data.get(k) is not None else "").strip() for k in _FIELDS}
    holder, bank = " ".join(text["holder_name"].split()), " ".join(text["bank_name"].split())
    account, routing = bank_codes.compact(text["account_number"]), bank_codes.compact(text["routing_number"])
    iban, bic, country = bank_codes.compact(text["iban"]), bank_codes.compact(text["bic"]), text["country"].upper()
    if not holder:
        errors["holder_name"] = ["The account holder's name is required."]
    elif len(holder) > 200 or any(ord(c) < 32 for c in holder):
        errors["holder_name"] = ["At most 200 printable characters."]
    if not bank:
        errors["bank_name"] = ["The bank's name is required."]
    elif len(bank) > 200 or any(ord(c) < 32 for c in bank):
        errors["bank_name"] = ["At most 200 printable characters."]
    if not re.fullmatch(r"[A-Z]{2}", country):
        errors["country"] = ["A two-letter country code, e.g. US or GB."]
    if iban and not bank_codes.iban_is_valid(iban):
        errors["iban"] = ["Not a valid IBAN (check the letters and digits, and its length for its country)."]
    elif iban and not errors.get("country") and bank_codes.iban_country(iban) != country:
        errors["iban"] = [f"This IBAN is for {bank_codes.iban_country(iban)}, not {country}."]
    if account and not re.fullmatch(r"[A-Z0-9]{4,34}", account):
        errors["account_number"] = ["4 to 34 letters and digits."]
    if not account and not iban:
        errors["account_number"] = ["An account number or an IBAN is required."]
    if routing:
        if country == "US" and not bank_codes.routing_is_valid(routing):
            errors["routing_number"] = ["A US routing number has 9 digits with a valid check digit."]
        elif not re.fullmatch(r"[A-Z0-9]{4,15}", routing):
            errors["routing_number"] = ["4 to 15 letters and digits."]
    if bic and not bank_codes.bic_is_valid(bic):
        errors["bic"] = ["A BIC has 8 or 11 characters with a real country code, e.g. DEUTDEFF."]
    if not (routing or bic or iban) and "account_number" not in errors:
        errors["routing_number"] = ["A routing number (or sort code), a BIC or an IBAN is required."]
    if errors:
        raise ValidationError("the bank account is not valid", errors)
    return {"holder_name": holder, "bank_name": bank, "account_number": account or iban,
            "routing_number": routing or None, "iban": iban or None, "bic": bic or None, "country": country}


# the holder's name --------------------------------------------------------------------------------------------------
def _tokens(name: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return [t for t in re.split(r"[^a-z0-9]+", plain) if t]


def names_match(holder: str, kyc_name: str | None) -> bool:
    """Same words in any order, ignoring case, accents and punctuation; middle names may be left out."""
    a, b = _tokens(holder), _tokens(kyc_name or "")
    if not a or not b:
        return False
    if sorted(a) == sorted(b):
        return True
    return len(a) >= 2 and len(b) >= 2 and a[0] == b[0] and a[-1] == b[-1]


def kyc_name(user_id: int) -> str | None:
    return approved_full_name(user_id)


def name_check(user_id: int, holder: str) -> bool | None:
    """Does the holder's name match the approved KYC name (None: there is no approved KYC name)?"""
    name = kyc_name(user_id)
    return None if name is None else names_match(holder, name)


# reading ------------------------------------------------------------------------------------------------------------
def methods_of(user_id: int) -> list[PayoutMethod]:
    return list(db.session.scalars(select(PayoutMethod).where(PayoutMethod.user_id == user_id)
                                   .order_by(PayoutMethod.id)))


def usable_methods(user_id: int, now: datetime | None = None) -> list[PayoutMethod]:
    now = now or utcnow()
    return [m for m in methods_of(user_id) if m.usable_at(now)]


def method_for_owner(method_id, user) -> PayoutMethod:
    method = db.session.get(PayoutMethod, method_id) if is_id(method_id) else None
    if method is None or method.user_id != user.id:
        raise NotFound("no such payout method")
    return method


def method_in_use(method: PayoutMethod) -> bool:
    return db.session.scalar(select(Payout.id).where(Payout.payout_method_id == method.id).limit(1)) is not None


def methods_in_use(user_id: int) -> set[int]:
    """Ids of the user's payout methods that a payout refers to (one query)."""
    return set(db.session.scalars(select(Payout.payout_method_id).where(Payout.user_id == user_id).distinct()))


# changes ------------------------------------------------------------------------------------------------------------
def _announce_method(user: User, method: PayoutMethod, change: str) -> None:
    usable = method.usable_from.strftime("%Y-%m-%d %H:%M UTC") if method.usable_from else "now"
    notify(user, "payout_method_added", change=change, bank=method.bank_name,
           account=mask(method.account_number), usable_from=usable)


def add_bank_method(user_id: int, *, holder_name: str, bank_name: str, account_number: str | None = None,
                    country: str, routing_number: str | None = None, iban: str | None = None,
                    bic: str | None = None, cooling_off: bool = True, actor=None) -> PayoutMethod:
    """Add a bank account. It is announced by e-mail and cannot be used before the cooling-off period ends
    (`cooling_off=False` only for demo data)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    fields = _clean_method({"holder_name": holder_name, "bank_name": bank_name, "account_number": account_number,
                            "routing_number": routing_number, "iban": iban, "bic": bic, "country": country})
    count = db.session.execute(select(func.count(PayoutMethod.id))
                               .where(PayoutMethod.user_id == user_id)).scalar_one()
    if count >= MAX_METHODS:
        raise Conflict(f"at most {MAX_METHODS} payout methods; remove one you no longer use first")
    now = utcnow()
    method = PayoutMethod(user_id=user_id, kind="bank", **fields,
                          usable_from=now + timedelta(hours=settings().cooling_hours) if cooling_off else None,
                          name_matches_kyc=name_check(user_id, fields["holder_name"]))
    db.session.add(method)
    db.session.flush()
    audit.record("payouts.method_added", actor=actor or user, target=method,
                 after={"bank": method.bank_name, "account": mask(method.account_number),
                        "country": method.country, "name_matches_kyc": method.name_matches_kyc})
    if cooling_off:
        _announce_method(user, method, "added")
    return method


def update_bank_method(method: PayoutMethod, user, data: dict) -> PayoutMethod:
    """Change a bank account's details: announced, and a new cooling-off period starts. A method that payouts
    already used keeps its details (the payouts' trail); the investor adds a new one instead."""
    if method.user_id != user.id:
        raise NotFound("no such payout method")
    if method_in_use(method):
        raise Conflict("payouts were made to this account, so its details cannot change: add a new account")
    fields = _clean_method(data)
    before = {"bank": method.bank_name, "account": mask(method.account_number), "country": method.country}
    for key, value in fields.items():
        setattr(method, key, value)
    method.usable_from = utcnow() + timedelta(hours=settings().cooling_hours)
    method.name_matches_kyc = name_check(user.id, fields["holder_name"])
    db.session.flush()
    audit.record("payouts.method_changed", actor=user, target=method, before=before,
                 after={"bank": method.bank_name, "account": mask(method.account_number), "country": method.country,
                        "name_matches_kyc": method.name_matches_kyc})
    _announce_method(user, method, "changed")
    return method


def remove_method(method: PayoutMethod, user) -> None:
    if method.user_id != user.id:
        raise NotFound("no such payout method")
    if method_in_use(method):
        raise Conflict("this account is used by a payout and stays on record",
                       {"payout_method_id": ["Used by a payout."]})
    audit.record("payouts.method_removed", actor=user, target=method,
                 before={"bank": method.bank_name, "account": mask(method.account_number)})
    db.session.delete(method)
    db.session.flush()
