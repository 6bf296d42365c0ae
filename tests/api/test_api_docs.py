"""The API's documentation: the page at /api/v1/docs (Swagger UI served from static/vendor, nothing from another
host, no inline script) and the OpenAPI document it shows, where every operation says what it does and carries
examples: a request body example when it takes a body, a success example, and the error envelope's examples.

The checks run over every operation the document lists, so an operation added later without examples fails here,
named in the failure message."""
from __future__ import annotations

import copy
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

from app.api import ERROR_SCHEMA_NAME, ErrorResponses
from app.api.examples import ERRORS, error
from tests.api.test_openapi import METHODS, resolve, to_json_schema

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "static" / "vendor" / "swagger-ui"
JSON = "application/json"


class Page(HTMLParser):
    """The addresses a page loads (src, href) and its script elements with their text."""

    def __init__(self) -> None:
        super().__init__()
        self.addresses: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.scripts: list[dict] = []
        self._script: dict | None = None
        self.data_spec_url: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("src", "href"):
            if attributes.get(name) is not None:
                self.addresses.append((tag, name, attributes[name]))
        if "data-spec-url" in attributes:
            self.data_spec_url = attributes["data-spec-url"]
        if tag == "script":
            self._script = {"attrs": attributes, "text": ""}
            self.scripts.append(self._script)

    def handle_data(self, data):
        if self._script is not None:
            self._script["text"] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def policy_of(response) -> dict[str, str]:
    parts = [part.strip().split(None, 1) for part in response.headers["Content-Security-Policy"].split(";")]
    return {words[0]: words[1] if len(words) > 1 else "" for words in parts if words}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


# the page --------------------------------------------------------------------------------------------------------
def test_the_docs_page_runs_swagger_ui_from_this_site(client):
    response = client.get("/api/v1/docs")  # no token: public, like the document it shows
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = Page()
    page.feed(response.get_data(as_text=True))
    assert page.data_spec_url == "/api/v1/openapi.json"
    loaded = {value for _, _, value in page.addresses}
    assert {"/static/vendor/swagger-ui/swagger-ui.css", "/static/vendor/swagger-ui/swagger-ui-bundle.js",
            "/static/js/api-docs.js"} <= loaded
    for tag, attribute, value in page.addresses:
        # every address is a path on this site: no scheme, no protocol-relative //host
        assert value.startswith("/") and not value.startswith("//"), (tag, attribute, value)
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", value, re.I), (tag, attribute, value)
    assert page.scripts and all(s["attrs"].get("src") and not s["text"].strip() for s in page.scripts), \
        "every script is a file of this site, none inline"
    body = response.get_data(as_text=True)
    assert "http://" not in body and "https://" not in body and "cdn" not in body.lower()


def test_the_page_assets_are_served_and_are_the_vendored_release(client):
    page = Page()
    page.feed(client.get("/api/v1/docs").get_data(as_text=True))
    kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for _, _, address in page.addresses:
        if address.startswith("/static/"):
            asset = client.get(address)
            assert asset.status_code == 200, address
            assert asset.mimetype == kinds[Path(address).suffix], (address, asset.mimetype)
            assert asset.data == (ROOT / address.lstrip("/")).read_bytes()
            asset.close()
    readme = (VENDOR / "README.md").read_text()
    version = re.search(r"swagger-ui-dist@(5\.\d+\.\d+)", readme)
    assert version, "the README names the release it was copied from"
    sums = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M))
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"} <= set(sums)
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, f"{name} is not the release's"
    assert "Apache License" in (VENDOR / "LICENSE").read_text()


def test_the_page_keeps_the_site_policy_no_inline_or_eval(client):
    docs, login = client.get("/api/v1/docs"), client.get("/login")
    policy = policy_of(docs)
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["connect-src"] == "'self'" and policy["default-src"] == "'self'"
    nonce = re.compile(r"'nonce-[^']+'")
    assert {k: nonce.sub("", v) for k, v in policy.items()} == {k: nonce.sub("", v)
                                                                for k, v in policy_of(login).items()}
    assert docs.headers["X-Frame-Options"] == "DENY"


