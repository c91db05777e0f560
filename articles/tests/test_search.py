"""Full-text search: ranking, phrases, exclusions, snippets and hostile input, on both backends."""

import ast
import datetime as dt
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from articles.models import Article
from articles.search import (
    FTS_TABLE,
    SearchQueryError,
    fts5_expression,
    parse_query,
    search_articles,
    websearch_expression,
)

from .factories import make_article

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="FTS5 index checks apply to SQLite only"
)
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="tsvector column checks need PostgreSQL"
)


def headlines(query):
    results = search_articles(query)
    return [a.headline for a in results[0 : results.count()]]


def test_headline_match_ranks_above_standfirst_above_body():
    make_article("Quiet day", standfirst="Nothing much.", body="The glacier melted quickly.")
    make_article("Markets", standfirst="A glacier of debt looms.", body="Prices rose.")
    make_article("Glacier retreats", standfirst="Scientists worry.", body="Ice is thin.")
    assert headlines("glacier") == ["Glacier retreats", "Markets", "Quiet day"]


def test_more_matching_words_rank_higher_within_the_same_field():
    make_article("Rain", body="Rain fell. Later more rain. Then rain again and rain.")
    make_article("Sun", body="Sun all day, rain only once.")
    assert headlines("rain")[:2] == ["Rain", "Sun"]


def test_phrase_must_appear_in_order():
    make_article("Bank raises interest rates", body="A rise.")
    make_article("Rates of interest", body="Rates and interest, apart.")
    assert headlines('"interest rates"') == ["Bank raises interest rates"]
    assert sorted(headlines("interest rates")) == [
        "Bank raises interest rates",
        "Rates of interest",
    ]


def test_minus_words_exclude():
    make_article("Football final tonight", body="The cup final.")
    make_article("Tennis final tonight", body="Centre court.")
    assert headlines("final -football") == ["Tennis final tonight"]
    assert headlines('final -"cup final"') == ["Tennis final tonight"]


def test_all_words_are_required():
    make_article("Flood warning", body="River levels rise.")
    make_article("Drought warning", body="No rain.")
    assert headlines("warning river") == ["Flood warning"]


def test_stemming_finds_other_forms_of_a_word():
    make_article("Elections called", body="Voters will decide.")
    assert headlines("election") == ["Elections called"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": Article.Status.DRAFT},
        {"status": Article.Status.REVIEW},
        {"published_at": timezone.now() + dt.timedelta(days=1)},
        {"unpublish_at": timezone.now() - dt.timedelta(minutes=1)},
        {"deleted_at": timezone.now()},
    ],
    ids=["draft", "review", "scheduled", "taken-down", "trashed"],
)
def test_only_published_articles_are_found(client, kwargs):
    make_article("Secret volcano plan", **kwargs)
    make_article("Public volcano report")
    assert headlines("volcano") == ["Public volcano report"]
    html = client.get("/search/?q=volcano").content.decode()
    assert "Secret" not in html and "1 result for" in html


def test_edits_and_deletes_reach_the_index():
    article = make_article("Old words here")
    article.headline = "Fresh wording"
    article.save()
    assert headlines("old") == []
    assert headlines("fresh") == ["Fresh wording"]
    article.delete()
    assert headlines("fresh") == []


@postgres_only
def test_a_page_ranks_exactly_the_matches_it_counted():
    """The count and the page come from one read of the window: an article edited out of the
    matches in between is still on the page it was counted for (the next search drops it),
    rather than a page one short of what it says."""
    kept = make_article("Harbour reopens", body="The harbour reopens.")
    edited = make_article("Harbour closes", body="The harbour closes.")
    results = search_articles("harbour")
    assert results.count() == 2
    Article.objects.filter(pk=edited.pk).update(headline="Quay closes", body="The quay closes.")
    assert {a.pk for a in results[0:20]} == {kept.pk, edited.pk}
    assert [a.pk for a in search_articles("harbour")[0:20]] == [kept.pk]


def test_bulk_created_articles_are_indexed():
    now = timezone.now()
    Article.objects.bulk_create(
        [
            Article(
                headline=f"Bulk zeppelin {i}",
                slug=f"bulk-zeppelin-{i}",
                status=Article.Status.PUBLISHED,
                published_at=now - dt.timedelta(minutes=i),
            )
            for i in range(3)
        ]
    )
    assert len(headlines("zeppelin")) == 3


