"""Links that leave the site (mail, SMS, push, API answers) are built from the configured BASE_URL, never from the
request's Host header, which a client chooses. Works inside and outside a request (Celery tasks, the CLI)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app


def base_url() -> str:
    return str(current_app.config["BASE_URL"]).rstrip("/")


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint` under BASE_URL (scheme, host and any path prefix of it)."""
    parts = urlsplit(base_url())
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    return adapter.build(endpoint, values, force_external=True)


def is_own_url(url: str) -> bool:
    """Whether `url` points at this site (same scheme and host as BASE_URL)."""
    own, other = urlsplit(base_url()), urlsplit(url)
    return (other.scheme, other.netloc.lower()) == (own.scheme, own.netloc.lower())
