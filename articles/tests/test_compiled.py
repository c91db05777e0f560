"""Compiled queries (`articles.compiled`): compiled once, bound per call, and always the answer
the ORM gives when it compiles the same queryset afresh."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles import views
from articles.compiled import Compiled
from articles.models import Article

from .factories import make_article, make_author, make_category, make_tag

pytestmark = pytest.mark.django_db


def fresh(compiled, **values):
    """What the ORM answers when it compiles the queryset for `values` itself."""
    return list(compiled.build(**values))


def related_by_one_query(*, now, article, tags, category=None):
    """What `views.related_rows` means, as one ORM query: the newest four published articles of
    the section or on a topic (among each topic's newest 20 links), the article aside."""
    published = Article.objects.published(now=now).exclude(pk=article)
    candidates = Q()
    if category is not None:
        section = published.filter(category_id=category).newest_first().values("pk")
        candidates |= Q(pk__in=section[: views.RELATED_SIZE])
    links = Article.tags.through.objects.exclude(article_id=article)
    for tag in tags:
        recent = links.filter(tag_id=tag).order_by("-article_id").values("article_id")
        candidates |= Q(pk__in=recent[: views.RELATED_CANDIDATES])
    if not candidates:
        return []
    found = published.filter(candidates).newest_first().values_list("pk", flat=True)
    return list(found[: views.RELATED_SIZE])


@pytest.fixture
def archive():
    news, sport = make_category("News"), make_category("Sport")
    red, blue = make_tag("Red"), make_tag("Blue")
    now = timezone.now()
    made = []
    for i in range(14):
        made.append(
            make_article(
                category=news if i % 2 else sport,
                tags=[red, blue][: i % 3],
                featured=i % 4 == 0,
                ago=dt.timedelta(hours=i + 1),
            )
        )
    soon = make_article(
        "Scheduled story",
        category=news,
        tags=[red],
        featured=True,
        published_at=now + dt.timedelta(hours=1),
    )
    make_article("A draft", category=news, tags=[red], status=Article.Status.DRAFT)
    return {
        "now": now,
        "news": news,
        "sport": sport,
        "tags": [red, blue],
        "made": made,
        "soon": soon,
    }


def test_every_compiled_query_of_the_views_binds_instead_of_recompiling(archive):
    now, news = archive["now"], archive["news"]
    article = archive["made"][2]
    author = make_author("Ann Lee")
    for made in archive["made"][:6]:
        made.bylines.create(author=author, position=0)
    cases = [
        (views.FEATURED, {"now": now}),
        (views.LATEST, {"now": now, "lead": []}),
        (views.LATEST, {"now": now, "lead": [article.pk]}),
        (views.SECTION_HEAD, {"now": now, "category": news.pk}),
        (views.RELATED_IN_SECTION, {"now": now, "article": article.pk, "category": news.pk}),
        (views.RELATED_ON_TOPIC, {"article": article.pk, "tag": archive["tags"][0].pk}),
        (views.NEWEST_PUBLISHED, {"now": now, "ids": [article.pk, news.pk, 0, 0]}),
    ]
    lists = [
        (views.ARCHIVE, {"now": now}),
        (views.SECTION, {"now": now, "of": news.pk}),
        (views.AUTHOR, {"now": now, "of": author.pk}),
        (views.TOPIC, {"now": now, "of": archive["tags"][0].pk}),
    ]
    cases = [(compiled, values, {}) for compiled, values in cases]
    for listing, values in lists:
        cases.append((listing.counted, values, {"limit": 501}))
        for bottom in (0, 2, 5):  # pages of two and of three
            cases.append((listing.ids, values, {"bottom": bottom, "top": bottom + 3}))
    for compiled, values, fixed in cases:
        name = compiled.build.__name__
        # A shape that cannot be bound would be compiled on every call: correct, but slow.
        assert compiled._plan(connection, values, fixed) is not None, name
        expected = [
            row if type(row) is tuple else (row,) for row in fresh(compiled, **values, **fixed)
        ]
        assert [tuple(row) for row in compiled.rows(fixed=fixed, **values)] == expected, name
    # The lists' compiled pages are the ORM's own pages of the same list.
    for listing, values in lists:
        everything = list(listing.rows(**values).newest_first().values_list("pk", flat=True))
        assert everything, listing.rows.__name__
        assert sorted(listing.counted.column(fixed={"limit": 501}, **values)) == sorted(everything)
        pages = [listing.ids.column(fixed={"bottom": b, "top": b + 2}, **values) for b in (0, 2)]
        assert pages == [everything[0:2], everything[2:4]]
        assert listing.counted.count(fixed={"limit": 501}, **values) == len(everything)
        assert listing.counted.count(fixed={"limit": 2}, **values) == 2
        # A cursor page: the rows after article `cursor`, by its publication time.
        cursor = everything[1]
        when = listing.cursor_time.column(after=cursor, **values)
        assert when == [Article.objects.get(pk=cursor).published_at]
        both = {"when": when[0], "after": cursor, **values}
        assert listing.following._plan(connection, both, {"top": 2}) is not None
        assert listing.cursor_time._plan(connection, {"after": cursor, **values}) is not None
        assert listing.following.column(fixed={"top": 2}, **both) == everything[2:4]
        assert listing.cursor_time.column(after=archive["soon"].pk, **values) == []


def test_list_pages_are_compiled_for_counted_pages_only(archive, client, settings, monkeypatch):
    """Each OFFSET is a shape of its own: pages past the counted ones (`?page=N` without the
    cursor) are read by the ORM, so naming page after page adds no compiled shapes."""
    from articles import paging

    settings.CACHE_SECONDS = 0
    settings.ARTICLES_PER_PAGE = 2
    monkeypatch.setattr(paging, "COUNT_LIMIT", 4)
    monkeypatch.setattr(views.ARCHIVE.ids, "_plans", {})
    newest = list(Article.objects.published().newest_first().values_list("pk", flat=True))
    for number in range(1, 6):
        response = client.get(f"/articles/?page={number}")
        assert response.status_code == 200, number
        shown = [a.pk for a in response.context["articles"]]
        assert shown == newest[(number - 1) * 2 : number * 2], number
    spans = sorted(dict(shape[2:4])["bottom"] for shape in views.ARCHIVE.ids._plans)
    assert spans == [0, 2]


def test_bound_values_change_the_answer_like_a_fresh_compile(archive):
    now, news, sport = archive["now"], archive["news"], archive["sport"]
    soon = archive["soon"]
    # The same compiled plan, read at two moments: the scheduled story appears at its time.
    assert soon.pk not in views.FEATURED.column(now=now)
    later = now + dt.timedelta(hours=2)
    assert views.FEATURED.column(now=later)[0] == soon.pk
    assert views.FEATURED.column(now=later) == fresh(views.FEATURED, now=later)
    # Another section, another lead, another article: each bound value is used.
    assert views.SECTION_HEAD.column(now=now, category=sport.pk) == fresh(
        views.SECTION_HEAD, now=now, category=sport.pk
    )
    heads = views.SECTION_HEAD.union_column(
        [{"now": now, "category": news.pk}, {"now": now, "category": sport.pk}]
    )
    assert heads == [
        *fresh(views.SECTION_HEAD, now=now, category=news.pk),
        *fresh(views.SECTION_HEAD, now=now, category=sport.pk),
    ]
    for article in archive["made"][:6]:
        values = {"now": now, "article": article.pk, "tags": [t.pk for t in article.tags.all()]}
        if article.category_id:
            values["category"] = article.category_id
        ids = [row[0] for row in views.related_rows(**values)]
        assert ids == related_by_one_query(**values)
        assert article.pk not in ids
        assert (
            not Article.objects.filter(pk__in=ids)
            .exclude(pk__in=Article.objects.published(now=now))
            .exists()
        )


def test_a_shape_it_cannot_bind_is_compiled_per_call_and_still_right(archive):
    # A slice bound from a value is inlined into the SQL text as LIMIT: no slot to bind.
    newest = Compiled(
        lambda *, now, size: (
            Article.objects.published(now=now).newest_first().values_list("pk", flat=True)[:size]
        )
    )
    now = archive["now"]
    assert newest._plan(connection, {"now": now, "size": 3}) is None
    assert len(newest.column(now=now, size=3)) == 3
    assert newest.column(now=now, size=5) == fresh(newest, now=now, size=5)


def test_strings_are_bound_and_other_values_refused(archive):
    by_headline = Compiled(
        lambda *, headline: Article.objects.filter(headline=headline).values_list("pk", flat=True)
    )
    assert by_headline._plan(connection, {"headline": "x"}) is not None
    assert by_headline.column(headline="Scheduled story") == [archive["soon"].pk]
    assert by_headline.column(headline="No such story") == []
    with pytest.raises(TypeError):
        by_headline.column(headline=1.5)


def test_the_article_page_reads_what_for_listing_reads(archive, django_assert_num_queries):
    from articles.models import load_article

    from .factories import make_author, make_correction

    first, second = make_author("Ada Byline"), make_author("Bo Byline")
    story = make_article("A story", authors=[second, first], tags=archive["tags"])
    make_correction(story, text="First fix.")
    make_correction(story, text="Second fix.")
    now = timezone.now()
    with django_assert_num_queries(3):  # the article with its section and topics, byline, fixes
        article = load_article(story.slug, now=now)
    ref = (
        Article.objects.published(now=now)
        .for_listing()
        .prefetch_related("corrections")
        .get(slug=story.slug)
    )
    with django_assert_num_queries(0):
        assert [t.name for t in article.tags.all()] == [t.name for t in ref.tags.all()]
        assert [c.text for c in article.corrections.all()] == ["First fix.", "Second fix."]
        assert [a.name for a in article.byline_authors] == ["Bo Byline", "Ada Byline"]
        assert article.category == ref.category
        assert article.rendered_body == ref.rendered_body
        assert article.corrections.all()[0].article is article
    for field in Article._meta.concrete_fields:
        assert getattr(article, field.attname) == getattr(ref, field.attname), field.name
    bare = make_article("A story on no topic", authors=[first])
    with django_assert_num_queries(2):
        plain = load_article(bare.slug, now=now)
    assert list(plain.tags.all()) == [] and list(plain.corrections.all()) == []
    assert plain.headline == "A story on no topic" and plain.byline_authors == [first]
    # Only what a reader may see: not a draft, not before its time.
    assert load_article(archive["soon"].slug, now=now) is None
    assert load_article(archive["soon"].slug, now=now + dt.timedelta(hours=2)) is not None
    assert load_article("no-such-story", now=now) is None


def test_cards_are_what_for_cards_reads_in_two_queries(archive, django_assert_num_queries):
    from articles.models import load_cards
    from articles.templatetags.newsdesk_cards import card_html

    from .factories import make_author

    first, second = make_author("Ada Byline"), make_author("Bo Byline")
    with_two = make_article("Two bylines", authors=[second, first], category=None, featured=True)
    ids = [with_two.pk, *(a.pk for a in archive["made"][:5]), archive["soon"].pk]
    with django_assert_num_queries(2):
        cards = load_cards([*ids, ids[0]])  # a repeated id is read once
    expected = Article.objects.for_cards().in_bulk(ids)
    assert set(cards) == set(ids)
    with django_assert_num_queries(0):  # a card needs nothing more
        html = {pk: card_html(card) for pk, card in cards.items()}
    for pk, card in cards.items():
        ref = expected[pk]
        assert html[pk] == card_html(ref)
        assert (card.headline, card.published_at, card.modified_at, card.featured) == (
            ref.headline,
            ref.published_at,
            ref.modified_at,
            ref.featured,
        )
        assert card.featured is ref.featured  # a boolean, as the ORM converts it
        assert card.category == ref.category
        assert [a.name for a in card.byline_authors] == [a.name for a in ref.byline_authors]
    assert [a.name for a in cards[with_two.pk].byline_authors] == ["Bo Byline", "Ada Byline"]
    assert cards[with_two.pk].category is None
    assert load_cards([]) == {}


def test_cards_with_topics_read_them_in_one_more_query(archive, django_assert_num_queries):
    from articles.models import load_cards

    ids = [a.pk for a in archive["made"]]
    with django_assert_num_queries(3):
        cards = load_cards(ids, topics=True)
    for pk, card in cards.items():
        expected = [t.name for t in Article.objects.get(pk=pk).tags.all()]
        assert [t.name for t in card.topics] == expected
    assert any(card.topics for card in cards.values())
    assert any(not card.topics for card in cards.values())  # and some have none


@pytest.mark.parametrize("html", [False, True])
def test_every_column_of_a_card_lands_in_its_field(archive, html):
    from articles.models import CARD_DEFERRED, load_cards

    ids = [a.pk for a in archive["made"]]
    cards = load_cards(ids, html=html)
    skip = set(CARD_DEFERRED) - ({"body_html"} if html else set())
    for pk, card in cards.items():
        ref = Article.objects.get(pk=pk)
        for field in Article._meta.concrete_fields:
            if field.name in skip:
                assert field.attname not in card.__dict__, field.name  # deferred, not read
                continue
            assert card.__dict__[field.attname] == getattr(ref, field.attname), field.name


def _prepared_statements():
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return sorted(row[0] for row in cursor.fetchall())


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="prepared statements are PostgreSQL's; .ci/run's second pass runs this on it",
)
def test_on_postgresql_the_kept_sql_is_prepared_once_per_connection(
    archive, client, settings, monkeypatch, django_assert_num_queries
):
    settings.CACHE_SECONDS = 0
    url = archive["made"][2].get_absolute_url()
    assert client.get(url).status_code == 200
    prepared = _prepared_statements()
    assert any('"articles_article"' in sql for sql in prepared), prepared
    # Counted like any other query (test_views pins them); no corrections: none read.
    with django_assert_num_queries(5):
        assert client.get(url).status_code == 200
    assert _prepared_statements() == prepared  # the second page reuses every statement
    with CaptureQueriesContext(connection) as logged:
        client.get(url)
    # The query log shows each prepared statement with its values written in.
    assert all(isinstance(q["sql"], str) and "%s" not in q["sql"] for q in logged), logged
    assert any(f"= {archive['made'][2].pk}" in q["sql"] for q in logged.captured_queries)

    # `?prepare=0` in DATABASE_URL (no `prepare_threshold`): nothing is prepared.
    monkeypatch.delitem(connection.settings_dict["OPTIONS"], "prepare_threshold")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert client.get(url).status_code == 200
    assert _prepared_statements() == []


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="prepared statements are PostgreSQL's; .ci/run's second pass runs this on it",
)
def test_on_postgresql_a_prepared_list_carries_the_rules_constants_as_literals(
    archive, client, settings
):
    # A prepared statement is planned once for any values: with the published state a
    # parameter, PostgreSQL's plan guessed it matched a tenth of the archive, and the author
    # page hash-joined every published article. Only the request's values are parameters.
    settings.CACHE_SECONDS = 0
    author = make_author("Ada Lovelace")
    story = make_article("A story by Ada", authors=[author], ago=dt.timedelta(minutes=5))
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    for _ in range(6):  # past psycopg's prepare threshold
        assert client.get(author.get_absolute_url()).status_code == 200
    lists = [sql for sql in _prepared_statements() if '"articles_byline"."author_id" = $' in sql]
    assert lists, _prepared_statements()
    for sql in lists:
        assert "\"status\" = 'published'" in sql, sql
        assert '"status" = $' not in sql, sql
    # A topic's list asks EXISTS(SELECT 1 ...): Django's typed 1 (psycopg's Int4) is written too.
    topic = archive["tags"][0]
    for _ in range(6):
        assert client.get(topic.get_absolute_url()).status_code == 200
    walks = [sql for sql in _prepared_statements() if "EXISTS(SELECT" in sql]
    assert walks and all('EXISTS(SELECT 1 AS "a"' in sql for sql in walks), walks
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            page = client.get(author.get_absolute_url())
        finally:
            cursor.execute("RESET plan_cache_mode")
    assert page.status_code == 200
    assert story.headline in page.content.decode()


