"""Languages (Flask-Babel): the portal, its forms and the investor's messages speak the investor's language, the
one stored on their account, else the best match of the browser's Accept-Language, else English. The console stays
in English. Catalogues live under app/translations/<locale>/LC_MESSAGES/messages.po."""
from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel, gettext
from flask_login import current_user

babel = Babel()


def N_(text: str) -> str:
    """Marks an English sentence for the catalogues (pybabel's N_ keyword); it is translated where it is shown."""
    return text


def in_request_language(text: str, **params: Any) -> str:
    """An English sentence (a msgid, with its %(name)s values) in the language of the request reading it: the
    catalogue's translation when it has one, the sentence itself otherwise; outside a request (workers, the CLI,
    logs) English. Services and checks raise in English; their errors read their sentences through this."""
    if text and has_request_context():
        return str(gettext(text, **params))
    return text % params if params else text


def languages() -> tuple[str, ...]:
    return tuple(current_app.config.get("LANGUAGES", ("en",)))


def select_locale() -> str:
    if not has_request_context():
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    if request.path.startswith("/admin"):
        return "en"
    chosen = getattr(current_user, "locale", None) if current_user else None
    if chosen in languages():
        return str(chosen)
    return str(request.accept_languages.best_match(languages()) or current_app.config["BABEL_DEFAULT_LOCALE"])


def init_i18n(app: Flask) -> None:
    compile_catalogues(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
    # {% trans %} blocks are "trimmed": line breaks and indentation inside them collapse to single spaces, so a
    # message's id does not depend on how the template is indented (pybabel extract: the same option)
    app.jinja_env.policies["ext.i18n.trimmed"] = True


def compile_catalogues(app: Flask) -> None:
    """Writes each catalogue's .mo beside its .po when it is missing or older (the .po files are the source; the
    .mo files are not kept in the repository). Written to a temporary name, then renamed: processes starting
    together never read half a file."""
    import os  # only at start-up
    import tempfile  # only at start-up
    from pathlib import Path  # only at start-up

    from babel.messages.mofile import write_mo  # only at start-up
    from babel.messages.pofile import read_po  # only at start-up

    root = Path(app.root_path) / "translations"
    for po in root.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as handle:
            catalogue = read_po(handle, locale=po.parent.parent.name)
        fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalogue)
        os.replace(tmp, mo)