def test_the_page_and_the_document_need_no_token_and_a_call_still_does(client):
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs", headers={"Authorization": "Bearer not-a-token"}).status_code == 200
    assert client.get("/api/v1/me").status_code == 401  # what the page lets one try is guarded as ever


# the document ----------------------------------------------------------------------------------------------------
def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def _has_example(media: dict) -> bool:
    return "example" in media or bool(media.get("examples"))


def _is_file(spec: dict, media: dict) -> bool:
    return resolve(spec, media.get("schema", {})).get("format") == "binary"


def missing_examples(spec: dict) -> list[str]:
    """What each operation lacks: a summary or description, a success response (2xx, or a 3xx redirect), an
    example on each JSON success response (a file or a redirect shows none), an example on each request body."""
    missing = []
    for method, path, operation in operations(spec):
        name = f"{method.upper()} {path}"
        if not (operation.get("summary") or operation.get("description") or "").strip():
            missing.append(f"{name}: no summary or description (a docstring on the view)")
        successes = {code: resolve(spec, response) for code, response in operation.get("responses", {}).items()
                     if str(code)[0] in "23"}  # a redirect (a link to a file) is a success too
        if not successes:
            missing.append(f"{name}: no success response documented")
        for code, response in successes.items():
            for kind, media in response.get("content", {}).items():
                if not _has_example(media) and not _is_file(spec, media):
                    missing.append(f"{name}: no example on the {code} answer ({kind}): "
                                   f"@blp.response({code}, ..., example={{...}})")
        body = resolve(spec, operation.get("requestBody", {}))
        for kind, media in body.get("content", {}).items():
            if not _has_example(media):
                missing.append(f"{name}: no request body example ({kind}): @blp.arguments(Schema, example={{...}})")
    return missing


def test_the_document_is_valid_openapi(spec):
    validate_openapi(spec)


def test_every_operation_says_what_it_does_and_has_examples(spec):
    assert len(list(operations(spec))) >= 45
    missing = missing_examples(spec)
    assert not missing, "operations without their documentation or examples:\n  " + "\n  ".join(missing)


def test_the_check_names_an_operation_that_lacks_its_examples(spec):
    broken = copy.deepcopy(spec)
    invest = broken["paths"]["/api/v1/properties/{property_id}/invest"]["post"]
    del invest["requestBody"]["content"][JSON]["example"]
    del invest["responses"]["201"]["content"][JSON]["example"]
    broken["paths"]["/api/v1/me"]["get"].pop("summary")
    broken["paths"]["/api/v1/me"]["get"].pop("description", None)
    assert missing_examples(broken) == [
        "GET /api/v1/me: no summary or description (a docstring on the view)",
        "POST /api/v1/properties/{property_id}/invest: no example on the 201 answer (application/json): "
        "@blp.response(201, ..., example={...})",
        "POST /api/v1/properties/{property_id}/invest: no request body example (application/json): "
        "@blp.arguments(Schema, example={...})",
    ]
    broken["paths"]["/api/v1/me"]["get"]["responses"] = {"401": {"$ref": "#/components/responses/UNAUTHORIZED"}}
    assert "GET /api/v1/me: no success response documented" in missing_examples(broken)


def _examples(media: dict) -> list:
    if "example" in media:
        return [media["example"]]
    return [example["value"] for example in media.get("examples", {}).values() if "value" in example]


def test_every_example_is_what_its_schema_describes(spec):
    """An example is a real answer (or request): it validates against the schema it illustrates, the envelope,
    money as {amount, currency} and every member included."""
    wrong = []
    for method, path, operation in operations(spec):
        places = [("request", resolve(spec, operation.get("requestBody", {})))]
        places += [(code, resolve(spec, response)) for code, response in operation.get("responses", {}).items()]
        for place, documented in places:
            media = documented.get("content", {}).get(JSON)
            if not media or "schema" not in media:
                continue
            validator = jsonschema.Draft4Validator(to_json_schema(spec, media["schema"]),
                                                   format_checker=jsonschema.FormatChecker())
            for example in _examples(media):
                for problem in sorted(validator.iter_errors(example), key=lambda e: list(e.path))[:3]:
                    wrong.append(f"{method.upper()} {path} {place}: {'/'.join(map(str, problem.path))}: "
                                 f"{problem.message[:200]}")
    assert not wrong, "examples that do not match their schema:\n  " + "\n  ".join(wrong)


