"""The services' refusals reach investors in their language: every sentence a domain error of the investor-facing
packages is raised with (a literal message, or a literal in its errors) has a Spanish translation, and a refusal is
read in the language of the request that shows it (English in the console, in workers and in logs)."""
from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.pofile import read_po
from flask_babel import refresh

from app.core.db import unit_of_work
from app.core.errors import Conflict, ValidationError
from app.extensions import db
from tests.support import csrf_from

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "app" / "translations" / "es" / "LC_MESSAGES" / "messages.po"
# the packages whose refusals an investor can meet, in the portal or through the API
PACKAGES = ("auth", "account", "investing", "market", "payouts", "payments", "kyc", "support", "portal", "api",
            "notifications", "core")
ERRORS = {"DomainError", "ValidationError", "NotFound", "Forbidden", "Conflict", "InsufficientFunds",
          "IllegalTransition", "IdempotencyConflict", "SocialRefusal", "Gone", "TooManyCodes"}


def _strings(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        yield node.value
    elif isinstance(node, ast.List | ast.Tuple):
        for item in node.elts:
            yield from _strings(item)
    elif isinstance(node, ast.Dict):  # an errors dict: its keys are field names, its values the messages
        for item in node.values:
            yield from _strings(item)


def raised_sentences() -> dict[str, str]:
    """Each literal sentence a domain error is built with, and where (f-strings are left out: their values vary)."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / "app" / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name not in ERRORS:
                    continue
                first = 1 if name == "SocialRefusal" else 0  # SocialRefusal(code, message, errors)
                for arg in [*node.args[first:first + 2],
                            *(k.value for k in node.keywords if k.arg in ("message", "errors"))]:
                    for text in _strings(arg):
                        found.setdefault(text, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_sentence_the_services_refuse_with_has_a_spanish_translation():
    with PO.open("rb") as handle:
        catalogue = read_po(handle, locale="es")
    sentences = raised_sentences()
    assert len(sentences) > 300  # the scan still finds them
    missing = [f"{where}: {text!r}" for text, where in sentences.items()
               if not (catalogue.get(text) and catalogue.get(text).string)]
    assert not missing, "\n".join(missing)


def test_a_refusal_is_read_in_the_language_of_the_request(app):
    error = ValidationError("The current password is not correct.",
                            {"password": ["The current password is not correct."], "nested": {"x": ["At most 200."]}})
    assert error.message == "The current password is not correct." == str(error)  # outside a request: English
    with app.test_request_context("/account/security", headers={"Accept-Language": "es"}):
        assert error.message == "La contraseña actual no es correcta."
        assert error.errors == {"password": ["La contraseña actual no es correcta."], "nested": {"x": ["Como máximo 200."]}}
        assert Conflict("a sentence nobody translated").message == "a sentence nobody translated"
    with app.test_request_context("/admin/users/", headers={"Accept-Language": "es"}):
        refresh()  # the test's app context outlives each request context: forget the locale chosen before
        assert error.message == "The current password is not correct."  # the console stays English
    error.errors = {"amount": ["amount must be positive"]}  # a service may set them after building the error
    with app.test_request_context("/wallet", headers={"Accept-Language": "es"}):
        refresh()
        assert error.errors["amount"][0] != "amount must be positive"


def test_a_spanish_investor_reads_the_services_refusal_on_the_page(client, make_user, login):
    investor = make_user()
    with unit_of_work():
        db.session.get(type(investor), investor.id).locale = "es"
    login(investor)
    page = client.get("/account/security").get_data(as_text=True)
    new = "An0ther-long-passw0rd"
    response = client.post("/account/password", data={"csrf_token": csrf_from(page), "current_password": "wrong",
                                                       "password": new, "confirm": new})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "La contraseña actual no es correcta." in html and "The current password is not correct." not in html
