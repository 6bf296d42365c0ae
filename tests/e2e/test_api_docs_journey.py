"""A developer reads the API's documentation at /api/v1/docs in the browser: the operations are listed with their
examples, nothing is loaded from another host, the site's policy is kept (no console error), and an operation is
tried with a bearer token entered under "Authorize", which the page does not keep in the browser's storage."""
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_the_docs_page_lists_every_operation_and_tries_one_with_a_token(page, live_server, artifacts_dir,
                                                                        make_user, token_for):
    investor = make_user("docs.reader@example.com", first_name="Dana")
    token = token_for(investor)["Authorization"].removeprefix("Bearer ")
    problems: list[str] = []
    hosts: set[str] = set()
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.set_viewport_size({"width": 1280, "height": 1000})

    page.goto(f"{live_server}/api/v1/docs")
    me = page.locator("#operations-api_me-get_api_v1_me")
    expect(me).to_contain_text("/api/v1/me")
    expect(me).to_contain_text("GET")
    for path in ("/api/v1/auth/token", "/api/v1/properties/{property_id}/invest", "/api/v1/market/offers",
                 "/api/v1/payouts/quote", "/api/v1/kyc/submissions"):
        expect(page.locator(".opblock-summary-path", has_text=path).first).to_be_visible()
    spec = page.evaluate("fetch('/api/v1/openapi.json').then(r => r.json())")
    count = sum(1 for item in spec["paths"].values() for method in item if method in ("get", "post", "put",
                                                                                        "patch", "delete"))
    expect(page.locator(".opblock")).to_have_count(count)  # every operation of the document is on the page
    page.screenshot(path=str(artifacts_dir / "api-docs-1-operations.png"))

    # an operation shows its examples: the request body and the answer
    invest = page.locator("#operations-api_investments-post_api_v1_properties__property_id__invest")
    invest.locator(".opblock-summary").click()
    expect(invest.locator(".body-param__example")).to_contain_text('"amount": "1000.00"')
    expect(invest.locator(".responses-table").first).to_contain_text('"status": "success"')
    invest.locator(".opblock-summary").click()

    # "Authorize" with the bearer token, then try GET /me from the page
    page.locator("button.authorize").click()
    page.locator(".auth-container input").fill(token)
    page.locator(".auth-btn-wrapper button.authorize").click()
    page.locator(".auth-btn-wrapper button.btn-done").click()
    me.locator(".opblock-summary").click()
    me.locator("button.try-out__btn").click()
    me.locator("button.execute").click()
    live = me.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status").first).to_have_text("200")
    expect(live).to_contain_text("docs.reader@example.com")
    live.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "api-docs-2-try-me.png"))

    stored = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage, window.sessionStorage))")
    assert token not in stored, "the token stays in the page's memory only"
    assert hosts == {urlsplit(live_server).netloc}, f"requests to other hosts: {hosts}"
    assert not problems, problems
