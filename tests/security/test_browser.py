"""Browser hardening, as the attacks: hostile names and titles rendered in the portal and the console never become
script (no inline handler, no script without the request's nonce), and every kind of response carries the headers
that make a browser refuse inline script, framing, sniffing and stray features."""
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import url_for

from app.core.db import unit_of_work
from app.core.headers import csp, csp_for
from app.extensions import db
from app.kyc.models import KycDocument, KycForm, KycSubmission
from app.properties.models import Amenity
from tests.support import build_app

PAYLOAD = """"'><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"""
TITLE = f"Tower {PAYLOAD}"[:200]
HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "Permissions-Policy",
           "X-Frame-Options")


def _policy(response) -> dict[str, str]:
    text = response.headers["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in text.split(";") if part.strip()}


def _nonce(response) -> str:
    match = re.search(r"'nonce-([^']+)'", _policy(response)["script-src"])
    assert match, response.headers["Content-Security-Policy"]
    return match.group(1)


def assert_hardened(response) -> None:
    for name in HEADERS:
        assert response.headers.get(name), f"{name} missing on {response.request.path}"
    policy = _policy(response)
    assert policy["default-src"] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "geolocation=()" in response.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # only under the production configuration


class _Scan(HTMLParser):
    """Every place a browser would run script from markup."""

    def __init__(self, nonce: str):
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.problems: list[str] = []
        self.scripts = 0
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>: inline event handler")
            if name.lower() in ("href", "src", "action", "formaction") and value \
                    and value.strip().lower().startswith("javascript:") and value.strip() != "javascript:void(0)":
                self.problems.append(f"<{tag} {name}={value!r}>: a javascript: URL")
        if tag == "script":
            self.scripts += 1
            kind = (attributes.get("type") or "").lower()
            if kind != "application/json" and attributes.get("nonce") != self.nonce:
                self.problems.append(f"<script {attrs}>: without this request's nonce")
            self._in_script = attributes
        if tag == "style" and attributes.get("nonce") != self.nonce:
            self.problems.append("<style> without this request's nonce")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None and data.strip() and "window.__pwned" in data:
            self.problems.append(f"hostile text inside a script: {data[:80]!r}")


def assert_no_inline_script(response) -> None:
    assert response.status_code == 200, (response.request.path, response.status_code)
    html = response.get_data(as_text=True)
    scan = _Scan(_nonce(response))
    scan.feed(html)
    assert not scan.problems, (response.request.path, scan.problems)
    assert "<script>window.__pwned" not in html, response.request.path
    assert 'onerror="window.__pwned' not in html, response.request.path
    assert_hardened(response)


@pytest.fixture
def hostile(make_investor, make_property, make_user):
    """An investor named with script, a property titled with it, an amenity called with it."""
    investor = make_investor(first_name=PAYLOAD[:100], last_name="O'Hara</script>",
                             email="o'hara@example.com")
    draft = make_property(publish=False, title=TITLE, street=PAYLOAD, description=PAYLOAD)
    active = make_property(title=TITLE.replace("Tower", "Plaza"))
    with unit_of_work():
        amenity = Amenity(name=PAYLOAD[:80])
        db.session.add(amenity)
    return {"investor": investor, "draft": draft, "active": active, "amenity": amenity}


def test_an_investor_named_with_script_sees_portal_pages_that_run_none_of_it(client, login, hostile):
    login(hostile["investor"])
    pages = ["/", "/properties", f"/properties/{hostile['active'].slug}", "/wallet", "/portfolio", "/payouts",
             "/payouts/methods", "/kyc", "/account/security", "/notifications", "/notifications/settings"]
    seen = 0
    for path in pages:
        response = client.get(path, follow_redirects=True)
        if response.status_code == 404:
            continue
        assert_no_inline_script(response)
        seen += 1
    assert seen >= 8


def test_staff_open_every_console_list_and_the_hostile_details_and_nothing_runs(app, client, login, make_user,
                                                                              hostile):
    admin = make_user(role="admin")
    login(admin)
    with app.test_request_context():
        admins = app.extensions["admin"]
        views = admins[0]._views if isinstance(admins, list) else admins._views
        urls = [url_for(f"{view.endpoint}.{view._default_view}") for view in views]
        urls += [url_for("properties.details_view", id=hostile["draft"].id),
                 url_for("properties.details_view", id=hostile["active"].id),
                 url_for("users.details_view", id=hostile["investor"].id),
                 url_for("amenities.edit_view", id=hostile["amenity"].id),
                 url_for("properties.edit_view", id=hostile["draft"].id),
                 url_for("kyc_forms.edit_view", id=db.session.scalars(db.select(KycForm.id)).first())]
        urls += [url_for("kyc_queue.case", submission_id=s_id) for s_id in db.session.scalars(
            db.select(KycSubmission.id).where(KycSubmission.user_id == hostile["investor"].id))]
    scanned = 0
    for path in urls:
        response = client.get(path)
        if response.status_code in (302, 403, 404):
            continue  # a view this role reaches only with a parameter, or not at all
        assert_no_inline_script(response)
        scanned += 1
    assert scanned >= 15
    details = client.get(f"/admin/properties/details/?id={hostile['draft'].id}").get_data(as_text=True)
    assert 'data-confirm="Submit Tower &#34;&#39;&gt;&lt;script&gt;' in details  # the title is text, escaped
    amenities = client.get("/admin/amenities/").get_data(as_text=True)
    assert 'data-model-action="delete"' in amenities and 'data-confirm="Are you sure' in amenities


def test_a_kyc_document_keeps_its_sandbox_and_only_the_console_may_frame_it(client, login, make_user, hostile):
    login(make_user(role="compliance"))
    documents = db.session.scalars(db.select(KycDocument).join(KycSubmission).where(
        KycSubmission.user_id == hostile["investor"].id)).all()
    assert len(documents) >= 2
    for document in documents:
        response = client.get(f"/admin/kyc_queue/document/{document.id}")
        assert response.status_code == 200
        policy = _policy(response)
        assert "sandbox" in policy and policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'self'"
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert response.headers["Referrer-Policy"] == "no-referrer"  # the document's own, kept
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_kind_of_response_carries_the_headers(app, client, login, make_user, token_for, investor):
    responses = [client.get("/login"), client.get("/healthz"), client.get("/no-such-page"),
                 client.get("/static/js/confirm.js"), client.get("/api/v1/me"),
                 client.get("/api/v1/me", headers=token_for(investor)), client.get("/api/v1/openapi.json"),
                 client.post("/login", data={}),  # no CSRF token: a 400 page
                 client.get("/api/v1/no-such-thing")]
    assert [r.status_code for r in responses] == [200, 200, 404, 200, 401, 200, 200, 400, 404]
    for response in responses:
        assert_hardened(response)
    staff = make_user(role="admin")
    login(staff)
    assert_hardened(client.get("/admin/"))


def test_a_page_whose_address_holds_a_token_sends_no_referrer(client):
    for path in ("/password/reset/not-a-real-token", "/verify-email/not-a-real-token"):
        response = client.get(path)
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert "Content-Security-Policy" in response.headers
    assert client.get("/login").headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_only_the_deposit_form_may_send_the_investor_on_to_the_card_checkout(client, login, investor):
    login(investor)
    assert _policy(client.get("/deposits/new"))["form-action"] == (
        "'self' https://checkout.stripe.com https://www.paypal.com https://www.sandbox.paypal.com")
    assert _policy(client.get("/wallet"))["form-action"] == "'self'"


def test_with_files_in_a_bucket_photos_may_load_from_its_endpoint_only(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "s3")
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", "https://objects.example.net:9000/ignored/path")
    policy = _policy(client.get("/login"))
    assert policy["img-src"] == "'self' data: https://objects.example.net:9000"
    assert policy["frame-src"] == "'self' https://objects.example.net:9000"
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", None)
    monkeypatch.setitem(app.config, "S3_REGION", "eu-west-1")
    assert _policy(client.get("/login"))["img-src"] == "'self' data: https://s3.eu-west-1.amazonaws.com"
    monkeypatch.setitem(app.config, "STORAGE_BACKEND", "local")
    assert _policy(client.get("/login"))["img-src"] == "'self' data:"


def test_an_unexpected_error_page_carries_the_headers(database_url):
    app = build_app(database_url, PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert_hardened(response)


def test_the_nonce_is_new_on_every_request_and_on_every_script(client):
    first, second = client.get("/login"), client.get("/login")
    assert _nonce(first) != _nonce(second)
    for response in (first, second):
        scan = _Scan(_nonce(response))
        scan.feed(response.get_data(as_text=True))
        assert scan.scripts >= 2 and not scan.problems
        assert f'nonce="{_nonce(response)}"' in response.get_data(as_text=True)


def test_hsts_only_under_the_production_configuration(app, client, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    monkeypatch.setitem(app.config, "CONFIG_NAME", "production")
    for path in ("/healthz", "/login", "/api/v1/me"):
        assert client.get(path).headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


def test_a_page_given_its_own_policy_changes_only_what_it_names(database_url):
    app = build_app(database_url)

    @app.get("/framed")
    @csp(frame_ancestors="'self'", img_src="'self' https://maps.example")
    def framed():
        return "framed"

    @app.get("/docs-like")
    def docs_like():
        return "docs"

    csp_for(app, "docs_like", script_src="'self' 'nonce-{nonce}' https://cdn.example", object_src=None)
    client = app.test_client()
    framed_policy = _policy(response := client.get("/framed"))
    assert framed_policy["frame-ancestors"] == "'self'" and framed_policy["img-src"] == "'self' https://maps.example"
    assert framed_policy["script-src"].startswith("'self' 'nonce-") and framed_policy["object-src"] == "'none'"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    docs = client.get("/docs-like")
    assert _policy(docs)["script-src"] == f"'self' 'nonce-{_nonce(docs)}' https://cdn.example"
    assert "object-src" not in _policy(docs)
    assert _policy(client.get("/healthz"))["frame-ancestors"] == "'none'"  # the rest of the site keeps the policy


def test_the_portal_refuses_style_attributes_and_writes_none(app, client, login, investor):
    """Style attributes could restyle a page (hide a warning, overlay a button) if text ever reached one: the portal
    refuses them in markup, and its templates write none (widths go through static/js/widths.js)."""
    login(investor)
    for path in ("/", "/properties", "/wallet", "/support"):
        response = client.get(path)
        policy = _policy(response)
        assert policy["style-src-attr"] == "'none'" and "'unsafe-inline'" not in policy["style-src"], path
        assert not re.search(r"<[^>]+\sstyle\s*=", response.get_data(as_text=True)), path
    root = Path(app.root_path).parent / "templates"
    for path in [root / "base.html", root / "_progress.html", *(root / "portal").rglob("*.html"),
                 *(root / "auth").rglob("*.html"), *(root / "errors").rglob("*.html")]:
        assert not re.search(r"\sstyle\s*=", path.read_text()), path


def test_only_the_console_keeps_style_attributes(client, login, make_user):
    assert _policy(client.get("/api/v1/docs"))["style-src-attr"] == "'none'"  # Swagger UI sets styles by script
    staff = make_user(role="admin")
    login(staff)
    assert _policy(client.get("/admin/"))["style-src-attr"] == "'unsafe-inline'"
    assert _policy(client.get("/administrator"))["style-src-attr"] == "'none'"  # only the console's own paths
