"""SQLite: an FTS5 external-content table over the articles, kept in step by triggers.

Migration 0003 carries its own copy of the install SQL; `sqlite_install` here is what the
post_migrate hook (apps.py) runs to put back triggers a later table rebuild dropped.
"""

from django.db import connection

from .query import HIGHLIGHT_END, HIGHLIGHT_START, ParsedQuery, fts5_expression

FTS_TABLE = "articles_article_fts"
# Column weights: headline above standfirst above body.
SQLITE_WEIGHTS = (10.0, 4.0, 1.0)

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


def matching_ids_sql(parsed: ParsedQuery) -> tuple[str, list]:
    """SQL (and params) selecting the ids of all articles matching the query, for `pk__in`."""
    return (
        f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s",
        [fts5_expression(parsed)],
    )


def newest_match_ids(parsed: ParsedQuery, limit: int) -> list[int]:
    """The ids of the `limit` newest matches (highest ids first), published or not."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s ORDER BY rowid DESC LIMIT %s",
            [fts5_expression(parsed), limit],
        )
        return [row[0] for row in cursor.fetchall()]


def ranked_page(
    parsed: ParsedQuery, limit: int, offset: int, floor: int, among: list[int]
) -> list[tuple]:
    """(id, rank, marked headline) for one page of the matches among the ids `among` (the
    window's published articles, all from `floor` up), best first."""
    weights = ", ".join(str(w) for w in SQLITE_WEIGHTS)
    rank = f"bm25({FTS_TABLE}, {weights})"
    # Rowids are matched with a unary +: a plain `rowid IN (...)` would be handed to FTS5 as a
    # rowid constraint and re-run the full-text query once per candidate row. The published ids
    # come as a list (read once for the count) rather than an EXISTS per match (a third of the
    # query). Headlines are marked for the page's rows only.
    expression = fts5_expression(parsed)
    listed = ", ".join(["%s"] * len(among))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT rowid, {rank} AS rank,
              highlight({FTS_TABLE}, 0, %s, %s)
            FROM {FTS_TABLE}
            WHERE {FTS_TABLE} MATCH %s AND rowid >= %s AND +rowid IN (
              SELECT rowid FROM {FTS_TABLE}
              WHERE {FTS_TABLE} MATCH %s AND rowid >= %s AND +rowid IN ({listed})
              ORDER BY {rank}, rowid DESC
              LIMIT %s OFFSET %s
            )
            ORDER BY rank, rowid DESC
            """,
            [
                HIGHLIGHT_START,
                HIGHLIGHT_END,
                expression,
                floor,
                expression,
                floor,
                *among,
                limit,
                offset,
            ],
        )
        return cursor.fetchall()
