"""Money settings: the current value of every setting that guards money, in its unit, with its bounds; the pending
proposals that someone else approves or rejects; a proposal form per setting (a reason is required)."""
from __future__ import annotations

import re

from flask import abort, request, url_for
from flask_admin import expose
from flask_login import current_user

from app.admin.base import SecureBaseView, requires, run_action
from app.auth.forms import SimpleForm
from app.auth.models import User
from app.core.errors import ValidationError
from app.core.money import Money, MoneyError
from app.extensions import db
from app.ledger.services import platform_currency
from app.settings import services as money_settings
from app.settings.models import SettingChange
from app.settings.registry import KEYS, MONEY

_WHOLE = re.compile(r"^[0-9]{1,19}$")


def parse_value(key: str, raw: str | None) -> int:
    """What was typed, in the setting's unit: money in major units ("250.00"), else a whole number."""
    text = (raw or "").strip().replace(",", "").replace(" ", "")
    if not text:
        raise ValidationError("a new value is required", {"new_value": ["Type the new value."]})
    if KEYS[key].unit == MONEY:
        try:
            return Money.parse(text, platform_currency(), allow_zero=True).minor
        except MoneyError as exc:
            raise ValidationError("the value is not an amount", {"new_value": [f"{str(exc).capitalize()}."]}) \
                from None
    if not _WHOLE.match(text):
        raise ValidationError("the value must be a whole number", {"new_value": ["A whole number, e.g. 250."]})
    return int(text)


class MoneySettingsView(SecureBaseView):
    permission = "settings.propose"

    def _back(self):
        return url_for(".index")

    def _change(self, change_id: int) -> SettingChange:
        if not SimpleForm().validate_on_submit():
            abort(400)
        change = db.session.get(SettingChange, change_id)
        if change is None:
            abort(404)
        return change

    @expose("/")
    def index(self):
        effective = money_settings.values()
        pending = {c.key: c for c in money_settings.pending()}
        recent = money_settings.recent(20)
        people = {u.id: u.email for u in db.session.scalars(db.select(User).where(User.id.in_(
            {c.proposed_by_id for c in [*pending.values(), *recent]}
            | {c.decided_by_id for c in [*pending.values(), *recent] if c.decided_by_id})))}
        groups: dict[str, list[dict]] = {}
        for key, spec in KEYS.items():
            cap = money_settings.env_cap(spec)
            groups.setdefault(spec.group, []).append({
                "key": key, "spec": spec, "value": money_settings.display(key, effective[key]),
                "stored": money_settings.display(key, money_settings.stored(key)),
                "capped": cap is not None and money_settings.stored(key) > cap,
                "cap": None if cap is None else money_settings.display(key, cap),
                "floor": money_settings.display(key, spec.floor), "ceiling": money_settings.display(key, spec.ceiling),
                "pending": pending.get(key), "may_propose": money_settings.may_propose(current_user, key),
                "may_approve": money_settings.may_approve(current_user, key),
                "input": (Money(effective[key], platform_currency()).amount_str() if spec.unit == MONEY
                          else str(effective[key]))})
        return self.render("admin/money_settings.html", groups=groups, recent=recent, people=people,
                           form=SimpleForm(), display=money_settings.display, labels=KEYS,
                           me=current_user.id, currency=platform_currency())

    @expose("/propose", methods=["POST"])
    @requires("settings.propose")
    def propose(self):
        if not SimpleForm().validate_on_submit():
            abort(400)
        key = request.form.get("key", "")
        if key not in KEYS:
            abort(404)

        def run():
            return money_settings.propose(key, parse_value(key, request.form.get("new_value")), actor=current_user,
                                          reason=request.form.get("reason"))

        return run_action(run, lambda c: f"Proposed: {KEYS[key].label.lower()} to "
                                         f"{money_settings.display(key, c.new_value)}. It applies once someone else "
                                         "approves it.", self._back())

    @expose("/<int:change_id>/approve", methods=["POST"])
    @requires("settings.approve")
    def approve(self, change_id: int):
        change = self._change(change_id)
        return run_action(lambda: money_settings.approve(change, actor=current_user),
                          lambda c: f"Approved: {KEYS[c.key].label.lower()} is now "
                                    f"{money_settings.display(c.key, c.new_value)}.", self._back())

    @expose("/<int:change_id>/reject", methods=["POST"])
    @requires("settings.approve")
    def reject(self, change_id: int):
        change = self._change(change_id)
        return run_action(lambda: money_settings.reject(change, actor=current_user,
                                                        reason=request.form.get("reason")),
                          "Rejected; the proposer is told.", self._back())

    @expose("/<int:change_id>/withdraw", methods=["POST"])
    @requires("settings.propose")
    def withdraw(self, change_id: int):
        change = self._change(change_id)
        return run_action(lambda: money_settings.withdraw(change, actor=current_user), "Withdrawn.", self._back())


def register(admin) -> None:
    admin.add_view(MoneySettingsView(name="Money settings", endpoint="money_settings", url="/admin/money_settings",
                                     category="Settings"))
