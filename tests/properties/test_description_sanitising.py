"""A property's description is Markdown rendered to HTML that nh3 cleans: only a small allow-list survives."""
from app.properties.presenters import render_markdown


def test_scripts_handlers_images_and_styles_never_survive():
    html = render_markdown(
        "**Bold** <script>alert(1)</script><img src=x onerror=alert(2)>"
        "<a href=\"javascript:alert(3)\" onclick=\"alert(4)\">link</a><style>p{}</style>"
        "<iframe src=\"https://evil.example/\"></iframe>")
    for gone in ("<script", "alert(1)", "<img", "onerror", "javascript:", "onclick", "<style", "<iframe"):
        assert gone not in html
    assert "<strong>Bold</strong>" in html and ">link</a>" in html


def test_the_allowed_markup_and_safe_links_remain():
    html = render_markdown("### Terms\n\n- one\n- two\n\n> quoted `code`\n\n[site](https://example.com \"Site\")")
    assert "<h3>Terms</h3>" in html and "<li>one</li>" in html and "<blockquote>" in html and "<code>code</code>" in html
    assert 'href="https://example.com"' in html and 'title="Site"' in html and 'rel="noopener noreferrer"' in html
