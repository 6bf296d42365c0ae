"""Shared set-up for the ticket tests: an investor's ticket, files as a browser or client sends them."""
from __future__ import annotations

import io

import pytest
from werkzeug.datastructures import FileStorage

from app.core.db import unit_of_work
from app.support import attachments
from app.support import tickets as support
from tests.core import files


def part(data: bytes, name: str) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


def _received(*parts: tuple[bytes, str]) -> list[attachments.Received]:
    return attachments.receive([part(data, name) for data, name in parts])


def _open(user, *, subject="Where is my deposit?", category="deposits", body="I sent it on Monday.",
          with_file: bool = False):
    extra = _received((files.minimal_pdf(), "receipt.pdf")) if with_file else []
    with unit_of_work():
        return support.open_ticket(user, subject=subject, category=category, body=body, files=extra)


@pytest.fixture
def received():
    """received((bytes, name), ...) -> the files as the service receives them from a request."""
    return _received


@pytest.fixture
def open_ticket(app):
    """open_ticket(investor, subject=..., with_file=True) -> a committed ticket."""
    return _open


@pytest.fixture
def support_user(make_user):
    return make_user("helpdesk@example.com", role="support")
