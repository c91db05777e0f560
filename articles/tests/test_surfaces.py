"""Every reader- and machine-facing surface tells the same story: withdrawn and trashed articles
vanish everywhere, and only substantive updates re-date a story wherever a date is shown."""

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import feedparser
import pytest
from django.utils import timezone

from articles import services

from .factories import make_article, make_author, make_category, make_tag, make_user

pytestmark = pytest.mark.django_db(transaction=False)

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def sitemap_locs(client):
    """Every URL listed by the sitemap index, the section sitemaps and the news sitemap."""
    locs = []
    index = ET.fromstring(client.get("/sitemap.xml").content)
    for sitemap in index.iter(f"{SM}loc"):
        parts = urlsplit(sitemap.text)
        page = client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
        locs += [loc.text for loc in ET.fromstring(page.content).iter(f"{SM}loc")]
    news = ET.fromstring(client.get("/news-sitemap.xml").content)
    locs += [loc.text for loc in news.iter(f"{SM}loc")]
    return locs


def feed_links(client, url):
    parsed = feedparser.parse(client.get(url).content)
    assert not parsed.bozo, (url, parsed.get("bozo_exception"))
    return [entry.link for entry in parsed.entries]


@pytest.fixture
def world():
    category = make_category("World")
    author = make_author("Ann Lee")
    tag = make_tag("Harbours")
    common = {"category": category, "authors": [author], "tags": [tag]}
    kept = make_article("Quayside market thrives", ago=dt.timedelta(hours=2), **common)
    doomed = make_article("Zanzibar ferry contract scandal", ago=dt.timedelta(hours=1), **common)
    return {"category": category, "author": author, "tag": tag, "kept": kept, "doomed": doomed}


def surfaces(world):
    c, a, t = world["category"], world["author"], world["tag"]
    return {
        "pages": [
            "/",
            "/articles/",
            c.get_absolute_url(),
            a.get_absolute_url(),
            t.get_absolute_url(),
        ],
        "search": ["/search/?q=zanzibar", "/articles/?q=zanzibar"],
        "feeds": [
            "/feeds/rss/",
            "/feeds/atom/",
            f"/categories/{c.slug}/feed/",
            f"/authors/{a.slug}/feed/",
        ],
    }


def assert_everywhere(client, world, *, present):
    doomed = world["doomed"]
    path = doomed.get_absolute_url()
    found = {}
    for url in surfaces(world)["pages"] + surfaces(world)["search"]:
        response = client.get(url)
        assert response.status_code == 200, url
        found[url] = f'href="{path}"' in response.content.decode()
    for url in surfaces(world)["feeds"]:
        found[url] = any(link.endswith(path) for link in feed_links(client, url))
    found["sitemaps"] = any(loc.endswith(path) for loc in sitemap_locs(client))
    assert found == dict.fromkeys(found, present)


@pytest.mark.parametrize("how", ["withdraw", "trash"])
def test_withdrawn_and_trashed_articles_vanish_from_every_surface(client, world, how):
    assert_everywhere(client, world, present=True)
    editor = make_user(superuser=True)
    doomed = world["doomed"]
    if how == "withdraw":
        services.article_withdraw(doomed, user=editor, reason="Legal takedown.")
        response = client.get(doomed.get_absolute_url())
        assert response.status_code == 410
        assert "Legal takedown." in response.content.decode()
    else:
        services.article_trash(doomed, user=editor)
        assert client.get(doomed.get_absolute_url()).status_code == 404
    assert_everywhere(client, world, present=False)
    assert "Quayside market thrives" in client.get("/").content.decode()


def dates_shown(client, article):
    """Where each surface says the story last changed."""
    html = client.get(article.get_absolute_url()).content.decode()
    ld = [
        json.loads(block)
        for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    ]
    news = next(d for d in ld if d.get("@type") == "NewsArticle")
    entry = next(
        e
        for e in feedparser.parse(client.get("/feeds/atom/").content).entries
        if e.link.endswith(article.get_absolute_url())
    )
    lastmod = None
    index = ET.fromstring(client.get("/sitemap.xml").content)
    for sitemap in index.iter(f"{SM}loc"):
        parts = urlsplit(sitemap.text)
        page = ET.fromstring(
            client.get(parts.path + (f"?{parts.query}" if parts.query else "")).content
        )
        for url in page.iter(f"{SM}url"):
            if url.find(f"{SM}loc").text.endswith(article.get_absolute_url()):
                lastmod = url.find(f"{SM}lastmod").text
    return {
        "updated_line": "Updated</strong>" in html,
        "jsonld": dt.datetime.fromisoformat(news["dateModified"]),
        "feed": dt.datetime(*entry.updated_parsed[:6], tzinfo=dt.UTC),
        "sitemap": dt.datetime.fromisoformat(lastmod),
    }


def same_minute(a, b):
    return abs((a - b).total_seconds()) < 60


def test_only_substantive_changes_redate_the_story_everywhere(client, world):
    article = world["kept"]
    published = article.published_at
    shown = dates_shown(client, article)
    assert not shown["updated_line"]
    assert all(same_minute(shown[k], published) for k in ("jsonld", "feed", "sitemap"))

    # A silent fix (typo) changes nothing readers or machines are told.
    article.body = article.body + " Typo fixed."
    article.save()
    shown = dates_shown(client, article)
    assert not shown["updated_line"]
    assert all(same_minute(shown[k], published) for k in ("jsonld", "feed", "sitemap"))

    # A correction is substantive: every surface moves to its time.
    services.correction_add(
        article,
        user=make_user(superuser=True),
        kind="correction",
        text="The market opens at 6am, not 7am.",
    )
    article.refresh_from_db()
    now = timezone.now()
    assert same_minute(article.modified_at, now) and not same_minute(article.modified_at, published)
    shown = dates_shown(client, article)
    assert shown["updated_line"]
    assert all(same_minute(shown[k], now) for k in ("jsonld", "feed", "sitemap"))
    assert "The market opens at 6am" in client.get("/corrections/").content.decode()
