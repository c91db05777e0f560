"""Ranked full-text search over published articles.

SQLite uses an FTS5 table (`articles_article_fts`), PostgreSQL a stored, GIN-indexed tsvector
column (`articles_article.search_vector`); both are created by migration 0003 and kept in step by
the database (triggers / a generated column), so bulk inserts are indexed too. The reader's query
is parsed here into terms, "quoted phrases" and -excluded words, and rebuilt into an expression
for the backend, always passed as a parameter: user text never reaches SQL or FTS syntax.
"""

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models.expressions import RawSQL
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .models import Article

FTS_TABLE = "articles_article_fts"
# Column weights: headline above standfirst above body.
SQLITE_WEIGHTS = (10.0, 4.0, 1.0)
PG_CONFIG = "english"
# Private-use characters mark highlights; the text is escaped before they become <mark>.
HIGHLIGHT_START, HIGHLIGHT_END = "\ue000", "\ue001"
# ts_headline parses < and > as HTML tags and drops them; they travel as these instead.
ANGLE_STANDINS = "\ue002\ue003"
_RESTORE_ANGLES = str.maketrans(ANGLE_STANDINS, "<>")

SQLITE_TRIGGERS = {
    f"{FTS_TABLE}_ai": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON articles_article BEGIN
          INSERT INTO {FTS_TABLE}(rowid, headline, standfirst, body)
          VALUES (new.id, new.headline, new.standfirst, new.body);
        END""",
    f"{FTS_TABLE}_ad": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON articles_article BEGIN
          INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, headline, standfirst, body)
          VALUES ('delete', old.id, old.headline, old.standfirst, old.body);
        END""",
    f"{FTS_TABLE}_au": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au
        AFTER UPDATE OF headline, standfirst, body ON articles_article BEGIN
          INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, headline, standfirst, body)
          VALUES ('delete', old.id, old.headline, old.standfirst, old.body);
          INSERT INTO {FTS_TABLE}(rowid, headline, standfirst, body)
          VALUES (new.id, new.headline, new.standfirst, new.body);
        END""",
}
SQLITE_TABLE_SQL = f"""
    CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
      headline, standfirst, body,
      content='articles_article', content_rowid='id',
      tokenize='porter unicode61 remove_diacritics 2'
    )"""
SQLITE_BACKWARD_SQL = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS] + [
    f"DROP TABLE IF EXISTS {FTS_TABLE}"
]

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


def sqlite_install(conn, *, rebuild: bool = False) -> None:
    """Create the FTS table and its triggers where missing.

    Django's SQLite schema editor rebuilds a table to alter it, which drops its triggers; this
    runs after every migrate (see apps.py) and rebuilds the index when a trigger had gone.
    """
    with conn.cursor() as cursor:
        cursor.execute(SQLITE_TABLE_SQL)
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'articles_article'"
        )
        present = {row[0] for row in cursor.fetchall()}
        missing = [name for name in SQLITE_TRIGGERS if name not in present]
        for name in missing:
            cursor.execute(SQLITE_TRIGGERS[name])
        if rebuild or missing:
            cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


class SearchQueryError(ValueError):
    """The reader's query cannot be searched; the message says why."""


@dataclass
class ParsedQuery:
    terms: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    excluded: list[list[str]] = field(default_factory=list)

    @property
    def has_positive(self) -> bool:
        return bool(self.terms or self.phrases)


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")


def parse_query(text: str) -> ParsedQuery:
    """Split a query the way search engines read one: words, "phrases" and -excluded words."""
    parsed = ParsedQuery()
    for match in _TOKEN.finditer(text):
        negate, quoted, bare = match.groups()
        if quoted is not None:
            words = _WORD.findall(quoted)
            if not words:
                continue
            (parsed.excluded if negate else parsed.phrases).append(words)
            continue
        negate = bare.startswith("-") and len(bare) > 1
        words = _WORD.findall(bare[1:] if negate else bare)
        if not words:
            continue
        if negate:
            parsed.excluded.append(words)
        elif len(words) > 1:
            # "e-mail", "U.S." and the like: the parts must stand together.
            parsed.phrases.append(words)
        else:
            parsed.terms.append(words[0])
    return parsed


def clean_query(text: str) -> ParsedQuery:
    """Validate and parse, or raise SearchQueryError with a message for the reader."""
    if len(text) > settings.SEARCH_MAX_LENGTH:
        raise SearchQueryError(
            f"Search queries can be at most {settings.SEARCH_MAX_LENGTH:,} characters long "
            f"(yours has {len(text):,})."
        )
    parsed = parse_query(text)
    if not parsed.has_positive:
        raise SearchQueryError(
            "Enter at least one word to search for (words starting with - only exclude)."
        )
    return parsed


def _fts5_phrase(words: list[str]) -> str:
    # FTS5 strings are double-quoted; words hold only \w characters, so nothing else to escape.
    return '"' + " ".join(words) + '"'


def fts5_expression(parsed: ParsedQuery) -> str:
    positive = " AND ".join(
        [_fts5_phrase([t]) for t in parsed.terms] + [_fts5_phrase(p) for p in parsed.phrases]
    )
    if not parsed.excluded:
        return positive
    negative = " OR ".join(_fts5_phrase(p) for p in parsed.excluded)
    return f"({positive}) NOT ({negative})"


def websearch_expression(parsed: ParsedQuery) -> str:
    parts = list(parsed.terms)
    parts += ['"' + " ".join(p) + '"' for p in parsed.phrases]
    parts += ["-" + (p[0] if len(p) == 1 else '"' + " ".join(p) + '"') for p in parsed.excluded]
    return " ".join(parts)


