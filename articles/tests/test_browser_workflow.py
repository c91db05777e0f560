"""The editor's path in a real browser: reporter drafts and submits, editor previews, is stopped
by the checklist, fixes and publishes; a reader sees the story on the front page."""

import io

import pytest
from django.contrib.auth.models import Group
from PIL import Image
from playwright.sync_api import expect

from articles.models import Article

from .browser import close_settled
from .factories import make_author, make_category, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Newsdesk-1"


def log_in(context, base, username):
    page = context.new_page()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    return page


def pick_autocomplete(page, field_id, text):
    page.click(f"#{field_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.click(f".select2-results__option:has-text('{text}')")


def test_reporter_to_editor_to_reader(chromium, live_server, tmp_path):
    reporter = make_user("rita", groups=[Group.objects.get(name="Reporters")], password=PASSWORD)
    make_author("Rita Reporter", user=reporter)
    make_user("ed", groups=[Group.objects.get(name="Editors")], password=PASSWORD)
    make_category("World")
    image = tmp_path / "protest.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (800, 500), (90, 120, 200)).save(buffer, "JPEG")
    image.write_bytes(buffer.getvalue())
    base = live_server.url

    # The reporter writes a draft with an image and submits it.
    reporter_ctx = chromium.new_context()
    page = log_in(reporter_ctx, base, "rita")
    page.goto(f"{base}/admin/articles/article/add/")
    page.fill("#id_headline", "Harbour reopens after storm")
    page.fill("#id_standfirst", "Boats return TK")
    page.fill("#id_body", "The harbour reopened on *Monday*.\n\nFishermen were relieved.")
    pick_autocomplete(page, "id_category", "World")
    page.set_input_files("#id_lead_image", str(image))
    assert page.locator("button[value=publish]").count() == 0
    page.click("button[value=submit]")
    page.wait_for_selector(".messagelist .success")
    badge = page.locator(".state-badge")
    assert (badge.get_attribute("data-state"), badge.inner_text()) == ("review", "In review")
    article = Article.objects.get()
    assert article.status == Article.Status.REVIEW and article.lead_image
    close_settled(reporter_ctx)

    # The editor previews it, is stopped by the checklist, fixes it and publishes.
    editor_ctx = chromium.new_context()
    page = log_in(editor_ctx, base, "ed")
    page.goto(f"{base}/preview/{article.pk}/")
    assert "Preview — not published" in page.inner_text("body")
    assert "Harbour reopens after storm" in page.inner_text("h1")
    page.goto(f"{base}/admin/articles/article/{article.pk}/change/")
    page.click("button[value=publish]")
    # The click returns once the answer starts to load: the checks wait for its text.
    expect(page.locator("#content")).to_contain_text("Describe the lead image in its alt text.")
    page_text = page.inner_text("#content")
    assert "Remove the placeholder text “TK”" in page_text
    assert Article.objects.get(pk=article.pk).status == Article.Status.REVIEW
    page.fill("#id_standfirst", "Boats return to the water after a week.")
    page.fill("#id_lead_image_alt", "Fishing boats moored in the harbour")
    page.click("button[value=publish]")
    page.wait_for_selector(".messagelist .success")
    assert page.locator(".state-badge").inner_text() == "Published"
    close_settled(editor_ctx)

    # An anonymous reader sees it on the front page and opens it.
    reader_ctx = chromium.new_context()
    page = reader_ctx.new_page()
    page.goto(f"{base}/")
    page.click("text=Harbour reopens after storm")
    expect(page.locator("h1")).to_have_text("Harbour reopens after storm")
    assert "Boats return to the water after a week." in page.inner_text("main")
    assert page.locator("main img[alt='Fishing boats moored in the harbour']").count() == 1
    assert reader_ctx.cookies() == []
    reader_ctx.close()