def test_snippets_highlight_matches_and_escape_the_text(client):
    make_article(
        "Harbour <b>news</b>",
        standfirst="Boats & ships",
        body="The <script>alert(1)</script> harbour reopened on Monday.",
    )
    html = client.get("/search/?q=harbour").content.decode()
    assert "<mark>Harbour</mark> &lt;b&gt;news&lt;/b&gt;" in html
    assert "<mark>harbour</mark>" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_search_page_paginates_and_keeps_the_query(client, settings):
    settings.ARTICLES_PER_PAGE = 2
    for i in range(5):
        make_article(f"Comet sighting {i}", ago=dt.timedelta(hours=i))
    page1 = client.get("/search/?q=comet").content.decode()
    assert "5 results for" in page1 and "Page 1 of 3" in page1
    assert 'href="?q=comet&amp;page=2"' in page1
    assert client.get("/search/?q=comet&page=3").status_code == 200
    assert client.get("/search/?q=comet&page=4").status_code == 404
    assert client.get("/search/?q=comet&page=x").status_code == 404


@pytest.mark.parametrize(
    ("query", "status"),
    [
        # No word left to search for: a 400 with the reason.
        ('"', 400),
        ("*", 400),
        ("(((", 400),
        ("-", 400),
        ("--x", 400),  # only excludes "x"
        # Operators and punctuation are read as plain words: searched, never FTS or SQL syntax.
        ('"unclosed phrase', 200),
        ("NEAR(a b)", 200),
        ("a OR", 200),
        ("AND", 200),
        ("col:word", 200),
        ("^start", 200),
        ("a + b", 200),
        ("' OR 1=1 --", 200),
        ("🦆 ducks", 200),
        ("\x00null", 200),
        ("word\u202e", 200),
    ],
)
def test_hostile_queries_never_fail(client, query, status):
    make_article("Ducks on the pond")
    response = client.get("/search/", {"q": query})
    assert response.status_code == status
    html = response.content.decode()
    if status == 400:
        assert "Enter at least one word" in html
    else:
        assert re.search(r"\b\d+ results? for", html)


def test_hostile_query_still_finds_its_words(client):
    make_article("Ducks on the pond")
    html = client.get("/search/", {"q": "🦆 ducks"}).content.decode()
    assert "1 result for" in html and "<mark>Ducks</mark> on the pond" in html


def test_only_excluded_words_is_a_clear_400(client):
    response = client.get("/search/?q=-cats")
    assert response.status_code == 400
    assert "Enter at least one word" in response.content.decode()


def test_overlong_query_is_a_clear_400(client, settings):
    response = client.get("/search/", {"q": "x" * (settings.SEARCH_MAX_LENGTH + 1)})
    assert response.status_code == 400
    assert "at most 1,000 characters" in response.content.decode()


def test_empty_query_shows_the_form(client):
    response = client.get("/search/?q=")
    assert response.status_code == 200
    assert 'name="q"' in response.content.decode()


def test_search_page_query_count_is_fixed(client, django_assert_num_queries):
    for i in range(12):
        make_article(f"Harvest report {i}")
    with django_assert_num_queries(6):
        assert client.get("/search/?q=harvest").status_code == 200


@pytest.mark.parametrize(
    ("text", "terms", "phrases", "excluded"),
    [
        ("a b", ["a", "b"], [], []),
        ('"a b" c', ["c"], [["a", "b"]], []),
        ("a -b", ["a"], [], [["b"]]),
        ('a -"b c"', ["a"], [], [["b", "c"]]),
        ("e-mail", [], [["e", "mail"]], []),
        ('"unclosed', [], [["unclosed"]], []),
        ("- * ()", [], [], []),
    ],
)
def test_parse_query(text, terms, phrases, excluded):
    parsed = parse_query(text)
    assert (parsed.terms, parsed.phrases, parsed.excluded) == (terms, phrases, excluded)


def test_expressions_for_both_backends():
    parsed = parse_query('rates "central bank" -mortgage')
    assert fts5_expression(parsed) == '("rates" AND "central bank") NOT ("mortgage")'
    assert websearch_expression(parsed) == 'rates "central bank" -mortgage'


def test_query_error_for_no_words():
    with pytest.raises(SearchQueryError):
        search_articles("***")


@sqlite_only
def test_sqlite_uses_an_fts5_table_kept_by_triggers():
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [FTS_TABLE])
        assert "fts5" in cursor.fetchone()[0].lower()
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'articles_article'"
        )
        assert cursor.fetchone()[0] == 3


@sqlite_only
def test_sqlite_triggers_come_back_after_being_dropped():
    from articles.search import sqlite_install

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {FTS_TABLE}_ai")
    make_article("Missed by the index")
    sqlite_install(connection)
    assert headlines("missed") == ["Missed by the index"]


