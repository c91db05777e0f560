"""Two editors in two browsers edit the same article: the second save is refused with the
differences, and the second editor's text is still in the form."""

import datetime as dt

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from articles.models import Article

from .browser import AXE, load_axe
from .factories import make_article, make_author, make_category, make_user


@pytest.fixture
def browser(chromium):
    return chromium


def _open_as(browser, live_server, username, url):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next={url}")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-Newsdesk-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{url}")
    return page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_second_editor_is_refused_with_the_diff_and_keeps_their_text(live_server, browser):
    """While Playwright runs, the ORM in this test gets its own connections (asgiref sees
    an event loop): close them so the test database can be dropped cleanly."""
    try:
        _two_editors(live_server, browser)
    finally:
        connections.close_all()


def _two_editors(live_server, browser):
    ann = make_user("ann", superuser=True)
    ann.first_name, ann.last_name = "Ann", "Editor"
    ann.save()
    make_user("bob", superuser=True)
    article = make_article(
        "Harbour reopens after storm",
        authors=[make_author("Cal Reporter")],
        category=make_category("Local"),
        published_at=(timezone.now() - dt.timedelta(hours=3)).replace(microsecond=0),
        body="Ships returned on Monday.",
    )
    url = reverse("admin:articles_article_change", args=[article.pk])

    first = _open_as(browser, live_server, "ann", url)
    second = _open_as(browser, live_server, "bob", url)
    assert "Ann Editor opened this article" in second.inner_text(".presence-notice")

    first.fill("#id_headline", "Harbour reopens after two-day storm")
    first.click("button[value=save]")
    first.wait_for_selector(".messagelist .success")

    bobs_text = "Ships returned on Monday.\n\nBob adds: the ferry resumes on Tuesday."
    second.fill("#id_body", bobs_text)
    second.click("button[value=save]")
    second.wait_for_selector(".edit-conflict")

    notice = second.inner_text(".edit-conflict")
    assert "Ann Editor changed this article at" in notice
    assert second.locator(".edit-conflict ins", has_text="two-day").count() == 1
    assert second.input_value("#id_body") == bobs_text  # nothing Bob typed is lost
    # Ann's headline, which Bob had not touched, is taken into his form: saving keeps both.
    assert second.input_value("#id_headline") == "Harbour reopens after two-day storm"
    assert "Headline" in second.inner_text(".merge-taken")
    stored = Article.objects.get(pk=article.pk)
    assert stored.headline == "Harbour reopens after two-day storm"
    assert "ferry" not in stored.body

    # Having read the differences, Bob saves again.
    second.click("button[value=save]")
    second.wait_for_selector(".messagelist .success")
    stored.refresh_from_db()
    assert stored.headline == "Harbour reopens after two-day storm" and "ferry" in stored.body
    assert stored.version == 3


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_reader_pages_of_corrections_and_withdrawals_pass_axe(live_server, browser):
    """The corrections page, an article with corrections and a withdrawal notice are accessible."""
    try:
        _axe_pages(live_server, browser)
    finally:
        connections.close_all()


def _axe_pages(live_server, browser):
    from articles import services

    from .factories import make_correction

    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `make browser-deps`")
    corrected = make_article("Corrected story", published_at=timezone.now() - dt.timedelta(hours=2))
    make_correction(corrected, text="A name was misspelt.", pinned_top=True)
    make_correction(corrected, text="A figure was wrong.", kind="update")
    gone = make_article("Gone story", published_at=timezone.now() - dt.timedelta(hours=2))
    services.article_withdraw(gone, user=None, reason="Withdrawn for legal reasons.")
    page = browser.new_context().new_page()
    for url, status in [
        ("/corrections/", 200),
        (corrected.get_absolute_url(), 200),
        (gone.get_absolute_url(), 410),
    ]:
        response = page.goto(f"{live_server.url}{url}")
        assert response.status == status
        load_axe(page)
        violations = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        assert [v["id"] for v in violations] == [], (url, violations)
    page.context.close()
