"""The shared public page cache: hits cost no queries, edits and schedules are never hidden."""

import datetime as dt

import pytest
from django.db import connection
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from articles import cache as page_cache
from articles import services
from articles.models import Article

from .factories import (
    change_form_data,
    make_article,
    make_category,
    make_editor,
    make_tag,
    make_user,
)

# Real COMMITs: invalidation runs after commit, which a test wrapped in a transaction never sees.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_periodic_purge_debt_look(monkeypatch):
    """These tests count queries; the look for lost purges every DEBT_CHECK_SECONDS (tested in
    test_faults) would add one at whatever moment a slow run crosses the interval."""
    monkeypatch.setattr(page_cache, "DEBT_CHECK_SECONDS", 3600)


def generation():
    """The token every purge replaces."""
    return page_cache.cache.get(page_cache.PURGED_KEY)


@pytest.fixture(autouse=True)
def _page_cache_on(settings):
    settings.CACHE_SECONDS = 300


@pytest.fixture
def clock(monkeypatch):
    """An injected clock for both the database queries and the cache's validity checks."""

    class Clock:
        def __init__(self):
            self.now = timezone.now()

        def advance(self, **kwargs):
            self.now += dt.timedelta(**kwargs)

    c = Clock()
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    monkeypatch.setattr(page_cache.time, "time", lambda: c.now.timestamp())
    return c


def test_second_view_is_a_hit_without_queries(client, django_assert_num_queries):
    article = make_article()
    first = client.get(article.get_absolute_url())
    assert first["X-Cache"] == "miss"
    with django_assert_num_queries(0):
        second = client.get(article.get_absolute_url())
    assert second["X-Cache"] == "hit"
    assert second.content == first.content
    assert not second.cookies


def test_a_miss_costs_one_query_more_than_the_render(client, settings):
    """The first reader after a change waits for the page's own queries (pinned in test_views)
    and one more: when the next scheduled change is due, the time the page is kept until."""
    section, topic = make_category("World"), make_tag("Ports")
    article = make_article(category=section, tags=[topic])
    make_article(category=section, tags=[topic])
    client.get("/corrections/")  # the worker's first miss also looks for lost purges (its own test)
    for url in (article.get_absolute_url(), "/", section.get_absolute_url()):
        settings.CACHE_SECONDS = 0
        with CaptureQueriesContext(connection) as rendered:
            client.get(url)
        settings.CACHE_SECONDS = 300
        with CaptureQueriesContext(connection) as missed:
            assert client.get(url)["X-Cache"] == "miss"
        assert len(missed) == len(rendered) + 1, url


def test_conditional_get_answers_304(client):
    article = make_article()
    etag = client.get(article.get_absolute_url())["ETag"]
    assert client.get(article.get_absolute_url(), HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_an_edit_is_visible_at_once(client):
    article = make_article("Before the edit")
    assert "Before the edit" in client.get("/").content.decode()
    article.headline = "After the edit"
    services.article_save(article, user=make_editor())
    html = client.get("/").content.decode()
    assert "After the edit" in html and "Before the edit" not in html


def test_a_desk_save_of_a_live_story_is_visible_at_once(client):
    article = make_article("Before the desk edit")
    assert "Before the desk edit" in client.get("/").content.decode()
    desk = type(client)()
    desk.force_login(make_editor())
    url = reverse("admin:articles_article_change", args=[article.pk])
    data = change_form_data(article, headline="After the desk edit", _action="save")
    assert desk.post(url, data).status_code == 302
    assert "After the desk edit" in client.get("/").content.decode()


def test_invalidation_waits_for_commit():
    """Before COMMIT a reader would re-cache the old page under a new generation."""
    from django.db import transaction

    article = make_article()
    before = generation()
    with transaction.atomic():
        article.headline = "Changed inside a transaction"
        services.article_save(article, user=None)
        assert generation() == before
    assert generation() != before


def test_an_import_from_the_command_line_is_visible_at_once(client, tmp_path):
    from django.core.management import call_command

    from .test_importers import BASIC

    client.get("/")
    (tmp_path / "story.txt").write_text(BASIC)
    call_command("import_articles", str(tmp_path), stdout=None)
    article = Article.objects.get()
    assert article.headline in client.get("/").content.decode()


@pytest.mark.parametrize("what", ["login", "failed post", "draft save", "bad login"])
def test_what_readers_cannot_see_purges_nothing(client, what):
    editor = make_editor("ed", password="pw-Newsdesk-1")
    draft = make_article("A draft", status=Article.Status.DRAFT, created_by=editor)
    make_article("Live story")
    client.get("/")
    before = generation()
    if what == "login":
        assert client.login(
            request=RequestFactory().post("/admin/login/"), username="ed", password="pw-Newsdesk-1"
        )
    elif what == "bad login":
        client.post(reverse("admin:login"), {"username": "ed", "password": "wrong"})
    else:
        client.force_login(editor)
        url = reverse("admin:articles_article_change", args=[draft.pk])
        headline = "" if what == "failed post" else "A better draft headline"
        data = change_form_data(draft, headline=headline, _action="save")
        assert client.post(url, data).status_code == (200 if what == "failed post" else 302)
    assert generation() == before
    assert type(client)().get("/")["X-Cache"] == "hit"


def test_scheduled_article_appears_and_goes_on_its_own(client, clock):
    make_article("Already out")
    embargoed = make_article(
        "Embargoed story",
        published_at=clock.now + dt.timedelta(minutes=10),
        unpublish_at=clock.now + dt.timedelta(minutes=20),
    )
    assert "Embargoed story" not in client.get("/").content.decode()
    assert client.get("/")["X-Cache"] == "hit"
    clock.advance(minutes=11)
    html = client.get("/").content.decode()
    assert "Embargoed story" in html
    assert client.get(embargoed.get_absolute_url()).status_code == 200
    clock.advance(minutes=10)
    assert "Embargoed story" not in client.get("/").content.decode()
    assert client.get(embargoed.get_absolute_url()).status_code == 404


def test_signed_in_staff_bypass_the_cache(client):
    make_article()
    client.force_login(make_user(superuser=True))
    client.get("/")
    assert "X-Cache" not in client.get("/")


def test_drafts_never_enter_through_the_cache(client):
    draft = make_article("Secret draft", status=Article.Status.DRAFT)
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert "Secret draft" not in client.get("/").content.decode()


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "newsdesk.redis_cache.Cache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
)
def test_an_unreachable_cache_degrades_to_uncached_pages(client):
    article = make_article("Still readable")
    response = client.get(article.get_absolute_url())
    assert response.status_code == 200 and "Still readable" in response.content.decode()
    article.headline = "Saved while the cache is down"
    article.save()  # the save must not fail either
    assert (
        "Saved while the cache is down" in client.get(article.get_absolute_url()).content.decode()
    )
