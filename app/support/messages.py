"""Messages from staff to one investor or a segment of them (app/support/segments.py), through the notification
service.

- A messages.send holder composes one (a draft, audited): subject and body in plain text (shown escaped wherever
  they appear), in-app always and by e-mail when asked, who receives it, and an internal reason. Links may only
  point at this site (the link rules of staff templates, app/notifications/template_rules.py).
- They preview it as the investor will read it, with the recipient count worked out now, and confirm that count
  (the form carries the count they saw: when it has changed since, they are asked again). Up to APPROVAL_ABOVE
  recipients it is sent at once; above, it waits for a second messages.send holder, never its proposer, who
  approves it (it is then sent) or rejects it with a reason. Its proposer may cancel it until it is sent.
- Sending starts by writing its recipients with one INSERT ... SELECT of the segment's query; a Celery task
  (app/support/message_tasks.py) then sends them in batches (send_batch), each recipient claimed by a conditional
  UPDATE (sent_at IS NULL) in the unit of work that records its notification: a retried task, or two at once,
  reach each investor once. Progress is sent_count (and the skipped: closed or blocked meanwhile) of
  recipients_total.

Audited: staff_messages.composed, .submitted (waiting for approval), .send (sending started), .approved,
.rejected, .cancelled, .resumed; a refused self-approval in the console: .refused. Services flush, never commit."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, exists, func, insert, literal, select, update

from app.auth.models import User
from app.core import audit
from app.core.db import enqueue_after_commit, utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from app.core.security import has_permission
from app.core.states import transition
from app.extensions import db
from app.notifications import catalogue, rendering, template_rules
from app.notifications.models import EMAIL, IN_APP
from app.notifications.services import notify, recipients_for
from app.support import segments
from app.support.message_models import (
    APPROVED,
    AWAITING_APPROVAL,
    CANCELLED,
    DRAFT,
    FAILED,
    SENDING,
    SENT,
    TRANSITIONS,
    StaffMessage,
    StaffMessageRecipient,
)

SEND = "messages.send"
APPROVAL_ABOVE = 100  # more recipients than this: a second messages.send holder approves it
SUBJECT_MAX = 200
BODY_MAX = 5000
REASON_MAX = 2000
BATCH = 200
EVENT = "staff_message"  # in-app only
EVENT_WITH_EMAIL = "staff_message_email"  # in-app and e-mail
TASK = "support.send_staff_message"
LINK = "/notifications"
APPROVAL_EVENT = "staff_message_approval_staff"  # to the other support staff and admins
DETAILS = "/admin/staff_messages/details/?id={id}"


def _require(actor) -> None:
    if actor is None or not has_permission(actor, SEND):
        raise Forbidden(f"this needs the {SEND} permission")


def _text(raw, field: str, limit: int, *, required: bool = True, one_line: bool = False) -> str:
    value = str(raw or "").replace("\r\n", "\n").strip()
    if one_line:
        value = " ".join(value.split())
    if required and not value:
        raise ValidationError(f"the {field} is required", {field: ["Required."]})
    if len(value) > limit:
        raise ValidationError(f"the {field} is too long", {field: [f"At most {limit} characters."]})
    if any(ord(c) < 32 and c not in "\n\t" for c in value) or "\x7f" in value:
        raise ValidationError(f"the {field} holds characters that cannot be printed",
                              {field: ["Letters, digits and punctuation only."]})
    return value


def _snapshot(m: StaffMessage) -> dict:
    return {"status": m.status, "segment": m.segment, "target_user_id": m.target_user_id,
            "property_id": m.property_id, "inactive_days": m.inactive_days, "send_email": m.send_email,
            "subject": m.subject, "confirmed_count": m.confirmed_count, "recipients_total": m.recipients_total}


def _move(m: StaffMessage, target: str, *, extra_where=(), **values) -> None:
    transition(m, target, TRANSITIONS, what=f"message #{m.id}", extra_where=extra_where, conflict=Conflict, **values)


def get(message_id: int) -> StaffMessage:
    m = db.session.get(StaffMessage, message_id)
    if m is None:
        raise NotFound("no such message")
    return m


def segment_of(m: StaffMessage) -> segments.Segment:
    return segments.Segment(m.segment, user_id=m.target_user_id, property_id=m.property_id, days=m.inactive_days)


def audience(m: StaffMessage) -> str:
    """Who receives it, in words, for the console."""
    email = m.target_user.email if m.target_user_id and m.target_user else None
    title = m.offering.title if m.property_id and m.offering else None
    return segment_of(m).describe(email=email, title=title)


def awaiting_count() -> int:
    """Messages waiting for a second person's approval (the console's queue)."""
    return db.session.execute(select(func.count(StaffMessage.id)).where(StaffMessage.status == AWAITING_APPROVAL)
                              ).scalar_one()


def recipient_count(m: StaffMessage) -> int:
    """How many investors it would reach now (before it is sent), or reached (once sending started)."""
    if m.recipients_total is not None:
        return m.recipients_total
    return segments.count(segment_of(m))


def compose(*, segment: str, investor=None, property_id=None, days=None, subject, body, send_email: bool,
            reason, actor) -> StaffMessage:
    """A draft: checked (the segment, plain printable text within the limits, no link elsewhere than this site),
    written and audited. Nothing is sent until its proposer confirms the recipient count."""
    _require(actor)
    chosen = segments.build(segment, investor=investor, property_id=property_id, days=days)
    if chosen.user_id is not None and chosen.user_id == actor.id:
        raise Forbidden("nobody sends a staff message to their own account")
    subject = _text(subject, "subject", SUBJECT_MAX, one_line=True)
    body = _text(body, "body", BODY_MAX)
    reason = _text(reason, "reason", REASON_MAX)
    try:
        template_rules.check_links(subject=subject, body=body, html=None)
    except template_rules.TemplateRefused as exc:
        raise ValidationError("the message links elsewhere than this site", {"body": [str(exc)]}) from None
    m = StaffMessage(subject=subject, body=body, send_email=bool(send_email), segment=chosen.kind,
                     target_user_id=chosen.user_id, property_id=chosen.property_id, inactive_days=chosen.days,
                     reason=reason, status=DRAFT, proposed_by_id=actor.id, created_at=utcnow())
    db.session.add(m)
    db.session.flush()
    audit.record("staff_messages.composed", actor=actor, target=m, after=_snapshot(m), reason=reason)
    return m


def event_of(m: StaffMessage) -> str:
    return EVENT_WITH_EMAIL if m.send_email else EVENT


def context_of(m: StaffMessage) -> dict:
    return {"subject": m.subject, "body": m.body}


def preview(m: StaffMessage, *, locale: str = "en") -> dict[str, rendering.Rendered]:
    """The message as an investor reads it: in the portal (in-app) and, when it goes by e-mail, as the e-mail."""
    reader = m.target_user if m.target_user_id else None
    user = ({"first_name": reader.first_name, "last_name": reader.last_name, "email": reader.email,
             "full_name": reader.full_name} if reader is not None else catalogue.sample_context(EVENT)["user"])
    ctx = {**context_of(m), "user": user, "link": None}
    shown = {IN_APP: rendering.render(event_of(m), IN_APP, ctx, locale=locale)}
    if m.send_email:
        shown[EMAIL] = rendering.render(EVENT_WITH_EMAIL, EMAIL, ctx, locale=locale)
    return shown


def _seen(count_seen) -> int:
    raw = str(count_seen if count_seen is not None else "").strip()
    if not raw.isdigit():
        raise ValidationError("confirm the number of recipients", {"count": ["Confirm the number of recipients."]})
    return int(raw)


def _check_count(m: StaffMessage, count_seen) -> int:
    seen, now = _seen(count_seen), recipient_count(m)
    if seen != now:
        raise ValidationError(f"the number of recipients changed from {seen} to {now}: check it and confirm again",
                              {"count": [f"It is {now} now."]})
    if now == 0:
        raise ValidationError("nobody would receive this message", {"count": ["No recipient."]})
    return now


def confirm(m: StaffMessage, *, count_seen, actor) -> StaffMessage:
    """Its proposer confirms the recipient count they saw: sent now up to APPROVAL_ABOVE recipients, else it waits
    for a second messages.send holder's approval."""
    _require(actor)
    if m.proposed_by_id != actor.id:
        raise Forbidden("only the person who wrote a message confirms it")
    if m.status != DRAFT:
        raise IllegalTransition(f"message #{m.id} is {m.status.replace('_', ' ')}: it was confirmed already")
    now = _check_count(m, count_seen)
    before = _snapshot(m)
    if now > APPROVAL_ABOVE:
        _move(m, AWAITING_APPROVAL, confirmed_count=now, submitted_at=utcnow())
        audit.record("staff_messages.submitted", actor=actor, target=m, before=before, after=_snapshot(m),
                     reason=m.reason)
        checkers = [u for u in recipients_for(["role:support", "role:admin"]) if u.id != actor.id]
        if checkers:
            notify(checkers, APPROVAL_EVENT, link=DETAILS.format(id=m.id), message_id=m.id, count=now,
                   subject=m.subject, audience=audience(m), proposed_by=actor.email)
        return m
    _move(m, SENDING, confirmed_count=now, submitted_at=utcnow())
    _start(m, actor, before)
    return m