def test_a_constant_with_quotes_and_percent_signs_is_matched_as_written(archive):
    # On PostgreSQL the rule's constants are written into the kept SQL (`%` doubled for the
    # driver, quotes doubled for SQL); the answer is the ORM's, whatever the plan.
    tricky = make_article("It's 50% off: a 100%% 'quoted' \\ story", ago=dt.timedelta(hours=1))
    found = Compiled(
        lambda *, now: (
            Article.objects.published(now=now)
            .filter(headline__startswith="It's 50% off: a 100%% 'quoted' \\", featured=False)
            .values_list("pk", flat=True)
        )
    )
    assert found.column(now=archive["now"]) == [tricky.pk] == fresh(found, now=archive["now"])
    assert found.column(now=archive["now"] - dt.timedelta(hours=2)) == []


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="psycopg's placeholder conversion is PostgreSQL's; .ci/run's second pass runs this on it",
)
def test_on_postgresql_kept_sql_past_psycopgs_own_cache_is_converted_once(archive):
    from articles import compiled

    # 64 padded ids: past the 50 parameters under which psycopg remembers a conversion itself.
    ids = compiled.padded([a.pk for a in archive["made"]] + [0] * 40)
    assert len(ids) == 64
    before = compiled._query_parts.cache_info()
    first = views.NEWEST_PUBLISHED.rows(now=archive["now"], ids=ids)
    again = views.NEWEST_PUBLISHED.rows(now=archive["now"], ids=ids)
    after = compiled._query_parts.cache_info()
    expected = fresh(views.NEWEST_PUBLISHED, now=archive["now"], ids=ids)
    assert [tuple(row) for row in first] == [tuple(row) for row in again] == expected
    assert after.misses - before.misses <= 1  # converted at most once (never, if seen before)
    assert after.hits - before.hits >= 1


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="prepared statements are PostgreSQL's; .ci/run's second pass runs this on it",
)
def test_on_postgresql_the_ranked_search_page_is_prepared(archive, client, settings):
    settings.CACHE_SECONDS = 0
    response = client.get("/search/?q=headline")
    assert response.status_code == 200
    assert b"<mark>" in response.content  # the page was ranked and marked
    assert any("ts_rank" in sql for sql in _prepared_statements())


