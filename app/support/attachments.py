"""Files attached to a ticket's messages, checked exactly as identity documents are: the size read no further than
the cap, a name that is not a path, the type decided by the content in a child process with memory and time limits
(app.core.uploads.clean_upload: images re-encoded without metadata, PDFs refused when damaged, encrypted or carrying
scripts, actions or embedded files). A name whose extension claims another type than the content is refused too.
Everything is checked before anything is written; files are stored last, and removed again if the write fails or
the transaction they belong to rolls back (a failure later in the same unit of work, or at commit)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.core.errors import ValidationError
from app.core.storage import get_storage, new_key
from app.core.uploads import CleanFile, UploadRejected, clean_upload, read_limited
from app.extensions import db
from app.kyc.submission import suspicious_filename
from app.support.models import NAME_MAX, TicketAttachment, TicketMessage

MAX_FILES = 3
MAX_BYTES = 10 * 1024 * 1024  # the same cap as identity documents
FIELD = "attachments"
# the extensions a name may carry for each kind the content can be
EXTENSIONS = {"image/jpeg": ("jpg", "jpeg"), "image/png": ("png",), "image/webp": ("webp",),
              "application/pdf": ("pdf",)}


@dataclass(frozen=True)
class Received:
    """A file part as received: the name the sender gave it and its bytes (size already capped)."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Checked:
    name: str
    clean: CleanFile


def receive(parts: Iterable) -> list[Received]:
    """The non-empty file parts of a request (werkzeug FileStorage), read no further than the cap; a refused one
    raises ValidationError under `attachments`."""
    received: list[Received] = []
    for part in parts:
        if part is None or not part.filename:
            continue
        if len(received) >= MAX_FILES:
            raise ValidationError("too many files", {FIELD: [_("Attach at most %(n)s files.", n=MAX_FILES)]})
        if suspicious_filename(part.filename):
            raise ValidationError("a file name is not acceptable", {FIELD: [_(
                "%(name)s: this file name is not acceptable: send the file itself, named plainly.",
                name=_shown(part.filename))]})
        try:
            data = read_limited(part.stream, MAX_BYTES)
        except UploadRejected as exc:
            raise ValidationError("a file is not acceptable", {FIELD: [f"{_shown(part.filename)}: {exc.message}"]}) \
                from None
        received.append(Received(part.filename, data))
    return received


def _shown(name: str) -> str:
    return "".join(ch for ch in name if ch.isprintable())[:NAME_MAX] or "file"


def check(files: list[Received]) -> list[Checked]:
    """Inspect every file (nothing is written); ValidationError naming each refused one."""
    if len(files) > MAX_FILES:
        raise ValidationError("too many files", {FIELD: [_("Attach at most %(n)s files.", n=MAX_FILES)]})
    problems: list[str] = []
    checked: list[Checked] = []
    for item in files:
        name = _shown(item.name)
        try:
            clean = clean_upload(item.data, max_bytes=MAX_BYTES)
        except UploadRejected as exc:
            problems.append(f"{name}: {exc.message}")
            continue
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else None
        if extension is not None and extension not in EXTENSIONS[clean.content_type]:
            problems.append(_("%(name)s: the name says .%(extension)s but the file is a %(kind)s: rename it or "
                              "send the right file.", name=name, extension=extension[:10],
                              kind=clean.extension.upper()))
            continue
        checked.append(Checked(name, clean))
    if problems:
        raise ValidationError("a file is not acceptable", {FIELD: problems})
    return checked


def store(message: TicketMessage, files: list[Checked], *, owner_id: int) -> list[TicketAttachment]:
    """Write the checked files to private storage and attach them to the message; on any failure the files
    written so far are deleted again (no stray file)."""
    storage = get_storage()
    written: list[str] = []
    rows = []
    try:
        for item in files:
            key = new_key(f"support/{owner_id}", item.clean.extension)
            storage.put(key, item.clean.data, item.clean.content_type)
            written.append(key)
            row = TicketAttachment(message_id=message.id, storage_key=key, name=item.name,
                                   content_type=item.clean.content_type, size=item.clean.size,
                                   sha256=item.clean.sha256)
            db.session.add(row)
            rows.append(row)
        db.session.flush()
    except Exception:
        for key in written:
            storage.delete(key)
        raise
    db.session().info.setdefault(_WRITTEN, []).extend(written)
    return rows


# files written in a transaction that rolls back are deleted: their rows are gone, the files would be strays
_WRITTEN = "support.attachments.written"


def _committed(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


def _rolled_back(session: Session) -> None:
    keys = session.info.pop(_WRITTEN, None)
    if keys:
        storage = get_storage()
        for key in keys:
            storage.delete(key)


event.listen(Session, "after_commit", _committed)
event.listen(Session, "after_rollback", _rolled_back)
