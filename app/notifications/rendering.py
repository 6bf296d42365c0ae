"""Templates per event and channel: files under templates/ (trusted, part of the code) unless staff have saved an
override in the console, which renders in an immutable sandbox with nothing but the event's plain context, and
limits on what it may compute (app/notifications/sandbox.py). Previews and saves render in a child process with a
time budget (`render_isolated`).

Languages: a message is rendered in its recipient's language (`render(..., locale=user.locale)` runs inside
flask_babel.force_locale, with or without a request, in tasks too). The file templates of investor messages have
every text in gettext (`{% trans %}` blocks, `_()`); amounts reach them as Money (formatted with Money.local() in
that language) or as a decimal string and a currency (the `local_amount` filter). Staff messages are rendered in
English whatever the recipient's language, amounts with Money.display(), as the console speaks English. A staff
override is written in one language and applies to every locale."""
from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass

from flask import current_app
from flask_babel import force_locale
from jinja2 import FunctionLoader, TemplateNotFound
from sqlalchemy import select

from app.core import child
from app.core.money import Money, MoneyError
from app.extensions import db
from app.notifications import catalogue, sandbox, template_rules
from app.notifications.models import EMAIL, IN_APP, PUSH, SMS, NotificationTemplate

log = logging.getLogger(__name__)
_SPACES = re.compile(r"[^\S\u00a0\u202f]+")

# files per channel: (subject or title, body, html)
FILES = {
    EMAIL: ("email/{event}.subject.txt", "email/{event}.txt", "email/{event}.html"),
    IN_APP: ("in_app/{event}.title.txt", "in_app/{event}.txt", None),
    SMS: (None, "sms/{event}.txt", None),
    PUSH: ("push/{event}.title.txt", "push/{event}.txt", None),
}


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str
    html: str | None


class TemplateProblem(Exception):
    """A staff template that does not render (bad syntax, unknown variable, a forbidden attribute)."""


# Staff templates may extend the trusted e-mail layout, and nothing else.
LAYOUTS = frozenset({"email/_layout.html"})


def _layout_only(name: str):
    if name not in LAYOUTS:
        return None
    loader = current_app.jinja_env.loader
    if loader is None:  # Flask always gives its environment one
        raise RuntimeError("the app's Jinja environment has no loader")
    source, filename, _ = loader.get_source(current_app.jinja_env, name)
    return source, filename, lambda: False


_SANDBOX_TEXT = sandbox.make_env(html=False, loader=FunctionLoader(_layout_only))
_SANDBOX_HTML = sandbox.make_env(html=True, loader=FunctionLoader(_layout_only))


def _plain(value, *, local: bool = False):
    """Only plain data reaches a template: dicts, lists, strings, numbers, booleans, None. Money becomes text:
    as the investor reads it in the current language when `local` (Money.local()), else "USD 1,250.00"; so does
    an amount as the API writes it, {"amount": "1250.00", "currency": "USD"} (how amounts cross a task)."""
    if isinstance(value, dict):
        money = _money(value)
        if money is not None:
            return _plain(money, local=local)
        return {str(k): _plain(v, local=local) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, local=local) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Money):
        return value.local() if local else value.display()
    return str(value)


def _money(value: dict) -> Money | None:
    if set(value) != {"amount", "currency"}:
        return None
    try:
        return Money.parse(str(value["amount"]), str(value["currency"]), allow_zero=True)
    except MoneyError:
        return None


def locale_for(event: str, wanted: str | None) -> str:
    """The language `event` is rendered in for a recipient who chose `wanted`: English for staff messages (the
    console's language), else their choice when the site speaks it, else the default."""
    default = str(current_app.config.get("BABEL_DEFAULT_LOCALE") or "en")
    spec = catalogue.EVENTS.get(event)
    if spec is not None and spec.audience == catalogue.STAFF:
        return "en"
    if wanted is not None and wanted in tuple(current_app.config.get("LANGUAGES", ("en",))):
        return wanted
    return default


def _env():
    """The app's Jinja environment, with the message filters."""
    env = current_app.jinja_env
    if "local_amount" not in env.filters:
        env.filters["local_amount"] = sandbox.local_amount
    return env


def render_sandboxed(source: str | None, context: dict, *, html: bool = False) -> str | None:
    if source is None or source == "":
        return None
    env = _SANDBOX_HTML if html else _SANDBOX_TEXT
    try:
        return sandbox.render(env, source, _plain(context), seconds=_seconds())
    except sandbox.PROBLEMS as exc:
        raise TemplateProblem(sandbox.problem(exc)) from exc


def _seconds() -> float:
    return float(current_app.config.get("TEMPLATE_CHECK_SECONDS") or sandbox.DEFAULT_SECONDS)


def render_isolated(subject: str | None, body: str | None, html: str | None, context: dict) -> Rendered:
    """A staff template being previewed or saved, rendered as real sends render it but in a child process with a
    memory limit and the time budget: TemplateProblem when it does not render or costs too much."""
    loader = current_app.jinja_env.loader
    if loader is None:  # Flask always gives its environment one
        raise RuntimeError("the app's Jinja environment has no loader")
    layouts = {name: loader.get_source(current_app.jinja_env, name)[0] for name in LAYOUTS}
    seconds = _seconds()
    limits = child.Limits(memory_bytes=512 * 1024 * 1024, cpu_seconds=int(seconds) + 1, wall_seconds=seconds + 0.5)
    parts = [(subject, False), (body, False), (html, True)]
    try:
        out, problem = child.run(sandbox.render_parts, parts, _plain(context), layouts, seconds, limits=limits)
    except child.ChildFailed as exc:
        what = "too much memory" if exc.reason == "memory" else f"longer than {seconds:g} seconds"
        raise TemplateProblem(f"TooCostly: the template takes {what} to render") from None
    if problem is not None:
        raise TemplateProblem(problem)
    return Rendered(out[0], out[1] or "", out[2])


