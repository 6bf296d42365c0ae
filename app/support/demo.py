"""Demo tickets: the demo investor asked about a bank transfer (answered by support, with a note) and about the
market (still waiting). Made through the service; idempotent: nothing is added once the investor has tickets."""
from __future__ import annotations

from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from app.support import tickets
from app.support.models import Ticket


def seed_tickets(investor: User | None, agent: User | None) -> None:
    if investor is None or agent is None:
        return
    if db.session.scalar(select(Ticket.id).where(Ticket.user_id == investor.id).limit(1)) is not None:
        return
    asked = tickets.open_ticket(investor, subject="My bank transfer is not in my wallet yet", category="deposits",
                                body="I sent USD 1,000.00 by bank transfer on Monday with the reference shown on "
                                     "the deposit page. When will it arrive?")
    tickets.add_note(agent, asked, body="Matched it in today's bank statement; booked by finance.")
    tickets.reply_as_staff(agent, asked, body="Hello Iris, your transfer arrived this morning and is in your "
                                              "wallet now. Thank you for your patience.")
    tickets.open_ticket(investor, subject="How are market fees calculated?", category="market",
                        body="If I sell 5 units of Northgate at USD 101.50, what is the fee?")