def _decider_checks(m: StaffMessage, actor, what: str) -> None:
    _require(actor)
    if m.proposed_by_id == actor.id:
        raise Forbidden(f"a message to more than {APPROVAL_ABOVE} investors is {what} by a second person: "
                        "you wrote this one")


def approve(m: StaffMessage, *, count_seen, actor, comment: str | None = None) -> StaffMessage:
    """A second messages.send holder approves a message waiting for it, having seen its recipient count now: it
    is sent."""
    _decider_checks(m, actor, "approved")
    if m.status != AWAITING_APPROVAL:
        raise IllegalTransition(f"message #{m.id} is {m.status.replace('_', ' ')}: it cannot be approved")
    comment = _text(comment, "comment", REASON_MAX, required=False) or None
    _check_count(m, count_seen)
    before = _snapshot(m)
    _move(m, APPROVED, extra_where=(StaffMessage.proposed_by_id != actor.id,), approved_by_id=actor.id,
          approved_at=utcnow(), decision_reason=comment)
    audit.record("staff_messages.approved", actor=actor, target=m, before=before, after=_snapshot(m),
                 reason=comment or m.reason)
    before = _snapshot(m)
    _move(m, SENDING)
    _start(m, actor, before)
    return m


def _start(m: StaffMessage, actor, before: dict) -> None:
    """Sending starts: its recipients written by one INSERT ... SELECT, then the task queued after commit."""
    db.session.execute(insert(StaffMessageRecipient).from_select(
        ["message_id", "user_id", "skipped"], segments.user_ids(segment_of(m), literal(m.id), tail=(literal(False),))))
    written = db.session.execute(select(func.count()).where(StaffMessageRecipient.message_id == m.id)).scalar_one()
    db.session.execute(update(StaffMessage).where(StaffMessage.id == m.id)
                       .values(recipients_total=written, started_at=utcnow())
                       .execution_options(synchronize_session=False))
    db.session.refresh(m)
    audit.record("staff_messages.send", actor=actor, target=m, before=before, after=_snapshot(m), reason=m.reason)
    enqueue_after_commit(TASK, m.id)


