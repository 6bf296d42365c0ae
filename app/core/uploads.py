"""Deciding what an uploaded document really is, and making it safe to keep and show.

The type comes from the content (magic bytes, then a full decode), never from the file name or the declared type.
Images are decoded under a pixel limit checked before decoding, turned upright, and re-encoded in the same format
without metadata (EXIF, XMP, ICC, comments: no GPS position survives). PDFs are parsed and refused when encrypted,
too long, too complex, or when they carry scripts, automatic actions, embedded files or rich media; accepted PDFs
are kept byte for byte.

Decoding and parsing (`app.core.upload_checks`) run in a child process with a memory limit and a time limit
(`app.core.child`): a file made to exhaust memory or loop costs that child, and the upload is refused as one that
could not be checked.
"""
from __future__ import annotations

from typing import IO

from flask import current_app, has_app_context

from app.core import child, upload_checks
from app.core.i18n import N_
from app.core.upload_checks import KINDS, Caps, CleanFile, UploadRejected, not_allowed

__all__ = ["KINDS", "CleanFile", "UploadRejected", "clean_upload", "read_limited", "sniff"]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_CHECK_MEMORY_MB = 1024
DEFAULT_CHECK_SECONDS = 20
PDF_HEADER_WINDOW = 1024
UNCHECKED = N_("This file could not be checked: reading it takes too long or too much memory. "
               "Please send a smaller or simpler file.")
# the function the child runs; tests point it at one that misbehaves
CHECKER = upload_checks.inspect


def _megabytes(max_bytes: int) -> str:
    mb = max_bytes / (1024 * 1024)
    return f"{mb:g} MB" if mb >= 1 else f"{max(1, round(max_bytes / 1024))} KB"


def _too_large(max_bytes: int) -> UploadRejected:
    return UploadRejected(N_("This file is larger than %(size)s."), "too_large", {"size": _megabytes(max_bytes)})


def read_limited(stream: IO[bytes], max_bytes: int) -> bytes:
    """Read a file-like object, never more than max_bytes + 1 bytes; UploadRejected when it is larger."""
    chunks, total = [], 0
    while total <= max_bytes:
        chunk = stream.read(min(1024 * 1024, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > max_bytes:
        raise _too_large(max_bytes)
    return b"".join(chunks)


def sniff(data: bytes) -> str | None:
    """The kind the content claims by its magic bytes ("jpeg", "png", "webp", "pdf"), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    start = data.find(b"%PDF-", 0, PDF_HEADER_WINDOW)
    # readers tolerate junk before the header; markup there would make an HTML/PDF polyglot, kept as is
    if start >= 0 and data[start + 5:start + 7] in (b"1.", b"2.") and b"<" not in data[:start]:
        return "pdf"
    return None


def _setting(name: str, default: int) -> int:
    if has_app_context():
        return int(current_app.config.get(name) or default)
    return default


def caps() -> Caps:
    """The configured limits on what one file may hold."""
    return Caps(max_pixels=_setting("UPLOAD_MAX_PIXELS", upload_checks.DEFAULT_MAX_PIXELS),
                max_pages=_setting("UPLOAD_MAX_PDF_PAGES", upload_checks.DEFAULT_MAX_PAGES),
                max_objects=_setting("UPLOAD_MAX_PDF_OBJECTS", upload_checks.DEFAULT_MAX_OBJECTS))


def check_limits() -> child.Limits:
    """The child's memory (MB) and time (seconds, CPU and wall clock) for checking one file."""
    seconds = _setting("UPLOAD_CHECK_SECONDS", DEFAULT_CHECK_SECONDS)
    return child.Limits(memory_bytes=_setting("UPLOAD_CHECK_MEMORY_MB", DEFAULT_CHECK_MEMORY_MB) * 1024 * 1024,
                        cpu_seconds=seconds, wall_seconds=float(seconds))


def clean_upload(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 allowed: tuple[str, ...] = ("jpeg", "png", "webp", "pdf")) -> CleanFile:
    """Decide what the bytes are and return a safe copy, or raise UploadRejected (code "unchecked" when the check
    ran out of time or memory)."""
    unknown = set(allowed) - set(KINDS)
    if unknown or not allowed:
        raise ValueError(f"allowed must be a non-empty subset of {KINDS}, not {allowed!r}")
    data = bytes(data)
    if not data:
        raise UploadRejected(N_("This file is empty."), "empty")
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    kind = sniff(data)
    if kind is None or kind not in allowed:
        raise not_allowed(allowed)
    try:
        return child.run(CHECKER, data, kind, caps(), limits=check_limits())
    except child.ChildFailed:
        raise UploadRejected(UNCHECKED, "unchecked") from None
