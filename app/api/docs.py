"""GET /api/v1/docs: the API's documentation page, Swagger UI on the OpenAPI document /api/v1/openapi.json.

Swagger UI is vendored under static/vendor/swagger-ui (no CDN) and started by static/js/api-docs.js: the page holds
no inline script, so it passes the site's Content-Security-Policy unchanged (decision 0029). The page is public like
the document it shows: reading the documentation needs no token, calling an operation from it ("Try it out") needs
the bearer token the reader enters under "Authorize", kept in the page's memory only."""
from __future__ import annotations

from flask import Blueprint, render_template, url_for

PATH = "/api/v1/docs"
bp = Blueprint("api_docs_page", __name__)


@bp.get(PATH)
def page() -> str:
    return render_template("api/docs.html", spec_url=url_for("api-docs.openapi_json"))