def highlight(text: str) -> SafeString:
    """Escape `text`, then turn only the highlight markers into balanced <mark> elements."""
    out, open_ = [], False
    text = (text or "").translate(_RESTORE_ANGLES)
    for piece in re.split(f"([{HIGHLIGHT_START}{HIGHLIGHT_END}])", text):
        if piece == HIGHLIGHT_START:
            if not open_:
                out.append("<mark>")
                open_ = True
        elif piece == HIGHLIGHT_END:
            if open_:
                out.append("</mark>")
                open_ = False
        else:
            out.append(escape(piece))
    if open_:
        out.append("</mark>")
    return mark_safe("".join(out))  # noqa: S308 - every piece of text was escaped above


def _pick_snippet(lede: str, body: str) -> str:
    """The body's matches, else the standfirst's, else the opening of the body."""
    if HIGHLIGHT_START in (body or ""):
        return body
    if HIGHLIGHT_START in (lede or ""):
        return lede
    return body or lede or ""


def _published_exists_sql():
    """A correlated check that the FTS row being looked at is a published article."""
    row = RawSQL(f"{FTS_TABLE}.rowid", [])
    return Article.objects.published().filter(pk=row).values("id").query.sql_with_params()


def _published_ids_sql():
    return Article.objects.published().values("id").query.sql_with_params()


def matching_ids_sql(parsed: ParsedQuery) -> tuple[str, list]:
    """SQL (and params) selecting the ids of all articles matching the query, for `pk__in`."""
    if connection.vendor == "postgresql":
        return (
            "SELECT id FROM articles_article "
            "WHERE search_vector @@ websearch_to_tsquery(%s::regconfig, %s)",
            [PG_CONFIG, websearch_expression(parsed)],
        )
    return (
        f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s",
        [fts5_expression(parsed)],
    )


class SearchResults:
    """Ranked matches among published articles, sliceable and countable for a Paginator.

    A page costs a count, one ranked query for the page, and the listing queries for its
    articles, whatever the number of matches.
    """

    def __init__(self, parsed: ParsedQuery):
        self.parsed = parsed
        self._count = None

    def count(self) -> int:
        if self._count is None:
            sql, params = matching_ids_sql(self.parsed)
            self._count = Article.objects.published().filter(pk__in=RawSQL(sql, params)).count()
        return self._count

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
        rows = self._ranked_page(limit, start)
        articles = Article.objects.published().for_listing().in_bulk([row[0] for row in rows])
        page = []
        for pk, rank, headline, snippet in rows:
            article = articles.get(pk)
            if article is None:  # unpublished between the two queries
                continue
            article.search_rank = rank
            article.search_headline = highlight(headline)
            article.search_snippet = highlight(snippet)
            page.append(article)
        return page

    def _ranked_page(self, limit: int, offset: int):
        published_sql, published_params = _published_ids_sql()
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                options = (
                    f"StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_END}, MaxFragments=2, "
                    'MaxWords=30, MinWords=12, FragmentDelimiter=" … "'
                )
                # Headlines are computed on the page's rows only (the inner query is limited).
                cursor.execute(
                    f"""
                    SELECT r.id, r.rank,
                      ts_headline(%s::regconfig, translate(r.headline, '<>', %s), r.q, %s),
                      ts_headline(
                        %s::regconfig,
                        translate(r.standfirst || ' ' || r.body, '<>', %s), r.q, %s
                      )
                    FROM (
                      SELECT a.id, a.headline, a.standfirst, a.body, a.published_at, q.q,
                             ts_rank(a.search_vector, q.q) AS rank
                      FROM articles_article a,
                           websearch_to_tsquery(%s::regconfig, %s) AS q(q)
                      WHERE a.search_vector @@ q.q AND a.id IN ({published_sql})
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
                        ANGLE_STANDINS,
                        options,
                        PG_CONFIG,
                        websearch_expression(self.parsed),
                        *published_params,
                        limit,
                        offset,
                    ],
                )
            else:
                weights = ", ".join(str(w) for w in SQLITE_WEIGHTS)
                rank = f"bm25({FTS_TABLE}, {weights})"
                # The published check is a correlated EXISTS and the page's rowids are matched
                # with a unary +: a plain `rowid IN (...)` would be handed to FTS5 as a rowid
                # constraint and re-run the full-text query once per candidate row. Snippets are
                # made for the page's rows only.
                exists_sql, exists_params = _published_exists_sql()
                expression = fts5_expression(self.parsed)
                cursor.execute(
                    f"""
                    SELECT rowid, {rank} AS rank,
                      highlight({FTS_TABLE}, 0, %s, %s),
                      snippet({FTS_TABLE}, 1, %s, %s, '…', 30),
                      snippet({FTS_TABLE}, 2, %s, %s, '…', 30)
                    FROM {FTS_TABLE}
                    WHERE {FTS_TABLE} MATCH %s AND +rowid IN (
                      SELECT rowid FROM {FTS_TABLE}
                      WHERE {FTS_TABLE} MATCH %s AND EXISTS ({exists_sql})
                      ORDER BY {rank}, rowid DESC
                      LIMIT %s OFFSET %s
                    )
                    ORDER BY rank, rowid DESC
                    """,
                    [
                        *[HIGHLIGHT_START, HIGHLIGHT_END] * 3,
                        expression,
                        expression,
                        *exists_params,
                        limit,
                        offset,
                    ],
                )
                return [
                    (pk, rank, title, _pick_snippet(lede, body))
                    for pk, rank, title, lede, body in cursor.fetchall()
                ]
            return cursor.fetchall()


def search_articles(query: str) -> SearchResults:
    """Published articles matching `query`, best first. Raises SearchQueryError for bad input."""
    return SearchResults(clean_query(query))