def reject(m: StaffMessage, *, actor, reason) -> StaffMessage:
    _decider_checks(m, actor, "decided")
    reason = _text(reason, "reason", REASON_MAX)
    if m.status != AWAITING_APPROVAL:
        raise IllegalTransition(f"message #{m.id} is {m.status.replace('_', ' ')}: it cannot be rejected")
    before = _snapshot(m)
    _move(m, CANCELLED, cancelled_by_id=actor.id, decision_reason=reason, finished_at=utcnow())
    audit.record("staff_messages.rejected", actor=actor, target=m, before=before, after=_snapshot(m), reason=reason)
    return m


def cancel(m: StaffMessage, *, actor, reason=None) -> StaffMessage:
    """Its proposer withdraws a draft or a message waiting for approval."""
    _require(actor)
    if m.proposed_by_id != actor.id:
        raise Forbidden("only the person who wrote a message cancels it: reject it instead")
    reason = _text(reason, "reason", REASON_MAX, required=False) or None
    if m.status not in (DRAFT, AWAITING_APPROVAL):
        raise IllegalTransition(f"message #{m.id} is {m.status.replace('_', ' ')}: it cannot be cancelled")
    before = _snapshot(m)
    _move(m, CANCELLED, cancelled_by_id=actor.id, decision_reason=reason, finished_at=utcnow())
    audit.record("staff_messages.cancelled", actor=actor, target=m, before=before, after=_snapshot(m),
                 reason=reason or "cancelled by its author")
    return m


