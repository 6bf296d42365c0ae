"""Reading and changing the settings that guard money. A change is a proposal (one pending per key) that a
different person approves; the approval is applied with a conditional UPDATE so a replay or a race applies it once,
and a value that is no longer valid when approved (bounds, the environment's cap, min above max) is refused.
Services flush and never commit."""
from __future__ import annotations

from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, select, text, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.core import audit
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.money import Money
from app.core.security import ADMIN, has_permission
from app.extensions import db
from app.ledger.accounts import platform_currency
from app.notifications.services import notify
from app.settings.models import APPLIED, PENDING, REJECTED, WITHDRAWN, MoneySetting, SettingChange
from app.settings.registry import BPS, DAYS, KEYS, MONEY, ORDERED, Key, get

MAX_REASON = 2_000
# transaction advisory lock taken by every approval on PostgreSQL ("FHSETAP" in ASCII): approvals take turns, so
# two changes that are each valid alone (a minimum raised, its maximum lowered) cannot both apply
APPROVAL_LOCK_KEY = 0x46485345544150


# reading -----------------------------------------------------------------------------------------------------------
def env_cap(spec: Key) -> int | None:
    """The cap the environment sets on this setting (None: no cap)."""
    if spec.env_cap is None:
        return None
    raw = current_app.config.get(spec.env_cap)
    return None if raw in (None, "") else int(raw)


def stored(key: str) -> int:
    """The value kept in the database (the registry's default when the key has no row yet), before any cap."""
    spec = get(key)
    row = db.session.scalar(select(MoneySetting.value).where(MoneySetting.key == key))
    return spec.default if row is None else int(row)


def value(key: str) -> int:
    """The effective value: the stored one, lowered to the environment's cap when there is one. Read from the
    database on every call, so every process sees an approved change at once."""
    spec = get(key)
    current = stored(key)
    cap = env_cap(spec)
    return current if cap is None else min(current, cap)


def values(keys=None) -> dict[str, int]:
    """Effective values of several keys (every key by default) in one query."""
    wanted = list(KEYS) if keys is None else list(keys)
    rows = {key: amount for key, amount in db.session.execute(select(MoneySetting.key, MoneySetting.value)
                                                              .where(MoneySetting.key.in_(wanted)))}
    out = {}
    for key in wanted:
        spec = get(key)
        current = int(rows.get(key, spec.default))
        cap = env_cap(spec)
        out[key] = current if cap is None else min(current, cap)
    return out


def display(key: str, amount: int) -> str:
    """A value in its unit: money in the platform currency, basis points as a percentage, days, a count."""
    unit = get(key).unit
    if unit == MONEY:
        return Money(amount, platform_currency()).display()
    if unit == BPS:
        return f"{amount / 100:.2f} %"
    if unit == DAYS:
        return f"{amount} day" + ("" if amount == 1 else "s")
    return f"{amount:,}"


# who may -----------------------------------------------------------------------------------------------------------
def may_propose(actor, key: str) -> bool:
    spec = get(key)
    return has_permission(actor, "settings.propose") and (not spec.admin_only or ADMIN in actor.role_names)


def may_approve(actor, key: str) -> bool:
    spec = get(key)
    return has_permission(actor, "settings.approve") and (not spec.admin_only or ADMIN in actor.role_names)


def _who(spec: Key) -> str:
    return "an admin" if spec.admin_only else "finance"


# checks ------------------------------------------------------------------------------------------------------------
def _as_int(raw) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValidationError("the value must be a whole number", {"new_value": ["A whole number."]})
    return raw


def check_value(key: str, new_value: int) -> None:
    """Refuse a value outside the bounds in code, above the environment's cap, or out of order with its pair."""
    spec = get(key)
    if new_value < spec.floor:
        what = "removed or set to zero" if new_value <= 0 < spec.floor else f"set below {display(key, spec.floor)}"
        raise ValidationError(f"{spec.label} cannot be {what}",
                              {"new_value": [f"At least {display(key, spec.floor)}."]})
    if new_value > spec.ceiling:
        raise ValidationError(f"{spec.label} cannot be above {display(key, spec.ceiling)}",
                              {"new_value": [f"At most {display(key, spec.ceiling)}."]})
    cap = env_cap(spec)
    if cap is not None and new_value > cap:
        raise ValidationError(f"{spec.label} cannot be above {display(key, cap)}: {spec.env_cap} caps it",
                              {"new_value": [f"At most {display(key, cap)} ({spec.env_cap})."]})
    for low, high in ORDERED:
        if key == low and new_value > value(high):
            raise ValidationError(f"{spec.label} cannot be above {get(high).label.lower()} "
                                  f"({display(high, value(high))})", {"new_value": ["Above its maximum."]})
        if key == high and new_value < value(low):
            raise ValidationError(f"{spec.label} cannot be below {get(low).label.lower()} "
                                  f"({display(low, value(low))})", {"new_value": ["Below its minimum."]})


def _reason(reason: str | None, field: str = "reason") -> str:
    why = (reason or "").strip()
    if not why:
        raise ValidationError("a reason is required", {field: ["Say why."]})
    if len(why) > MAX_REASON:
        raise ValidationError("the reason is too long", {field: [f"At most {MAX_REASON:,} characters."]})
    return why


def _snapshot(change: SettingChange) -> dict:
    return {"key": change.key, "old_value": change.old_value, "new_value": change.new_value,
            "status": change.status}


