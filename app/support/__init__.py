"""Support's work with investors: tickets (a conversation with attachments, a staff queue with an SLA) and messages
staff send to one investor or a segment of them."""
