"""Public pages: what readers see, what they never see, and how many queries it costs."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from articles import services
from articles.models import Article

from .factories import (
    make_article,
    make_author,
    make_category,
    make_correction,
    make_editor,
    make_tag,
)

pytestmark = pytest.mark.django_db


def test_article_page_shows_everything_a_reader_needs(client):
    category = make_category("World")
    authors = [make_author("Ann Lee"), make_author("Bo Chen")]
    tag = make_tag("Libya")
    article = make_article(
        "Talks resume in Tripoli",
        authors=authors,
        tags=[tag],
        category=category,
        standfirst="Both sides return to the table.",
        body="First *paragraph*.\n\nSecond paragraph.",
        published_at=dt.datetime(2020, 1, 4, 20, 39, tzinfo=dt.UTC),
    )
    response = client.get(article.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1" in html and "Talks resume in Tripoli" in html
    assert "Both sides return to the table." in html
    assert f'href="{authors[0].get_absolute_url()}"' in html
    assert f'href="{authors[1].get_absolute_url()}"' in html
    assert html.index("Ann Lee") < html.index("Bo Chen")
    assert '<time datetime="2020-01-04T20:39:00+00:00">' in html
    assert f'href="{category.get_absolute_url()}"' in html
    assert f'href="{tag.get_absolute_url()}"' in html
    assert "<p>First <em>paragraph</em>.</p>" in html and "<p>Second paragraph.</p>" in html
    assert '<html lang="en">' in html and "<main" in html and "<article" in html


def test_time_carries_the_site_zone_offset(client, settings):
    settings.TIME_ZONE = "Africa/Tripoli"
    article = make_article(published_at=dt.datetime(2020, 1, 4, 18, 39, tzinfo=dt.UTC))
    html = client.get(article.get_absolute_url()).content.decode()
    assert '<time datetime="2020-01-04T20:39:00+02:00">' in html


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": Article.Status.DRAFT},
        {"status": Article.Status.REVIEW},
        {"published_at": timezone.now() + dt.timedelta(hours=1)},
        {"unpublish_at": timezone.now() - dt.timedelta(minutes=1)},
    ],
    ids=["draft", "review", "scheduled", "unpublished-at"],
)
def test_unpublished_articles_are_404_and_absent_from_lists(client, kwargs):
    category = make_category()
    author = make_author()
    tag = make_tag()
    hidden = make_article("Secret story", category=category, authors=[author], tags=[tag], **kwargs)
    assert client.get(reverse("articles:detail", args=[hidden.slug])).status_code == 404
    for url in [
        "/",
        "/articles/",
        category.get_absolute_url(),
        author.get_absolute_url(),
        tag.get_absolute_url(),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Secret story" not in response.content.decode(), url


@pytest.mark.parametrize("prefix", ["articles", "categories", "authors", "tags"])
def test_unknown_slugs_are_404_with_a_styled_page(client, prefix):
    response = client.get(f"/{prefix}/no-such-thing/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_an_unknown_article_address_reads_articles_by_unique_key_only(client):
    """Crawlers and mistyped links ask for addresses that do not exist; answering each (is it
    withdrawn? an old address?) must look articles up by a unique key, not walk them: a 404 is
    not cached, and one query that matched the slug or an old slug in one OR read every article
    (200 ms at 100,000). Each query's plan is asked of SQLite."""
    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's query plans; the SQLite pass of .ci/run runs it")
    make_article("Somewhere else")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/articles/no-such-story/").status_code == 404
    steps = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            cursor.execute(f"EXPLAIN QUERY PLAN {query['sql']}")
            steps += [row[-1] for row in cursor.fetchall() if " articles_article " in f"{row[-1]} "]
    assert len(steps) >= 3
    walks = [s for s in steps if not s.endswith(("(slug=?)", "(rowid=?)"))]
    assert walks == []


