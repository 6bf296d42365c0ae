"""Messages speak their recipient's language: every investor message of the catalogue, on every channel, has all
its text in gettext with a Spanish translation; staff messages stay English; amounts are written per language."""
from __future__ import annotations

import re

import pytest
from flask import current_app
from flask_babel import Domain, force_locale, get_locale
from jinja2 import TemplateNotFound, nodes

from app.core.money import Money
from app.extensions import db
from app.notifications import catalogue, rendering, sandbox, secrets
from app.notifications import services as notifications
from app.notifications.models import Delivery, Notification, NotificationTemplate
from tests.support import csrf_from, link_in, outbox

INVESTOR_EVENTS = sorted(k for k, e in catalogue.EVENTS.items() if e.audience == catalogue.INVESTOR)
# staff read the English console: their messages are rendered in English whatever their language (checked below)
STAFF_EVENTS = sorted(k for k, e in catalogue.EVENTS.items() if e.audience == catalogue.STAFF)
CASES = [(event, channel) for event in INVESTOR_EVENTS for channel in catalogue.EVENTS[event].channels]
LAYOUT = "email/_layout.html"
# words that may stand outside gettext: the brand
ALLOWED_WORDS = {"Freehold"}
GETTEXT_NAMES = {"_", "gettext", "ngettext", "pgettext", "npgettext"}


class _Recording:
    """A translations object that notes every lookup the current (non-English) catalogue does not hold."""

    def __init__(self, inner, locale: str, misses: set):
        self._inner, self._locale, self._misses = inner, locale, misses

    def _note(self, message: str, key=None) -> None:
        if self._locale != "en" and (message if key is None else key) not in getattr(self._inner, "_catalog", {}):
            self._misses.add(message)

    def ugettext(self, message):
        self._note(message)
        return self._inner.ugettext(message)

    def gettext(self, message):
        self._note(message)
        return self._inner.gettext(message)

    def ungettext(self, singular, plural, n):
        self._note(singular, (singular, 0))  # a plural entry is kept under (singular, 0)
        return self._inner.ungettext(singular, plural, n)

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def misses(monkeypatch):
    found: set[str] = set()
    original = Domain.get_translations

    def recording(self):
        return _Recording(original(self), str(get_locale() or "en"), found)

    monkeypatch.setattr(Domain, "get_translations", recording)
    return found


def _files(event: str, channel: str) -> list[str]:
    names = []
    for pattern in rendering.FILES[channel]:
        if pattern is None:
            continue
        name = pattern.format(event=event)
        try:
            current_app.jinja_env.get_template(name)
        except TemplateNotFound:
            continue
        names.append(name)
    return names


def _source(name: str) -> str:
    loader = current_app.jinja_env.loader
    assert loader is not None
    return loader.get_source(current_app.jinja_env, name)[0]


def _words(text: str) -> list[str]:
    text = re.sub(r"<[^>]*>", " ", text)  # tags and their attributes are not read
    text = re.sub(r"&\w+;|&#\d+;", " ", text)
    return [w for w in re.findall(r"[^\W\d_]{2,}", text) if w not in ALLOWED_WORDS]


def _is_gettext(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in GETTEXT_NAMES


def _visible_constants(node: nodes.Node):
    """String constants a template writes out as they are (not through gettext)."""
    if _is_gettext(node):
        return
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, nodes.CondExpr):
        yield from _visible_constants(node.expr1)
        if node.expr2 is not None:
            yield from _visible_constants(node.expr2)
    elif isinstance(node, nodes.Concat):
        for part in node.nodes:
            yield from _visible_constants(part)
    elif isinstance(node, nodes.Filter) and node.node is not None:
        yield from _visible_constants(node.node)


def untranslated_text(source: str) -> list[str]:
    """Visible words of a template outside gettext: literal text outside {% trans %} blocks (a trans block is
    parsed into a gettext call, so what stays literal text is outside one) and string constants written out.
    Tags and their attributes are not read, also where an expression sits inside a tag."""
    tree = current_app.jinja_env.parse(source)
    literal, found = [], []
    for output in tree.find_all(nodes.Output):
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                literal.append(child.data)
            else:
                literal.append("\x00")
                found += [w for text in _visible_constants(child) for w in _words(text)]
        literal.append("\x00")
    return _words("".join(literal)) + found


def _render(event: str, channel: str, locale: str) -> rendering.Rendered:
    return rendering.render(event, channel, catalogue.sample_context(event), locale=locale)


def test_the_checker_finds_text_outside_gettext(app):
    with app.test_request_context():
        assert untranslated_text("Hello {{ name }}") == ["Hello"]
        assert untranslated_text("{{ 'credited' if x else 'debited' }}") == ["credited", "debited"]
        assert untranslated_text("<p style=\"color:red\">{% trans %}Hi {{ name }}{% endtrans %}</p>") == []
        assert untranslated_text("{{ _('Welcome') }} Freehold: {{ amount }}") == []