def test_the_next_scheduled_change_is_one_statement_read_from_each_times_own_index(
    archive, django_assert_num_queries
):
    """Every page cache miss asks when the next scheduled change is due. Each kind of time
    (publication, expiry, an embargo's end) is read from its own index in order, stopping at
    the first row in the right state: SQLite, given the state's conditions on the same rows,
    sorted every published article to find the soonest expiry (40 ms at 100,000)."""
    now = archive["now"]
    hour = dt.timedelta(hours=1)
    # Times that are no change a reader sees: a draft's, a trashed or a withdrawn story's.
    make_article("Draft", status=Article.Status.DRAFT, published_at=now + hour / 6)
    make_article("Trashed", published_at=now + hour / 6, deleted_at=now - hour)
    make_article("Withdrawn", ago=hour, withdrawn_at=now - hour, unpublish_at=now + hour / 6)
    expiring = make_article("Expiring", ago=hour, unpublish_at=now + hour / 2)
    embargoed = make_article("Embargoed", ago=hour, embargo_until=now + hour / 4)
    with CaptureQueriesContext(connection) as queries:
        assert Article.objects.next_scheduled_change(now=now) == now + hour / 4
    assert len(queries) == 1
    if connection.vendor == "sqlite":  # PostgreSQL plans by statistics a test table lacks
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + queries.captured_queries[0]["sql"])
            plan = [row[-1] for row in cursor.fetchall()]
        reads = [step for step in plan if step.startswith("SEARCH articles_article ")]
        assert [step.split(" INDEX ")[1].split()[0] for step in reads] == [
            "articles_ar_publish_6fe98d_idx",
            "article_expiry_idx",
            "article_embargo_idx",
        ], plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
    embargoed.delete()
    assert Article.objects.next_scheduled_change(now=now) == now + hour / 2
    expiring.delete()
    assert Article.objects.next_scheduled_change(now=now) == archive["soon"].published_at
    archive["soon"].delete()
    with django_assert_num_queries(1):
        assert Article.objects.next_scheduled_change(now=now) is None
