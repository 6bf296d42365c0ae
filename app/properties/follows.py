"""Investors following a property: told of each change of its status."""
from __future__ import annotations

from sqlalchemy import select

from app.auth.models import User
from app.extensions import db
from app.properties.models import Property, PropertyFollower


def follow(p: Property, user: User) -> None:
    exists = db.session.scalar(select(PropertyFollower.id).where(PropertyFollower.property_id == p.id,
                                                                 PropertyFollower.user_id == user.id))
    if exists is None:
        db.session.add(PropertyFollower(property_id=p.id, user_id=user.id))
        db.session.flush()


def unfollow(p: Property, user: User) -> None:
    db.session.execute(PropertyFollower.__table__.delete().where(PropertyFollower.property_id == p.id,
                                                                 PropertyFollower.user_id == user.id))


def is_following(property_id: int, user_id: int) -> bool:
    return db.session.scalar(select(PropertyFollower.id).where(PropertyFollower.property_id == property_id,
                                                               PropertyFollower.user_id == user_id)) is not None
