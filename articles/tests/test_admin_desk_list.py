"""The desk's change list on a large archive, through the admin views: a capped count, pages past
it, date hierarchy years read from the index, the byline filter, and a number of queries that
does not grow with the number of articles."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Max, Min
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from articles.admin import articles as article_admin
from articles.models import Article, Byline

from .factories import make_article, make_author, make_category

pytestmark = pytest.mark.django_db
URL = reverse("admin:articles_article_changelist")


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 4 and a count that stops after 5 rows."""
    monkeypatch.setattr(article_admin, "DESK_COUNT_LIMIT", 5)
    monkeypatch.setattr(article_admin.ArticleAdmin, "list_per_page", 4)


def test_count_is_capped_and_pages_past_it_open(client, editor, small_pages):
    articles = [make_article(f"Story {i}") for i in range(12)]
    client.force_login(editor)
    response = client.get(URL)
    html = response.content.decode()
    assert response.context["cl"].result_count == 5
    assert "5+ articles" in html  # more than were counted
    assert len(response.context["cl"].result_list) == 4
    newest_first = sorted(articles, key=lambda a: (a.updated_at, a.pk), reverse=True)
    response = client.get(URL, {"p": 3})  # past the counted rows
    assert response.status_code == 200
    assert [a.pk for a in response.context["cl"].result_list] == [a.pk for a in newest_first[8:]]
    assert client.get(URL, {"p": 4}).status_code == 302  # no such page: the admin's ?e=1


def test_count_under_the_cap_is_exact(client, editor, small_pages):
    for i in range(3):
        make_article(f"Story {i}")
    client.force_login(editor)
    html = client.get(URL).content.decode()
    assert "3 articles" in html and "+ articles" not in html


def test_page_rows_are_read_without_bodies(client, editor, small_pages):
    for i in range(6):
        make_article(f"Story {i}", body="Some words here.")
    client.force_login(editor)
    rows = client.get(URL).context["cl"].result_list
    assert len(rows) == 4 and all({"body", "body_html"} <= r.get_deferred_fields() for r in rows)


def _at(year, month=6):
    return timezone.make_aware(dt.datetime(year, month, 15, 12))


def test_date_hierarchy_lists_only_years_with_articles(client, editor):
    for year in (2019, 2021, 2024):
        make_article(f"From {year}", published_at=_at(year))
    client.force_login(editor)
    html = client.get(URL).content.decode()
    for year in (2019, 2021, 2024):
        assert f"published_at__year={year}" in html
    for year in (2020, 2022, 2023):
        assert f"published_at__year={year}" not in html
    html = client.get(URL, {"published_at__year": 2021}).content.decode()
    assert "published_at__month=6" in html and "From 2021" in html and "From 2019" not in html


def test_date_hierarchy_follows_the_filters(client, editor):
    make_article("Old draft", status=Article.Status.DRAFT, published_at=_at(2018))
    make_article("Published", published_at=_at(2022, 3))
    client.force_login(editor)
    html = client.get(URL, {"state": "published"}).content.decode()
    # One year, one month among published articles: the hierarchy opens at that month.
    assert "published_at__year=2018" not in html and "published_at__day=15" in html


def test_published_bounds_match_min_and_max():
    assert Article.desk_list.aggregate(a=Min("published_at"), b=Max("published_at")) == {
        "a": None,
        "b": None,
    }
    dates = [_at(2020), _at(2023, 2), _at(2021)]
    for when in dates:
        make_article(published_at=when)
    make_article(status=Article.Status.DRAFT)  # no date
    assert Article.desk_list.aggregate(last=Max("published_at"), first=Min("published_at")) == {
        "first": min(dates),
        "last": max(dates),
    }
    assert Article.desk_list.filter(published_at__year=2021).aggregate(
        first=Min("published_at"), last=Max("published_at")
    ) == {"first": dates[2], "last": dates[2]}


def test_byline_filter_lists_authors_of_articles_in_the_desk(client, editor):
    ann, bo, cy = make_author("Ann Lee"), make_author("Bo Chen"), make_author("Cy Trashed")
    make_article("Ann's", authors=[ann, bo])
    trashed = make_article("Gone", authors=[cy])
    Article.objects.filter(pk=trashed.pk).update(deleted_at=timezone.now())
    make_author("Di Unused")
    client.force_login(editor)
    response = client.get(URL)
    [byline_filter] = [
        f for f in response.context["cl"].filter_specs if getattr(f, "field_path", "") == "authors"
    ]
    assert byline_filter.lookup_choices == [(ann.pk, "Ann Lee"), (bo.pk, "Bo Chen")]
    html = client.get(URL, {"authors__id__exact": bo.pk}).content.decode()
    assert "Ann&#x27;s" in html or "Ann's" in html


def _queries(client, params=None):
    client.get(URL, params)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL, params).status_code == 200
    return len(queries)


def _bulk_articles(count, authors, section, when):
    """`count` published articles with bylines, inserted in bulk (the factory's counter, which
    dates other tests' stories, is left alone)."""
    start = Article.objects.count()
    articles = Article.objects.bulk_create(
        Article(
            headline=f"Story {n}",
            slug=f"story-{n}",
            status=Article.Status.PUBLISHED,
            published_at=when,
            category=section,
        )  # fmt: skip
        for n in range(start, start + count)
    )
    Byline.objects.bulk_create(
        Byline(article=article, author=author, position=position)
        for i, article in enumerate(articles)
        for position, author in enumerate(authors[: 1 + i % len(authors)])
    )


@pytest.mark.parametrize("params", [None, {"state": "published"}, {"q": "story"}])
def test_change_list_queries_do_not_grow_with_the_archive(client, editor, params):
    authors = [make_author() for _ in range(3)]
    section = make_category()
    when = timezone.now() - dt.timedelta(days=2)
    _bulk_articles(60, authors, section, when)  # more than a page: the page is read by ids
    client.force_login(editor)
    few = _queries(client, params)
    _bulk_articles(120, authors, section, when)
    assert _queries(client, params) == few
