"""RSS and Atom feeds, parsed with feedparser as a feed reader would."""

import datetime as dt
import threading

import feedparser
import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from articles import feeds
from articles.models import Article

from .factories import (
    image_bytes,
    make_article,
    make_author,
    make_category,
    make_correction,
    make_tag,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def stories(settings):
    settings.SITE_URL = "https://news.example"
    world = make_category("World")
    ann, bo = make_author("Ann Lee"), make_author("Bo Chen")
    published = dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC)
    lead = make_article(
        "Talks & progress <5%",
        category=world,
        authors=[ann, bo],
        tags=[make_tag("Diplomacy")],
        standfirst="Both sides return to the table.",
        published_at=published,
        revised_at=published + dt.timedelta(hours=3),
        lead_image_alt="Delegates at the table",
    )
    lead.lead_image.save("talks.jpg", ContentFile(image_bytes()), save=True)
    other = make_article(
        "Market report", authors=[bo], published_at=published - dt.timedelta(days=1)
    )
    for kwargs in [
        {"status": Article.Status.DRAFT},
        {"published_at": timezone.now() + dt.timedelta(hours=1)},
    ]:
        make_article("Hidden story", category=world, authors=[ann], **kwargs)
    return {"world": world, "ann": ann, "bo": bo, "lead": lead, "other": other}


def parse(client, url):
    return parse_from(client, url)


def parse_from(client, url, **headers):
    response = client.get(url, **headers)
    assert response.status_code == 200, url
    feed = feedparser.parse(response.content)
    assert not feed.bozo, (url, feed.get("bozo_exception"))
    return feed


@pytest.mark.parametrize("url", ["/feeds/rss/", "/feeds/atom/"])
def test_site_feeds_carry_everything_a_reader_needs(client, stories, url):
    feed = parse(client, url)
    assert feed.feed.title == "Newsdesk"
    assert [e.title for e in feed.entries] == ["Talks & progress <5%", "Market report"]
    entry = feed.entries[0]
    assert entry.link == "https://news.example" + stories["lead"].get_absolute_url()
    assert "Ann Lee" in entry.author and "Bo Chen" in entry.author
    assert {t.term for t in entry.tags} == {"World", "Diplomacy"}
    assert "Both sides return to the table." in entry.summary
    assert entry.published_parsed[:4] == (2024, 5, 1, 9)
    if "atom" in url:  # RSS 2.0 has no update time
        assert entry.updated_parsed[:4] == (2024, 5, 1, 12)
    enclosure = next(link for link in entry.links if link.rel == "enclosure")
    assert enclosure.href.startswith("https://news.example/media/articles/")
    assert enclosure.type == "image/jpeg" and int(enclosure.length) > 0


def test_category_and_author_feeds_hold_only_their_articles(client, stories):
    world = parse(client, "/categories/world/feed/")
    assert [e.title for e in world.entries] == ["Talks & progress <5%"]
    assert world.feed.title.startswith("World")
    bo = parse(client, "/authors/bo-chen/feed/")
    assert [e.title for e in bo.entries] == ["Talks & progress <5%", "Market report"]
    ann = parse(client, "/authors/ann-lee/feed/")
    assert [e.title for e in ann.entries] == ["Talks & progress <5%"]


@pytest.mark.parametrize("url", ["/categories/nope/feed/", "/authors/nope/feed/"])
def test_unknown_feed_objects_are_404(client, url):
    assert client.get(url).status_code == 404


def test_pages_link_to_their_feeds(client, stories):
    home = client.get("/").content.decode()
    assert '<link rel="alternate" type="application/rss+xml"' in home
    assert 'type="application/atom+xml"' in home and 'href="/feeds/atom/"' in home
    section = client.get("/categories/world/").content.decode()
    assert 'href="/categories/world/feed/"' in section
    author = client.get("/authors/ann-lee/").content.decode()
    assert 'href="/authors/ann-lee/feed/"' in author


def test_feed_query_count_is_fixed(client, stories, django_assert_num_queries):
    for _ in range(10):
        make_article(category=stories["world"], authors=[stories["ann"]])
    with django_assert_num_queries(4):  # ids, cards, bylines, topics
        client.get("/feeds/rss/")


def self_link(feed):
    return next(link.href for link in feed.feed.links if link.rel == "self")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/feeds/rss/", "/feeds/rss/"),
        ("/feeds/atom/", "/feeds/atom/"),
        ("/categories/world/feed/", "/categories/world/feed/"),
        ("/authors/ann-lee/feed/", "/authors/ann-lee/feed/"),
    ],
)
def test_self_link_is_on_site_url_whatever_the_host(client, stories, url, expected):
    response = client.get(url, HTTP_HOST="localhost")
    feed = feedparser.parse(response.content)
    assert self_link(feed) == "https://news.example" + expected


@pytest.mark.django_db(transaction=True)
def test_one_feed_instance_serving_two_threads_gives_each_its_own_self_link(settings):
    """Feed instances live in urls.py and are shared by every thread: no per-request state."""
    settings.SITE_URL = "https://news.example"
    for name in ("World", "Sport"):
        make_article(category=make_category(name))
    both_started = threading.Barrier(2, timeout=10)

    class InterleavingFeed(feeds.CategoryFeed):
        def title(self, obj):
            both_started.wait()  # both requests are inside get_feed before either builds
            return super().title(obj)

    feed = InterleavingFeed()
    results, errors = {}, []

    def serve(slug):
        try:
            request = RequestFactory().get(f"/categories/{slug}/feed/")
            results[slug] = self_link(feedparser.parse(feed(request, slug=slug).content))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=serve, args=(slug,)) for slug in ("world", "sport")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {
        "world": "https://news.example/categories/world/feed/",
        "sport": "https://news.example/categories/sport/feed/",
    }


