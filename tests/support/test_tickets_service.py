"""Tickets as a service: what an investor and support may do, the states, the SLA flag, attachments refused like
identity documents with nothing written, and every staff action audited."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationError
from app.core.storage import get_storage
from app.extensions import db
from app.notifications.models import Notification
from app.support import tickets as support
from app.support.models import Ticket, TicketAttachment, TicketMessage
from tests.core import files


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _stored_files() -> int:
    root = get_storage().path_for("support")
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def test_an_investor_opens_a_ticket_with_a_file_and_support_answers(make_user, support_user, open_ticket):
    investor = make_user()
    ticket = open_ticket(investor, with_file=True)
    assert (ticket.status, ticket.priority, ticket.message_count) == ("open", "normal", 1)
    assert ticket.waiting_since is not None
    [first] = support.conversation(ticket)
    assert first.attachments[0].content_type == "application/pdf" and first.attachments[0].name == "receipt.pdf"
    assert get_storage().exists(first.attachments[0].storage_key)
    alert = db.session.scalars(select(Notification).where(Notification.user_id == support_user.id)).one()
    assert alert.event == "ticket_opened_staff" and alert.link.endswith(f"/admin/tickets/details/?id={ticket.id}")

    with unit_of_work():
        support.add_note(support_user, ticket, body="Checked the bank file: not there yet.")
        support.reply_as_staff(support_user, ticket, body="It arrived this morning.")
    db.session.refresh(ticket)
    assert (ticket.status, ticket.waiting_since, ticket.assignee_id) == ("answered", None, support_user.id)
    seen = [m.body for m in support.conversation(ticket)]
    assert seen == ["I sent it on Monday.", "It arrived this morning."]  # the note stays with staff
    assert len(support.conversation(ticket, staff=True)) == 3
    notice = db.session.scalars(select(Notification).where(Notification.user_id == investor.id,
                                                           Notification.event == "ticket_replied")).one()
    assert "Checked the bank file" not in str(notice.context)
    assert notice.link.endswith(f"/support/{ticket.id}")

    with unit_of_work():
        support.reply_as_investor(investor, ticket, body="Thank you!", files=[])
    db.session.refresh(ticket)
    assert ticket.status == "open" and ticket.waiting_since is not None


def test_another_investors_ticket_is_not_found(make_user, open_ticket):
    owner, other = make_user(), make_user()
    ticket = open_ticket(owner, with_file=True)
    with pytest.raises(NotFound):
        support.ticket_of(other, ticket.id)
    with pytest.raises(NotFound):
        support.reply_as_investor(other, ticket, body="mine now")
    attachment_id = support.conversation(ticket)[0].attachments[0].id
    with pytest.raises(NotFound):
        support.attachment_for_owner(other, attachment_id)
    assert support.attachment_for_owner(owner, attachment_id).id == attachment_id


@pytest.mark.parametrize(("data", "name", "says"), [
    (files.html_as_jpeg(), "photo.jpg", "not a JPEG, PNG, WebP or PDF"),
    (files.png(20, 20), "invoice.pdf", "the name says .pdf but the file is a PNG"),
    (files.broken_pdf(), "statement.pdf", "damaged"),
    (files.pdf_with_open_action_js(), "form.pdf", "script"),
])
def test_refused_files_leave_no_ticket_and_no_file(make_user, received, data, name, says):
    investor = make_user()
    before = (_count(Ticket), _count(TicketMessage), _count(TicketAttachment), _stored_files())
    with pytest.raises(ValidationError) as caught, unit_of_work():
        support.open_ticket(investor, subject="Help", category="other", body="See attached.",
                            files=received((files.png(10, 10), "fine.png"), (data, name)))
    [problem] = caught.value.errors["attachments"]
    assert problem.startswith(f"{name}: ") and says.lower() in problem.lower(), problem
    assert (_count(Ticket), _count(TicketMessage), _count(TicketAttachment), _stored_files()) == before


def test_too_large_files_are_refused_while_reading(received):
    with pytest.raises(ValidationError) as caught:
        received((files.blob(), "big.pdf"))
    assert "larger than 10 MB" in caught.value.errors["attachments"][0]


def test_at_most_three_files_and_no_paths_in_names(received):
    with pytest.raises(ValidationError):
        received(*[(files.png(8, 8), f"p{i}.png") for i in range(4)])
    with pytest.raises(ValidationError):
        received((files.png(8, 8), "../../etc/passwd.png"))


def test_fields_are_checked_together(make_user):
    with pytest.raises(ValidationError) as caught:
        support.open_ticket(make_user(), subject=" ", category="lottery", body="x" * 5001)
    assert set(caught.value.errors) == {"subject", "category", "body"}


def test_staff_have_no_tickets_and_nobody_acts_on_their_own(make_user, support_user, open_ticket):
    with pytest.raises(Forbidden):
        support.open_ticket(support_user, subject="Me", category="other", body="Hi")
    investor = make_user()
    ticket = open_ticket(investor)
    with pytest.raises(Forbidden):
        support.reply_as_staff(investor, ticket, body="I answer myself")
    compliance = make_user(role="compliance")
    with pytest.raises(Forbidden):
        support.add_note(compliance, ticket, body="compliance may only read")


def test_close_reopen_assign_priority_are_audited(make_user, support_user, open_ticket):
    ticket = open_ticket(make_user())
    with unit_of_work():
        support.assign(support_user, ticket, support_user.id)
        support.set_priority(support_user, ticket, "urgent")
        support.close(support_user, ticket, reason="Solved on the phone")
    assert (ticket.status, ticket.priority, ticket.waiting_since) == ("closed", "urgent", None)
    with pytest.raises(Conflict):
        support.reply_as_staff(support_user, ticket, body="after closing")
    with pytest.raises(ValidationError):
        support.reopen(support_user, ticket, reason="")
    with unit_of_work():
        support.reopen(support_user, ticket, reason="The investor called back")
    assert ticket.status == "open" and ticket.closed_at is None
    actions = db.session.scalars(select(AuditRecord.action).where(AuditRecord.target_id == str(ticket.id))).all()
    assert {"tickets.opened", "tickets.assigned", "tickets.priority", "tickets.closed", "tickets.reopened"} <= set(
        actions)
    with pytest.raises(ValidationError):
        support.assign(support_user, ticket, make_user(role="compliance").id)  # cannot answer tickets


def test_an_investor_reply_reopens_a_recently_closed_ticket_only(make_user, support_user, open_ticket, monkeypatch):
    investor = make_user()
    ticket = open_ticket(investor)
    with unit_of_work():
        support.close(support_user, ticket, reason="Solved")
    with unit_of_work():
        support.reply_as_investor(investor, ticket, body="Not solved after all")
    assert ticket.status == "open"
    with unit_of_work():
        support.close(support_user, ticket, reason="Solved now")
    later = utcnow() + timedelta(days=support.REOPEN_DAYS + 1)
    monkeypatch.setattr(support, "utcnow", lambda: later)
    with pytest.raises(Conflict):
        support.reply_as_investor(investor, ticket, body="One more thing")


def test_the_sla_flag_comes_from_the_database_as_the_clock_moves(app, make_user, support_user, open_ticket,
                                                                 monkeypatch):
    waiting = open_ticket(make_user())
    answered = open_ticket(make_user())
    with unit_of_work():
        support.reply_as_staff(support_user, answered, body="Done")

    def breached() -> set[int]:
        query = select(Ticket.id).where(support.breached_clause())
        return set(db.session.scalars(query))

    assert breached() == set()
    later = utcnow() + timedelta(hours=app.config["SUPPORT_SLA_HOURS"] + 1)
    monkeypatch.setattr(support, "utcnow", lambda: later)
    assert breached() == {waiting.id}


def test_files_of_a_unit_of_work_that_rolls_back_are_deleted(make_user, received):
    investor = make_user()
    before = _stored_files()
    with pytest.raises(RuntimeError), unit_of_work():
        support.open_ticket(investor, subject="Help", category="other", body="See attached.",
                            files=received((files.png(10, 10), "fine.png")))
        assert _stored_files() == before + 1
        raise RuntimeError("something later in the same request failed")
    assert _stored_files() == before and _count(Ticket) == 0
    with unit_of_work():
        support.open_ticket(investor, subject="Help", category="other", body="See attached.",
                            files=received((files.png(10, 10), "fine.png")))
    assert _stored_files() == before + 1 and _count(Ticket) == 1
