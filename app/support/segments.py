"""Who a staff message goes to, each segment one set-based query over users (never a loop over them):

- `investor`: one investor, named by id or e-mail address;
- `property`: the investors with a live investment (paying or active) in a property;
- `kyc_pending`: the investors with an identity submission waiting for review (the newest of its form);
- `kyc_not_started`: the investors who never submitted anything for identity verification;
- `inactive`: the investors who have not signed in for N days (1 to 3650; never signed in: since they registered).

Every segment keeps to investors who may be told anything: the investor role, no staff role, active (not blocked,
not closed). Staff accounts are never recipients."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Exists, Select, and_, exists, func, select

from app.auth.models import USER_ACTIVE, Role, User, user_roles
from app.core.db import utcnow
from app.core.errors import NotFound, ValidationError
from app.core.security import INVESTOR, STAFF_ROLES
from app.extensions import db
from app.investing.models import LIVE, Investment
from app.kyc.models import PENDING, KycSubmission
from app.properties.models import Property
from app.support.message_models import (
    INACTIVE,
    KYC_NOT_STARTED,
    KYC_PENDING,
    ONE_INVESTOR,
    PROPERTY,
    SEGMENTS,
)

LABELS = {
    ONE_INVESTOR: "One investor",
    PROPERTY: "Investors of a property",
    KYC_PENDING: "Identity verification waiting for review",
    KYC_NOT_STARTED: "Identity verification not started",
    INACTIVE: "Not signed in for N days",
}
MIN_DAYS, MAX_DAYS = 1, 3650


@dataclass(frozen=True)
class Segment:
    kind: str
    user_id: int | None = None
    property_id: int | None = None
    days: int | None = None

    def describe(self, *, email: str | None = None, title: str | None = None) -> str:
        if self.kind == ONE_INVESTOR:
            return f"One investor: {email or f'user #{self.user_id}'}"
        if self.kind == PROPERTY:
            return f"Investors of {title or f'property #{self.property_id}'}"
        if self.kind == INACTIVE:
            return f"Not signed in for {self.days} days"
        return LABELS[self.kind]


def _has_role(names) -> Exists:
    return exists().where(user_roles.c.user_id == User.id, user_roles.c.role_id == Role.id, Role.name.in_(names))


def reachable():
    """The conditions every recipient meets: an active investor account, not staff."""
    return and_(User.status == USER_ACTIVE, User.closed_at.is_(None), _has_role([INVESTOR]),
                ~_has_role(sorted(STAFF_ROLES)))


def _condition(segment: Segment):
    if segment.kind == ONE_INVESTOR:
        return User.id == segment.user_id
    if segment.kind == PROPERTY:
        return exists().where(Investment.user_id == User.id, Investment.property_id == segment.property_id,
                              Investment.status.in_(LIVE))
    if segment.kind == KYC_PENDING:
        later = KycSubmission.__table__.alias("later")
        return exists().where(
            KycSubmission.user_id == User.id, KycSubmission.status == PENDING,
            ~exists().where(later.c.user_id == KycSubmission.user_id, later.c.form_id == KycSubmission.form_id,
                            later.c.id > KycSubmission.id))
    if segment.kind == KYC_NOT_STARTED:
        return ~exists().where(KycSubmission.user_id == User.id)
    if segment.kind == INACTIVE:
        cutoff = utcnow() - timedelta(days=segment.days or MIN_DAYS)
        return func.coalesce(User.last_login_at, User.created_at) < cutoff
    raise ValidationError("unknown segment", {"segment": ["Choose who receives the message."]})


def user_ids(segment: Segment, *lead, tail=()) -> Select:
    """SELECT users.id of every recipient (after the `lead` and before the `tail` columns given): for counting,
    and for the INSERT ... SELECT that writes them."""
    return select(*lead, User.id, *tail).where(reachable(), _condition(segment))


def count(segment: Segment) -> int:
    return db.session.execute(select(func.count()).select_from(user_ids(segment).subquery())).scalar_one()


def find_investor(identifier) -> User:
    raw = str(identifier if identifier is not None else "").strip().lstrip("#")
    user = None
    if raw.isdigit() and len(raw) < 19:
        user = db.session.get(User, int(raw))
    elif "@" in raw and len(raw) <= 254:
        user = db.session.scalar(select(User).where(User.email == raw.lower()))
    if user is None:
        raise NotFound("no such investor", {"investor": ["No user has this e-mail address or id."]})
    return user


def build(kind: str, *, investor=None, property_id=None, days=None) -> Segment:
    """A segment from the form's fields, checked: the investor exists and may receive messages, the property
    exists, the number of days is 1 to 3650."""
    if kind not in SEGMENTS:
        raise ValidationError("choose who receives the message", {"segment": ["Choose who receives the message."]})
    if kind == ONE_INVESTOR:
        user = find_investor(investor)
        if user.is_staff or not db.session.execute(select(reachable_flag(user.id))).scalar():
            raise ValidationError("this account cannot receive staff messages",
                                  {"investor": ["Only active investor accounts (not closed, blocked or staff)."]})
        return Segment(kind, user_id=user.id)
    if kind == PROPERTY:
        raw = str(property_id or "").strip().lstrip("#")
        found = db.session.get(Property, int(raw)) if raw.isdigit() and len(raw) < 19 else None
        if found is None:
            raise NotFound("no such property", {"property": ["Choose a property."]})
        return Segment(kind, property_id=found.id)
    if kind == INACTIVE:
        raw = str(days or "").strip()
        if not raw.isdigit() or not MIN_DAYS <= int(raw) <= MAX_DAYS:
            raise ValidationError("the number of days is 1 to 3650", {"days": ["A whole number from 1 to 3650."]})
        return Segment(kind, days=int(raw))
    return Segment(kind)


def reachable_flag(user_id: int):
    return exists().where(User.id == user_id, reachable())


def property_choices() -> list[tuple[int, str]]:
    return [(pid, title) for pid, title in db.session.execute(
        select(Property.id, Property.title).order_by(Property.title, Property.id))]
