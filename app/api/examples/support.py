"""Examples of the support operations: Ana's ticket about a deposit, support's answer and her reply."""
from __future__ import annotations

from app.api.examples import success

ATTACHMENT = {"id": 31, "name": "transfer-receipt.pdf", "content_type": "application/pdf", "size": 48213,
              "url": "https://freehold.example/api/v1/tickets/7/attachments/31"}
FIRST = {"id": 101, "from": "investor", "body": "I sent USD 1,000.00 by bank transfer on Monday; it is not in my "
                                                "wallet yet. The receipt is attached.",
         "created_at": "2026-12-01T09:30:00+00:00", "attachments": [ATTACHMENT]}
ANSWER = {"id": 104, "from": "support", "body": "Thank you, Ana: the transfer arrived this morning and is in your "
                                                "wallet now.", "created_at": "2026-12-01T14:05:00+00:00",
          "attachments": []}
SUMMARY = {"id": 7, "subject": "Where is my deposit?", "category": "deposits", "status": "answered",
           "created_at": "2026-12-01T09:30:00+00:00", "last_message_at": "2026-12-01T14:05:00+00:00",
           "closed_at": None, "message_count": 2}
TICKET = {**SUMMARY, "messages": [FIRST, ANSWER]}
OPENED = {**SUMMARY, "status": "open", "last_message_at": "2026-12-01T09:30:00+00:00", "message_count": 1,
          "messages": [FIRST]}
TICKETS = success([SUMMARY])
OPEN_REQUEST = {"subject": "Where is my deposit?", "category": "deposits",
                "message": "I sent USD 1,000.00 by bank transfer on Monday; it is not in my wallet yet.",
                "attachments": "<file: transfer-receipt.pdf>"}
REPLY_REQUEST = {"message": "Thank you, I see it now.", "attachments": "<file (optional)>"}
REPLIED = {**TICKET, "status": "open", "last_message_at": "2026-12-01T15:00:00+00:00", "message_count": 3,
           "messages": [FIRST, ANSWER, {"id": 107, "from": "investor", "body": "Thank you, I see it now.",
                                        "created_at": "2026-12-01T15:00:00+00:00", "attachments": []}]}
