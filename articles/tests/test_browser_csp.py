"""The Content-Security-Policy in a real chromium: public pages and the desk (login, dashboard,
change list, change form with its date widgets, autocomplete and autosave) run under it without
a single violation."""

import pytest
from django.db import connections
from django.urls import reverse

from .browser import close_settled, wait_until_autosaved
from .factories import image_upload, make_article, make_author, make_category, make_editor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Newsdesk-1"

# Runs before any script of each page (as DevTools, not as page script, so the policy does not
# apply to it): every violation the browser reports is written to the console, where the test's
# listener keeps it across navigations.
WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + JSON.stringify({
    directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample,
    source: e.sourceFile, line: e.lineNumber, page: document.location.pathname}));
});
window.NEWSDESK_AUTOSAVE_MS = 300;
"""


@pytest.fixture
def site(chromium, live_server):
    make_editor("ed", password=PASSWORD)
    section = make_category("Local")
    live = make_article(
        "Harbour reopens after the storm",
        category=section,
        authors=[make_author("Cal Reporter")],
        body="Ships returned on **Monday**.\n\n- one\n- two",
    )
    live.lead_image = image_upload()
    live.lead_image_alt = "The harbour at dawn"
    live.save()
    draft = make_article("Council budget", status="draft", category=section, body="Draft text.")
    yield chromium, live_server.url, live, draft
    connections.close_all()


def watched(browser):
    """A fresh browser context whose pages report every CSP violation and page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(WATCH)
    seen = []
    context.on(
        "console",
        lambda m: (
            seen.append(m.text)
            if "CSP violation" in m.text or "Content Security Policy" in m.text
            else None
        ),
    )
    context.on("weberror", lambda e: seen.append(f"page error: {e.error}"))
    return context, seen


def visit(page, url):
    response = page.goto(url)
    assert response.status == 200, url
    assert "script-src 'self'" in response.headers["content-security-policy"], url
    page.wait_for_load_state("load")
    return response


def test_detector_sees_a_blocked_inline_script(site):
    """The watch itself works: an inline script added to a page is blocked and reported."""
    browser, base, live, _ = site
    context, seen = watched(browser)
    page = context.new_page()
    visit(page, f"{base}{live.get_absolute_url()}")
    page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "window.ran = true"; document.body.append(s); }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.ran") is None
    assert any("script-src" in text for text in seen), seen
    close_settled(context)


def test_public_pages_run_without_violations(site):
    """The front page and an article (lead image, JSON-LD, body) under the policy."""
    browser, base, live, _ = site
    context, seen = watched(browser)
    page = context.new_page()
    visit(page, f"{base}/")
    assert page.locator("text=Harbour reopens after the storm").count() >= 1
    visit(page, f"{base}{live.get_absolute_url()}")
    # The JSON-LD block is on the page: a data block, neither run nor blocked.
    assert page.locator('script[type="application/ld+json"]').count() >= 1
    assert page.evaluate("() => document.querySelector('main img').naturalWidth") > 0
    # The stylesheet applied (the masthead is not the browser's default block).
    assert page.evaluate(
        "() => getComputedStyle(document.querySelector('.skip-link')).position"
    ) in ("absolute", "fixed")
    visit(page, f"{base}{live.category.get_absolute_url()}")
    page.wait_for_timeout(200)
    assert seen == []
    close_settled(context)


def test_the_desk_runs_without_violations(site):
    """Admin login, the dashboard, the change list, and the change form: date shortcuts,
    autocomplete and autosave all work, and nothing is blocked."""
    browser, base, live, draft = site
    context, seen = watched(browser)
    page = context.new_page()
    visit(page, f"{base}/admin/login/")
    page.fill("#id_username", "ed")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    assert page.locator("#desk-dashboard").count() == 1
    page.wait_for_timeout(200)
    assert seen == []
    # The dashboard's layout comes from desk.css now: a grid, not the inline style it was.
    assert (
        page.evaluate(
            "() => getComputedStyle(document.querySelector('#desk-dashboard .desk-panels')).display"
        )
        == "grid"
    )
    visit(page, f"{base}{reverse('admin:articles_article_changelist')}")
    assert page.locator("#result_list img.desk-thumb").count() == 1
    # The admin's own scripts run: the sidebar's filter box and the action checkboxes.
    page.check("#action-toggle")
    assert page.locator("input.action-select:checked").count() >= 2

    visit(page, f"{base}{reverse('admin:articles_article_change', args=[draft.pk])}")
    # Date widgets: the calendar pops up and "Today" fills the date (then it is cleared).
    page.click("#calendarlink0")
    assert page.locator("#calendarbox0").is_visible()
    page.click("#calendarbox0 .calendarnav-next")
    page.keyboard.press("Escape")
    page.click("#id_published_at_0 ~ .datetimeshortcuts a:text('Today')")
    assert page.input_value("#id_published_at_0") != ""
    page.fill("#id_published_at_0", "")
    # Autocomplete (select2): the section search opens and lists the sections it fetched.
    page.click("#id_category + .select2 .select2-selection")
    page.wait_for_selector(".select2-results__option:has-text('Local')")
    page.keyboard.press("Escape")
    # The desk's own scripts: live counts and autosave.
    page.fill("#id_body", "Draft text, now much longer and saved by autosave.")
    wait_until_autosaved(page)
    assert page.inner_text("#autosave-status").startswith("Saved ")
    page.wait_for_timeout(200)
    assert seen == []
    close_settled(context)