def _file(name: str | None, event: str, context: dict) -> str | None:
    if name is None:
        return None
    env = _env()
    try:
        template = env.get_template(name.format(event=event))
    except TemplateNotFound:
        return None
    return template.render(**_plain(context))


def override_for(event: str, channel: str) -> NotificationTemplate | None:
    return db.session.scalar(select(NotificationTemplate).where(
        NotificationTemplate.event == event, NotificationTemplate.channel == channel,
        NotificationTemplate.active.is_(True)))


def has_files(event: str, channel: str) -> bool:
    try:
        current_app.jinja_env.get_template(FILES[channel][1].format(event=event))
        return True
    except TemplateNotFound:
        return False


def _one_line(text: str | None) -> str | None:
    """Runs of white space as one space; the no-break spaces of amounts ("1.000,00\u00a0US$") stay."""
    return _SPACES.sub(" ", text).strip(" ") if text is not None else None


def check_override(event: str, channel: str, *, subject: str | None, body: str | None, html: str | None) -> None:
    """Refuse (TemplateRefused) an override of a security message, or one that renders badly or points anywhere
    but this site: in its source or rendered with the event's sample data. It is rendered in a child process under
    the time budget; one that costs too much raises TemplateProblem (starting "TooCostly")."""
    template_rules.check_event(event)
    template_rules.check_links(subject=subject, body=body, html=html)
    try:
        rendered = render_isolated(subject, body, html, catalogue.sample_context(event))
    except TemplateProblem as exc:
        if str(exc).startswith("TooCostly"):
            raise
        raise template_rules.TemplateRefused(f"The template does not render: {exc}") from None
    template_rules.check_links(subject=rendered.subject, body=rendered.body, html=rendered.html)


def check_rendered(event: str, *, subject: str | None, body: str | None, html: str | None,
                   rendered: Rendered) -> None:
    """The rules of check_override for a template already rendered (the console's preview)."""
    template_rules.check_event(event)
    template_rules.check_links(subject=subject, body=body, html=html)
    template_rules.check_links(subject=rendered.subject, body=rendered.body, html=rendered.html)


def _from_override(override: NotificationTemplate, event: str, channel: str, context: dict) -> Rendered | None:
    """The override rendered, or None where it may not be used (a security message, a link elsewhere, an error)."""
    spec = catalogue.EVENTS.get(event)
    if spec is None or spec.locked:
        log.error("template override %s/%s ignored: a security message's templates cannot be overridden",
                  event, channel)
        return None
    try:
        rendered = Rendered(_one_line(render_sandboxed(override.subject, context)),
                            render_sandboxed(override.body, context) or "",
                            render_sandboxed(override.html, context, html=True))
    except TemplateProblem as exc:
        log.error("template override %s/%s does not render (%s); using the file template", event, channel, exc)
        return None
    bad = template_rules.foreign_urls(subject=rendered.subject, body=rendered.body, html=rendered.html)
    if bad:
        log.error("template override %s/%s links elsewhere than this site; using the file template", event, channel)
        return None
    return rendered


def render(event: str, channel: str, context: dict, *, locale: str | None = None) -> Rendered:
    """The staff override when there is one, it may be used and it renders; otherwise the file templates. In the
    recipient's language (`locale`, see locale_for); Money in `context` is written in it."""
    spec = catalogue.EVENTS.get(event)
    investor = spec is None or spec.audience != catalogue.STAFF
    with force_locale(locale_for(event, locale)):
        return _render(event, channel, _plain(context, local=investor))


def _render(event: str, channel: str, context: dict) -> Rendered:
    override = override_for(event, channel)
    if override is not None:
        rendered = _from_override(override, event, channel, context)
        if rendered is not None:
            return rendered
    subject_file, body_file, html_file = FILES[channel]
    body = _file(body_file, event, context)
    if body is None:
        raise TemplateNotFound(f"{channel} template for {event}")
    return Rendered(_one_line(_file(subject_file, event, context)), body, _file(html_file, event, context))


_TRANS = re.compile(r"\{%-?\s*trans\b(.*?)-?%\}(.*?)\{%-?\s*endtrans\s*-?%\}", re.S)
_DECLARED = re.compile(r"\s*,\s*(?=\w+\s*=)")


def untranslated(source: str) -> str:
    """A file template as an override starts from it: in English, its {% trans %} blocks opened (an override is
    written in one language, with no gettext), the blocks' named values put back as the expressions they name."""
    def opened(match: re.Match) -> str:
        header, body = match.group(1).strip(), match.group(2)
        for declaration in _DECLARED.split(header) if header else []:
            name, _, expression = declaration.partition("=")
            body = re.sub(r"\{\{\s*" + re.escape(name.strip()) + r"\s*\}\}", "{{ " + expression.strip() + " }}",
                          body)
        return body
    return _TRANS.sub(opened, source)


def file_sources(event: str, channel: str) -> dict:
    """The file templates' source, in English without gettext (untranslated), to start an override from."""
    loader = current_app.jinja_env.loader
    if loader is None:  # Flask always gives its environment one
        raise RuntimeError("the app's Jinja environment has no loader")
    sources = {}
    for part, name in zip(("subject", "body", "html"), FILES[channel]):
        if name is None:
            continue
        with contextlib.suppress(TemplateNotFound):
            sources[part] = untranslated(loader.get_source(current_app.jinja_env, name.format(event=event))[0])
    return sources