def test_the_error_responses_show_the_error_envelope(spec):
    shared = spec["components"]["responses"]
    for name in ("BAD_REQUEST", "UNAUTHORIZED", "UNPROCESSABLE_ENTITY", "TOO_MANY_REQUESTS", "DEFAULT_ERROR"):
        example = shared[name]["content"][JSON]["example"]
        assert example["status"] == "error" and example["message"], name
    assert shared["UNAUTHORIZED"]["content"][JSON]["example"] == ERRORS[401]
    assert shared["UNPROCESSABLE_ENTITY"]["content"][JSON]["example"]["errors"] == {
        "amount": ["amount has more than 2 decimal places"]}
    # an error a view declares itself (alt_response) gets the envelope and its code's example too
    conflict = spec["paths"]["/api/v1/payouts/{payout_id}/cancel"]["post"]["responses"]["409"]
    assert conflict["content"][JSON]["example"] == ERRORS[409]
    assert conflict["content"][JSON]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    for method, path, operation in operations(spec):
        for code, response in operation["responses"].items():
            media = resolve(spec, response).get("content", {}).get(JSON, {})
            if (code.isdigit() and int(code) >= 400) or code == "default":
                assert _examples(media) and all(e["status"] == "error" for e in _examples(media)), (method, path, code)


def test_money_in_the_examples_is_a_decimal_string_with_its_currency(spec):
    """`{"amount": "1250.00", "currency": "USD"}` wherever an example shows money, and request amounts as strings."""
    def walk(node, trail):
        if isinstance(node, dict):
            if set(node) == {"amount", "currency"}:
                assert isinstance(node["amount"], str) and re.fullmatch(r"-?\d+(\.\d+)?", node["amount"]), trail
                assert re.fullmatch(r"[A-Z]{3}", node["currency"]), trail
            for key, value in node.items():
                walk(value, f"{trail}/{key}")
        elif isinstance(node, list):
            for n, value in enumerate(node):
                walk(value, f"{trail}/{n}")

    invest = spec["paths"]["/api/v1/properties/{property_id}/invest"]["post"]
    assert invest["requestBody"]["content"][JSON]["example"]["amount"] == "1000.00"
    for method, path, operation in operations(spec):
        for code, response in operation["responses"].items():
            for media in resolve(spec, response).get("content", {}).values():
                for example in _examples(media):
                    walk(example, f"{method.upper()} {path} {code}")


def test_an_error_a_view_declares_gets_the_envelope_and_keeps_its_own_example(app):
    """`alt_response(code, description=...)`, with or without a schema, gets the error envelope and its code's
    example; `alt_response(..., example=error(...))` keeps its own."""
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "api_payouts.cancel")
    envelope_ref = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
    own = error("the payout is paid: nothing to cancel")
    operation = {"responses": {
        "200": {"description": "OK", "content": {JSON: {"schema": {"type": "object"}, "example": {"a": 1}}}},
        "403": {"description": "not the owner"},
        "409": {"description": "not requested", "content": {JSON: {"example": own}}},
        "422": {"description": "invalid", "content": {JSON: {"schema": dict(envelope_ref)}}},
    }}
    ErrorResponses(app).operation_helper(path="/api/v1/payouts/{payout_id}/cancel", operations={"post": operation},
                                         rule=rule)
    responses = operation["responses"]
    assert responses["403"]["content"][JSON] == {"schema": envelope_ref, "example": ERRORS[403]}
    assert responses["409"]["content"][JSON] == {"schema": envelope_ref, "example": own}
    assert responses["422"]["content"][JSON] == {"schema": envelope_ref, "example": ERRORS[422]}
    assert responses["200"]["content"][JSON]["example"] == {"a": 1}  # a success is the view's own
    assert responses["401"] == "UNAUTHORIZED" and responses["404"] == "NOT_FOUND"  # shared components
