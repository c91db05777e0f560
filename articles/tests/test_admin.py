"""The desk: editors edit articles and the change shows; permissions hold; lists are cheap."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from articles.models import Article, Author, Category

from .factories import make_article, make_author, make_category, make_tag, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(make_user("chief", superuser=True))
    return client


def test_editor_edits_an_article_and_readers_see_it(admin_client, client):
    author = make_author("Ann Lee")
    category = make_category("World")
    article = make_article("Old headline", authors=[author], category=category)
    url = reverse("admin:articles_article_change", args=[article.pk])
    assert admin_client.get(url).status_code == 200
    data = {
        "headline": "New headline",
        "slug": article.slug,
        "standfirst": "Fresh standfirst.",
        "body_format": "markdown",
        "body": "Body with **bold**.",
        "status": "published",
        "published_at_0": article.published_at.strftime("%Y-%m-%d"),
        "published_at_1": article.published_at.strftime("%H:%M:%S"),
        "category": category.pk,
        "bylines-TOTAL_FORMS": "1",
        "bylines-INITIAL_FORMS": "1",
        "bylines-0-id": article.bylines.get().pk,
        "bylines-0-article": article.pk,
        "bylines-0-author": author.pk,
        "bylines-0-position": "0",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    html = client.get(article.get_absolute_url()).content.decode()
    assert "New headline" in html and "<strong>bold</strong>" in html


def test_change_list_filters_search_and_byline(admin_client):
    ann = make_author("Ann Lee")
    make_article("Findable story", authors=[ann], standfirst="unique-word here")
    make_article("Other story")
    url = reverse("admin:articles_article_changelist")
    html = admin_client.get(url, {"q": "unique-word"}).content.decode()
    assert "Findable story" in html and "Other story" not in html
    html = admin_client.get(url, {"q": "Ann Lee"}).content.decode()
    assert "Findable story" in html
    html = admin_client.get(url, {"status__exact": "draft"}).content.decode()
    assert "Findable story" not in html


@pytest.mark.parametrize(
    "name", ["articles_article", "articles_author", "articles_category", "articles_tag"]
)
def test_change_lists_do_a_fixed_number_of_queries(
    admin_client, django_assert_max_num_queries, name
):
    authors = [make_author() for _ in range(5)]
    category = make_category()
    for i in range(25):
        make_article(authors=authors[: 1 + i % 4], category=category, tags=[make_tag()])
    url = reverse(f"admin:{name}_changelist")
    admin_client.get(url)  # warm the session and permission caches
    with django_assert_max_num_queries(12):
        response = admin_client.get(url)
    assert response.status_code == 200


def test_counts_are_shown(admin_client):
    category = make_category("World")
    make_article(category=category)
    make_article(category=category)
    html = admin_client.get(reverse("admin:articles_category_changelist")).content.decode()
    assert 'class="field-article_count">2<' in html


def test_staff_without_permission_is_refused(client):
    client.force_login(make_user("intern"))
    article = make_article()
    assert client.get(reverse("admin:articles_article_changelist")).status_code == 403
    assert (
        client.get(reverse("admin:articles_article_change", args=[article.pk])).status_code == 403
    )


def test_view_only_staff_cannot_change(client):
    user = make_user("reader", perms=["articles.view_article"])
    client.force_login(user)
    article = make_article("Untouched")
    url = reverse("admin:articles_article_change", args=[article.pk])
    # Someone else's published article is hers to read, not to change: a view-only form.
    response = client.get(url)
    assert response.status_code == 200 and 'name="headline"' not in response.content.decode()
    client.post(url, {"headline": "Hacked"})
    assert Article.objects.get(pk=article.pk).headline == "Untouched"


def test_autocomplete_endpoints_answer(admin_client):
    make_author("Zed Writer")
    url = reverse("admin:autocomplete")
    response = admin_client.get(
        url,
        {"app_label": "articles", "model_name": "article", "field_name": "category", "term": ""},
    )
    assert response.status_code == 200
    assert Category.objects.count() == 0 or response.json()["results"] is not None
    response = admin_client.get(
        url,
        {"app_label": "articles", "model_name": "byline", "field_name": "author", "term": "zed"},
    )
    assert [r["text"] for r in response.json()["results"]] == ["Zed Writer"]


def test_slug_is_generated_and_unique():
    a = make_article("Same headline")
    b = make_article("Same headline")
    assert a.slug == "same-headline" and b.slug == "same-headline-2"
    assert Author.objects.create(name="Ann Lee").slug == "ann-lee"
    assert Permission.objects.filter(codename="preview_article").exists()


def test_desk_search_uses_the_full_text_index_and_finds_drafts(admin_client):
    """The desk's search finds drafts too, by stem and by author, and odd input never fails."""
    make_article("Harbour dredging plan", status=Article.Status.DRAFT, body="Dredgers arrive.")
    make_article("Other news", authors=[make_author("Dana Harbourmaster")])
    make_article("Unrelated")
    url = reverse("admin:articles_article_changelist")
    html = admin_client.get(url, {"q": "dredger"}).content.decode()
    assert "Harbour dredging plan" in html and "Unrelated" not in html
    html = admin_client.get(url, {"q": "Harbourmaster"}).content.decode()
    assert "Other news" in html and "Harbour dredging plan" not in html
    for odd in ['"unclosed', "-only", "AND OR NOT", "*", "x" * 2000]:
        assert admin_client.get(url, {"q": odd}).status_code == 200, odd


def test_date_hierarchy_lists_only_years_with_articles(admin_client):
    import datetime as dt

    for year in (2019, 2021):
        make_article(f"Story of {year}", published_at=dt.datetime(year, 6, 1, tzinfo=dt.UTC))
    years = Article.objects.datetimes("published_at", "year")
    assert [d.year for d in years] == [2019, 2021]
    html = admin_client.get(reverse("admin:articles_article_changelist")).content.decode()
    assert "?published_at__year=2019" in html and "?published_at__year=2020" not in html


def test_editor_edits_the_seed_and_readers_see_it(admin_client, client):
    """The seed (wire copy with no category) can be corrected in the desk and the fix goes live."""
    from django.core.management import call_command

    from .factories import change_form_data

    call_command("loaddata", "seed", verbosity=0)
    seed = Article.objects.get()
    url = reverse("admin:articles_article_change", args=[seed.pk])
    assert "US experts, Libyan officials" in admin_client.get(url).content.decode()
    data = change_form_data(seed, headline="US experts and Libyan officials meet on security")
    data["_action"] = "save"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    html = client.get(seed.get_absolute_url()).content.decode()
    assert "US experts and Libyan officials meet on security" in html


def test_change_form_query_count_does_not_grow_with_the_story(admin_client):
    """The desk's change form costs the same number of queries for a bare story and for one
    with a long byline, many topics, corrections and revisions."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from articles import services

    from .factories import make_correction, make_editor

    small = make_article("Small story", authors=[make_author()], tags=[make_tag()])
    big = make_article(
        "Big story", authors=[make_author() for _ in range(4)], tags=[make_tag() for _ in range(6)]
    )
    editor = make_editor()
    for n in range(3):
        make_correction(big)
        big.refresh_from_db()
        big.body += f"\n\nMore {n}."
        services.article_save(big, user=editor)
    counts = []
    for article in (small, big):
        url = reverse("admin:articles_article_change", args=[article.pk])
        admin_client.get(url)  # warm the session and permission caches
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 40, counts
