"""The kind of device a sign-in came from: the classifier in Python and in SQL agree."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.devices import API, DESKTOP, MOBILE, TABLET, UNKNOWN, classify, device_of
from app.auth.models import LoginAttempt
from app.core.db import unit_of_work
from app.extensions import db

AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
     "portal", DESKTOP),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Version/17.2 Safari/605.1.15", "portal",
     DESKTOP),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "portal", DESKTOP),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", "portal", DESKTOP),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "portal", MOBILE),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", "portal",
     MOBILE),
    ("Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "portal", TABLET),
    ("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", "portal", TABLET),
    ("Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 Silk/120.1 like Chrome Safari/537.36", "portal",
     TABLET),
    ("FreeholdApp/2.3 (iPhone; iOS 17.2)", "api", API),
    ("python-requests/2.31", "api", API),
    ("curl/8.4.0", "portal", UNKNOWN),
    ("", "portal", UNKNOWN),
    (None, "portal", UNKNOWN),
]


@pytest.mark.parametrize(("agent", "channel", "device"), AGENTS)
def test_classify(agent, channel, device):
    assert classify(agent, channel) == device


def test_the_database_classifies_as_python_does(app):
    with unit_of_work():
        for n, (agent, channel, _device) in enumerate(AGENTS):
            db.session.add(LoginAttempt(email=f"d{n}@example.com", user_agent=agent, channel=channel, success=True,
                                        reason="ok"))
    rows = db.session.execute(select(LoginAttempt.email, device_of(LoginAttempt.user_agent, LoginAttempt.channel))
                              .order_by(LoginAttempt.id)).all()
    assert [device for _email, device in rows] == [device for _a, _c, device in AGENTS]
