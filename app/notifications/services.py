"""notify(): record a notification for each recipient and queue its deliveries, to run after commit.
Services flush and never commit; nothing is sent if the transaction that triggered it rolls back."""
from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update

from app.auth.models import Role, User, user_roles
from app.core import audit
from app.core.db import enqueue_after_commit, utcnow
from app.core.errors import IllegalTransition, NotFound, ValidationError
from app.extensions import db
from app.notifications import catalogue, rendering, secrets
from app.notifications.channels.registry import channel_enabled
from app.notifications.models import (
    CHANNELS,
    EMAIL,
    FAILED,
    IN_APP,
    PUSH,
    QUEUED,
    SENT,
    SMS,
    Delivery,
    Notification,
    NotificationPreference,
    PushDevice,
)

log = logging.getLogger(__name__)
DELIVER = "notifications.deliver"  # the delivery task, queued by name (app.notifications.tasks imports this module)


def _user_context(user: User) -> dict:
    return {"first_name": user.first_name, "last_name": user.last_name, "email": user.email,
            "full_name": user.full_name}


def recipients_for(recipient) -> list[User]:
    """A User, a list of users, or "role:<name>" for every active staff member holding that role."""
    if isinstance(recipient, User):
        return [recipient]
    if isinstance(recipient, str) and recipient.startswith("role:"):
        role = recipient.removeprefix("role:")
        return list(db.session.scalars(
            select(User).join(user_roles, user_roles.c.user_id == User.id).join(Role, Role.id == user_roles.c.role_id)
            .where(Role.name == role, User.status == "active").order_by(User.id)))
    if isinstance(recipient, (list, tuple)):
        return [u for r in recipient for u in recipients_for(r)]
    raise ValueError(f"not a notification recipient: {recipient!r}")


def preferences_of(user_id: int) -> dict[tuple[str, str], bool]:
    rows = db.session.execute(select(NotificationPreference.group, NotificationPreference.channel,
                                     NotificationPreference.enabled)
                              .where(NotificationPreference.user_id == user_id)).all()
    return {(group, channel): enabled for group, channel, enabled in rows}


def wants(user_id: int, spec: catalogue.Event, channel: str, prefs: dict | None = None) -> bool:
    if spec.mandatory:
        return True
    prefs = preferences_of(user_id) if prefs is None else prefs
    return prefs.get((spec.group, channel), True)


def _addresses(user: User, channel: str, spec: catalogue.Event | None = None, context: dict | None = None
               ) -> list[str]:
    if channel == EMAIL:
        if spec is not None and spec.email_to:
            address = (context or {}).get(spec.email_to)
            return [address] if address else []
        return [user.email]
    if channel == SMS:  # only a verified number, but for the code that verifies it
        if not user.phone_number:
            return []
        if user.phone_verified_at is None and not (spec is not None and spec.to_unverified_phone):
            return []
        return [user.phone_number]
    if channel == PUSH:
        return list(db.session.scalars(select(PushDevice.token).where(PushDevice.user_id == user.id)))
    return []


def notify(recipient, event: str, *, link: str | None = None, **context) -> list[Notification]:
    """Record `event` for each recipient and queue a delivery per channel they get (after commit).
    `context` must be plain data (strings, numbers, dicts, lists); templates see it and `user`.
    For a secret event `link` grants access: it is kept only encrypted on the deliveries, the stored messages
    carry secrets.PLACEHOLDER instead, and the notification's own link stays empty."""
    spec = catalogue.get(event)
    secret = link if spec.secret else None
    if spec.secret:
        link = None
    if recipient is None:
        if spec.audience != catalogue.STAFF:
            raise ValueError(f"{event} needs a recipient")
        recipient = [f"role:{role}" for role in spec.roles]
    users = list({u.id: u for u in recipients_for(recipient)}.values())  # once each, whatever their roles
    created = []
    for user in users:
        prefs = preferences_of(user.id)
        ctx = {**context, "user": _user_context(user),
               "link": secrets.PLACEHOLDER if secret is not None else link}
        notification = Notification(user_id=user.id, event=event, context=rendering._plain(context), link=link)
        channels = [c for c in spec.channels if wants(user.id, spec, c, prefs) and channel_enabled(c)]
        locale = user.locale  # each recipient reads the message in their own language (rendering.locale_for)
        in_app = _in_app(notification, event, ctx, locale) if IN_APP in channels else None  # before INSERT
        db.session.add(notification)
        db.session.flush()
        for channel in channels:
            if channel == IN_APP:
                if in_app is not None:
                    in_app.notification_id = notification.id
                    db.session.add(in_app)
                continue
            for address in _addresses(user, channel, spec, context):
                _queue(notification, channel, address, event, ctx, secret=secret, locale=locale)
        created.append(notification)
    return created


def _in_app(notification: Notification, event: str, ctx: dict, locale: str | None) -> Delivery:
    """Render the in-app message onto the (not yet written) notification; returns its delivery record."""
    try:
        content = rendering.render(event, IN_APP, ctx, locale=locale)
    except Exception as exc:
        log.exception("in-app template for %s failed", event)
        return Delivery(channel=IN_APP, to_address="in-app", status=FAILED, last_error=str(exc)[:500])
    notification.in_app = True
    notification.title = (content.subject or event)[:300]
    notification.body = content.body.strip()
    return Delivery(channel=IN_APP, to_address="in-app", subject=notification.title, body=notification.body,
                    status=SENT, sent_at=utcnow())


