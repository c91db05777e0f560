"""PostgreSQL: a stored, GIN-indexed tsvector column that the database computes from the row.

Migration 0003 carries its own copy of the column and index SQL below.
"""

from django.db import connection

from ..compiled import kept_cursor
from .query import (
    ANGLE_STANDINS,
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    ParsedQuery,
    websearch_expression,
)

PG_CONFIG = "english"

POSTGRES_FORWARD_SQL = [
    f"""
    ALTER TABLE articles_article ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
      setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(headline, '')), 'A') ||
      setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(standfirst, '')), 'B') ||
      setweight(to_tsvector('{PG_CONFIG}'::regconfig, coalesce(body, '')), 'C')
    ) STORED""",
    "CREATE INDEX articles_article_search_vector_gin ON articles_article USING GIN (search_vector)",
]
POSTGRES_BACKWARD_SQL = [
    "DROP INDEX IF EXISTS articles_article_search_vector_gin",
    "ALTER TABLE articles_article DROP COLUMN IF EXISTS search_vector",
]


MATCHES = "search_vector @@ websearch_to_tsquery(%s::regconfig, %s)"


def matching_ids_sql(parsed: ParsedQuery) -> tuple[str, list]:
    """SQL (and params) selecting the ids of all articles matching the query, for `pk__in`."""
    return f"SELECT id FROM articles_article WHERE {MATCHES}", [
        PG_CONFIG,
        websearch_expression(parsed),
    ]


FIRST_SPAN = 10_000  # ids the first look covers; each further look covers four times more


def newest_match_ids(parsed: ParsedQuery, limit: int) -> list[int]:
    """The ids of the `limit` newest matches (highest ids first), published or not.

    The matches are read in spans of ids from the newest down, each span ANDed with the GIN
    index's matches (a BitmapAnd of the two indexes), so only the rows of the span that match
    are visited: asking for the newest of all matches at once visited every matching row (8,474
    for "budget rules" at 100,000 articles: 35 ms against 5-8 ms). A common word fills the
    window in the first span, which also reads the newest id (one query); a rare one takes a few
    more, each four times wider, so an archive of any size is searched in a handful."""
    sql, params = matching_ids_sql(parsed)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT NULL::bigint, max(id) FROM articles_article UNION ALL "
            f"(SELECT id, NULL::bigint FROM articles_article WHERE {MATCHES} "
            "AND id > (SELECT max(id) FROM articles_article) - %s ORDER BY id DESC LIMIT %s)",
            [*params, FIRST_SPAN, limit],
        )
        rows = cursor.fetchall()
        top = next((newest for first, newest in rows if first is None), None)
        found = [first for first, _ in rows if first is not None]
        # `found` came unordered out of the UNION: sort it as the spans below add to it.
        found.sort(reverse=True)
        high, span = (top or 0) - FIRST_SPAN + 1, FIRST_SPAN * 4
        while high > 1 and len(found) < limit:
            low = max(high - span, 1)
            cursor.execute(
                f"{sql} AND id >= %s AND id < %s ORDER BY id DESC LIMIT %s",
                [*params, low, high, limit - len(found)],
            )
            found += [row[0] for row in cursor.fetchall()]
            high, span = low, span * 4
    return found


def ranked_page(
    parsed: ParsedQuery, limit: int, offset: int, floor: int, among: list[int]
) -> list[tuple]:
    """(id, rank, marked headline) for one page of the matches among the ids `among` (the
    window's published articles, all from `floor` up), best first: a primary key lookup per
    candidate, where `a.id IN (published ids)` hashed every published id. The ids matched when
    the window was read, and the match is not asked again: each row's search vector was then
    read twice (for the match and for the rank), a third of the query at 100,000 articles, and
    the page now always ranks exactly what the count counted."""
    with kept_cursor(connection) as cursor:
        # Headlines are computed on the page's rows only (the inner query is limited).
        cursor.execute(
            """
            SELECT r.id, r.rank,
              ts_headline(%s::regconfig, translate(r.headline, '<>', %s), r.q, %s)
            FROM (
              SELECT a.id, a.headline, a.published_at, q.q,
                     ts_rank(a.search_vector, q.q) AS rank
              FROM articles_article a,
                   websearch_to_tsquery(%s::regconfig, %s) AS q(q)
              WHERE a.id >= %s AND a.id = ANY(%s)
              ORDER BY rank DESC, a.published_at DESC, a.id DESC
              LIMIT %s OFFSET %s
            ) r
            ORDER BY r.rank DESC, r.published_at DESC, r.id DESC
            """,
            [
                PG_CONFIG,
                ANGLE_STANDINS,
                f"HighlightAll=true, StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}",
                PG_CONFIG,
                websearch_expression(parsed),
                floor,
                list(among),
                limit,
                offset,
            ],
        )
        return cursor.fetchall()
