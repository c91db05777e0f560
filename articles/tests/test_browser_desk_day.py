"""A full day on the desk in a real browser. A reporter drafts (the form autosaves; she closes
the tab and recovers her words), submits; an editor sends it back with a note; she sees it,
fixes, resubmits; the editor publishes it and schedules another; two editors clash and the
second save merges; then a correction, a rename and a withdrawal. After every step the words
typed so far are checked in the database: none is ever lost.

The screenshots of the change form and the dashboard in the README come from this test
(`make screenshots` writes `docs/desk-change-form.png` and `docs/desk-dashboard.png`)."""

import datetime as dt
import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from articles.models import Article, Correction

from .browser import AXE, close_settled, load_axe, wait_until_autosaved
from .factories import make_article, make_author, make_category, make_user
from .test_browser_workflow import PASSWORD, log_in, pick_autocomplete

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
# `make screenshots` writes the README's pictures into docs/; other runs keep them in var/.
DOCS = ROOT / ("docs" if os.environ.get("NEWSDESK_SCREENSHOTS") == "docs" else "var/screenshots")
FIRST = "The harbour reopened on Monday after a week of storms."
RECOVERED = "Fishermen said the damage was worse than in 1987."
QUOTE = "“We are back in business,” the harbour master said."


def _axe(page):
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `make browser-deps`")
    load_axe(page)
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [(v["id"], [n["target"] for n in v["nodes"]][:4]) for v in violations]


def _body():
    return Article.objects.get(headline="Harbour reopens").body


def test_a_day_on_the_desk_loses_no_words(chromium, live_server):
    try:
        _day(chromium, live_server)
    finally:
        connections.close_all()


