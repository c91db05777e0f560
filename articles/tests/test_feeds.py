"""RSS and Atom feeds, parsed with feedparser as a feed reader would."""

import datetime as dt

import feedparser
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from articles.models import Article

from .factories import image_bytes, make_article, make_author, make_category, make_tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def stories(settings):
    settings.SITE_URL = "https://news.example"
    world = make_category("World")
    ann, bo = make_author("Ann Lee"), make_author("Bo Chen")
    published = dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC)
    lead = make_article(
        "Talks & <progress>",
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
    response = client.get(url)
    assert response.status_code == 200, url
    feed = feedparser.parse(response.content)
    assert not feed.bozo, (url, feed.get("bozo_exception"))
    return feed


@pytest.mark.parametrize("url", ["/feeds/rss/", "/feeds/atom/"])
def test_site_feeds_carry_everything_a_reader_needs(client, stories, url):
    feed = parse(client, url)
    assert feed.feed.title == "Newsdesk"
    assert [e.title for e in feed.entries] == ["Talks & <progress>", "Market report"]
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
    assert [e.title for e in world.entries] == ["Talks & <progress>"]
    assert world.feed.title.startswith("World")
    bo = parse(client, "/authors/bo-chen/feed/")
    assert [e.title for e in bo.entries] == ["Talks & <progress>", "Market report"]
    ann = parse(client, "/authors/ann-lee/feed/")
    assert [e.title for e in ann.entries] == ["Talks & <progress>"]


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
    with django_assert_num_queries(3):
        client.get("/feeds/rss/")