def test_corrections_feed_is_valid_rss_with_times(client):
    article = make_article("Fed story", published_at=timezone.now() - dt.timedelta(hours=1))
    correction = make_correction(article, text="Fixed a name.", kind="clarification")
    make_correction(make_article(status=Article.Status.DRAFT), text="Secret.")
    response = client.get("/corrections/feed/")
    assert response.status_code == 200 and "rss" in response["Content-Type"]
    feed = feedparser.parse(response.content)
    assert not feed.bozo
    [entry] = feed.entries
    assert entry.title == "Clarification: Fed story"
    assert entry.summary == "<p>Fixed a name.</p>"
    assert entry.link.endswith(f"/articles/{article.slug}/#{correction.anchor}")
    published = dt.datetime(*entry.published_parsed[:6], tzinfo=dt.UTC)
    assert abs(published - correction.created_at) < dt.timedelta(seconds=1)


def test_corrections_feed_links_are_on_site_url_not_the_request_host(client, settings):
    settings.SITE_URL = "https://news.example"
    article = make_article("Fed story", published_at=timezone.now() - dt.timedelta(hours=1))
    correction = make_correction(article)
    feed = parse_from(client, "/corrections/feed/", HTTP_HOST="localhost")
    assert feed.feed.link == "https://news.example/corrections/"
    assert self_link(feed) == "https://news.example/corrections/feed/"
    [entry] = feed.entries
    assert entry.link == (f"https://news.example/articles/{article.slug}/#{correction.anchor}")
    assert entry.id == f"https://news.example/corrections/{correction.pk}"


@pytest.fixture
def poisoned_feeds(settings):
    settings.SITE_URL = "https://news.example"
    world = make_category("World", description="Our <img src=x onerror=alert(1)>world")
    ann = make_author("Ann <svg onload=alert(2)>Lee", bio="<script>alert(3)</script>Writes.")
    article = make_article(
        "Talks <script>alert(4)</script>resume",
        category=world,
        authors=[ann],
        tags=[make_tag("<b onclick=alert(5)>Diplomacy</b>")],
        standfirst="&lt;img src=x onerror=alert(6)&gt;Both sides.",
    )
    make_correction(article, text="<a href='javascript:alert(7)'>Fixed</a> a name.\nThanks.")
    return {"world": world, "ann": ann, "article": article}


def reader_view(client, url):
    """The feed as a reader renders it: feedparser without its own sanitiser (most readers
    have none), every title and description then parsed as HTML by the detector."""
    from .test_field_safety import html_dangers, xml_dangers

    response = client.get(url)
    assert response.status_code == 200, url
    feed = feedparser.parse(response.content, sanitize_html=False)
    assert not feed.bozo, feed.get("bozo_exception")
    values = [feed.feed.get("title", ""), feed.feed.get("subtitle", "")]
    for entry in feed.entries:
        values += [entry.get("title", ""), entry.get("summary", ""), entry.get("author", "")]
        values += [tag.term for tag in entry.get("tags", [])]
    dangers = xml_dangers(response.content)
    dangers += [d for v in values for d in html_dangers(v, fragment=True)]
    return feed, dangers


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("section description and name", "/categories/world/feed/"),
        ("author name", "/authors/{ann}/feed/"),
        ("correction text", "/corrections/feed/"),
        ("headline, byline, topics and standfirst", "/feeds/rss/"),
        ("headline, byline, topics and standfirst", "/feeds/atom/"),
    ],
)
def test_feeds_carry_no_markup_a_reader_would_run(client, poisoned_feeds, field, url):
    """Plain-text fields reach feeds stripped of markup: a reader decodes the XML and renders
    titles and descriptions as HTML, so escaping alone would hand it the script."""
    feed, dangers = reader_view(client, url.format(ann=poisoned_feeds["ann"].slug))
    assert dangers == [], field
    assert feed.entries


def test_feeds_keep_the_words_of_stripped_fields(client, poisoned_feeds):
    section, _ = reader_view(client, "/categories/world/feed/")
    assert section.feed.subtitle == "Our world"
    author, _ = reader_view(client, f"/authors/{poisoned_feeds['ann'].slug}/feed/")
    assert author.feed.title == "Ann Lee — Newsdesk"
    corrections, _ = reader_view(client, "/corrections/feed/")
    assert corrections.entries[0].summary == "<p>Fixed a name.<br />Thanks.</p>"
    assert corrections.entries[0].title == "Correction: Talks resume"
    site, _ = reader_view(client, "/feeds/rss/")
    assert site.entries[0].title == "Talks resume"
    assert "<p>Both sides.</p>" in site.entries[0].summary
    assert [t.term for t in site.entries[0].tags] == ["World", "Diplomacy"]


def test_control_characters_typed_into_fields_do_not_break_feeds(client, settings):
    """XML 1.0 cannot carry most control characters: pasted ones are dropped, not a 500."""
    section = make_category("World\x0b", description="Our\x08 world")
    article = make_article(
        "Rates\x08 rise",
        category=section,
        standfirst="Up\x1b again.",
        authors=[make_author("A\x0c")],
        ago=dt.timedelta(hours=1),  # inside the news sitemap's window
    )
    make_correction(article, text="Fixed\x01.")
    for url in ["/feeds/rss/", "/feeds/atom/", "/categories/world/feed/", "/corrections/feed/"]:
        feed = parse(client, url)
        assert feed.entries[0].title in ("Rates rise", "Correction: Rates rise"), url
    assert b"Rates rise" in client.get("/news-sitemap.xml").content
