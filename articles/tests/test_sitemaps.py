"""Sitemaps, the news sitemap and robots.txt, parsed as XML against what is published."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles.models import Article
from articles.sitemaps import ARTICLES_PER_SITEMAP

from .factories import make_article, make_author, make_category, make_tag

pytestmark = pytest.mark.django_db
NS = {
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
}


@pytest.fixture
def site(settings):
    settings.SITE_URL = "https://news.example"
    world, empty = make_category("World"), make_category("Empty")
    ann, ghost = make_author("Ann Lee"), make_author("Ghost Writer")
    tag, secret_tag = make_tag("Climate"), make_tag("Secret topic")
    now = timezone.now()
    fresh = make_article("Fresh story", category=world, authors=[ann], tags=[tag],
                         published_at=now - dt.timedelta(hours=2))  # fmt: skip
    revised = make_article("Revised story", published_at=now - dt.timedelta(days=5),
                           revised_at=now - dt.timedelta(days=1))  # fmt: skip
    make_article("Old story", published_at=now - dt.timedelta(days=3))
    for kwargs in [
        {"status": Article.Status.DRAFT},
        {"status": Article.Status.REVIEW},
        {"published_at": now + dt.timedelta(hours=1)},
    ]:
        make_article("Hidden story", category=empty, authors=[ghost], tags=[secret_tag], **kwargs)
    return locals()


def xml(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    assert response["Content-Type"].startswith("application/xml")
    return ET.fromstring(response.content)


def locs(root):
    return [el.text for el in root.findall(".//sm:loc", NS)]


def test_sitemap_index_lists_every_section(client, site):
    root = xml(client, "/sitemap.xml")
    assert root.tag == f"{{{NS['sm']}}}sitemapindex"
    # One articles page per ARTICLES_PER_SITEMAP ids (the test database's ids may run high).
    pages = -(-Article.objects.order_by("-pk").first().pk // ARTICLES_PER_SITEMAP)
    articles = ["https://news.example/sitemap-articles.xml"] + [
        f"https://news.example/sitemap-articles.xml?p={p}" for p in range(2, pages + 1)
    ]
    assert locs(root) == [
        *articles,
        "https://news.example/sitemap-categories.xml",
        "https://news.example/sitemap-authors.xml",
        "https://news.example/sitemap-tags.xml",
    ]


def test_article_sitemap_has_published_articles_with_lastmod(client, site):
    entries = {}
    for page in locs(xml(client, "/sitemap.xml")):
        if "sitemap-articles" not in page:
            continue
        root = xml(client, page.removeprefix("https://news.example"))
        entries.update(
            (url.find("sm:loc", NS).text, url.find("sm:lastmod", NS).text)
            for url in root.findall("sm:url", NS)
        )
    published = Article.objects.published()
    assert set(entries) == {"https://news.example" + a.get_absolute_url() for a in published}
    revised = site["revised"]
    # lastmod is the revision time readers were told about, not the publication time.
    lastmod = entries["https://news.example" + revised.get_absolute_url()]
    assert lastmod == revised.modified_at.astimezone(dt.UTC).isoformat(timespec="seconds")
    assert lastmod != revised.published_at.astimezone(dt.UTC).isoformat(timespec="seconds")


def test_other_sitemaps_hold_only_objects_with_published_articles(client, site):
    assert locs(xml(client, "/sitemap-categories.xml")) == [
        "https://news.example/categories/world/"
    ]
    assert locs(xml(client, "/sitemap-authors.xml")) == ["https://news.example/authors/ann-lee/"]
    assert locs(xml(client, "/sitemap-tags.xml")) == ["https://news.example/tags/climate/"]


def test_taxonomy_sitemaps_page_when_the_table_outgrows_one_page(client, site, monkeypatch):
    """The index counts no EXISTS while a whole table fits on a page; past that it counts the
    rows with published articles exactly, so no empty page is listed and every row is on one."""
    from articles.sitemaps import AuthorSitemap

    for name in ["Bea Cruz", "Cai Dunn"]:
        make_article(f"Story by {name}", authors=[make_author(name)])
    monkeypatch.setattr(AuthorSitemap, "limit", 2)  # 4 authors, 3 with published stories
    index = locs(xml(client, "/sitemap.xml"))
    assert "https://news.example/sitemap-authors.xml?p=2" in index
    assert "https://news.example/sitemap-authors.xml?p=3" not in index
    pages = [locs(xml(client, f"/sitemap-authors.xml?p={p}")) for p in (1, 2)]
    assert sorted(sum(pages, [])) == [
        "https://news.example/authors/ann-lee/",
        "https://news.example/authors/bea-cruz/",
        "https://news.example/authors/cai-dunn/",
    ]
    assert client.get("/sitemap-authors.xml?p=3").status_code == 404
    monkeypatch.setattr(AuthorSitemap, "limit", 4)  # the table fits: one page, no EXISTS count
    with CaptureQueriesContext(connection) as index_queries:
        index = locs(xml(client, "/sitemap.xml"))
    assert "https://news.example/sitemap-authors.xml" in index
    assert "https://news.example/sitemap-authors.xml?p=2" not in index
    assert not [q for q in index_queries.captured_queries if "EXISTS" in q["sql"].upper()]
    assert len(locs(xml(client, "/sitemap-authors.xml"))) == 3
    assert client.get("/sitemap-authors.xml?p=2").status_code == 404


def test_sitemaps_split_into_pages_of_consecutive_ids(client, site, monkeypatch):
    from articles.sitemaps import ArticleSitemap

    monkeypatch.setattr(ArticleSitemap, "limit", 2)
    last_page = -(-Article.objects.latest("pk").pk // 2)  # ids of any article
    index = locs(xml(client, "/sitemap.xml"))
    assert "https://news.example/sitemap-articles.xml?p=2" in index
    assert f"https://news.example/sitemap-articles.xml?p={last_page}" in index
    assert f"https://news.example/sitemap-articles.xml?p={last_page + 1}" not in index
    pages = [locs(xml(client, f"/sitemap-articles.xml?p={p}")) for p in range(1, last_page + 1)]
    # Each published article on exactly one page: the one its id falls in.
    for article in Article.objects.published():
        url = "https://news.example" + article.get_absolute_url()
        assert [i for i, page in enumerate(pages, 1) if url in page] == [-(-article.pk // 2)]
    assert sum(len(page) for page in pages) == Article.objects.published().count()
    for bad in [str(last_page + 1), "0", "abc"]:
        assert client.get(f"/sitemap-articles.xml?p={bad}").status_code == 404
    assert client.get("/sitemap-nope.xml").status_code == 404


def test_news_sitemap_has_the_last_48_hours(client, site, settings):
    settings.SITE_NAME = "Daily Example"
    settings.SITE_LANGUAGE = "en"
    root = xml(client, "/news-sitemap.xml")
    urls = root.findall("sm:url", NS)
    assert [u.find("sm:loc", NS).text for u in urls] == [
        "https://news.example" + site["fresh"].get_absolute_url()
    ]
    news = urls[0].find("news:news", NS)
    assert news.find("news:publication/news:name", NS).text == "Daily Example"
    assert news.find("news:publication/news:language", NS).text == "en"
    assert news.find("news:title", NS).text == "Fresh story"
    assert (
        dt.datetime.fromisoformat(news.find("news:publication_date", NS).text)
        == site["fresh"].published_at
    )


def test_robots_txt_names_both_sitemaps_and_keeps_private_paths_out(client, settings):
    settings.SITE_URL = "https://news.example"
    text = client.get("/robots.txt").content.decode()
    assert "Disallow: /admin/" in text and "Disallow: /preview/" in text
    assert "Sitemap: https://news.example/sitemap.xml" in text
    assert "Sitemap: https://news.example/news-sitemap.xml" in text
