"""The support queue in the console: who sees and who acts (tickets.view / tickets.reply), the SLA flag and the
filters, a ticket's page with internal notes marked, support's actions audited, files opened audited, the export,
hostile text escaped, and pages whose query count does not grow with the rows."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.audit import AuditRecord
from app.core.db import unit_of_work, utcnow
from app.extensions import db
from app.notifications.models import Notification
from app.support import tickets as support
from app.support.models import Ticket, TicketAttachment
from tests.support import csrf_from, outbox

HOSTILE = '<script>alert("x")</script>'


def _form(client, ticket_id: int) -> str:
    return csrf_from(client.get(f"/admin/tickets/details/?id={ticket_id}").get_data(as_text=True))


def test_support_answers_notes_assigns_and_closes(client, make_user, login, open_ticket, support_user):
    investor = make_user()
    ticket = open_ticket(investor, with_file=True)
    login(support_user)
    queue = client.get("/admin/tickets/").get_data(as_text=True)
    assert "Where is my deposit?" in queue and investor.email in queue
    token = _form(client, ticket.id)
    base = f"/admin/tickets/{ticket.id}"
    assert client.post(f"{base}/note", data={"csrf_token": token, "body": "Bank file checked"}).status_code == 302
    client.post(f"{base}/reply", data={"csrf_token": token, "body": "It is in your wallet."})
    client.post(f"{base}/priority", data={"csrf_token": token, "priority": "high"})
    page = client.get(f"/admin/tickets/details/?id={ticket.id}").get_data(as_text=True)
    assert 'data-testid="internal-note"' in page and "Bank file checked" in page and "receipt.pdf" in page
    db.session.refresh(ticket)
    assert (ticket.status, ticket.priority, ticket.assignee_id) == ("answered", "high", support_user.id)
    assert db.session.scalars(select(Notification).where(Notification.user_id == investor.id,
                                                         Notification.event == "ticket_replied")).one()
    client.post(f"{base}/assign", data={"csrf_token": token, "assignee": ""})
    client.post(f"{base}/close", data={"csrf_token": token, "reason": ""})  # a reason is needed
    db.session.refresh(ticket)
    assert ticket.assignee_id is None and ticket.status == "answered"
    client.post(f"{base}/close", data={"csrf_token": token, "reason": "Solved"})
    db.session.refresh(ticket)
    assert ticket.status == "closed"
    client.post(f"{base}/reopen", data={"csrf_token": token, "reason": "Asked again by phone"})
    db.session.refresh(ticket)
    assert ticket.status == "open"
    actions = set(db.session.scalars(select(AuditRecord.action).where(AuditRecord.actor_id == support_user.id)))
    assert {"tickets.note", "tickets.replied", "tickets.priority", "tickets.assigned", "tickets.closed",
            "tickets.reopened"} <= actions

    attachment = db.session.scalars(select(TicketAttachment)).one()
    download = client.get(f"/admin/tickets/file/{attachment.id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert db.session.scalars(select(AuditRecord).where(AuditRecord.action == "tickets.attachment_viewed")).one()


def test_compliance_reads_but_cannot_act(client, make_user, login, open_ticket):
    ticket = open_ticket(make_user())
    login(make_user(role="compliance"))
    page = client.get(f"/admin/tickets/details/?id={ticket.id}")
    assert page.status_code == 200 and "Reading only" in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    for action in ("reply", "note", "assign", "priority", "close", "reopen"):
        response = client.post(f"/admin/tickets/{ticket.id}/{action}", data={"csrf_token": token, "body": "x",
                                                                            "reason": "x", "priority": "low"})
        assert response.status_code == 403, action
    db.session.refresh(ticket)
    assert (ticket.status, ticket.priority, ticket.message_count) == ("open", "normal", 1)


@pytest.mark.parametrize("role", ["finance", "property_manager", "investor"])
def test_others_do_not_see_the_queue(client, make_user, login, role):
    login(make_user(role=role))
    assert client.get("/admin/tickets/").status_code == 403


def test_the_sla_flag_and_the_filters(app, client, make_user, login, open_ticket, support_user, monkeypatch):
    late = open_ticket(make_user(), subject="Late one")
    mine = open_ticket(make_user(), subject="Mine")
    with unit_of_work():
        support.assign(support_user, mine, support_user.id)
        support.reply_as_staff(support_user, mine, body="Answered")
    login(support_user)
    assert f'data-testid="sla-{late.id}"' not in client.get("/admin/tickets/").get_data(as_text=True)
    later = utcnow() + timedelta(hours=app.config["SUPPORT_SLA_HOURS"] + 1)
    monkeypatch.setattr(support, "utcnow", lambda: later)
    html = client.get("/admin/tickets/").get_data(as_text=True)
    assert f'data-testid="sla-{late.id}"' in html and f'data-testid="sla-{mine.id}"' not in html

    def listed(query: str) -> set[str]:
        page = client.get(f"/admin/tickets/?{query}").get_data(as_text=True)
        return {s for s in ("Late one", "Mine") if s in page}

    assert listed("search=late") == {"Late one"}
    assert listed("search=Late+one") == {"Late one"} and listed("search=one") == set()  # by the subject's start
    assert listed(f"search={late.id}") == {"Late one"}
    filters = _filter_index(client)
    assert listed(f"flt0_{filters['Investor']}={late.user.email}") == {"Late one"}
    assert listed(f"flt0_{filters['SLA breached']}=yes") == {"Late one"}
    assert listed(f"flt0_{filters['Assignee']}=me") == {"Mine"}
    assert listed(f"flt0_{filters['Assignee']}=nobody") == {"Late one"}
    assert listed(f"flt0_{filters['Status']}=answered") == {"Mine"}


def _filter_index(client) -> dict[str, int]:
    """Each filter's index in the list's URL arguments, read from the view."""
    view = next(v for v in client.application.extensions["admin"][0]._views if v.endpoint == "tickets")
    return {str(flt.name): index for index, flt in enumerate(view._filters)}


def test_the_export_is_audited(client, make_user, login, open_ticket, support_user):
    open_ticket(make_user(), subject="=HYPERLINK(\"http://evil\")")
    login(support_user)
    response = client.get("/admin/tickets/export/csv/")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.startswith("id,subject,investor") and "'=HYPERLINK" in text
    assert db.session.scalars(select(AuditRecord).where(AuditRecord.action == "tickets.export")).one()


def test_hostile_text_is_escaped_in_the_console(client, make_user, login, open_ticket, support_user):
    ticket = open_ticket(make_user(), subject=HOSTILE, body=HOSTILE)
    with unit_of_work():
        support.add_note(support_user, ticket, body=HOSTILE)
    login(support_user)
    for url in ("/admin/tickets/", f"/admin/tickets/details/?id={ticket.id}"):
        html = client.get(url).get_data(as_text=True)
        assert HOSTILE not in html and "&lt;script&gt;" in html, url


def test_queue_and_ticket_pages_do_not_grow_queries_with_rows(client, make_user, login, open_ticket, support_user,
                                                                 count_queries):
    first = open_ticket(make_user(), with_file=True)
    login(support_user)
    first_id = first.id
    client.get(f"/admin/tickets/details/?id={first_id}")
    db.session.expire_all()  # each request reads from the database, as in production
    with count_queries() as few_list:
        assert client.get("/admin/tickets/").status_code == 200
    with count_queries() as few_page:
        assert client.get(f"/admin/tickets/details/?id={first_id}").status_code == 200
    for i in range(8):
        other = open_ticket(make_user(), subject=f"Ticket {i}", with_file=True)
        with unit_of_work():
            support.assign(support_user, other, support_user.id)
            support.reply_as_staff(support_user, first, body=f"Reply {i}")
            support.add_note(support_user, first, body=f"Note {i}")
            support.reply_as_investor(first.user, first, body=f"Question {i}", files=[])
    db.session.expire_all()
    with count_queries() as many_list:
        assert client.get("/admin/tickets/").status_code == 200
    with count_queries() as many_page:
        assert client.get(f"/admin/tickets/details/?id={first_id}").status_code == 200
    assert len(few_list) == len(many_list)
    assert len(few_page) == len(many_page)


def test_actions_need_csrf_and_a_known_ticket(client, make_user, login, open_ticket, support_user):
    ticket = open_ticket(make_user())
    login(support_user)
    assert client.post(f"/admin/tickets/{ticket.id}/reply", data={"body": "x"}).status_code == 400
    token = _form(client, ticket.id)
    assert client.post("/admin/tickets/999999/reply", data={"csrf_token": token, "body": "x"}).status_code == 404
    assert client.get("/admin/tickets/file/999999").status_code == 404
    assert db.session.get(Ticket, ticket.id).message_count == 1


def test_the_role_matrix_covers_the_queue_and_every_action(app):
    """tests/admin/test_admin_access.py walks every view and @requires action for every role; the queue and its six
    actions are among them with the permissions the table gives (compliance reads, support acts)."""
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "tickets")
    assert view.permission == "tickets.view"
    actions = {name: getattr(getattr(view, name), "required_permission", None) for _url, name, _m in view._urls}
    assert {name: p for name, p in actions.items() if p} == dict.fromkeys(
        ("reply", "note", "assign", "priority", "close", "reopen"), "tickets.reply")


def test_the_investor_is_told_by_mail_and_the_mail_keeps_hostile_text_inert(make_user, open_ticket, support_user):
    investor = make_user("ivy@example.com")
    ticket = open_ticket(investor, subject=HOSTILE)
    with unit_of_work():
        support.add_note(support_user, ticket, body="SECRET internal note")
        support.reply_as_staff(support_user, ticket, body="Answered")
    [mail] = outbox(to="ivy@example.com", event="ticket_replied")
    assert f"/support/{ticket.id}" in mail.body and "SECRET" not in mail.body + (mail.html or "")
    assert HOSTILE not in (mail.html or "")