@postgres_only
def test_postgres_uses_a_stored_gin_indexed_vector():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT is_generated FROM information_schema.columns "
            "WHERE table_name = 'articles_article' AND column_name = 'search_vector'"
        )
        assert cursor.fetchone()[0] == "ALWAYS"
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'articles_article_search_vector_gin'"
        )
        assert "gin" in cursor.fetchone()[0].lower()


@postgres_only
def test_postgres_weights_headline_a_standfirst_b_body_c():
    article = make_article("Alpha", standfirst="Beta", body="Gamma")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT search_vector::text FROM articles_article WHERE id = %s", [article.pk]
        )
        vector = cursor.fetchone()[0]
    assert "'alpha':1A" in vector and "'beta':2B" in vector and "'gamma':3" in vector


@hyp_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.text(max_size=60) | st.text(alphabet="ab \"-*():^+NOTANDOR\\'", max_size=30))
def test_any_query_either_searches_or_says_why(db, text):
    """No input, however odd, reaches the database as syntax: a result or a SearchQueryError."""
    try:
        results = search_articles(text)
    except SearchQueryError:
        return
    results.count()
    results[0:5]


@sqlite_only
def test_migrate_restores_triggers_a_table_rebuild_dropped():
    """Django's SQLite schema editor rebuilds a table to alter it, dropping its triggers."""
    from django.core.management import call_command

    with connection.cursor() as cursor:
        for suffix in ("ai", "au", "ad"):
            cursor.execute(f"DROP TRIGGER {FTS_TABLE}_{suffix}")
    make_article("Written while unindexed")
    call_command("migrate", verbosity=0)
    assert headlines("unindexed") == ["Written while unindexed"]
    make_article("Written afterwards")
    assert headlines("afterwards") == ["Written afterwards"]


def test_no_results_says_so(client):
    make_article("Something else")
    html = client.get("/search/?q=zebra").content.decode()
    assert "0 results for" in html and "No published articles match your search." in html


SEARCH_DIR = Path(__file__).resolve().parents[1] / "search"


def test_query_parser_runs_without_any_database_code():
    """articles/search/query.py loads and parses on its own, with django.db made unimportable."""
    script = f"""
import importlib.abc, importlib.util, sys

class NoDatabase(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "django.db" or name.startswith(("django.db.", "articles")):
            raise ImportError("query.py imported " + name)

sys.meta_path.insert(0, NoDatabase())
spec = importlib.util.spec_from_file_location("query_alone", {str(SEARCH_DIR / "query.py")!r})
query = importlib.util.module_from_spec(spec)
spec.loader.exec_module(query)
parsed = query.parse_query('rates "central bank" -mortgage')
print(query.fts5_expression(parsed))
print(sorted(m for m in sys.modules if m == "django.db" or m.startswith("django.db.")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['("rates" AND "central bank") NOT ("mortgage")', "[]"]


def test_search_migration_carries_its_own_sql():
    """0003_search must not import app code (articles.search) that may change after it."""
    path = Path(__file__).resolve().parents[1] / "migrations" / "0003_search.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"django.db"}


def test_snippets_come_from_the_rendered_text_not_the_markdown(client):
    make_article(
        "Council result",
        standfirst="The count is in.",
        body=(
            "Turnout was high. See [the tally](https://example.org/r?id=42&lang=en) for the "
            'full vote.\n\n> "This is *historic*," said the mayor.\n\n**Next** week the council meets.'
        ),
    )
    html = client.get("/search/?q=votes").content.decode()
    snippet = re.search(r'<p class="card__standfirst snippet">(.*?)</p>', html, re.S).group(1)
    assert "the tally for the full <mark>vote</mark>." in snippet
    assert "&quot;This is historic,&quot; said the mayor." in snippet
    for markdown in ("](", "id=42", "> ", "**", "*historic*"):
        assert markdown not in snippet, markdown


def test_snippet_falls_back_to_the_standfirst_then_the_opening(client):
    make_article("Harbour plan", standfirst="Harbour works begin.", body="Cranes *arrive* today.")
    html = client.get("/search/?q=harbour").content.decode()
    assert '<p class="card__standfirst snippet"><mark>Harbour</mark> works begin.</p>' in html
    make_article("Tunnel plan", standfirst="", body="Diggers *arrive* today.", seo_title="")
    html = client.get("/search/?q=tunnel").content.decode()
    assert '<p class="card__standfirst snippet">Diggers arrive today.</p>' in html


def test_search_ranks_within_the_newest_matches_and_says_more_than(client, monkeypatch, settings):
    """Ranking every match grew with the archive: results come from the newest SEARCH_WINDOW
    matches, and the page says "More than" when there were more."""
    from articles import search

    monkeypatch.setattr(search, "SEARCH_WINDOW", 3)
    settings.CACHE_SECONDS = 0
    oldest = make_article("Harvest harvest harvest festival", ago=dt.timedelta(days=9))
    newer = [make_article(f"Harvest note {i}", ago=dt.timedelta(days=i)) for i in range(4)]
    page = client.get("/search/?q=harvest").content.decode()
    assert "More than 3 results" in page
    assert oldest.get_absolute_url() not in page  # the best match, but outside the window
    assert sum(a.get_absolute_url() in page for a in newer) == 3
    # A narrower query reaches it.
    page = client.get("/search/?q=festival").content.decode()
    assert oldest.get_absolute_url() in page and "1 result for" in page


@pytest.mark.parametrize("span", [1, 2, 5, 10_000])
def test_the_newest_matches_are_found_through_any_number_of_spans(monkeypatch, span):
    """PostgreSQL reads the newest matches span by span of ids (each four times wider than the
    last); whatever the span, the answer is the newest `limit` matches, as one query over all of
    them gives. (SQLite's FTS5 reads them newest first in one query: the same answer.)"""
    from articles import search
    from articles.search import postgresql

    monkeypatch.setattr(postgresql, "FIRST_SPAN", span)
    for i in range(14):
        make_article(f"Lighthouse keeper {i}" if i % 3 else f"Harbour pilot {i}")
    make_article("Lighthouse keeper withdrawn", status=Article.Status.DRAFT)
    parsed = parse_query("lighthouse keeper")
    sql, params = search.matching_ids_sql(parsed)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} ORDER BY 1 DESC", params)
        every = [row[0] for row in cursor.fetchall()]
    assert len(every) == 10  # nine published, one draft: published or not
    for limit in (1, 3, 4, 10, 11, 50):
        assert search.backend().newest_match_ids(parsed, limit) == every[:limit], limit
    assert search.backend().newest_match_ids(parse_query("zeppelin"), 5) == []


