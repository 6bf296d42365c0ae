"""Staff editing an investor's profile on their behalf (permission `users.edit_profile`), always with a reason.

- The fields: first and last name, phone number, language. Never the e-mail address: only its owner changes it,
  through a link sent to the new one (app.account.profile).
- A name applies at once before the identity is approved; after it, it goes to compliance as a name change
  request proposed by the staff member (app.kyc.name_changes), exactly as the investor's own change would.
- A phone number set by staff is stored unverified: no SMS but the verification code reaches it until its owner
  proves it with that code (app.notifications.phone).
- Nobody edits their own account; a staff account's profile only an admin edits (app.auth.hierarchy); a closed
  account is not edited.
- One audit record with the reason and only the fields that changed (phone numbers masked), and the investor is
  told ("profile_updated_by_staff"). Services flush and never commit."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from app.auth.hierarchy import require_may_act
from app.auth.models import USER_CLOSED, User
from app.core import audit
from app.core.errors import Conflict, ValidationError
from app.extensions import db
from app.kyc import name_changes
from app.kyc.models import NameChangeRequest
from app.notifications import phone as phones
from app.notifications.services import notify, set_phone_number

PERMISSION = "users.edit_profile"
EDITED = "users.profile_edited"
EDITABLE = ("first_name", "last_name", "phone", "locale")
EVENT = "profile_updated_by_staff"


@dataclass
class StaffEdit:
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    name_request: NameChangeRequest | None = None

    @property
    def changed(self) -> bool:
        return bool(self.after)


def _checked(user: User, values: dict) -> dict:
    """The submitted values, cleaned, every problem reported at once; nothing is written here."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValidationError("these fields are not edited by staff", {
            name: ["Only the account's owner changes the e-mail address, from their profile."
                   if name == "email" else "This field cannot be edited here."] for name in sorted(unknown)})
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    for name in ("first_name", "last_name"):
        if name in values:
            try:
                clean[name] = name_changes.clean_name(values[name], name)
            except ValidationError as exc:
                errors.update(exc.errors or {})
    if "phone" in values:
        number = (values["phone"] or "").strip().replace(" ", "") or None
        if number is not None and not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) - 1
                                       <= 15):
            errors["phone"] = ["Use the international form, e.g. +14155550123."]
        clean["phone"] = number
    if "locale" in values:
        locale = (values["locale"] or "").strip() or None
        if locale is not None and locale not in current_app.config["LANGUAGES"]:
            errors["locale"] = [f"One of {', '.join(current_app.config['LANGUAGES'])}, or none."]
        clean["locale"] = locale
    if errors:
        raise ValidationError("the profile was not changed", errors)
    return clean


def edit_profile(user: User, values: dict, *, actor: User, reason: str | None) -> StaffEdit:
    """Apply `values` (a subset of EDITABLE) to `user`'s profile for `actor`. Returns what changed."""
    require_may_act(actor, user, PERMISSION, what="edit the profile of")
    if user.status == USER_CLOSED:
        raise Conflict("a closed account is not edited", {"reason": ["The account is closed."]})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("a reason is needed", {"reason": ["Say why the profile is changed."]})
    clean = _checked(user, values)
    edit = StaffEdit()
    first = clean.get("first_name", user.first_name)
    last = clean.get("last_name", user.last_name)
    if (first, last) != (user.first_name, user.last_name):
        names_before = {"first_name": user.first_name, "last_name": user.last_name}
        edit.name_request = name_changes.propose_name_change(user, first, last, by=actor)
        if edit.name_request is None:  # applied at once (identity not approved yet)
            edit.before.update({k: v for k, v in names_before.items() if getattr(user, k) != v})
            edit.after.update({k: getattr(user, k) for k in names_before if getattr(user, k) != names_before[k]})
        else:
            edit.after["name_change_request"] = {"id": edit.name_request.id, "first_name": first,
                                                 "last_name": last}
    if "phone" in clean and clean["phone"] != user.phone_number:
        edit.before["phone"] = phones.mask(user.phone_number)
        set_phone_number(user, clean["phone"])  # a new number is unverified until its owner proves it
        edit.after["phone"] = phones.mask(user.phone_number)
        edit.after["phone_verified"] = False
    if "locale" in clean and clean["locale"] != user.locale:
        edit.before["locale"], edit.after["locale"] = user.locale, clean["locale"]
        user.locale = clean["locale"]
    if not edit.changed:
        return edit
    db.session.flush()
    audit.record(EDITED, actor=actor, target=user, before=edit.before, after=edit.after, reason=reason[:1000])
    fields = [name for name, keys in (("name", ("first_name", "last_name", "name_change_request")),
                                      ("phone", ("phone",)), ("locale", ("locale",)))
              if any(key in edit.after for key in keys)]
    notify(user, EVENT, fields=fields, name_review=edit.name_request is not None)
    return edit
