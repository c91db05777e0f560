"""What readers and staff are told on previews, error pages, the archive's filters and the
withdrawn page: true states, friendly errors, labels that point somewhere."""

import datetime as dt
import re

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from articles import services
from articles.models import Article

from .factories import make_article, make_editor, make_tag

pytestmark = pytest.mark.django_db


def dateline(html):
    """The text of the story's date line (the <p class="meta"> under the headline)."""
    header = html[html.index('<header class="story__header">') :]
    line = re.search(r'<p class="meta">(.*?)</p>', header, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", line).split())


def preview_html(client, user, article):
    client.force_login(user)
    response = client.get(reverse("articles:preview", args=[article.pk]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: make_article(status=Article.Status.DRAFT), "Draft — not published"),
        # Wire copy keeps the agency's time: a draft with a past published_at is still a draft.
        (
            lambda: make_article(
                status=Article.Status.DRAFT,
                published_at=dt.datetime(2021, 3, 7, 9, tzinfo=dt.UTC),
            ),
            "Draft — not published",
        ),
        (lambda: make_article(status=Article.Status.REVIEW), "In review — not published"),
        (
            lambda: make_article(
                published_at=dt.datetime(2099, 12, 2, 9, tzinfo=dt.UTC),
            ),
            "Scheduled for 2 Dec 2099 09:00",
        ),
        (
            lambda: make_article(unpublish_at=timezone.now() - dt.timedelta(hours=1)),
            "Expired — not published",
        ),
    ],
)
def test_preview_date_line_tells_the_articles_real_state(client, make, expected):
    article = make()
    html = preview_html(client, make_editor(), article)
    line = dateline(html)
    assert expected in line
    assert "Published" not in line
    assert "Preview — not published." in html


def test_preview_of_a_published_article_shows_its_publication_time(client):
    article = make_article(published_at=dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC))
    html = preview_html(client, make_editor(), article)
    assert dateline(html).startswith("Published 1 May 2024")
    assert "not published" not in html


def test_withdrawn_page_says_when_it_was_withdrawn(client):
    article = make_article("Gone story")
    services.article_withdraw(article, user=None, reason="The claims could not be verified.")
    html = client.get(article.get_absolute_url()).content.decode()
    assert "This article was withdrawn</strong> on" in html
    assert "has been withdrawn" not in html


def test_archive_topic_filter_points_at_its_help_text(client):
    make_tag("Climate")
    html = client.get("/articles/").content.decode()
    assert 'aria-describedby="id_tag_helptext"' in html
    assert 'id="id_tag_helptext"' in html


def test_archive_refused_filter_points_at_its_message(client):
    response = client.get("/articles/?published_after=notadate")
    html = response.content.decode()
    assert response.status_code == 400
    field = re.search(r'<input[^>]*name="published_after"[^>]*>', html).group(0)
    assert 'aria-describedby="id_published_after-error"' in field
    assert 'id="id_published_after-error"' in html


def test_search_page_search_landmarks_have_distinct_names(client):
    html = client.get("/search/?q=anything").content.decode()
    forms = re.findall(r'<form[^>]*role="search"[^>]*>', html)
    names = [re.search(r'aria-label="([^"]+)"', f).group(1) for f in forms]
    assert len(names) == 2 and len(set(names)) == 2


@override_settings(DEBUG=False)
def test_missing_article_is_a_friendly_404(client):
    response = client.get("/articles/no-such-article/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html and "There is no page at this address" in html
    assert "matching the query" not in html
    assert 'action="/search/"' in html and 'href="/"' in html


@override_settings(DEBUG=False)
def test_permission_denied_is_the_styled_403_page(client, reporter):
    client.force_login(reporter)
    response = client.get("/admin/articles/article/trash/")
    html = response.content.decode()
    assert response.status_code == 403
    assert "You may not open this page" in html
    assert 'class="masthead' in html  # the site's own layout
    assert 'href="/admin/"' in html and 'href="/"' in html


@override_settings(DEBUG=False)
def test_403_offers_anonymous_readers_the_sign_in(rf):
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import permission_denied

    request = rf.get("/somewhere/")
    request.user = AnonymousUser()
    response = permission_denied(request, PermissionDenied())
    html = response.content.decode()
    assert response.status_code == 403
    assert "/admin/login/?next=/somewhere/" in html


def test_front_page_has_one_lead_card_and_one_eager_image(client):
    """Featured and latest cards used to inherit the lead's flag from the page's context: every
    card was styled as the lead and every lead image was fetched eagerly at high priority."""
    for n in range(4):
        make_article(f"Featured {n}", featured=True)
    make_article("Latest")
    page = client.get("/").content.decode()
    assert page.count("card--lead") == 1
    assert page.count('fetchpriority="high"') <= 1
    assert page.count('<article class="card">') >= 4


@pytest.mark.django_db
def test_the_section_menu_lists_every_section_in_order_escaped_and_follows_a_rename(
    client, settings
):
    from .factories import make_category

    settings.CACHE_SECONDS = 0
    make_category("World").__class__.objects.filter(name="World").update(order=2)
    sport = make_category("Sport & <Games>")
    sport.order = 1
    sport.save()

    def menu():
        html = client.get("/").content.decode()
        nav = re.search(r'<nav class="sections".*?</nav>', html, re.S)[0]
        return re.findall(r'<li><a href="([^"]+)">([^<]*)</a></li>', nav)

    assert menu() == [
        ("/", "Front page"),
        ("/articles/", "Latest"),
        (sport.get_absolute_url(), "Sport &amp; &lt;Games&gt;"),
        ("/categories/world/", "World"),
    ]
    sport.name = "Sport"
    sport.save()
    assert menu()[2] == (sport.get_absolute_url(), "Sport")