def test_a_snippet_deep_in_a_long_body_shows_the_words_around_the_match():
    """Only the words near the match are split (the whole body cost ~100 µs a result): the
    snippet is still the 30 words around the first match (7 before it), with an ellipsis on
    each cut side, at the start, the middle and the end of a long body, whatever the words'
    lengths."""
    from articles.search.query import (
        HIGHLIGHT_END,
        HIGHLIGHT_START,
        mark_snippet,
        match_pattern,
        parse_query,
    )

    pattern = match_pattern(parse_query("budget"))
    for at, filler in itertools.product((0, 5, 1500, 2995, 3000), ("w", "w" + "o" * 40)):
        tokens = [f"{filler}{i}" for i in range(3000)]
        tokens.insert(at, "Budgets")
        snippet = mark_snippet(" ".join(tokens), pattern)
        end = min(len(tokens), max(0, at - 7) + 30)
        start = end - 30
        expected = tokens[start:end]
        expected[at - start] = f"{HIGHLIGHT_START}Budgets{HIGHLIGHT_END}"
        assert snippet.removeprefix("… ").removesuffix(" …") == " ".join(expected), at
        assert snippet.startswith("… ") == (start > 0), at
        assert snippet.endswith(" …") == (end < len(tokens)), at
    # Words longer than the stretch first split around the match: the stretch grows to them.
    long_word = "x" * 5000
    snippet = mark_snippet(f"{long_word} budget {long_word}", pattern)
    assert snippet == f"{long_word} {HIGHLIGHT_START}budget{HIGHLIGHT_END} {long_word}"


@given(
    st.text(alphabet="ab_ éÉ1-.\n", max_size=60),
    st.lists(st.sampled_from(["ab", "ba", "é", "a1", "b_a"]), min_size=1, max_size=3),
)
@hyp_settings(max_examples=300, deadline=None)
def test_first_match_finds_where_the_pattern_first_matches(text, words):
    """`first_match` (str.find per stem) and the highlight pattern (a regular expression) agree
    on where a text's first match starts, or that there is none."""
    from articles.search.query import _fold, _stems, first_match, match_pattern, parse_query

    parsed = parse_query(" ".join(words))
    folded = _fold(text)
    found = match_pattern(parsed).search(folded)
    assert first_match(folded, _stems(parsed)) == (found.start() if found else None)
