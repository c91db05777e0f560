"""The page cache forgets by what a page shows: each change purges the pages that show it and no
others, after COMMIT; junk parameters share one entry; hits and 304s answer before sessions;
public answers carry edge headers, and the edge is purged by key over HTTP."""

import datetime as dt
import http.server
import threading

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from articles import cache as page_cache
from articles import services

from .factories import (
    make_article,
    make_author,
    make_category,
    make_editor,
    make_tag,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_periodic_purge_debt_look(monkeypatch):
    """These tests count queries; the look for lost purges every DEBT_CHECK_SECONDS (tested in
    test_faults) would add one at whatever moment a slow run crosses the interval."""
    monkeypatch.setattr(page_cache, "DEBT_CHECK_SECONDS", 3600)


@pytest.fixture(autouse=True)
def _page_cache_on(settings):
    settings.CACHE_SECONDS = 300
    settings.EDGE_SECONDS = 120
    settings.EDGE_STALE_SECONDS = 30
    settings.EDGE_PURGE_URLS = []


@pytest.fixture
def site():
    """Two sections, two authors, a topic; a story in each section and a few more."""
    news, sport = make_category("News"), make_category("Sport")
    ann, bob = make_author("Ann Reporter"), make_author("Bob Writer")
    topic = make_tag("Elections")
    story = make_article("The story", category=news, authors=[ann], tags=[topic])
    other = make_article("Unrelated match report", category=sport, authors=[bob])
    return {
        "story": story,
        "other": other,
        "pages": {
            "story": story.get_absolute_url(),
            "front": "/",
            "archive": "/articles/",
            "news": news.get_absolute_url(),
            "ann": ann.get_absolute_url(),
            "topic": topic.get_absolute_url(),
            "feed": reverse("articles:feed-rss"),
            "corrections": reverse("articles:corrections"),
            "sitemap": "/sitemap-articles.xml",
            "other": other.get_absolute_url(),
            "sport": sport.get_absolute_url(),
            "bob": bob.get_absolute_url(),
        },
        "news": news,
        "sport": sport,
        "ann": ann,
        "bob": bob,
    }


def warm(client, pages):
    for url in pages.values():
        assert client.get(url).status_code == 200, url
    for url in pages.values():
        assert client.get(url)["X-Cache"] == "hit", url


def purged(client, pages):
    """The names of the pages that are no longer cached (each is asked once)."""
    return {name for name, url in pages.items() if client.get(url)["X-Cache"] != "hit"}


UNRELATED = {"other", "sport", "bob"}
STORY_PAGES = {"story", "front", "archive", "news", "ann", "topic", "feed", "corrections"}


def test_an_article_edit_purges_the_pages_showing_it_and_no_others(client, site):
    warm(client, site["pages"])
    story = site["story"]
    story.headline = "The story, edited"
    services.article_save(story, user=make_editor())
    # Every page that shows it (tagged with its key) and the text-driven lists; the corrections
    # page does not show it.
    assert purged(client, site["pages"]) == (STORY_PAGES - {"corrections"}) | {"sitemap"}
    assert "The story, edited" in client.get(site["pages"]["news"]).content.decode()


def test_editing_an_old_story_leaves_the_front_page_and_other_lists_cached(client, site):
    """The live desk: an old published story edited every few seconds must not empty the front
    page or the section pages it has dropped off."""
    story, news = site["story"], site["news"]
    story.published_at = timezone.now() - dt.timedelta(days=30)
    services.article_save(story, user=make_editor())
    for n in range(25):  # newer stories push it off the front page and its section's first page
        make_article(f"Newer {n}", category=news, ago=dt.timedelta(minutes=n))
    pages = {"front": "/", "news": news.get_absolute_url(), "archive": "/articles/"}
    pages["story"] = story.get_absolute_url()
    warm(client, pages)
    assert story.headline not in client.get("/").content.decode()
    story.refresh_from_db()
    story.body = "A late edit to an old story."
    services.article_save(story, user=make_editor())
    assert purged(client, pages) == {"story"}
    assert "A late edit" in client.get(pages["story"]).content.decode()
    # Moving it (its placement) purges the lists it is on, as before.
    story.refresh_from_db()
    story.featured = True
    services.article_save(story, user=make_editor())
    assert {"front", "news", "archive"} <= purged(client, pages)


def test_moving_an_article_purges_the_section_and_byline_it_left(client, site):
    warm(client, site["pages"])
    story = site["story"]
    story.category = site["sport"]
    services.article_save(story, user=make_editor(), authors=[site["bob"]], tags=[])
    gone = purged(client, site["pages"])
    assert {"news", "ann", "topic", "sport", "bob"} <= gone
    assert "other" not in gone
    assert "The story" not in client.get(site["pages"]["news"]).content.decode()


def test_a_correction_purges_its_article_the_corrections_and_the_feeds(client, site):
    warm(client, site["pages"])
    services.correction_add(site["story"], user=make_editor(), kind="correction", text="Fixed.")
    gone = purged(client, site["pages"])
    assert {"story", "corrections", "feed"} <= gone
    assert not gone & UNRELATED
    assert "Fixed." in client.get(site["pages"]["story"]).content.decode()


def test_a_withdrawal_purges_the_article_and_its_lists(client, site):
    warm(client, site["pages"])
    services.article_withdraw(site["story"], user=make_editor(), reason="Legal")
    gone = purged(client, {k: v for k, v in site["pages"].items() if k != "story"})
    assert {"front", "news", "ann", "topic", "feed"} <= gone
    assert not gone & UNRELATED
    assert client.get(site["pages"]["story"]).status_code == 410


def test_a_rename_redirects_the_old_address_at_once(client, site):
    warm(client, site["pages"])
    story, old = site["story"], site["pages"]["story"]
    story.slug = "the-story-renamed"
    services.article_save(story, user=make_editor())
    response = client.get(old)
    assert response.status_code == 301 and response["Location"] == story.get_absolute_url()
    assert client.get(story.get_absolute_url()).status_code == 200
    assert client.get(site["pages"]["other"])["X-Cache"] == "hit"


def test_a_section_rename_purges_every_page_for_the_menu(client, site):
    warm(client, site["pages"])
    news = site["news"]
    news.name = "World news"
    services.taxonomy_save(news, user=make_editor())
    assert purged(client, site["pages"]) == set(site["pages"])
    assert "World news" in client.get(site["pages"]["other"]).content.decode()


def test_an_author_rename_purges_her_page_and_her_articles_only(client, site):
    warm(client, site["pages"])
    ann = site["ann"]
    ann.name = "Ann Renamed"
    services.taxonomy_save(ann, user=make_editor())
    gone = purged(client, site["pages"])
    assert {"ann", "story", "news", "topic", "front"} <= gone
    assert not gone & UNRELATED
    assert "Ann Renamed" in client.get(site["pages"]["story"]).content.decode()


@pytest.mark.parametrize("what", ["draft save", "login"])
def test_a_draft_save_or_a_login_purges_nothing(client, site, what):
    warm(client, site["pages"])
    editor = make_editor("ed", password="pw-Newsdesk-1")
    desk = type(client)()
    if what == "login":
        assert desk.login(
            request=RequestFactory().post("/admin/login/"), username="ed", password="pw-Newsdesk-1"
        )
    else:
        draft = make_article("A draft", status="draft", category=site["news"])
        draft.headline = "A better draft"
        services.article_save(draft, user=editor)
    assert purged(client, site["pages"]) == set()


def test_purge_waits_for_commit(client, site):
    warm(client, site["pages"])
    story = site["story"]
    with transaction.atomic():
        story.headline = "Changed inside a transaction"
        services.article_save(story, user=None)
        assert client.get(site["pages"]["story"])["X-Cache"] == "hit"
    assert client.get(site["pages"]["story"])["X-Cache"] == "miss"


def test_a_store_racing_a_purge_is_dropped(site):
    """A page rendered from the old rows but stored after the purge ran must not stay."""
    factory = RequestFactory()

    def render_during_a_purge(request):
        page_cache._purge(["front"])  # the change commits while this page is being rendered
        return HttpResponse("old rows")

    racing = page_cache.PublicPageCacheMiddleware(render_during_a_purge)
    assert racing(factory.get("/robots.txt"))["X-Cache"] == "miss"
    calm = page_cache.PublicPageCacheMiddleware(lambda request: HttpResponse("new rows"))
    response = calm(factory.get("/robots.txt"))
    assert response["X-Cache"] == "miss" and response.content == b"new rows"
    assert calm(factory.get("/robots.txt"))["X-Cache"] == "hit"


def test_scheduled_article_appears_on_its_section_with_no_job(client, site, monkeypatch, settings):
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    monkeypatch.setattr(page_cache.time, "time", lambda: now.timestamp())
    make_article("Embargoed", category=site["news"], published_at=now + dt.timedelta(minutes=1))
    url = site["pages"]["news"]
    assert "Embargoed" not in client.get(url).content.decode()
    response = client.get(url)
    assert response["X-Cache"] == "hit"
    # The edge too keeps it only until then: fresh and stale time together end at the schedule.
    stale = min(settings.EDGE_STALE_SECONDS, 60)
    assert f"s-maxage={60 - stale}, stale-while-revalidate={stale}" in response["Cache-Control"]
    now += dt.timedelta(minutes=2)
    assert "Embargoed" in client.get(url).content.decode()


def test_junk_parameters_share_one_entry(client, site):
    assert client.get("/?x=1")["X-Cache"] == "miss"
    assert client.get("/?x=2")["X-Cache"] == "hit"
    assert client.get("/")["X-Cache"] == "hit"
    news = site["news"].slug
    assert client.get(f"/articles/?category={news}&q=story&utm=a")["X-Cache"] == "miss"
    assert client.get(f"/articles/?q=story&category={news}&fbclid=b")["X-Cache"] == "hit"
    page = client.get(f"/articles/?q=story&category={news}&fbclid=b").content.decode()
    assert "fbclid" not in page and "utm" not in page
    assert client.get("/articles/?q=other")["X-Cache"] == "miss"


def test_304_from_the_stored_etag_without_queries(client, site, django_assert_num_queries):
    url = site["pages"]["story"]
    etag = client.get(url)["ETag"]
    with django_assert_num_queries(0):
        response = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304 and response["X-Cache"] == "hit"
    assert response["ETag"] == etag and "s-maxage=" in response["Cache-Control"]
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    # Like the front door's 304, it names no type for the body it does not have.
    assert "Content-Type" not in response


def test_head_and_get_share_one_entry(client, site, django_assert_num_queries):
    """A HEAD first (a link checker, a crawler) stores the page a GET is then served from, and a
    HEAD after a GET is a hit: one render for both, one ETag, and a conditional HEAD gets 304."""
    url = site["pages"]["story"]
    head = client.head(url)
    assert head.status_code == 200 and head["X-Cache"] == "miss" and head.content == b""
    with django_assert_num_queries(0):
        page = client.get(url)
        again = client.head(url)
        revalidated = client.head(url, HTTP_IF_NONE_MATCH=head["ETag"])
    assert page["X-Cache"] == "hit" and page["ETag"] == head["ETag"]
    assert site["story"].headline in page.content.decode()
    assert again["X-Cache"] == "hit" and again.content == b""
    assert again["Content-Length"] == page["Content-Length"]
    assert revalidated.status_code == 304


def test_a_hit_answers_before_sessions_and_auth(client, site, django_assert_num_queries):
    url = site["pages"]["front"]
    client.get(url)
    with django_assert_num_queries(0):
        response = client.get(url)
    assert response["X-Cache"] == "hit"
    assert not hasattr(response.wsgi_request, "session")
    assert not hasattr(response.wsgi_request, "user")


def test_public_answers_carry_edge_headers(client, site):
    response = client.get(site["pages"]["story"])
    keys = response["Surrogate-Key"].split()
    assert response["xkey"] == response["Surrogate-Key"]
    assert {f"a:{site['story'].pk}", "pages"} <= set(keys)
    assert response["Cache-Control"] == (
        "public, max-age=0, s-maxage=120, stale-while-revalidate=30"
    )
    news = client.get(site["pages"]["news"])
    assert {f"section:{site['news'].pk}", f"a:{site['story'].pk}"} <= set(
        news["Surrogate-Key"].split()
    )
    missing = client.get("/articles/no-such-story/")
    assert missing.status_code == 404 and "s-maxage" in missing["Cache-Control"]
    assert "notfound" in missing["Surrogate-Key"].split()
    bad = client.get("/articles/?published_after=not-a-date")
    assert bad.status_code == 400 and bad["Cache-Control"] == "private, no-cache"
    assert "Surrogate-Key" not in bad


def test_previews_and_the_desk_stay_private(client, site):
    client.force_login(make_editor())
    preview = client.get(reverse("articles:preview", args=[site["story"].pk]))
    assert "private" in preview["Cache-Control"] and "Surrogate-Key" not in preview
    desk = client.get(reverse("admin:index"))
    assert "private" in desk["Cache-Control"] and "Surrogate-Key" not in desk


# --- the edge purge client, against a real HTTP server ------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_PURGE(self):  # noqa: N802 - the HTTP method's name
        self.server.seen.append((self.command, self.path, self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def edge(settings):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.EDGE_PURGE_URLS = [f"http://127.0.0.1:{server.server_address[1]}/"]
    yield server
    server.shutdown()
    server.server_close()


def test_a_change_purges_the_edge_by_key_after_commit(site, edge):
    story = site["story"]
    with transaction.atomic():
        story.headline = "Edited for the edge"
        services.article_save(story, user=make_editor())
        assert edge.seen == []
    [(method, path, headers)] = edge.seen
    assert (method, path) == ("PURGE", "/")
    keys = headers["xkey-purge"].split()
    # An edit in place: the pages that show it are tagged with its key.
    assert {f"a:{story.pk}", "feeds"} <= set(keys) and "front" not in keys
    assert f"a:{site['other'].pk}" not in keys
    story.category = site["sport"]
    services.article_save(story, user=make_editor())
    keys = edge.seen[-1][2]["xkey-purge"].split()
    assert {"front", f"section:{site['news'].pk}", f"section:{site['sport'].pk}"} <= set(keys)


def test_the_purge_header_is_configurable_and_long_lists_are_split(settings, edge):
    settings.EDGE_PURGE_HEADER = "X-Purge-Keys"
    keys = [f"a:{n}" for n in range(250)]
    from articles import edge as edge_client

    assert edge_client.purge(keys) == 3
    sent = [h["X-Purge-Keys"].split() for _, _, h in edge.seen]
    assert [len(s) for s in sent] == [100, 100, 50]
    assert sum(sent, []) == keys


def test_an_unreachable_edge_never_breaks_a_save(settings, site, caplog):
    settings.EDGE_PURGE_URLS = ["http://127.0.0.1:9/"]
    story = site["story"]
    story.headline = "Saved while the edge is down"
    services.article_save(story, user=make_editor())
    story.refresh_from_db()
    assert story.headline == "Saved while the edge is down"
    assert "edge purge failed" in caplog.text


def test_on_redis_the_index_is_a_set_per_key(client, site):
    backend = getattr(page_cache.cache, "_cache", None)
    if not hasattr(backend, "get_client"):
        pytest.skip("the cache is not Redis here (set REDIS_URL, as .ci/run's second pass does)")
    assert isinstance(page_cache._index(), page_cache._SetIndex)
    client.get(site["pages"]["story"])
    redis = backend.get_client(write=True)
    index = page_cache.cache.make_and_validate_key(f"index:a:{site['story'].pk}")
    assert len(redis.smembers(index)) == 2  # the page and its ETag
    page_cache._purge([f"a:{site['story'].pk}"])
    assert not redis.exists(index)
    assert client.get(site["pages"]["story"])["X-Cache"] == "miss"


def test_the_wsgi_front_door_answers_hits_before_django(site, settings):
    """Production's `newsdesk.wsgi.application` wraps Django in `FrontDoor`: a hit is answered
    from the stored page with every middleware's headers, without Django's request handling."""
    import io

    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_started

    application = page_cache.FrontDoor(WSGIHandler())

    def get(path, query="", **headers):
        environ = RequestFactory().get(path).environ
        environ.update(QUERY_STRING=query, **headers)
        environ["wsgi.input"] = io.BytesIO()
        answer = {}

        def start_response(status, response_headers, exc_info=None):
            answer.update(status=status, headers=dict(response_headers))

        body = b"".join(application(environ, start_response))
        return answer["status"], answer["headers"], body

    started = []

    def count(**kwargs):
        started.append(1)

    request_started.connect(count)
    try:
        url = site["pages"]["story"]
        status, first, body = get(url, "utm_source=x")
        assert status == "200 OK" and first["X-Cache"] == "miss" and len(started) == 1
        status, headers, again = get(url, "fbclid=y")
        assert status == "200 OK" and headers["X-Cache"] == "hit" and again == body
        assert len(started) == 1  # Django never saw the second request
        # Headers of the middleware inside the page cache were stored with the page.
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["ETag"] == first["ETag"] and "s-maxage=" in headers["Cache-Control"]
        assert headers["Surrogate-Key"] == first["Surrogate-Key"]
        status, headers, empty = get(url, HTTP_IF_NONE_MATCH=first["ETag"])
        assert status == "304 Not Modified" and empty == b"" and len(started) == 1
        # A HEAD is answered from the GET's entry, without a body.
        status, headers, empty = get(url, REQUEST_METHOD="HEAD")
        assert status == "200 OK" and headers["X-Cache"] == "hit" and empty == b""
        assert headers["ETag"] == first["ETag"] and len(started) == 1
        # An https request is another entry (SecurityMiddleware's redirect must still run).
        status, headers, _ = get(url, **{"wsgi.url_scheme": "https"})
        assert headers["X-Cache"] == "miss" and len(started) == 2
        # The desk and anything with a session go to Django.
        get(url, HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}=abc")
        assert len(started) == 3
        # Whatever the front door cannot read goes to Django, which answers it (here a 400).
        junk = "&".join(f"f{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
        settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
        status, _, _ = get("/articles/", junk[:200])  # the archive reads its query
        assert status.startswith("400") and len(started) == 4
        started.pop()
        # A change purges what the front door serves, too.
        services.article_save(site["story"], user=make_editor(), action="save")
        status, headers, _ = get(url)
        assert headers["X-Cache"] == "miss" and len(started) == 4
    finally:
        request_started.disconnect(count)
