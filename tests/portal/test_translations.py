"""The portal speaks the investor's language completely: (a) every message the code and the templates ask the
catalogue for has a Spanish translation, with the same placeholders; (b) no visible text in a portal, sign-in or
error template sits outside the catalogue; (c) every portal page, rendered in Spanish with demo-like data, finds
every message it asks for in the catalogue."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po
from babel.support import Translations
from flask_babel import get_locale
from jinja2 import nodes

from app.auth import links
from app.core.db import unit_of_work
from app.core.money import Money
from app.extensions import db
from app.market import services as market
from app.payments import services as payments
from app.payouts import services as payouts
from app.support import tickets
from tests.factories import PayoutMethodFactory
from tests.support import csrf_from

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "app" / "translations" / "es" / "LC_MESSAGES" / "messages.po"
TEMPLATES = ROOT / "templates"
# the investor-facing templates this suite checks, text and catalogue both
PAGE_TEMPLATES = [TEMPLATES / "base.html", *sorted((TEMPLATES / "portal").rglob("*.html")),
                  *sorted((TEMPLATES / "auth").rglob("*.html")), *sorted((TEMPLATES / "errors").rglob("*.html"))]
# the investor's messages (e-mail, SMS, push, in-app): their catalogue entries are checked by (a) too
MESSAGE_DIRS = [TEMPLATES / name for name in ("email", "sms", "push", "in_app")]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true", "trimmed": "true"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
# words that are the same in every language: the brand, codes, units; and "©"
ALLOWED_WORDS = {"Freehold", "UTC", "USD", "EUR", "GBP", "IBAN", "BIC", "SWIFT", "ABA", "PDF", "CSV", "SMS", "QR", "API",
                 "©", "p"}
# attributes whose value a person reads (or hears)
VISIBLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "data-confirm"}


def _catalogue():
    with PO.open("rb") as handle:
        return read_po(handle, locale="es")


def _extracted() -> dict[tuple, list[str]]:
    """Every (context, msgid) the templates and the Python code ask for, with where."""
    found: dict[tuple, list[str]] = {}
    sources = [(path, "jinja2.ext.babel_extract", JINJA_OPTIONS) for path in PAGE_TEMPLATES]
    sources += [(path, "jinja2.ext.babel_extract", JINJA_OPTIONS) for folder in MESSAGE_DIRS if folder.is_dir()
                for path in sorted(folder.rglob("*")) if path.is_file()]
    # the console (app/admin) stays in English: Flask-Admin's own gettext calls there are not the investor's
    sources += [(path, "python", {}) for path in sorted((ROOT / "app").rglob("*.py"))
                if "admin" not in path.relative_to(ROOT / "app").parts[:1]]
    for path, method, options in sources:
        for lineno, message, _comments, context in extract_from_file(method, str(path), keywords=KEYWORDS,
                                                                     options=options):
            key = message if isinstance(message, str) else tuple(m for m in message if m)
            found.setdefault((context, key), []).append(f"{path.relative_to(ROOT)}:{lineno}")
    return found


def test_every_message_asked_for_has_a_spanish_translation():
    catalogue = _catalogue()
    missing = []
    for (context, msgid), where in _extracted().items():
        entry = catalogue.get(msgid if isinstance(msgid, str) else msgid[0], context=context)
        strings = (entry.string if isinstance(entry.string, tuple) else (entry.string,)) if entry else ("",)
        if not all(strings):
            missing.append(f"{msgid!r} ({where[0]})")
    assert not missing, f"{len(missing)} message(s) without Spanish:\n" + "\n".join(sorted(missing))


def test_translations_keep_their_placeholders_and_each_message_is_there_once():
    catalogue = _catalogue()
    wrong = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        for text in strings:
            if text and set(PLACEHOLDER.findall(text)) - wanted | (wanted - set(PLACEHOLDER.findall(text)) - {"num"}):
                wrong.append(f"{message.id!r} -> {text!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)
    # a msgid under a context (pgettext) is another message than the same msgid without one
    ids = re.findall(r'^((?:msgctxt ".*"\n)?msgid ".*")\n(?!")', PO.read_text(encoding="utf-8"), flags=re.M)
    twice = sorted({i for i in ids if ids.count(i) > 1})
    assert not twice, f"msgids appearing twice break the catalogue: {twice}"


# (b) visible text outside the catalogue --------------------------------------------------------------------------
class _Visible(HTMLParser):
    """The text a person sees (and the attributes they read) in a template's literal HTML; each Jinja expression
    or translated block is a NUL, never text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.texts.append(data)


def _literal_html(node: nodes.Node) -> str:
    """The template's literal HTML in source order; whatever Jinja computes (expressions, translated blocks)
    becomes a NUL. Branches of an if/for are laid one after the other, which keeps tags whole."""
    out = []
    if isinstance(node, nodes.Output):
        for child in node.nodes:
            out.append(child.data if isinstance(child, nodes.TemplateData) else "\0")
        return "".join(out)
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Stmt | nodes.Template | nodes.Helper):
            out.append(_literal_html(child))
    return "".join(out)


