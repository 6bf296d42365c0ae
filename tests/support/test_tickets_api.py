"""The tickets API: the caller's own tickets only (404 otherwise), multipart with files checked like identity
documents (422 and nothing written when one is refused), internal notes never in an answer."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from app.core.db import unit_of_work
from app.extensions import db
from app.support import tickets as support
from app.support.models import Ticket, TicketAttachment
from tests.core import files


def _open(client, headers, **fields):
    data = {"subject": "Where is my deposit?", "category": "deposits", "message": "Sent on Monday.", **fields}
    return client.post("/api/v1/tickets", headers=headers, data=data, content_type="multipart/form-data")


def test_open_read_and_reply_through_the_api(client, make_user, token_for, support_user):
    investor = make_user()
    headers = token_for(investor)
    made = _open(client, headers, attachments=(io.BytesIO(files.png(30, 30)), "screenshot.png"))
    assert made.status_code == 201, made.get_json()
    data = made.get_json()["data"]
    assert (data["status"], data["category"], data["message_count"]) == ("open", "deposits", 1)
    [first] = data["messages"]
    assert first["from"] == "investor" and first["attachments"][0]["content_type"] == "image/png"
    download = client.get(first["attachments"][0]["url"], headers=headers)
    assert download.status_code == 200 and download.data.startswith(b"\x89PNG")

    ticket = db.session.get(Ticket, data["id"])
    with unit_of_work():
        support.add_note(support_user, ticket, body="SECRET internal note")
        support.reply_as_staff(support_user, ticket, body="It arrived.")
    one = client.get(f"/api/v1/tickets/{ticket.id}", headers=headers).get_json()["data"]
    assert [m["from"] for m in one["messages"]] == ["investor", "support"]
    assert "SECRET" not in str(one) and one["status"] == "answered" and one["message_count"] == 2
    listed = client.get("/api/v1/tickets", headers=headers).get_json()["data"]
    assert [t["id"] for t in listed] == [ticket.id] and "SECRET" not in str(listed)

    replied = client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=headers, data={"message": "Thanks"},
                          content_type="multipart/form-data")
    assert replied.status_code == 201 and replied.get_json()["data"]["status"] == "open"


def test_another_investors_ticket_is_404(client, make_user, token_for, open_ticket):
    ticket = open_ticket(make_user(), with_file=True)
    attachment = db.session.scalars(select(TicketAttachment)).one()
    stranger = token_for(make_user())
    assert client.get(f"/api/v1/tickets/{ticket.id}", headers=stranger).status_code == 404
    assert client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=stranger, data={"message": "x"},
                       content_type="multipart/form-data").status_code == 404
    assert client.get(f"/api/v1/tickets/{ticket.id}/attachments/{attachment.id}",
                      headers=stranger).status_code == 404
    assert client.get("/api/v1/tickets", headers=stranger).get_json()["data"] == []
    assert client.get(f"/api/v1/tickets/{ticket.id}").status_code == 401


def test_refused_files_are_422_and_nothing_is_written(client, make_user, token_for):
    headers = token_for(make_user())
    for data, name in ((files.svg(), "logo.png"), (files.encrypted_pdf(), "secret.pdf"),
                       (files.jpeg(), "photo.pdf")):
        response = _open(client, headers, attachments=[(io.BytesIO(files.png(8, 8)), "ok.png"),
                                                       (io.BytesIO(data), name)])
        assert response.status_code == 422, name
        body = response.get_json()
        assert body["status"] == "error" and body["errors"]["attachments"][0].startswith(f"{name}: ")
    too_many = [(io.BytesIO(files.png(8, 8)), f"p{i}.png") for i in range(4)]
    assert _open(client, headers, attachments=too_many).status_code == 422
    missing = _open(client, headers, message="", category="lottery")
    assert missing.status_code == 422 and set(missing.get_json()["errors"]) == {"message", "category"}
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 0
    assert db.session.scalar(select(func.count()).select_from(TicketAttachment)) == 0


def test_staff_tokens_open_no_tickets(client, make_user, token_for):
    assert _open(client, token_for(make_user(role="support"))).status_code == 403
