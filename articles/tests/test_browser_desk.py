"""The desk in a real chromium: tap-sized workflow buttons with a quiet trash link, and a change
list that fits a 1280-px window; both checked by axe-core."""

import pytest
from django.db import connections

from .browser import AXE, close_settled, load_axe
from .factories import make_article, make_category, make_editor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Newsdesk-1"
WIDTHS = {390: 44, 1280: 36}  # window width: the least height of a workflow button


@pytest.fixture
def desk(chromium, live_server):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make browser-deps`")
    make_editor("ed", password=PASSWORD)
    yield chromium, live_server.url
    connections.close_all()


def log_in(browser, base, width):
    page = browser.new_context(viewport={"width": width, "height": 844}).new_page()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "ed")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    return page


def axe_violations(page, *selectors):
    """axe-core's findings on the page, or on the parts of it that `selectors` name."""
    load_axe(page)
    violations = page.evaluate(
        """async (selectors) => (await axe.run(
            selectors.length ? {include: selectors.map((s) => [s])} : document,
            {resultTypes: ['violations']})).violations""",
        list(selectors),
    )
    return [
        (v["id"], v["nodes"][0]["target"], v["nodes"][0]["failureSummary"][:200])
        for v in violations
    ]


@pytest.mark.parametrize("width", WIDTHS)
def test_workflow_buttons_are_tap_targets_and_trash_is_quiet(desk, width):
    """Every workflow button is full height at the top and the bottom of the form; the primary
    one stands out, and "Move to trash" is a smaller, unfilled link; the bottom row is sticky."""
    browser, base = desk
    article = make_article("Harbour reopens", status="draft", category=make_category("World"))
    page = log_in(browser, base, width)
    page.goto(f"{base}/admin/articles/article/{article.pk}/change/")
    for where in ("top", "bottom"):
        buttons = page.locator(f".workflow-row--{where} button[name=_action]")
        assert buttons.count() >= 3, where
        for i in range(buttons.count()):
            box = buttons.nth(i).bounding_box()
            assert box["height"] >= WIDTHS[width], (where, buttons.nth(i).inner_text(), box)
    primary = page.locator(".workflow-row--bottom .button.primary")
    trash = page.locator(".workflow-row--bottom a:has-text('Move to trash')")
    primary_box, trash_box = primary.bounding_box(), trash.bounding_box()
    assert trash_box["height"] < primary_box["height"]
    style = "(el, p) => getComputedStyle(el)[p]"
    assert trash.evaluate(style, "backgroundColor") in ("rgba(0, 0, 0, 0)", "transparent")
    assert primary.evaluate(style, "backgroundColor") != page.locator(
        ".workflow-row--bottom button:not(.primary)"
    ).first.evaluate(style, "backgroundColor")
    assert float(trash.evaluate(style, "fontSize").removesuffix("px")) < float(
        primary.evaluate(style, "fontSize").removesuffix("px")
    )
    assert page.locator(".workflow-row--top a:has-text('Move to trash')").count() == 0
    assert page.locator(".workflow-row--bottom").evaluate(style, "position") == "sticky"
    # The counters under the headline and the body follow the typing (desk.js).
    page.fill("#id_headline", "x" * 65)
    assert page.locator("output[data-for=id_headline] .desk-count-n").inner_text() == "65"
    page.fill("#id_body", "word " * 700)
    body_count = page.locator("output[data-for=id_body]").inner_text()
    assert body_count == "700 words · about 3 min read", body_count
    violations = axe_violations(page)  # the whole change form
    assert violations == [], violations
    close_settled(page.context)


def test_change_list_fits_1280_with_the_sidebar_open(desk):
    """Every column is visible: no sideways scrolling, headlines clamped to two lines."""
    from .factories import make_author

    browser, base = desk
    world = make_category("World news and international affairs")
    authors = [make_author(f"Correspondent Number {i} Longname") for i in range(4)]
    for i in range(30):
        make_article(
            f"Story {i}: " + "a headline that goes on and on about the harbour " * 3,
            status=["draft", "review", "published"][i % 3],
            category=world,
            authors=authors[: 1 + i % 4],
        )
    page = log_in(browser, base, 1280)
    page.goto(f"{base}/admin/articles/article/")
    assert page.locator("#nav-sidebar").is_visible()
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths
    # ...and the table does not scroll sideways inside its own box either.
    table = page.evaluate(
        "() => { const r = document.querySelector('#changelist .results');"
        " return [r.scrollWidth, r.clientWidth]; }"
    )
    assert table[0] <= table[1], table
    assert page.locator("#result_list th.column-featured").is_visible()
    headline = page.locator("#result_list .field-headline a").first
    line = float(headline.evaluate("el => getComputedStyle(el).lineHeight").removesuffix("px"))
    assert headline.bounding_box()["height"] <= 2 * line + 1
    violations = axe_violations(page)  # the whole change list
    assert violations == [], violations
    close_settled(page.context)
