"""What properties tell the domains above them: cancellation and the investments question, through signals."""
import pytest
from sqlalchemy import select

from app.core.errors import Conflict
from app.extensions import db
from app.properties import services as properties
from app.properties.models import Property
from app.properties.signals import property_cancelled


def test_cancel_tells_the_receivers_in_the_same_unit_of_work(make_property, manager):
    p = make_property()
    heard = []

    def receiver(sender, **kwargs):
        heard.append((sender.id, sender.status, kwargs["actor"].id, kwargs["reason"]))

    with property_cancelled.connected_to(receiver):
        properties.cancel(p, actor=manager, reason="  Sponsor withdrew. ")
    assert heard == [(p.id, "cancelled", manager.id, "Sponsor withdrew.")]


def test_a_receiver_that_refuses_refuses_the_cancellation(make_property, manager):
    p = make_property()

    def refuse(sender, **kwargs):
        raise Conflict("the refunds cannot be made now")

    with property_cancelled.connected_to(refuse), pytest.raises(Conflict, match="refunds"):
        properties.cancel(p, actor=manager, reason="Sponsor withdrew.")
    db.session.rollback()
    assert db.session.scalar(select(Property.status).where(Property.id == p.id)) == "active"