def test_scheduled_article_appears_by_itself_at_its_time(client):
    article = make_article("Embargoed", published_at=timezone.now() + dt.timedelta(seconds=2))
    assert client.get(article.get_absolute_url()).status_code == 404
    Article.objects.filter(pk=article.pk).update(
        published_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert client.get(article.get_absolute_url()).status_code == 200


def test_archive_is_newest_first_and_paginated(client, settings):
    settings.ARTICLES_PER_PAGE = 3
    for i in range(7):
        make_article(f"Story {i}", ago=dt.timedelta(days=i))
    page1 = client.get("/articles/").content.decode()
    assert page1.index("Story 0") < page1.index("Story 1") < page1.index("Story 2")
    assert "Story 3" not in page1 and "Page 1 of 3" in page1
    page3 = client.get("/articles/?page=3").content.decode()
    assert "Story 6" in page3
    for page in ["99", "abc", "0", "-1", "1.5", "9" * 400]:
        response = client.get(f"/articles/?page={page}")
        assert response.status_code == 404, page
        assert "pages run from 1 to 3" in response.content.decode(), page


def _seven_stories_past_a_count_limit_of_four(settings, monkeypatch):
    """Section "World" with 7 stories a day apart (Story 0 newest), pages of 2, uncached, and
    lists counted up to 4: pages 3 and 4 lie past the counted ones."""
    from articles import paging

    monkeypatch.setattr(paging, "COUNT_LIMIT", 4)
    settings.ARTICLES_PER_PAGE = 2
    settings.CACHE_SECONDS = 0
    world = make_category("World")
    for i in range(7):
        make_article(f"Story {i}", category=world, ago=dt.timedelta(days=i))
    return world


def test_large_lists_count_only_up_to_a_limit_and_every_page_still_opens(
    client, settings, monkeypatch, django_assert_num_queries
):
    """Past COUNT_LIMIT the total is not counted (so a page costs the same on any archive):
    the page says "more than", every page with articles opens and the one after the end is 404."""
    _seven_stories_past_a_count_limit_of_four(settings, monkeypatch)
    page1 = client.get("/articles/").content.decode()
    assert "More than 4 articles" in page1 and "Page 1</span>" in page1
    assert 'rel="next" href="?page=2"' in page1
    with django_assert_num_queries(8):  # the same as the archive's counted pages
        page4 = client.get("/articles/?page=4").content.decode()
    assert "Story 6" in page4 and 'rel="next"' not in page4 and "Page 4</span>" in page4
    for page in ["5", "0", "abc", "9" * 400, str(2**63)]:
        response = client.get(f"/articles/?page={page}")
        assert response.status_code == 404, page
        assert "There is no page" in response.content.decode()


def test_section_author_and_topic_pages_show_no_total_and_count_nothing(
    client, settings, django_assert_num_queries
):
    """A section's, an author's or a topic's page says "Page N" and links the next page when
    there is one; it runs no count (at 100,000 articles counting a topic's articles made its
    page 1.4x slower than at 1,000). Page 1 of an empty list opens; a page past the end is 404."""
    settings.ARTICLES_PER_PAGE = 2
    settings.CACHE_SECONDS = 0
    world, ann, topic = make_category("World"), make_author("Ann Lee"), make_tag("Energy")
    for i in range(3):
        make_article(
            f"Story {i}", category=world, authors=[ann], tags=[topic], ago=dt.timedelta(days=i)
        )
    for each in (world, ann, topic):
        url = each.get_absolute_url()
        with django_assert_num_queries(5) as context:
            first = client.get(url).content.decode()
        assert not any("COUNT(" in q["sql"] for q in context.captured_queries), url
        assert "Page 1</span>" in first and 'rel="next" href="?page=2"' in first, url
        second = client.get(url + "?page=2").content.decode()
        assert "Page 2</span>" in second and 'rel="next"' not in second, url
        assert re.findall(r">(Story \d)</a></h", second) == ["Story 2"], url
        missing = client.get(url + "?page=3")
        assert missing.status_code == 404 and "There is no page" in missing.content.decode(), url
    quiet = make_author("Bo Quiet")
    empty = client.get(quiet.get_absolute_url())
    assert empty.status_code == 200 and 'class="pagination"' not in empty.content.decode()
    assert client.get(quiet.get_absolute_url() + "?page=2").status_code == 404


def test_deep_pages_follow_a_cursor_and_walk_the_whole_list(
    client, settings, monkeypatch, django_assert_num_queries
):
    """Past COUNT_LIMIT, "Older" carries the id of the page's last article: the next page starts
    after it through the index, whatever the depth. Walking the links lists every article once,
    in order; a stale cursor falls back to the page number; the cache key keeps `after`."""
    from articles import paging

    monkeypatch.setattr(paging, "COUNT_LIMIT", 4)
    settings.ARTICLES_PER_PAGE = 2
    settings.CACHE_SECONDS = 0
    world, ann, topic = make_category("World"), make_author("Ann Lee"), make_tag("Energy")
    stories = [
        make_article(
            f"Story {i}", category=world, authors=[ann], tags=[topic], ago=dt.timedelta(days=i)
        )
        for i in range(9)
    ]
    # Two stories published at the same moment: the id breaks the tie.
    stories[6].published_at = stories[7].published_at
    stories[6].save()
    lists = [world, ann, topic]
    for base in ["/articles/", *(each.get_absolute_url() for each in lists)]:
        seen, url, links = [], base, []
        while url:
            page = client.get(url).content.decode()
            seen += re.findall(r">(Story \d)</a></h", page)
            found = re.search(r'rel="next" href="\?([^"]+)"', page)
            url = base + "?" + found[1].replace("&amp;", "&") if found else None
            links.append(found[1] if found else None)
        expected = [a.headline for a in sorted(stories, key=lambda a: (a.published_at, a.pk))]
        assert seen == expected[::-1], base
        assert links[0] == "page=2" and links[1].startswith("page=3&amp;after="), links
    after = stories[5].pk
    with django_assert_num_queries(6):  # one more than a numbered page: the cursor's date
        page = client.get(f"{world.get_absolute_url()}?page=4&after={after}&x=1").content.decode()
    newest_first = expected[::-1]
    assert re.findall(r">(Story \d)</a></h", page) == newest_first[6:8]
    services.article_trash(stories[5], user=make_editor())
    newest_first.remove("Story 5")
    page = client.get(f"/articles/?page=4&after={after}").content.decode()
    assert re.findall(r">(Story \d)</a></h", page) == newest_first[6:8]  # by number
    assert client.get("/articles/?page=2&after=abc").status_code == 200


def test_a_list_page_builds_its_queryset_only_when_a_page_needs_it(client, settings, monkeypatch):
    """A section, author or topic page is read by compiled queries; building the list's
    queryset as well cost a third of a millisecond a page (a topic's EXISTS). A page past the
    counted ones by number alone still reads it, and lists what it should."""
    from articles import views

    world = _seven_stories_past_a_count_limit_of_four(settings, monkeypatch)
    client.get(world.get_absolute_url())  # compiles the list's queries once per shape
    built = []
    build = views.SECTION.rows
    monkeypatch.setattr(views.SECTION, "rows", lambda **values: built.append(1) or build(**values))
    for page in ("", "?page=2"):
        assert client.get(world.get_absolute_url() + page).status_code == 200
    assert built == []
    deep = client.get(world.get_absolute_url() + "?page=4").content.decode()
    assert re.findall(r">(Story \d)</a></h", deep) == ["Story 6"] and built


def test_section_author_and_tag_pages_list_only_their_articles(client):
    world, sport = make_category("World"), make_category("Sport")
    ann, bo = make_author("Ann"), make_author("Bo")
    tag = make_tag("Elections")
    make_article("World story", category=world, authors=[ann], tags=[tag])
    make_article("Sport story", category=sport, authors=[bo])
    cases = [
        (world.get_absolute_url(), "World story", "Sport story"),
        (sport.get_absolute_url(), "Sport story", "World story"),
        (ann.get_absolute_url(), "World story", "Sport story"),
        (bo.get_absolute_url(), "Sport story", "World story"),
        (tag.get_absolute_url(), "World story", "Sport story"),
    ]
    for url, present, absent in cases:
        html = client.get(url).content.decode()
        assert present in html and absent not in html, url


def test_front_page_has_lead_latest_and_sections(client):
    world = make_category("World")
    make_article("Big featured story", featured=True, category=world)
    make_article("Plain story", category=world)
    html = client.get("/").content.decode()
    assert "Big featured story" in html and "Plain story" in html
    assert 'id="section-world"' in html


def test_body_is_sanitised_markdown_without_raw_html(client):
    article = make_article(
        body="Hello <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    html = client.get(article.get_absolute_url()).content.decode()
    assert (
        "<script>alert" not in html and "<img src=x" not in html and 'href="javascript' not in html
    )
    assert "&lt;script&gt;" in html


def test_headline_is_autoescaped(client):
    article = make_article("<b>Bold</b> & brave")
    html = client.get(article.get_absolute_url()).content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; brave" in html


def test_renamed_slug_redirects_permanently(client):
    article = make_article("Original headline")
    old_url = article.get_absolute_url()
    article.slug = "better-headline"
    article.save()
    article.slug = "best-headline"
    article.save()
    for url in [old_url, "/articles/better-headline/"]:
        response = client.get(url)
        assert response.status_code == 301
        assert response["Location"] == "/articles/best-headline/"


def test_public_pages_set_no_cookies(client):
    article = make_article()
    for url in ["/", "/articles/", article.get_absolute_url()]:
        response = client.get(url)
        assert not response.cookies, url
        assert "ETag" in response, url


def _populate(n):
    categories = [make_category() for _ in range(3)]
    authors = [make_author() for _ in range(4)]
    tags = [make_tag() for _ in range(4)]
    for i in range(n):
        make_article(
            category=categories[i % 3],
            authors=authors[: 1 + i % 3],
            tags=tags[: i % 4],
            featured=i % 5 == 0,
        )
    return categories[0], authors[0], tags[1]


@pytest.mark.parametrize("n", [3, 15])
def test_query_counts_are_fixed(client, django_assert_num_queries, settings, n):
    """Each public page costs the same number of queries whatever it shows (rendered, not cached)."""
    settings.CACHE_SECONDS = 0
    category, author, tag = _populate(n)
    # An article with related stories (shared topics), so every related query runs.
    article = Article.objects.published().filter(tags__isnull=False).first()
    make_correction(article)
    expected = {
        "/": 6,  # the ids of three lists (featured, latest, section heads), the sections,
        # every card at once and their bylines
        # + the section, author and topic choices of the filter form
        "/articles/": 8,  # + the page's ids first (deep pages read the index, not rows)
        # the article with its topics, its corrections, the sections; the related articles'
        # candidates (one UNION ALL), the newest published among them loaded as cards, and
        # the bylines of the article and the related ones together
        article.get_absolute_url(): 6,
        # the object, the page's ids, cards, bylines, the sections: no count (no total shown)
        category.get_absolute_url(): 5,
        author.get_absolute_url(): 5,
        tag.get_absolute_url(): 5,
        "/search/?q=story": 6,  # the window, the count, the page, its cards and bylines
        "/corrections/": 4,
        # the ids, then cards, bylines and topics (compiled queries)
        "/feeds/rss/": 4,
        "/feeds/atom/": 4,
        f"{category.get_absolute_url()}feed/": 5,
        f"{author.get_absolute_url()}feed/": 5,
        "/corrections/feed/": 1,
        "/sitemap.xml": 5,
        "/sitemap-articles.xml": 2,
        "/sitemap-categories.xml": 2,
        "/sitemap-authors.xml": 2,
        "/sitemap-tags.xml": 2,
        "/news-sitemap.xml": 1,
    }
    for url, count in expected.items():
        with django_assert_num_queries(count):
            assert client.get(url).status_code == 200


def test_an_article_without_corrections_reads_none(client, django_assert_num_queries, settings):
    """The article's row says whether it has corrections: most have none, and their page makes
    one query fewer; a story with corrections still shows every one, pinned or not."""
    settings.CACHE_SECONDS = 0
    category, _, _ = _populate(6)
    plain = Article.objects.published().filter(category=category).first()
    corrected = Article.objects.published().exclude(pk=plain.pk).first()
    make_correction(corrected, text="The vote was on Tuesday, not Monday.")
    make_correction(corrected, text="A name was misspelt.", pinned_top=True)
    with django_assert_num_queries(5):
        page = client.get(plain.get_absolute_url()).content.decode()
    assert 'class="corrections' not in page
    with django_assert_num_queries(6):
        page = client.get(corrected.get_absolute_url()).content.decode()
    assert "The vote was on Tuesday, not Monday." in page and "A name was misspelt." in page
    assert 'class="corrections corrections--top"' in page  # the pinned one above the story
    # A correction added later is read on the next render (the flag is the row's, not kept).
    make_correction(plain, text="A figure was wrong.")
    assert "A figure was wrong." in client.get(plain.get_absolute_url()).content.decode()


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_keeps_the_database_error_to_the_log(reader, monkeypatch, caplog):
    from django.db import OperationalError, connection

    def broken():
        raise OperationalError('connection to "db.internal" port 5432 failed: user "newsdesk"')

    monkeypatch.setattr(connection, "cursor", broken)
    response = reader.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
    assert "db.internal" in caplog.text  # the operator still learns why


def test_article_page_shows_related_published_articles(client):
    world, sport = make_category("World"), make_category("Sport")
    tag = make_tag("Energy")
    article = make_article("Main story", category=world)
    make_article("Same section", category=world)
    make_article("Same topic", category=sport, tags=[tag])
    article.tags.add(tag)
    make_article("Unrelated", category=sport)
    make_article("Draft sibling", category=world, status=Article.Status.DRAFT)
    html = client.get(article.get_absolute_url()).content.decode()
    related = html[html.index("Related articles") :]
    assert "Same section" in related and "Same topic" in related
    assert "Unrelated" not in related and "Draft sibling" not in related
    assert "Main story" not in related


def test_revised_articles_are_marked_updated(client):
    published = timezone.now() - dt.timedelta(days=1)
    article = make_article(
        "Revised", published_at=published, revised_at=published + dt.timedelta(hours=2)
    )
    html = client.get(article.get_absolute_url()).content.decode()
    assert "Updated" in html and article.modified_at.isoformat()[:16] in html
    plain = make_article("Not revised")
    assert 'class="updated"' not in client.get(plain.get_absolute_url()).content.decode()


def test_every_public_page_is_valid_html(client):
    """html5lib's strict parser accepts every public page type, including error pages."""
    import html5lib

    category, author, tag = _populate(6)
    author.bio = "Line one.\nLine two & more."
    author.save()
    article = Article.objects.published().filter(tags__isnull=False).first()
    urls = {
        "/": 200,
        "/articles/": 200,
        "/articles/?category=" + category.slug + "&tag=" + tag.slug: 200,
        "/articles/?published_after=notadate": 400,
        article.get_absolute_url(): 200,
        category.get_absolute_url(): 200,
        author.get_absolute_url(): 200,
        tag.get_absolute_url(): 200,
        "/search/": 200,
        "/search/?q=story": 200,
        "/search/?q=-x": 400,
        "/search/?q=nothingmatches": 200,
        "/articles/no-such-article/": 404,
        "/articles/?page=abc": 404,
    }
    for url, status in urls.items():
        response = client.get(url)
        assert response.status_code == status, url
        html5lib.HTMLParser(strict=True).parse(response.content.decode())


def test_empty_site_pages_are_valid_html(client):
    import html5lib

    for url in ["/", "/articles/", "/search/?q=anything"]:
        response = client.get(url)
        assert response.status_code == 200, url
        html5lib.HTMLParser(strict=True).parse(response.content.decode())


def test_front_page_sections_show_the_newest_four_published_each(client):
    world, sport = make_category("World", order=1), make_category("Sport", order=2)
    for i in range(6):
        make_article(f"World {i}", category=world, ago=dt.timedelta(days=i + 1))
    make_article("Sport 0", category=sport, ago=dt.timedelta(days=1))
    make_article("World draft", category=world, status=Article.Status.DRAFT)
    response = client.get("/")
    sections = {c.name: [a.headline for a in arts] for c, arts in response.context["sections"]}
    assert sections == {
        "World": ["World 0", "World 1", "World 2", "World 3"],
        "Sport": ["Sport 0"],
    }
    assert list(response.context["sections"])[0][0] == world


def test_server_error_shows_the_styled_500_page_without_a_traceback(client, settings):
    settings.ROOT_URLCONF = "articles.tests.urls_broken"
    settings.DEBUG = False
    client.raise_request_exception = False
    response = client.get("/broken/")
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and "Traceback" not in html and "boom" not in html
