"""Readers' pages answer GET and HEAD only, the desk also POST: TRACE, OPTIONS and the rest are a
405 with an Allow header and a one-line message, on every public URL."""

import pytest
from django.urls import reverse

from .factories import make_article, make_author, make_category, make_tag, make_user

pytestmark = pytest.mark.django_db

METHODS = ["TRACE", "OPTIONS", "PUT", "PATCH", "DELETE", "POST"]


@pytest.fixture
def public_urls():
    section, author, topic = make_category("News"), make_author("Ann Writer"), make_tag("Rail")
    article = make_article("A live story", category=section, authors=[author], tags=[topic])
    return [
        reverse("articles:home"),
        article.get_absolute_url(),
        reverse("articles:list"),
        reverse("articles:category", args=[section.slug]),
        reverse("articles:category-feed", args=[section.slug]),
        reverse("articles:author", args=[author.slug]),
        reverse("articles:author-feed", args=[author.slug]),
        reverse("articles:tag", args=[topic.slug]),
        reverse("articles:corrections"),
        reverse("articles:corrections_feed"),
        reverse("articles:search") + "?q=story",
        reverse("articles:feed-rss"),
        reverse("articles:feed-atom"),
        reverse("sitemap"),
        reverse("sitemap-section", args=["articles"]),
        reverse("news-sitemap"),
        reverse("robots"),
        reverse("healthz"),
        "/no-such-page/",
    ]


def test_every_public_url_refuses_other_methods_with_405(client, public_urls):
    for url in public_urls:
        assert client.get(url).status_code in (200, 404), url
        for method in METHODS:
            response = client.generic(method, url)
            assert response.status_code == 405, (method, url, response.status_code)
            assert response["Allow"] == "GET, HEAD", (method, url)
            assert response.content == b"Method not allowed: this address answers GET, HEAD.\n"


def test_head_still_answers_on_public_urls(client, public_urls):
    for url in public_urls[:-1]:
        assert client.head(url).status_code == 200, url


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "PUT", "DELETE"])
def test_the_desk_answers_get_head_and_post_only(client, method):
    client.force_login(make_user("ann", superuser=True))
    response = client.generic(method, reverse("admin:index"))
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_desk_still_takes_posts(client):
    make_user("ann")
    response = client.post(reverse("admin:login"), {"username": "ann", "password": "pw-Newsdesk-1"})
    assert response.status_code == 302
