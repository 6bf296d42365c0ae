"""What staff may put in a template override. Security messages (the catalogue's `security` and `secret` events:
verification, password reset, security notices, lockouts, a new payout account) cannot be overridden at all; any
other override may not point anywhere but this site: every link, image, form target, style URL and bare address in
its text must be on BASE_URL's host. The rules are checked when an override is saved (on its source and rendered
with the event's sample data) and again on every real render, where an override that breaks them is set aside for
the file templates."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from app.core.urls import base_url
from app.notifications import catalogue

URL_ATTRIBUTES = frozenset({"href", "src", "srcset", "action", "formaction", "background", "poster", "data", "cite",
                            "longdesc", "lowsrc", "dynsrc", "manifest", "ping", "codebase", "archive", "usemap",
                            "icon", "xlink:href", "imagesrcset"})
# addresses written out in text: a scheme with //, a protocol-relative //host, www.host, or a script/data scheme
TEXT_URL = re.compile(r"(?i)(?:\b[a-z][a-z0-9+.-]*:)?//[^\s<>\"'()\[\]{}]+|\bwww\.[^\s<>\"'()\[\]{}]+")
ACTIVE_SCHEME = re.compile(r"(?i)\b(?:javascript|vbscript|data)\s*:")
CSS_URL = re.compile(r"(?i)url\(\s*['\"]?([^'\")]*)|@import\s+['\"]([^'\"]+)")
REFRESH_URL = re.compile(r"(?i)url\s*=\s*['\"]?([^'\";\s]+)")


class TemplateRefused(Exception):
    """An override staff may not save; the message says why, for the form."""


def _own_host() -> str:
    return (urlsplit(base_url()).hostname or "").lower()


def foreign(url: str) -> bool:
    """Whether `url` leads anywhere but this site (a path on it, or an absolute http(s) URL on BASE_URL's host)."""
    url = url.strip()
    if not url or "{{" in url or "{%" in url:
        return False  # a template expression: what it renders to is checked on the rendered text
    if url.lower().startswith("www."):
        url = "http://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    if not parts.scheme and not parts.netloc:
        return bool(ACTIVE_SCHEME.match(url))  # a path on this site (or a fragment)
    if parts.scheme and parts.scheme.lower() not in ("http", "https"):
        return True  # mailto:, javascript:, data:, ftp: ...
    return (parts.hostname or "").lower() != _own_host()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            name = name.lower()
            if name.endswith("srcset"):
                self.urls.extend(part.strip().split(" ")[0] for part in value.split(","))
            elif name in URL_ATTRIBUTES:
                self.urls.append(value)
            elif name == "style":
                self.urls.extend(_css_urls(value))
            elif name == "content" and tag == "meta":
                self.urls.extend(REFRESH_URL.findall(value))
            self.urls.extend(_text_urls(value))

    def handle_endtag(self, tag: str) -> None:
        self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            self.urls.extend(_css_urls(data))
        self.urls.extend(_text_urls(data))


def _css_urls(css: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(css)]


def _text_urls(text: str) -> list[str]:
    found = TEXT_URL.findall(text)
    found.extend(match.group(0) for match in ACTIVE_SCHEME.finditer(text))
    return found


def urls_in(text: str | None, *, html: bool = False) -> list[str]:
    """Every address a reader could follow or a client could load from `text`."""
    if not text:
        return []
    if not html:
        return _text_urls(text)
    parser = _Links()
    parser.feed(text)
    parser.close()
    return parser.urls + _text_urls(text)


def foreign_urls(*, subject: str | None, body: str | None, html: str | None) -> list[str]:
    found = [*urls_in(subject), *urls_in(body), *urls_in(html, html=True)]
    return sorted({url for url in found if foreign(url)})


def check_event(event: str) -> None:
    spec = catalogue.EVENTS.get(event)
    if spec is None:
        raise TemplateRefused("Unknown event.")
    if spec.locked:
        raise TemplateRefused(f"{event} is a security message: its templates cannot be overridden.")


def check_links(*, subject: str | None, body: str | None, html: str | None) -> None:
    bad = foreign_urls(subject=subject, body=body, html=html)
    if bad:
        raise TemplateRefused(f"Links, images and addresses may only point at {_own_host()}; this template has: "
                              f"{', '.join(bad)[:300]}.")