# changing ----------------------------------------------------------------------------------------------------------
def propose(key: str, new_value, *, actor, reason: str | None) -> SettingChange:
    """Propose a new value; nothing changes until a different person approves it."""
    if key not in KEYS:
        raise NotFound("no such setting")
    spec = KEYS[key]
    if not may_propose(actor, key):
        raise Forbidden(f"changing {spec.label.lower()} is for {_who(spec)} (settings.propose)")
    new_value = _as_int(new_value)
    why = _reason(reason)
    current = value(key)
    if new_value == current:
        raise ValidationError("that is already the value", {"new_value": ["Already the current value."]})
    check_value(key, new_value)
    if db.session.scalar(select(SettingChange.id).where(SettingChange.key == key, SettingChange.status == PENDING)):
        raise Conflict(f"a change of {spec.label.lower()} is already waiting for approval")
    change = SettingChange(key=key, old_value=current, new_value=new_value, reason=why, proposed_by_id=actor.id,
                           proposed_at=utcnow(), status=PENDING)
    try:
        with db.session.begin_nested():
            db.session.add(change)
    except IntegrityError:
        raise Conflict(f"a change of {spec.label.lower()} is already waiting for approval") from None
    audit.record("settings.proposed", actor=actor, target=change, after=_snapshot(change), reason=why)
    return change


def _claim(change: SettingChange, status: str, **values) -> None:
    """Move a pending change to `status` once: a conditional UPDATE, so a replay or a race finds it decided."""
    claimed = cast("CursorResult[Any]", db.session.execute(
        update(SettingChange).where(SettingChange.id == change.id, SettingChange.status == PENDING)
        .values(status=status, **values).execution_options(synchronize_session=False))).rowcount
    db.session.refresh(change)
    if not claimed:
        raise IllegalTransition(f"the change of {get(change.key).label.lower()} is already {change.status}")


def _tell_proposer(change: SettingChange) -> None:
    proposer = db.session.get(User, change.proposed_by_id)
    if proposer is None:
        return
    decider = db.session.get(User, change.decided_by_id) if change.decided_by_id else None
    notify(proposer, "setting_change_decided", link=f"/admin/money_settings/?key={change.key}",
           label=get(change.key).label, key=change.key, status=change.status,
           old_value=display(change.key, change.old_value), new_value=display(change.key, change.new_value),
           decided_by=decider.email if decider else "", reason=change.rejection_reason or "")


def approve(change: SettingChange, *, actor) -> SettingChange:
    """A different person approves: the value is checked again (bounds, cap, order) and applied once."""
    spec = get(change.key)
    if not may_approve(actor, change.key):
        raise Forbidden(f"approving a change of {spec.label.lower()} is for {_who(spec)} (settings.approve)")
    if change.proposed_by_id == actor.id:
        raise Forbidden("a different person must approve this change")
    if change.status != PENDING:
        raise IllegalTransition(f"the change of {spec.label.lower()} is already {change.status}")
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPROVAL_LOCK_KEY})
    check_value(change.key, change.new_value)  # again, on the values in force now
    now = utcnow()
    _claim(change, APPLIED, decided_by_id=actor.id, decided_at=now)
    row = db.session.scalar(select(MoneySetting).where(MoneySetting.key == change.key).with_for_update())
    before = spec.default if row is None else row.value
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.add(MoneySetting(key=change.key, value=change.new_value, updated_at=now,
                                            updated_by_id=actor.id, change_id=change.id))
        except IntegrityError:
            row = db.session.scalar(select(MoneySetting).where(MoneySetting.key == change.key).with_for_update())
            if row is None:
                raise
    if row is not None:
        row.value, row.updated_at, row.updated_by_id, row.change_id = change.new_value, now, actor.id, change.id
    db.session.flush()
    audit.record("settings.approved", actor=actor, target=change, before={"key": change.key, "value": before},
                 after={"key": change.key, "value": change.new_value, "proposed_by": change.proposed_by_id})
    _tell_proposer(change)
    return change


def reject(change: SettingChange, *, actor, reason: str | None) -> SettingChange:
    spec = get(change.key)
    if not may_approve(actor, change.key):
        raise Forbidden(f"rejecting a change of {spec.label.lower()} is for {_who(spec)} (settings.approve)")
    if change.proposed_by_id == actor.id:
        raise Forbidden("withdraw your own proposal instead of rejecting it")
    why = _reason(reason)
    _claim(change, REJECTED, decided_by_id=actor.id, decided_at=utcnow(), rejection_reason=why)
    audit.record("settings.rejected", actor=actor, target=change, after=_snapshot(change), reason=why)
    _tell_proposer(change)
    return change


def withdraw(change: SettingChange, *, actor) -> SettingChange:
    """The proposer takes a pending proposal back."""
    if change.proposed_by_id != actor.id:
        raise Forbidden("only the person who proposed a change may withdraw it")
    _claim(change, WITHDRAWN, decided_by_id=actor.id, decided_at=utcnow())
    audit.record("settings.withdrawn", actor=actor, target=change, after=_snapshot(change))
    return change


def pending() -> list[SettingChange]:
    return list(db.session.scalars(select(SettingChange).where(SettingChange.status == PENDING)
                                   .order_by(SettingChange.id)))


def recent(limit: int = 50) -> list[SettingChange]:
    return list(db.session.scalars(select(SettingChange).where(SettingChange.status != PENDING)
                                   .order_by(SettingChange.id.desc()).limit(limit)))