_WORD = re.compile(r"[^\W\d_]{2,}|\b[^\W\d_]\b")
_GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
# string constants a template may hold that are not words for a person: CSS classes, states, formats
_PROSE = re.compile(r"^[A-Z][a-z]+(?:[ ,][\w'’]+)*[.?!:]?$")


def _untranslated_constants(tree: nodes.Template) -> list[str]:
    """String constants in template expressions that read as prose ('Held', 'Send new documents') and do not go
    through gettext."""
    wrapped = {id(arg) for call in tree.find_all(nodes.Call) if isinstance(call.node, nodes.Name)
               and call.node.name in _GETTEXT for arg in call.args}
    return [const.value for const in tree.find_all(nodes.Const) if isinstance(const.value, str)
            and id(const) not in wrapped and _PROSE.match(const.value) and const.value not in ALLOWED_WORDS]


def _visible_words(template: Path, env) -> list[str]:
    tree = env.parse(template.read_text(encoding="utf-8"))
    parser = _Visible()
    parser.feed(_literal_html(tree))
    parser.close()
    words = []
    for text in parser.texts:
        for piece in text.split("\0"):
            found = [w for w in _WORD.findall(piece) if w not in ALLOWED_WORDS]
            if found:
                words.append(piece.strip())
    return words + _untranslated_constants(tree)


def test_no_visible_text_outside_the_catalogue(app):
    untranslated = {}
    for template in PAGE_TEMPLATES:
        words = _visible_words(template, app.jinja_env)
        if words:
            untranslated[str(template.relative_to(ROOT))] = words
    assert not untranslated, "text outside {% trans %} or _():\n" + "\n".join(
        f"{name}: {words}" for name, words in untranslated.items())


def test_the_visible_text_check_finds_bare_text_and_ignores_markup(app):
    """The check of (b) itself: bare words fail, markup, attributes of style and translated text do not."""
    env = app.jinja_env
    bare = env.parse('<p class="small text-body-secondary">Hello <b>{{ name }}</b> there</p>')
    assert _literal_html(bare).count("Hello") == 1
    parser = _Visible()
    parser.feed(_literal_html(bare))
    assert [t for t in parser.texts if _WORD.search(t)] == ["Hello ", " there"]
    wrapped = env.parse('<p class="small" title="{{ _(\'Hi\') }}">{% trans n=name %}Hello {{ n }}{% endtrans %}'
                        ' · Freehold</p>{{ \'text-danger\' if x }}')
    parser = _Visible()
    parser.feed(_literal_html(wrapped))
    assert not [t for text in parser.texts for t in text.split("\0") if set(_WORD.findall(t)) - ALLOWED_WORDS]
    assert _untranslated_constants(wrapped) == []
    assert _untranslated_constants(env.parse("{{ 'Held' if x else _('Available') }}")) == ["Held"]


# (c) every page in Spanish ----------------------------------------------------------------------------------------
def _spanish(translations) -> bool:
    """The portal's catalogue, asked in Spanish (English pages ask an empty catalogue: English is the source)."""
    return translations.domain == "messages" and str(get_locale()) == "es"


@pytest.fixture
def misses(monkeypatch):
    """The msgids the catalogue did not have, asked for while a page rendered in Spanish."""
    missed: list[str] = []
    real_gettext, real_ngettext = Translations.ugettext, Translations.ungettext

    def gettext(self, message):
        if _spanish(self) and not self._catalog.get(message):
            missed.append(message)
        return real_gettext(self, message)

    def ngettext(self, singular, plural, n):
        if _spanish(self) and not self._catalog.get((singular, 0)):
            missed.append(singular)
        return real_ngettext(self, singular, plural, n)

    monkeypatch.setattr(Translations, "ugettext", gettext)
    monkeypatch.setattr(Translations, "ungettext", ngettext)
    return missed


@pytest.fixture
def demo(make_investor, make_holding, make_listing, make_property, fund):
    """An investor with what the demo has: a holding, a listing of theirs, an offer made on someone else's
    listing and one received, a bank account and a payout, a finished deposit and a pending one."""
    investor, other = make_investor("20000.00"), make_investor("20000.00")
    holding = make_holding(investor, "1000.00")
    theirs = make_holding(other, "1000.00")
    mine = make_listing(investor, holding, units=3)
    listing = make_listing(other, theirs, units=5)
    with unit_of_work():
        investor.locale = "es"
        market.make_offer(investor, listing.id, 2, Money.parse("100.00", listing.currency))
        market.make_offer(other, mine.id, 1, Money.parse("100.00", mine.currency))
        method = PayoutMethodFactory(user=investor)
        spare = PayoutMethodFactory(user=investor, account_number="000987654321")  # unused: it can change
        payout = payouts.request_payout(investor, Money.parse("50.00", "USD"), method.id)
        pending = payments.create_deposit(investor.id, Money.parse("75.00", "USD"), "bank_transfer")
        ticket = tickets.open_ticket(investor, subject="Deposit", category="deposits", body="Where is it?")
    done = fund(investor, "30.00")
    return {"user": investor, "holding": holding, "mine": mine, "listing": listing, "method": method, "spare": spare,
            "payout": payout, "pending": pending, "done": done, "property": holding.property, "ticket": ticket}


