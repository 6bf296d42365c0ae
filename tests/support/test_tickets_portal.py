"""The investor's Support pages: their own tickets only, a new ticket with a file, the conversation without
support's internal notes, refused files as a form message with nothing written, hostile text escaped, and pages
whose query count does not grow with the conversation."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from app.core.db import unit_of_work
from app.extensions import db
from app.support import tickets as support
from app.support.models import Ticket, TicketAttachment
from tests.core import files
from tests.support import csrf_from

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _new(client, **fields):
    token = csrf_from(client.get("/support/new").get_data(as_text=True))
    data = {"csrf_token": token, "subject": "Where is my deposit?", "category": "deposits",
            "body": "I sent it on Monday.", **fields}
    return client.post("/support/new", data=data, content_type="multipart/form-data")


def test_an_investor_opens_a_ticket_with_a_file_and_reads_the_answer(client, make_user, login, support_user):
    investor = make_user()
    login(investor)
    assert 'data-testid="support-link"' in client.get("/").get_data(as_text=True)
    response = _new(client, attachments=(io.BytesIO(files.minimal_pdf()), "receipt.pdf"))
    assert response.status_code == 302
    ticket = db.session.scalars(select(Ticket).where(Ticket.user_id == investor.id)).one()
    assert response.headers["Location"] == f"/support/{ticket.id}"
    with unit_of_work():
        support.add_note(support_user, ticket, body="SECRET internal: check the bank file")
        support.reply_as_staff(support_user, ticket, body="It is in your wallet now.")
    page = client.get(f"/support/{ticket.id}").get_data(as_text=True)
    assert "It is in your wallet now." in page and "receipt.pdf" in page
    assert "SECRET internal" not in page
    assert "SECRET internal" not in client.get("/support").get_data(as_text=True)
    attachment = db.session.scalars(select(TicketAttachment)).one()
    download = client.get(f"/support/files/{attachment.id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert download.headers["X-Content-Type-Options"] == "nosniff"

    token = csrf_from(page)
    reply = client.post(f"/support/{ticket.id}/reply", data={"csrf_token": token, "body": "Thanks!"},
                        follow_redirects=True)
    assert "Thanks!" in reply.get_data(as_text=True)
    db.session.refresh(ticket)
    assert ticket.status == "open"


def test_another_investors_ticket_and_files_are_404(client, make_user, login, open_ticket):
    ticket = open_ticket(make_user(), with_file=True)
    attachment = db.session.scalars(select(TicketAttachment)).one()
    login(make_user())
    assert client.get(f"/support/{ticket.id}").status_code == 404
    assert client.get(f"/support/files/{attachment.id}").status_code == 404
    token = csrf_from(client.get("/support").get_data(as_text=True))
    assert client.post(f"/support/{ticket.id}/reply", data={"csrf_token": token, "body": "x"}).status_code == 404
    assert client.get("/support/999999").status_code == 404


def test_a_refused_file_is_a_form_message_and_nothing_is_written(client, make_user, login):
    login(make_user())
    response = _new(client, attachments=(io.BytesIO(files.png(20, 20)), "invoice.pdf"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "the name says .pdf but the file is a PNG" in html
    assert 'value="Where is my deposit?"' in html  # what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    response = _new(client, attachments=(io.BytesIO(files.pdf_with_launch()), "form.pdf"))
    assert response.status_code == 422 and db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    assert _new(client, subject="", category="nope", body="").status_code == 422


def test_forms_need_csrf(client, make_user, login, open_ticket):
    investor = make_user()
    ticket = open_ticket(investor)
    login(investor)
    assert client.post("/support/new", data={"subject": "x", "category": "other", "body": "y"}).status_code == 400
    assert client.post(f"/support/{ticket.id}/reply", data={"body": "y"}).status_code == 400


def test_hostile_text_is_escaped(client, make_user, login, open_ticket, support_user):
    investor = make_user()
    ticket = open_ticket(investor, subject=HOSTILE[:150], body=HOSTILE)
    with unit_of_work():
        support.reply_as_staff(support_user, ticket, body=HOSTILE)
    login(investor)
    for url in ("/support", f"/support/{ticket.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "onerror=alert(1)>" not in html, url
        assert "&lt;script&gt;" in html, url


def test_support_pages_do_not_grow_queries_with_messages(client, make_user, login, open_ticket, support_user,
                                                         count_queries):
    investor = make_user()
    ticket = open_ticket(investor, with_file=True)
    login(investor)
    ticket_id = ticket.id
    client.get(f"/support/{ticket_id}")
    db.session.expire_all()  # each request reads from the database, as in production
    with count_queries() as few_page:
        assert client.get(f"/support/{ticket_id}").status_code == 200
    with count_queries() as few_list:
        assert client.get("/support").status_code == 200
    ticket = db.session.get(Ticket, ticket_id)
    for i in range(6):
        open_ticket(investor, subject=f"Another {i}", with_file=True)
        with unit_of_work():
            support.reply_as_staff(support_user, ticket, body=f"Answer {i}")
            support.add_note(support_user, ticket, body=f"Note {i}")
            support.reply_as_investor(investor, ticket, body=f"Question {i}")
    db.session.expire_all()
    with count_queries() as many_page:
        assert client.get(f"/support/{ticket_id}").status_code == 200
    with count_queries() as many_list:
        assert client.get("/support").status_code == 200
    assert len(few_page) == len(many_page)
    assert len(few_list) == len(many_list)


def test_a_refused_file_is_explained_in_the_investors_language(client, make_user, login):
    investor = make_user()
    with unit_of_work():
        db.session.get(type(investor), investor.id).locale = "es"
    login(investor)
    response = _new(client, attachments=(io.BytesIO(files.pdf_with_launch()), "form.pdf"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'lang="es"' in html
    assert "Este PDF contiene scripts o acciones automáticas y no puede aceptarse." in html
    assert "cannot be accepted" not in html
    response = _new(client, attachments=(io.BytesIO(b""), "empty.pdf"))
    assert "Este archivo está vacío." in response.get_data(as_text=True)