def resume(m: StaffMessage, *, actor, reason=None) -> StaffMessage:
    """Sending stopped on an error: send to the recipients not reached yet (those reached are not sent again)."""
    _require(actor)
    if m.status != FAILED:
        raise IllegalTransition(f"message #{m.id} is {m.status.replace('_', ' ')}: only a failed one is resumed")
    before = _snapshot(m)
    _move(m, SENDING, last_error=None, finished_at=None)
    audit.record("staff_messages.resumed", actor=actor, target=m, before=before, after=_snapshot(m),
                 reason=_text(reason, "reason", REASON_MAX, required=False) or None)
    enqueue_after_commit(TASK, m.id)
    return m


# sending (the task) -----------------------------------------------------------------------------------------------
def send_batch(message_id: int, *, size: int | None = None) -> int:
    """Send to up to `size` recipients not reached yet; returns how many were claimed here (0: none left, or the
    message is not sending). Each recipient is claimed by a conditional UPDATE in this unit of work, with its
    notification: if the unit rolls back, neither stays; another task running at once claims other ones (or finds
    these taken)."""
    m = db.session.get(StaffMessage, message_id)
    if m is None or m.status != SENDING:
        return 0
    size = size or BATCH
    R = StaffMessageRecipient
    rows = db.session.execute(select(R.id, R.user_id).where(R.message_id == message_id, R.sent_at.is_(None))
                              .order_by(R.id).limit(size).with_for_update(skip_locked=True)).all()
    if not rows:
        return 0
    user_ids = [user_id for _, user_id in rows]
    reachable = set(db.session.scalars(select(User.id).where(User.id.in_(user_ids), segments.reachable())))
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(reachable)))}
    sent = skipped = 0
    event, context = event_of(m), context_of(m)
    for recipient_id, user_id in rows:
        claimed = cast("CursorResult[Any]", db.session.execute(
            update(R).where(R.id == recipient_id, R.sent_at.is_(None))
            .values(sent_at=utcnow(), skipped=user_id not in users)
            .execution_options(synchronize_session=False))).rowcount
        if claimed != 1:
            continue  # another task reached this one first
        if user_id not in users:
            skipped += 1
            continue
        created = notify(users[user_id], event, link=LINK, **context)
        db.session.execute(update(R).where(R.id == recipient_id).values(notification_id=created[0].id)
                           .execution_options(synchronize_session=False))
        sent += 1
    if sent or skipped:
        db.session.execute(update(StaffMessage).where(StaffMessage.id == message_id).values(
            sent_count=StaffMessage.sent_count + sent, skipped_count=StaffMessage.skipped_count + skipped)
            .execution_options(synchronize_session=False))
    return sent + skipped


def finish(message_id: int) -> bool:
    """Mark it sent once no recipient is left to reach (whichever task gets there first)."""
    R = StaffMessageRecipient
    left = exists().where(R.message_id == message_id, R.sent_at.is_(None))
    done = cast("CursorResult[Any]", db.session.execute(
        update(StaffMessage).where(StaffMessage.id == message_id, StaffMessage.status == SENDING, ~left)
        .values(status=SENT, finished_at=utcnow()).execution_options(synchronize_session=False))).rowcount
    return done == 1


def fail(message_id: int, error: str) -> None:
    db.session.execute(update(StaffMessage).where(StaffMessage.id == message_id, StaffMessage.status == SENDING)
                       .values(status=FAILED, last_error=error[:500], finished_at=utcnow())
                       .execution_options(synchronize_session=False))


def progress(m: StaffMessage) -> dict:
    """The progress bar's answer: {percent, status, done, total, label}."""
    return {"percent": m.percent, "status": m.status, "done": m.done,
            "total": m.recipients_total if m.recipients_total is not None else m.confirmed_count,
            "label": "Sent"}