def _portal_pages(d) -> list[str]:
    p = d["property"]
    return ["/", "/wallet", "/portfolio", "/portfolio?show=closed", f"/portfolio/{d['holding'].id}", "/properties",
            f"/properties/{p.slug}", "/market", f"/market/listings/{d['listing'].id}",
            f"/market/listings/{d['mine'].id}", f"/market/sell/{d['holding'].id}", "/market/mine",
            "/deposits/new", f"/deposits/{d['pending'].id}", f"/deposits/{d['done'].id}", "/payouts", "/payouts/new",
            f"/payouts/{d['payout'].id}", "/payout-methods", "/payout-methods/new",
            f"/payout-methods/{d['spare'].id}/edit", "/kyc", "/notifications", "/account/notifications",
            "/account/security", "/account/2fa/setup", "/account/profile", "/account/email/confirm/not-a-link",
            "/account/data", "/account/close", "/statements", "/support", "/support/new",
            f"/support/{d['ticket'].id}", "/no-such-page"]


def test_every_portal_page_in_spanish_finds_its_messages(app, client, demo, login, misses):
    login(demo["user"])
    with app.app_context():
        forms = [row[0] for row in db.session.execute(db.text("SELECT id FROM kyc_forms")).all()]
    pages = _portal_pages(demo) + [f"/kyc/forms/{form_id}" for form_id in forms]
    covered = {rule.endpoint for rule in app.url_map.iter_rules()
               if rule.endpoint.startswith("portal.") and "GET" in rule.methods}
    visited = set()
    statuses = {}
    for page in pages:
        response = client.get(page)
        statuses[page] = response.status_code
        endpoint = app.url_map.bind("localhost").match(page.split("?")[0], method="GET")[0] \
            if page != "/no-such-page" else None
        visited.add(endpoint)
        html = response.get_data(as_text=True)
        if response.status_code in (200, 400):
            assert '<html lang="es">' in html, page
    assert {p: s for p, s in statuses.items() if s != 200} == {"/no-such-page": 404,
                                                               "/account/email/confirm/not-a-link": 400}
    # downloads, the payment return and the CSV statement are not pages
    assert covered - visited == {"portal.deposit_return", "portal.kyc_document", "portal.property_document",
                                 "portal.wallet_statement", "portal.statement_detail", "portal.statement_status",
                                 "portal.statement_file", "portal.download_data_export",
                                 "portal.data_export_status", "portal.ticket_file"}
    assert sorted(set(misses)) == []


def test_the_sign_in_pages_in_spanish_find_their_messages(app, client, make_investor, misses):
    user = make_investor()
    spanish = {"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}
    with app.test_request_context():
        reset = links.reset_token(user)
        verify = links.verification_token(user)
    pages = ["/login", "/register", "/register/check-email", "/password/forgot", f"/password/reset/{reset}",
             "/password/reset/not-a-token", f"/verify-email/{verify}x"]
    statuses = {}
    for page in pages:
        response = client.get(page, headers=spanish)
        statuses[page] = response.status_code
        assert '<html lang="es">' in response.get_data(as_text=True), page
    assert statuses == {**dict.fromkeys(pages, 200), "/password/reset/not-a-token": 400,
                        f"/verify-email/{verify}x": 400}, statuses
    # a wrong password and a form with errors: their messages too
    page = client.get("/login", headers=spanish).get_data(as_text=True)
    wrong = client.post("/login", headers=spanish, data={"email": user.email, "password": "not the password",
                                                          "csrf_token": csrf_from(page)})
    assert "o la contraseña no son correctas" in wrong.get_data(as_text=True)
    page = client.get("/register", headers=spanish).get_data(as_text=True)
    client.post("/register", headers=spanish, data={"email": "x", "password": "short", "confirm": "other",
                                                     "csrf_token": csrf_from(page)})
    assert sorted(set(misses)) == []


def test_a_newcomer_without_kyc_sees_the_next_steps_in_spanish(client, make_investor, login, misses):
    newcomer = make_investor(None, kyc=False)
    with unit_of_work():
        newcomer.locale = "es"
    login(newcomer)
    for page in ("/", "/kyc", "/payouts/new", "/wallet?from=yesterday"):
        assert client.get(page).status_code == 200, page
    assert sorted(set(misses)) == []


def test_the_catalogue_is_current(app):
    """A .po newer than its .mo is compiled at start (app/core/i18n.py): the compiled catalogue has every entry."""
    mo = PO.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= PO.stat().st_mtime
    with mo.open("rb") as handle:
        compiled = Translations(handle)
    assert compiled.ugettext("Sign in") == "Iniciar sesión"


def test_the_same_pages_render_in_english(client, demo, login):
    """English is the source language: the same pages in English are complete by construction (and still 200)."""
    with unit_of_work():
        demo["user"].locale = "en"
    login(demo["user"])
    for page in _portal_pages(demo)[:-1]:
        response = client.get(page)
        assert response.status_code == (400 if "not-a-link" in page else 200), page
        assert '<html lang="en">' in response.get_data(as_text=True)
