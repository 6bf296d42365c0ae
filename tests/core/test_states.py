"""The one conditional state change: only allowed moves, and exactly one of two racing movers wins."""
import pytest
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from app.core.db import utcnow
from app.core.errors import Conflict, IllegalTransition
from app.core.states import transition
from app.extensions import db
from app.properties.models import Property

MOVES = {"requested": ("approved", "rejected"), "approved": ("paid",), "rejected": ()}


class Row:
    """Stands for a mapped row in the refusal checked before any SQL."""

    def __init__(self, status):
        self.status, self.id = status, 1


def test_a_move_the_machine_does_not_allow_is_refused_before_any_sql():
    with pytest.raises(IllegalTransition, match="payout #1 is rejected: it cannot become paid"):
        transition(Row("rejected"), "paid", MOVES, what="payout #1")


def test_the_row_moves_with_its_stamps_and_the_loser_of_a_race_is_told(make_property):
    prop = make_property(publish=False)
    moves = {"draft": ("active", "cancelled"), "active": ("funded",)}
    before = prop.updated_at
    assert transition(prop, "cancelled", moves, what="the property", closed_at=utcnow()) == "draft"
    assert prop.status == "cancelled" and prop.closed_at is not None and prop.updated_at >= before

    other = make_property(publish=False)
    stale = other.status
    # another request moves the row first; this object still says draft
    db.session.execute(update(Property).where(Property.id == other.id).values(status="active")
                       .execution_options(synchronize_session=False))
    set_committed_value(other, "status", stale)
    with pytest.raises(Conflict, match="the property is active now"):
        transition(other, "cancelled", moves, what="the property")
    assert other.status == "active"
