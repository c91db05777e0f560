"""Ranked full-text search over published articles.

Layout:

- `query`: the reader's query parsed into terms, "quoted phrases" and -excluded words, and
  rebuilt into an FTS5 or websearch expression; result snippets cut from the rendered body's
  text; highlight markers turned into safe <mark> HTML. Pure text, no database.
- `sqlite`: the FTS5 table and its triggers (`sqlite_install`, run after every migrate) and the
  SQLite queries.
- `postgresql`: the stored, GIN-indexed tsvector column and the PostgreSQL queries.
- here: the backend picked by `connection.vendor`, `SearchResults` and `search_articles`, and
  every name the rest of the project imports from `articles.search`.

Both indexes are created by migration 0003 (which carries its own copy of the SQL) and kept in
step by the database, so bulk inserts are indexed too. The reader's expression is always passed
as a parameter: user text never reaches SQL or FTS syntax.
"""

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ..compiled import Compiled, padded
from ..models import Article, load_cards
from ..rendering import html_to_text
from . import postgresql, sqlite
from .postgresql import PG_CONFIG, POSTGRES_BACKWARD_SQL, POSTGRES_FORWARD_SQL
from .query import (
    ANGLE_STANDINS,
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    ParsedQuery,
    SearchQueryError,
    clean_query,
    fts5_expression,
    highlight,
    parse_query,
    pick_snippet,
    websearch_expression,
)
from .sqlite import (
    FTS_TABLE,
    SQLITE_BACKWARD_SQL,
    SQLITE_TABLE_SQL,
    SQLITE_TRIGGERS,
    SQLITE_WEIGHTS,
    sqlite_install,
)

__all__ = [
    "ANGLE_STANDINS",
    "FTS_TABLE",
    "HIGHLIGHT_END",
    "HIGHLIGHT_START",
    "PG_CONFIG",
    "POSTGRES_BACKWARD_SQL",
    "POSTGRES_FORWARD_SQL",
    "SQLITE_BACKWARD_SQL",
    "SQLITE_TABLE_SQL",
    "SQLITE_TRIGGERS",
    "SQLITE_WEIGHTS",
    "ParsedQuery",
    "SearchQueryError",
    "SearchResults",
    "backend",
    "clean_query",
    "fts5_expression",
    "highlight",
    "matching_ids_sql",
    "parse_query",
    "search_articles",
    "sqlite_install",
    "websearch_expression",
]


def backend():
    """The module holding the current database's search SQL (SQLite's unless PostgreSQL)."""
    return postgresql if connection.vendor == "postgresql" else sqlite


def matching_ids_sql(parsed: ParsedQuery) -> tuple[str, list]:
    """SQL (and params) selecting the ids of all articles matching the query, for `pk__in`."""
    return backend().matching_ids_sql(parsed)


# Results are ranked among the newest SEARCH_WINDOW matching articles (by id, which follows
# filing order). Ranking every match made a common word's search grow with the archive (64 ms at
# 100,000 articles against 15 ms at 1,000); a newsroom's readers want the recent stories first,
# and a narrower query (a phrase, another word, -word) reaches older ones. 200 is ten pages of
# results: the window's published check and ranking read every row in it, and 500 (25 pages,
# past what readers page through) cost a search page a sixth of its time at 100,000 articles.
SEARCH_WINDOW = 200


def _published_among(*, now, ids):
    return Article.objects.published(now=now).filter(pk__in=ids).order_by().values_list("pk")


PUBLISHED_AMONG = Compiled(_published_among)


class SearchResults:
    """Ranked matches among published articles, sliceable and countable for a Paginator.

    A page costs the window's ids, the published ones among them (which are also the count),
    one ranked query for the page over those ids, and the listing queries for its articles,
    whatever the number of matches. `complete` is False when there
    were more matches than the window (the page then says "more than"). The database marks the
    headline; the snippet is cut in Python from the page's rendered bodies as text.
    """

    def __init__(self, parsed: ParsedQuery):
        self.parsed = parsed
        self._published = None
        self._window = None
        self.complete = True

    def window(self) -> list[int]:
        """The ids of the newest SEARCH_WINDOW matches, highest first."""
        if self._window is None:
            ids = backend().newest_match_ids(self.parsed, SEARCH_WINDOW + 1)
            self.complete = len(ids) <= SEARCH_WINDOW
            self._window = ids[:SEARCH_WINDOW]
        return self._window

    def floor(self) -> int:
        """The lowest id in the ranking window."""
        window = self.window()
        return window[-1] if window else 2**62

    def published(self) -> list[int]:
        """The published articles among the window (one compiled query): the count, and what
        the ranked page chooses from, so the two always agree."""
        if self._published is None:
            window = self.window()
            now = timezone.now()
            self._published = PUBLISHED_AMONG.column(now=now, ids=padded(window)) if window else []
        return self._published

    def count(self) -> int:
        return len(self.published())

    def __len__(self):
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise TypeError("SearchResults only support slicing")
        start = index.start or 0
        stop = index.stop if index.stop is not None else start + settings.ARTICLES_PER_PAGE
        limit = max(0, stop - start)
        if not limit:
            return []
        among = self.published()
        if not among:
            return []
        rows = backend().ranked_page(self.parsed, limit, start, self.floor(), among)
        # Cards with the rendered body the snippets are cut from.
        articles = load_cards([row[0] for row in rows], html=True)
        page = []
        for pk, rank, headline in rows:
            article = articles.get(pk)
            if article is None:  # deleted between the two queries
                continue
            article.search_rank = rank
            article.search_headline = highlight(headline)
            article.search_snippet = highlight(
                pick_snippet(article.standfirst, html_to_text(article.body_html), self.parsed)
            )
            page.append(article)
        return page


def search_articles(query: str) -> SearchResults:
    """Published articles matching `query`, best first. Raises SearchQueryError for bad input."""
    return SearchResults(clean_query(query))