def _day(browser, base_server):
    base = base_server.url
    reporters, editors = Group.objects.get(name="Reporters"), Group.objects.get(name="Editors")
    rita = make_user("rita", groups=[reporters], password=PASSWORD)
    make_author("Rita Reporter", user=rita)
    ed = make_user("ed", groups=[editors], password=PASSWORD)
    ed.first_name, ed.last_name = "Ed", "Itor"
    ed.save()
    eve = make_user("eve", groups=[editors], password=PASSWORD)
    eve.first_name, eve.last_name = "Eve", "Ning"
    eve.save()
    make_category("Local")
    viewport = {"width": 1280, "height": 900}

    # 1. The reporter drafts; the form autosaves; she closes the tab and gets her words back.
    rita_ctx = browser.new_context(viewport=viewport)
    rita_ctx.add_init_script("window.NEWSDESK_AUTOSAVE_MS = 300")
    page = log_in(rita_ctx, base, "rita")
    page.goto(f"{base}/admin/articles/article/add/")
    page.fill("#id_headline", "Harbour reopens")
    page.fill("#id_standfirst", "Boats are back on the water after the storms.")
    page.fill("#id_body", FIRST)
    pick_autocomplete(page, "id_category", "Local")
    page.click("button[value=save]")
    page.wait_for_selector(".messagelist .success")
    article = Article.objects.get(headline="Harbour reopens")
    change = f"{base}/admin/articles/article/{article.pk}/change/"
    page.fill("#id_body", f"{FIRST}\n\n{RECOVERED}")
    wait_until_autosaved(page)
    page.close()
    page = rita_ctx.new_page()
    page.goto(change)
    # The server's copy is offered, or the browser's own when its copy is the newer of the two
    # (its last keystroke can be stamped after the server's save): either way, one offer.
    page.wait_for_selector("section.autosave-notice")
    notice = page.locator("section.autosave-notice")
    assert notice.count() == 1
    assert "Restore your unsaved changes from" in notice.inner_text()
    notice.locator(".button", has_text="Restore").click()
    assert RECOVERED in page.input_value("#id_body")
    page.click("button[value=submit]")
    page.wait_for_selector(".messagelist .success")
    assert RECOVERED in _body()
    assert Article.objects.get(pk=article.pk).state == Article.State.REVIEW

    # 2. The editor sees it in the inbox and sends it back with a note.
    ed_ctx = browser.new_context(viewport=viewport)
    page_ed = log_in(ed_ctx, base, "ed")
    assert "Harbour reopens" in page_ed.inner_text("#dash-inbox")
    page_ed.click("#dash-inbox a:has-text('Harbour reopens')")
    page_ed.wait_for_selector("#id_workflow_note")
    page_ed.fill("#id_workflow_note", "Add a quote from the harbour master.")
    page_ed.click("button[value=send_back]")
    page_ed.wait_for_selector(".messagelist .success")

    # 3. The reporter sees the note, fixes the story and resubmits.
    page.goto(f"{base}/admin/")
    assert "Add a quote from the harbour master." in page.inner_text("#dash-sent-back")
    page.click("#dash-sent-back a:has-text('Harbour reopens')")
    # The click returns once the form starts to load: the note is waited for, not read half-parsed.
    expect(page.locator("#sent-back")).to_contain_text("Add a quote from the harbour master.")
    assert "Sent back by Ed Itor" in page.inner_text("#sent-back")
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / "desk-change-form.png"))
    violations = _axe(page)
    assert violations == [], violations
    page.fill("#id_body", f"{FIRST}\n\n{RECOVERED}\n\n{QUOTE}")
    page.click("button[value=submit]")
    page.wait_for_selector(".messagelist .success")
    assert QUOTE in _body() and RECOVERED in _body()
    close_settled(rita_ctx)

    # 4. The editor publishes it, and schedules another story for tomorrow morning.
    page_ed.goto(f"{base}/admin/")
    page_ed.screenshot(path=str(DOCS / "desk-dashboard.png"))
    page_ed.goto(change)
    page_ed.click("button[value=publish]")
    page_ed.wait_for_selector(".messagelist .success")
    assert Article.objects.get(pk=article.pk).state == Article.State.PUBLISHED
    later = make_article("Ferry timetable", status=Article.Status.DRAFT, category=None)
    later.category = Article._meta.get_field("category").related_model.objects.get()
    later.save()
    later.bylines.create(author=make_author("Desk Staff"), position=0)
    tomorrow = timezone.localtime() + dt.timedelta(days=1)
    page_ed.goto(f"{base}/admin/articles/article/{later.pk}/change/")
    page_ed.fill("#id_published_at_0", f"{tomorrow:%Y-%m-%d}")
    page_ed.fill("#id_published_at_1", "09:00:00")
    page_ed.click("button[value=schedule]")
    page_ed.wait_for_selector(".messagelist .success")
    assert Article.objects.get(pk=later.pk).state == Article.State.SCHEDULED

    # 5. Two editors change the live story at once: the second save merges, nothing is lost.
    eve_ctx = browser.new_context(viewport=viewport)
    page_eve = log_in(eve_ctx, base, "eve")
    page_eve.goto(change)
    page_ed.goto(change)
    page_eve.fill("#id_standfirst", "Boats are back, and so are the tourists.")
    page_eve.click("button[value=save]")
    page_eve.wait_for_selector(".messagelist .success")
    page_ed.fill("#id_body", f"{FIRST}\n\n{RECOVERED}\n\n{QUOTE}\n\nThe ferry runs again.")
    page_ed.click("button[value=save]")
    page_ed.wait_for_selector(".edit-conflict")
    assert "Standfirst" in page_ed.inner_text(".merge-taken")
    assert page_ed.input_value("#id_standfirst") == "Boats are back, and so are the tourists."
    page_ed.click("button[value=save]")
    page_ed.wait_for_selector(".messagelist .success")
    stored = Article.objects.get(pk=article.pk)
    assert stored.standfirst == "Boats are back, and so are the tourists."
    assert stored.body.endswith("The ferry runs again.") and QUOTE in stored.body
    close_settled(eve_ctx)

    # 6. A correction, then a rename: the old address sends readers to the new one.
    page_ed.goto(change)
    page_ed.click("#corrections-group .add-row a")
    page_ed.fill("#id_corrections-0-text", "The storm lasted six days, not a week.")
    page_ed.click("button[value=save]")
    page_ed.wait_for_selector(".messagelist .success")
    assert Correction.objects.filter(article=article).count() == 1
    old_url = Article.objects.get(pk=article.pk).get_absolute_url()
    page_ed.fill("#id_slug", "harbour-reopens-after-storms")
    page_ed.click("button[value=save]")
    page_ed.wait_for_selector(".messagelist .success")
    reader = browser.new_context().new_page()
    reader.goto(f"{base}{old_url}")
    assert reader.url.endswith("/harbour-reopens-after-storms/")
    assert "The storm lasted six days, not a week." in reader.inner_text("main")
    assert "The ferry runs again." in reader.inner_text("main")

    # 7. A withdrawal: readers get 410 with the reason; the desk keeps every word.
    page_ed.goto(f"{base}/admin/articles/article/{article.pk}/withdraw/")
    page_ed.fill("#id_reason", "Withdrawn while the figures are checked.")
    page_ed.click("#content form [type=submit]")
    page_ed.wait_for_selector(".messagelist .success")
    response = reader.goto(f"{base}/articles/harbour-reopens-after-storms/")
    assert response.status == 410
    final = Article.objects.get(pk=article.pk)
    for words in (FIRST, RECOVERED, QUOTE, "The ferry runs again."):
        assert words in final.body
    close_settled(ed_ctx)
    reader.context.close()
