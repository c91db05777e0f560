"""Public pages in a real chromium, on a phone and a desktop, checked by axe-core (WCAG 2.1 AA)."""

import pytest

from articles import services

from .browser import AXE, load_axe
from .factories import make_article, make_author, make_category, make_correction, make_tag

VIEWPORTS = {
    "phone": {"width": 360, "height": 740},
    "desktop": {"width": 1280, "height": 900},
    # A 1280-px desktop at 200% zoom lays out as a 640-px window.
    "desktop-200%": {"width": 640, "height": 450},
}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def content():
    world, sport = make_category("World"), make_category("Sport")
    ann, bo = make_author("Ann Lee", bio="Covers North Africa."), make_author("Bo Chen")
    climate = make_tag("Climate")
    lead = make_article(
        "Talks resume in Tripoli after a long pause",
        category=world,
        authors=[ann, bo],
        tags=[climate],
        featured=True,
        standfirst="Both sides return to the table as the deadline nears.",
        body="First paragraph with a [link](https://example.org/).\n\n> A quote.\n\nLast one.",
    )
    for i in range(8):
        make_article(
            f"Climate story number {i}",
            category=world if i % 2 else sport,
            authors=[ann if i % 2 else bo],
            tags=[climate],
        )
    return lead


@pytest.fixture
def browser(chromium):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make browser-deps`")
    return chromium


def axe_violations(page, tags=WCAG_TAGS):
    load_axe(page)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", tags
    )
    assert result["passes"], "axe ran no checks"
    return [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:5]) for v in result["violations"]
    ]


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_public_pages_have_no_axe_violations(live_server, browser, content, viewport, scheme):
    context = browser.new_context(viewport=VIEWPORTS[viewport], color_scheme=scheme)
    page = context.new_page()
    urls = {
        "front page": "/",
        "article": content.get_absolute_url(),
        "filtered archive": "/articles/?category=world&tag=climate",
        "search": "/search/?q=climate",
    }
    try:
        for name, path in urls.items():
            response = page.goto(live_server.url + path)
            assert response.status == 200, name
            assert axe_violations(page) == [], (name, viewport, scheme)
            # Nothing is wider than the window (no sideways scrolling on a phone).
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (name, viewport)
    finally:
        context.close()


def test_error_notice_and_search_pages_have_no_axe_violations(live_server, browser, content):
    """The pages readers reach by mistake or by searching, at a phone's and a desktop's width;
    one page is reused for every address."""
    make_correction(content, text="We misstated the date.")
    gone = make_article("Withdrawn story")
    services.article_withdraw(gone, user=None, reason="The claims could not be verified.")
    urls = {
        "search": ("/search/?q=climate", 200),
        "search without results": ("/search/?q=zeppelin", 200),
        "archive with a refused filter": ("/articles/?published_after=notadate&tag=climate", 400),
        "corrections": ("/corrections/", 200),
        "withdrawn": (gone.get_absolute_url(), 410),
        "404": ("/articles/no-such-story/", 404),
    }
    context = browser.new_context()
    page = context.new_page()
    try:
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 800})
            for name, (path, status) in urls.items():
                response = page.goto(live_server.url + path)
                assert response.status == status, name
                # Best practices too: landmark-unique (two search forms named alike) is one.
                assert axe_violations(page, [*WCAG_TAGS, "best-practice"]) == [], (name, width)
    finally:
        context.close()


def test_skip_link_and_visible_focus(live_server, browser, content):
    context = browser.new_context(viewport=VIEWPORTS["phone"])
    page = context.new_page()
    try:
        page.goto(live_server.url + content.get_absolute_url())
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.className")
        assert focused == "skip-link"
        assert page.evaluate("getComputedStyle(document.activeElement).left") == "0px"
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        page.keyboard.press("Enter")
        assert page.evaluate("location.hash") == "#content"
    finally:
        context.close()


def test_search_and_filters_work_in_the_browser(live_server, browser, content):
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        page.fill("#site-search", "tripoli")
        page.press("#site-search", "Enter")
        page.wait_for_url("**/search/?q=tripoli")
        assert page.locator("mark").first.inner_text().lower() == "tripoli"
        page.goto(live_server.url + "/articles/")
        page.select_option("#id_category", "sport")
        page.click("text=Apply filters")
        page.wait_for_url("**category=sport**")
        assert page.locator(".results-count").inner_text() == "4 articles"
    finally:
        context.close()