@pytest.mark.parametrize(("event", "channel"), CASES)
def test_every_investor_message_is_translated(app, misses, event, channel):
    names = _files(event, channel)
    assert names, f"{event} has no {channel} templates"
    for name in [*names, *([LAYOUT] if name_is_html(names) else [])]:
        assert untranslated_text(_source(name)) == [], f"{name} has text outside gettext"
    with app.test_request_context():
        english = _render(event, channel, "en")
        assert not misses
        spanish = _render(event, channel, "es")
    assert not misses, f"{event}/{channel}: no Spanish for {sorted(misses)}"
    for part, name in zip(("subject", "body", "html"), rendering.FILES[channel]):
        en, es = getattr(english, part), getattr(spanish, part)
        if name is None or en is None:
            continue
        source = _source(name.format(event=event))
        if "{% trans" in source or "_(" in source:  # a template that is only data (e.g. a title) reads the same
            assert es != en, f"{event}/{channel} {part} reads the same in Spanish: {en!r}"


def name_is_html(names: list[str]) -> bool:
    return any(name.endswith(".html") for name in names)


@pytest.mark.parametrize(("event", "channel"), CASES)
def test_an_override_starts_from_the_english_text_without_gettext(app, event, channel):
    """Staff start an override from the file templates' source: opened out of gettext, it renders in the sandbox
    exactly as the file templates render in English."""
    with app.test_request_context():
        sources = rendering.file_sources(event, channel)
        english = _render(event, channel, "en")
        # what notify() always gives (the link) and optional values the samples leave out
        context = {"link": None, "message": None,
                   **rendering._plain(catalogue.sample_context(event), local=True)}
        assert all("{% trans" not in text and "endtrans" not in text for text in sources.values())
        assert rendering.render_sandboxed(sources["body"], context) == english.body
        if "subject" in sources:
            assert rendering._one_line(rendering.render_sandboxed(sources["subject"], context)) == english.subject
        if "html" in sources:
            assert rendering.render_sandboxed(sources["html"], context, html=True) == english.html


def test_every_channel_of_the_catalogue_is_covered():
    assert len(CASES) == sum(len(catalogue.EVENTS[e].channels) for e in INVESTOR_EVENTS)
    assert {"email", "in_app", "push", "sms"} == {channel for _, channel in CASES}


@pytest.mark.parametrize("event", STAFF_EVENTS)
def test_staff_messages_stay_english(app, event):
    for channel in catalogue.EVENTS[event].channels:
        with app.test_request_context():
            assert _render(event, channel, "es") == _render(event, channel, "en")


# GSM 03.38's basic alphabet: a text written only in it fits 160 characters a segment, any other 70 (UCS-2)
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
           "¿abcdefghijklmnopqrstuvwxyzäöñüà")


