"""Autosave in a real browser: text typed in the change form survives a closed tab (kept by the
server) and a lost connection (kept by the browser), and comes back with Restore."""

import pytest
from django.db import connections
from django.urls import reverse

from articles.models import Article, Autosave, Byline

from .browser import AXE, close_settled, load_axe, wait_until_autosaved
from .factories import make_article, make_author, make_category, make_editor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open(browser, live_server, url, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.add_init_script("window.NEWSDESK_AUTOSAVE_MS = 300")
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next={url}")
    page.fill("#id_username", "ed")
    page.fill("#id_password", "pw-Newsdesk-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{url}")
    return context, page


def _axe_clean(page, notice):
    """The whole change form, with the notice showing, passes axe."""
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `make browser-deps`")
    assert page.locator(notice).count() == 1
    load_axe(page)
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    report = [(v["id"], [n["target"] for n in v["nodes"]][:6]) for v in violations]
    assert report == [], report


def test_closed_tab_and_lost_connection_lose_nothing(chromium, live_server):
    try:
        _closed_tab_and_lost_connection(chromium, live_server)
    finally:
        connections.close_all()


def _closed_tab_and_lost_connection(browser, live_server):
    make_editor("ed")
    article = make_article(
        "Harbour reopens", status=Article.Status.DRAFT, category=make_category("Local"),
        body="Ships returned on Monday.",
    )  # fmt: skip
    Byline.objects.create(article=article, author=make_author("Cal Reporter"), position=0)
    url = reverse("admin:articles_article_change", args=[article.pk])

    # Phone width: the server keeps what was typed; the next visit offers it back.
    context, page = _open(browser, live_server, url, 390)
    page.fill("#id_body", "Ships returned on Tuesday, after the storm.")
    wait_until_autosaved(page)
    # A tab closed with the cursor in a field fires the field's change event after the server
    # has its text (Chromium, most times): fired here, so the test does not depend on it.
    page.dispatch_event("#id_body", "change")
    page.close()
    page = context.new_page()
    page.goto(f"{live_server.url}{url}")
    # The server's copy is offered, with its changes shown, and not a second copy kept locally.
    assert "Restore your unsaved changes from" in page.inner_text("#autosave-notice h2")
    assert page.locator("#autosave-local-notice").count() == 0
    assert page.locator("#autosave-notice ins", has_text="Tuesday").count() == 1
    _axe_clean(page, "#autosave-notice")
    page.click("#autosave-restore")
    page.wait_for_selector(".autosave-notice[role=status]")
    assert page.input_value("#id_body") == "Ships returned on Tuesday, after the storm."
    page.click("button[value=save]")
    page.wait_for_selector(".messagelist .success")
    assert Article.objects.get(pk=article.pk).body == "Ships returned on Tuesday, after the storm."
    assert not Autosave.objects.exists()
    close_settled(context)

    # Desktop width, offline: the browser keeps the text and offers it when the desk is back.
    context, page = _open(browser, live_server, url, 1280)
    context.set_offline(True)
    page.fill("#id_body", "Typed on the train.")
    page.wait_for_selector("#autosave-status:has-text('Offline')")
    # Chromium's offline emulation still lets the beacon sent on closing through; without a
    # network it would be lost, so it is here.
    page.evaluate(
        "() => { navigator.sendBeacon = () => true; window.fetch = () => Promise.reject(); }"
    )
    page.close()
    context.set_offline(False)
    page = context.new_page()
    page.goto(f"{live_server.url}{url}")
    notice = page.locator("#autosave-local-notice")
    assert "Restore your unsaved changes from" in notice.inner_text()
    assert "Body" in notice.inner_text()
    _axe_clean(page, "#autosave-local-notice")
    notice.get_by_role("button", name="Restore").click()
    assert page.input_value("#id_body") == "Typed on the train."
    wait_until_autosaved(page)
    assert Autosave.objects.get().data["body"] == "Typed on the train."
    page.click("button[value=save]")
    page.wait_for_selector(".messagelist .success")
    assert Article.objects.get(pk=article.pk).body == "Typed on the train."
    kept = "Object.keys(localStorage).filter(k => k.startsWith('newsdesk-autosave'))"
    assert page.evaluate(kept) == []
    close_settled(context)