def _queue(notification: Notification, channel: str, address: str, event: str, ctx: dict, *,
           secret: str | None = None, locale: str | None = None) -> Delivery:
    try:
        content = rendering.render(event, channel, ctx, locale=locale)
        delivery = Delivery(notification_id=notification.id, channel=channel, to_address=address[:300],
                            subject=content.subject, body=content.body, html=content.html, status=QUEUED,
                            secret=secret)
    except Exception as exc:
        log.exception("%s template for %s failed", channel, event)
        delivery = Delivery(notification_id=notification.id, channel=channel, to_address=address[:300],
                            status=FAILED, last_error=f"template: {exc}"[:500])
    db.session.add(delivery)
    db.session.flush()
    if delivery.status == QUEUED:
        enqueue_after_commit(DELIVER, delivery.id)
    return delivery


def resend(delivery: Delivery, *, actor: User) -> Delivery:
    """Staff: send the same content again on the same channel (a new delivery row; the old one stays). A message
    whose link grants access goes with a newly issued link, never the old one."""
    if delivery.channel == IN_APP:
        raise IllegalTransition("in-app notifications are not sent again")
    if delivery.status in (QUEUED, "sending"):
        raise IllegalTransition("this delivery is still in progress")
    spec = catalogue.get(delivery.event)
    secret = (secrets.fresh_link(spec.key, delivery.notification.user, delivery.to_address) if spec.secret
              else None)
    copy = Delivery(notification_id=delivery.notification_id, channel=delivery.channel,
                    to_address=delivery.to_address, subject=delivery.subject, body=delivery.body, html=delivery.html,
                    status=QUEUED, resent_from_id=delivery.id, secret=secret)
    db.session.add(copy)
    db.session.flush()
    audit.record("notifications.resend", actor=actor, target=delivery,
                 after={"new_delivery": copy.id, "channel": copy.channel, "to": copy.to_address,
                        "new_link": spec.secret})
    enqueue_after_commit(DELIVER, copy.id)
    return copy


# in-app inbox ----------------------------------------------------------------------------------------------------
def unread_count(user_id: int) -> int:
    return db.session.execute(select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.in_app.is_(True), Notification.read_at.is_(None))
    ).scalar_one()


def inbox(user_id: int, *, page: int = 1, per_page: int = 20) -> tuple[list[Notification], int]:
    base = select(Notification).where(Notification.user_id == user_id, Notification.in_app.is_(True))
    total = db.session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = db.session.scalars(base.order_by(Notification.id.desc()).limit(per_page)
                              .offset((page - 1) * per_page)).all()
    return list(rows), total


def mark_read(user_id: int, notification_id: int) -> Notification:
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id or not notification.in_app:
        raise NotFound("no such notification")
    if notification.read_at is None:
        notification.read_at = utcnow()
        db.session.flush()
    return notification


def mark_all_read(user_id: int) -> int:
    return cast("CursorResult[Any]", db.session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.in_app.is_(True), Notification.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session=False))).rowcount


# preferences and devices ------------------------------------------------------------------------------------------
def preference_matrix(user: User) -> list[dict]:
    """Per group an investor can receive: the channels with on/off and whether it may be changed."""
    prefs = preferences_of(user.id)
    staff = user.is_staff
    rows = []
    for group, label in catalogue.GROUPS.items():
        events = [e for e in catalogue.EVENTS.values() if e.group == group
                  and (e.audience == catalogue.INVESTOR or (staff and set(e.roles) & user.role_names))]
        if not events:
            continue
        channels = [c for c in CHANNELS if any(c in e.channels for e in events)]
        mandatory = all(e.mandatory for e in events)
        rows.append({"group": group, "label": label, "mandatory": mandatory,
                     "events": [e.description for e in events],
                     "channels": {c: (True if mandatory else prefs.get((group, c), True)) for c in channels}})
    return rows


def set_preferences(user: User, choices: dict[tuple[str, str], bool]) -> None:
    """Save the user's choices; mandatory groups and unknown pairs are ignored (they cannot be turned off)."""
    allowed = {(row["group"], c) for row in preference_matrix(user) if not row["mandatory"] for c in row["channels"]}
    existing = {(p.group, p.channel): p for p in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user.id))}
    for key in allowed:
        enabled = bool(choices.get(key, False))
        if key in existing:
            existing[key].enabled = enabled
        else:
            db.session.add(NotificationPreference(user_id=user.id, group=key[0], channel=key[1], enabled=enabled))
    db.session.flush()


def set_phone_number(user: User, phone: str | None) -> None:
    phone = (phone or "").strip().replace(" ", "") or None
    if phone is not None and not (phone.startswith("+") and phone[1:].isdigit() and 8 <= len(phone) - 1 <= 15):
        raise ValidationError("not a phone number", {"phone_number": ["Use the international form, e.g. "
                                                                     "+14155550123."]})
    if phone != user.phone_number:  # a new number is not verified (app/notifications/phone.py)
        user.phone_verified_at = None
    user.phone_number = phone
    db.session.flush()


def register_device(user: User, token: str, platform: str) -> PushDevice:
    token = (token or "").strip()
    if not token or len(token) > 500:
        raise ValidationError("not a device token", {"token": ["A device token of 1 to 500 characters."]})
    if platform not in ("android", "ios", "web"):
        raise ValidationError("unknown platform", {"platform": ["One of android, ios, web."]})
    device = db.session.scalar(select(PushDevice).where(PushDevice.token == token))
    if device is None:
        device = PushDevice(user_id=user.id, token=token, platform=platform)
        db.session.add(device)
    else:  # a phone that changed hands follows its new owner
        device.user_id, device.platform = user.id, platform
    db.session.flush()
    return device


def forget_device(token: str) -> None:
    device = db.session.scalar(select(PushDevice).where(PushDevice.token == token))
    if device is not None:
        db.session.delete(device)
        db.session.flush()


