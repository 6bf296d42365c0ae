"""Flask-Login wiring for the browser faces: a user is signed in only through a live server-side session record
(app.auth.sessions) whose raw id the Flask session cookie carries. Face-level: it reads the Flask session and `g`,
which services never do."""
from __future__ import annotations

from flask import Flask, g, session

from app.auth import sessions as user_sessions
from app.auth.models import UserSession
from app.core.db import unit_of_work
from app.extensions import login_manager

SESSION_KEY = "sid"


def current_session() -> UserSession | None:
    """The UserSession record behind this request's login, if any."""
    return g.get("user_session")


def init_login(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        """A user is signed in only through a live server-side session record of theirs."""
        if not (user_id or "").isdigit():
            return None
        record = user_sessions.find_valid(session.get(SESSION_KEY))
        if record is None or record.user_id != int(user_id) or not record.user.is_active:
            return None
        if user_sessions.needs_touch(record):
            with unit_of_work():  # the last-seen time is committed at once, apart from what the request does
                user_sessions.touch(record)
        g.user_session = record
        return record.user
