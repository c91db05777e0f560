"""Metadata for machines: titles, descriptions, canonical URLs, Open Graph, Twitter, JSON-LD."""

import datetime as dt
import json
import re

import html5lib
import pytest
from django.core.files.base import ContentFile

from articles.images import og_image_url
from articles.seo import json_ld

from .factories import image_bytes, make_article, make_author, make_category

pytestmark = pytest.mark.django_db


def head(html):
    """(name or property) -> content for every <meta>, plus the canonical link."""
    doc = html5lib.parse(html, namespaceHTMLElements=False)
    meta = {}
    for el in doc.iter("meta"):
        key = el.get("name") or el.get("property")
        if key:
            meta[key] = el.get("content")
    canonical = [el.get("href") for el in doc.iter("link") if el.get("rel") == "canonical"]
    meta["canonical"] = canonical[0] if canonical else None
    meta["title"] = doc.find(".//title").text
    return meta


def structured(html):
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return {item["@type"]: item for item in map(json.loads, blocks)}


@pytest.fixture
def story(settings):
    settings.SITE_URL = "https://news.example"
    world = make_category("World")
    ann = make_author("Ann Lee")
    article = make_article(
        "Talks resume in Tripoli",
        category=world,
        authors=[ann],
        standfirst="Both sides return to the table.",
        published_at=dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC),
        revised_at=dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
        lead_image_alt="Delegates",
    )
    article.lead_image.save("talks.jpg", ContentFile(image_bytes()), save=True)
    return article


def test_article_page_metadata(client, story):
    html = client.get(story.get_absolute_url()).content.decode()
    meta = head(html)
    url = "https://news.example/articles/talks-resume-in-tripoli/"
    assert meta["title"] == "Talks resume in Tripoli — Newsdesk"
    assert meta["description"] == "Both sides return to the table."
    assert meta["canonical"] == url and meta["og:url"] == url
    assert meta["og:type"] == "article"
    # Link previews show the bare title beside og:site_name.
    assert meta["og:title"] == meta["twitter:title"] == "Talks resume in Tripoli"
    assert meta["og:site_name"] == "Newsdesk"
    assert meta["og:image"] == og_image_url(story)
    assert "/renditions/" in meta["og:image"]  # a resized copy, not the original upload
    assert meta["twitter:card"] == "summary_large_image"
    assert meta["article:modified_time"] == "2024-05-01T12:00:00+00:00"


def test_news_article_json_ld(client, story):
    data = structured(client.get(story.get_absolute_url()).content.decode())
    article = data["NewsArticle"]
    assert article["@context"] == "https://schema.org"
    assert article["headline"] == "Talks resume in Tripoli"
    assert article["description"] == "Both sides return to the table."
    assert article["image"] == [og_image_url(story)]
    assert article["datePublished"] == "2024-05-01T09:00:00Z"
    assert article["dateModified"] == "2024-05-01T12:00:00Z"
    assert article["author"] == [
        {"@type": "Person", "name": "Ann Lee", "url": "https://news.example/authors/ann-lee/"}
    ]
    assert article["publisher"]["@type"] == "Organization"
    assert article["publisher"]["logo"]["url"] == "https://news.example/static/articles/logo.png"
    assert article["mainEntityOfPage"]["@id"] == story_url(story)
    crumbs = data["BreadcrumbList"]["itemListElement"]
    assert [c["name"] for c in crumbs] == ["Front page", "World", "Talks resume in Tripoli"]
    assert [c["position"] for c in crumbs] == [1, 2, 3]


def story_url(article):
    return "https://news.example" + article.get_absolute_url()


def test_logo_file_is_served(client):
    from django.contrib.staticfiles import finders

    assert finders.find("articles/logo.png")


def test_seo_overrides_are_used_everywhere(client, settings):
    settings.SITE_URL = "https://news.example"
    article = make_article(
        "A long headline",
        seo_title="Short title",
        seo_description="What search engines show.",
        standfirst="The standfirst.",
    )
    html = client.get(article.get_absolute_url()).content.decode()
    meta = head(html)
    assert meta["title"].startswith("Short title")
    assert meta["og:title"] == "Short title"
    assert meta["description"] == meta["og:description"] == "What search engines show."
    data = structured(html)["NewsArticle"]
    assert data["headline"] == "Short title"
    assert data["description"] == "What search engines show."
    assert '<h1 class="story__headline">A long headline</h1>' in html