def sms_segments(text: str) -> int:
    size = 160 if set(text) <= GSM7 else 70
    return -(-len(text) // size)


def test_sms_segments_are_counted_as_phones_count_them():
    assert sms_segments("a" * 160) == 1 and sms_segments("ñ" * 160) == 1
    assert sms_segments("á" + "a" * 70) == 2


def test_spanish_sms_stays_one_segment_where_english_is(app):
    events = [e for e in INVESTOR_EVENTS if "sms" in catalogue.EVENTS[e].channels]
    assert events
    for event in events:
        with app.test_request_context():
            english, spanish = _render(event, "sms", "en").body, _render(event, "sms", "es").body
        if sms_segments(english) == 1:
            assert sms_segments(spanish) == 1, spanish


def test_amounts_are_written_in_the_readers_language(app):
    with app.test_request_context():
        en = _render("market.sold", "email", "en").body
        es = _render("market.sold", "email", "es").body
        payout_es = _render("payout_paid", "email", "es")
    assert Money(101500, "USD").local("en") in en and "$1,015.00" in en
    assert Money(101500, "USD").local("es") in es and Money(101500, "USD").local("en") not in es
    assert Money(100000, "USD").local("es") in payout_es.subject
    assert "USD 1,000.00" not in payout_es.body


def test_an_amount_that_does_not_parse_is_shown_as_it_came(app):
    with app.test_request_context():
        assert sandbox.local_amount("not money", "USD") == "USD not money"
        assert sandbox.local_amount("12.50", "USD") == "$12.50"
        with force_locale("es"):
            assert sandbox.local_amount("12.50", "USD") == Money(1250, "USD").local("es")


def test_a_spanish_investor_gets_spanish_mail_end_to_end(make_user):
    user = make_user(first_name="Lucía")
    user.locale = "es"
    other = make_user(first_name="Ann")
    db.session.commit()
    amount = Money(123456, "USD")
    for who in (user, other):
        notifications.notify(who, "payout_approved", payout_id=7, amount=amount, fee=Money(600, "USD"),
                             bank="First Demo Bank", account="••••6789")
    db.session.commit()
    [mail] = outbox(user.email, "payout_approved")
    assert mail.subject == f"Su retiro de {amount.local('es')} está aprobado"
    assert "Hola, Lucía:" in mail.body and "está aprobado" in mail.body
    [english] = outbox(other.email, "payout_approved")
    assert english.subject == f"Your payout of {amount.local('en')} is approved" == "Your payout of $1,234.56 is approved"
    assert "Hello Ann," in english.body
    inbox = db.session.query(Notification).filter_by(user_id=user.id, event="payout_approved").one()
    assert inbox.title == f"Retiro aprobado: {amount.local('es')}"
    assert inbox.context["amount"] == "USD 1,234.56"  # the stored record keeps the console's form


def test_the_html_mail_and_its_layout_speak_the_readers_language(make_user):
    user = make_user(first_name="Lucía")
    user.locale = "es"
    other = make_user(first_name="Ann")
    db.session.commit()
    for who in (user, other):
        notifications.notify(who, "welcome", link="https://freehold.test/")
    db.session.commit()
    [mail] = outbox(user.email, "welcome")
    assert mail.subject == "Bienvenido a Freehold, Lucía"
    assert 'lang="es"' in mail.html and "Recibe este mensaje porque tiene una cuenta en Freehold." in mail.html
    assert "Abrir Freehold" in mail.html and "Open Freehold" not in mail.html
    [english] = outbox(other.email, "welcome")
    assert 'lang="en"' in english.html and "You receive this because you have a Freehold account." in english.html


def test_amounts_crossing_a_task_as_api_amounts_are_written_per_language(make_user):
    user = make_user()
    user.locale = "es"
    db.session.commit()
    notifications.notify(user, "deposit_received", deposit_id=3, amount={"amount": "1000.00", "currency": "USD"},
                         gateway="card (Stripe)")
    db.session.commit()
    [mail] = outbox(user.email, "deposit_received")
    assert mail.subject == f"{Money(100000, 'USD').local('es')} ya está en su billetera de Freehold"


def test_a_secret_link_reaches_a_spanish_reader_and_is_never_stored(make_user):
    user = make_user(verified=False)
    user.locale = "es"
    db.session.commit()
    link = "https://freehold.test/verify-email/SECRET-TOKEN"
    notifications.notify(user, "verify_email", link=link)
    db.session.commit()
    [mail] = outbox(user.email, "verify_email")
    assert mail.subject == "Verifique su dirección de correo electrónico para Freehold"
    assert link in mail.body and link in mail.html
    stored = db.session.query(Delivery).join(Notification).filter(Notification.user_id == user.id).all()
    assert stored and all("SECRET-TOKEN" not in (d.body or "") + (d.html or "") for d in stored)
    assert all(secrets.PLACEHOLDER in (d.body or "") for d in stored)  # the stored Spanish text keeps the placeholder


def test_an_unknown_or_missing_language_reads_english(make_user):
    user = make_user(first_name="Kai")
    user.locale = "fr"
    db.session.commit()
    notifications.notify(user, "welcome", link="https://freehold.test/")
    db.session.commit()
    [mail] = outbox(user.email, "welcome")
    assert mail.subject == "Welcome to Freehold, Kai"


def test_a_staff_override_applies_to_every_language(make_user):
    user = make_user(first_name="Lucía")
    user.locale = "es"
    db.session.add(NotificationTemplate(
        event="welcome", channel="email", subject="Bienvenida, {{ user.first_name }}", body="Hola {{ user.first_name }}",
        html='{% extends "email/_layout.html" %}{% block body %}<p>Hola</p>{% endblock %}', active=True))
    db.session.commit()
    notifications.notify(user, "welcome", link="https://freehold.test/")
    db.session.commit()
    [mail] = outbox(user.email, "welcome")
    assert mail.subject == "Bienvenida, Lucía" and mail.body == "Hola Lucía"
    # the trusted layout an override extends still speaks the reader's language
    assert "Recibe este mensaje porque tiene una cuenta en Freehold." in mail.html


def test_a_staff_member_reads_staff_messages_in_english(make_user):
    staff = make_user(role="finance")
    staff.locale = "es"
    db.session.commit()
    notifications.notify(None, "payouts_waiting_staff", count=3, hours=24)
    db.session.commit()
    note = db.session.query(Notification).filter_by(user_id=staff.id, event="payouts_waiting_staff").one()
    with force_locale("en"):
        english = rendering.render("payouts_waiting_staff", "in_app", {"count": 3, "hours": 24, "user": {}})
    assert note.title == (english.subject or "")


def test_a_reset_asked_from_an_english_browser_reaches_a_spanish_investor_in_spanish(client, make_user):
    """The language is the recipient's, not the request's: the link still works."""
    user = make_user()
    user.locale = "es"
    db.session.commit()
    page = client.get("/password/forgot", headers={"Accept-Language": "en"})
    client.post("/password/forgot", headers={"Accept-Language": "en"},
                data={"email": user.email, "csrf_token": csrf_from(page.get_data(as_text=True))})
    [mail] = outbox(user.email, "reset_password")
    assert mail.subject == "Elija una nueva contraseña de Freehold"
    assert "Si no fue usted, ignore este mensaje" in mail.body and 'lang="es"' in mail.html
    assert secrets.PLACEHOLDER not in mail.body
    assert client.get(link_in(mail)).status_code == 200