def test_json_ld_cannot_break_out_of_its_script_element(client):
    """Markup in fields is stripped from JSON-LD, and what is left cannot close the element."""
    article = make_article("Rates </script><script>alert(1)</script>", standfirst="<!-- & --> 1<2")
    html = client.get(article.get_absolute_url()).content.decode()
    assert "<script>alert(1)" not in html
    data = structured(html)["NewsArticle"]
    assert data["headline"] == "Rates"
    assert data["description"] == "1<2"
    assert str(json_ld({"a": "<&>"})) == (
        '<script type="application/ld+json">{"a": "\\u003C\\u0026\\u003E"}</script>'
    )
    assert "</script><script>" not in str(json_ld({"a": "</script><script>alert(1)"}))


def test_author_page_is_a_profile_page(client, settings):
    settings.SITE_URL = "https://news.example"
    author = make_author("Ann Lee", bio="Covers North Africa.")
    author.photo.save("ann.jpg", ContentFile(image_bytes()), save=True)
    html = client.get(author.get_absolute_url()).content.decode()
    data = structured(html)
    assert data["ProfilePage"]["mainEntity"]["@type"] == "Person"
    assert data["ProfilePage"]["mainEntity"]["name"] == "Ann Lee"
    assert data["ProfilePage"]["mainEntity"]["description"] == "Covers North Africa."
    assert data["ProfilePage"]["mainEntity"]["image"].startswith("https://news.example/media/")
    assert head(html)["og:type"] == "profile"
    assert "Covers North Africa." in html and 'class="author__photo"' in html


@pytest.mark.parametrize("path", ["/articles/", "/categories/world/", "/tags/climate/"])
def test_lists_have_breadcrumbs_and_canonical_urls(client, settings, path):
    from .factories import make_tag

    settings.SITE_URL = "https://news.example"
    make_category("World")
    make_tag("Climate")
    html = client.get(path).content.decode()
    crumbs = structured(html)["BreadcrumbList"]["itemListElement"]
    assert crumbs[0]["item"] == "https://news.example/"
    assert crumbs[-1]["item"] == "https://news.example" + path
    assert head(html)["canonical"] == "https://news.example" + path
    assert 'aria-label="Breadcrumb"' in html


def test_later_pages_have_their_own_canonical_url(client, settings):
    settings.SITE_URL = "https://news.example"
    settings.ARTICLES_PER_PAGE = 1
    make_article()
    make_article()
    html = client.get("/articles/?page=2").content.decode()
    assert head(html)["canonical"] == "https://news.example/articles/?page=2"


def test_front_page_metadata(client, settings):
    settings.SITE_URL = "https://news.example"
    make_article("Lead", featured=True)
    meta = head(client.get("/").content.decode())
    assert meta["canonical"] == "https://news.example/"
    assert meta["og:type"] == "website" and meta["description"]


@pytest.mark.parametrize(
    ("language_code", "locale"),
    [("en-us", "en_US"), ("en-gb", "en_GB"), ("en", "en_US"), ("de", "de_DE"), ("pt-br", "pt_BR")],
)
def test_og_locale_comes_from_language_code(client, settings, language_code, locale):
    settings.LANGUAGE_CODE = language_code
    article = make_article("Locale story")
    assert head(client.get(article.get_absolute_url()).content.decode())["og:locale"] == locale


def test_list_pages_og_title_is_the_bare_page_name(client):
    category = make_category("World")
    make_article("In the world", category=category)
    for url, name in [
        (category.get_absolute_url(), "World"),
        ("/articles/", "All articles"),
        ("/corrections/", "Corrections and updates"),
    ]:
        meta = head(client.get(url).content.decode())
        assert meta["og:title"] == name, url
        assert meta["title"] == f"{name} — Newsdesk", url
