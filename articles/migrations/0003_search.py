"""Full-text search index, kept in step with articles by the database itself.

SQLite: an FTS5 external-content table with triggers. PostgreSQL: a stored generated tsvector
column with a GIN index. Neither is a model field, so bulk inserts and raw updates are indexed
too and the other backend is unaffected.

The SQL is copied here as it stood when this migration was written, so that later changes to
`articles.search` cannot change what this migration does. (After a later migration rebuilds the
articles table on SQLite, the post_migrate hook in apps.py puts the triggers back using the
app's current `articles.search.sqlite_install`.)
"""

from django.db import migrations

FTS_TABLE = "articles_article_fts"

SQLITE_TABLE_SQL = """
    CREATE VIRTUAL TABLE IF NOT EXISTS articles_article_fts USING fts5(
      headline, standfirst, body,
      content='articles_article', content_rowid='id',
      tokenize='porter unicode61 remove_diacritics 2'
    )"""
SQLITE_TRIGGERS = {
    "articles_article_fts_ai": """
        CREATE TRIGGER IF NOT EXISTS articles_article_fts_ai AFTER INSERT ON articles_article BEGIN
          INSERT INTO articles_article_fts(rowid, headline, standfirst, body)
          VALUES (new.id, new.headline, new.standfirst, new.body);
        END""",
    "articles_article_fts_ad": """
        CREATE TRIGGER IF NOT EXISTS articles_article_fts_ad AFTER DELETE ON articles_article BEGIN
          INSERT INTO articles_article_fts(articles_article_fts, rowid, headline, standfirst, body)
          VALUES ('delete', old.id, old.headline, old.standfirst, old.body);
        END""",
    "articles_article_fts_au": """
        CREATE TRIGGER IF NOT EXISTS articles_article_fts_au
        AFTER UPDATE OF headline, standfirst, body ON articles_article BEGIN
          INSERT INTO articles_article_fts(articles_article_fts, rowid, headline, standfirst, body)
          VALUES ('delete', old.id, old.headline, old.standfirst, old.body);
          INSERT INTO articles_article_fts(rowid, headline, standfirst, body)
          VALUES (new.id, new.headline, new.standfirst, new.body);
        END""",
}
SQLITE_REBUILD_SQL = "INSERT INTO articles_article_fts(articles_article_fts) VALUES ('rebuild')"
SQLITE_BACKWARD_SQL = [
    "DROP TRIGGER IF EXISTS articles_article_fts_ai",
    "DROP TRIGGER IF EXISTS articles_article_fts_ad",
    "DROP TRIGGER IF EXISTS articles_article_fts_au",
    "DROP TABLE IF EXISTS articles_article_fts",
]

POSTGRES_FORWARD_SQL = [
    """
    ALTER TABLE articles_article ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
      setweight(to_tsvector('english'::regconfig, coalesce(headline, '')), 'A') ||
      setweight(to_tsvector('english'::regconfig, coalesce(standfirst, '')), 'B') ||
      setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'C')
    ) STORED""",
    "CREATE INDEX articles_article_search_vector_gin ON articles_article USING GIN (search_vector)",
]
POSTGRES_BACKWARD_SQL = [
    "DROP INDEX IF EXISTS articles_article_search_vector_gin",
    "ALTER TABLE articles_article DROP COLUMN IF EXISTS search_vector",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        # The table and any missing trigger, then the index built from the existing rows.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(SQLITE_TABLE_SQL)
            for statement in SQLITE_TRIGGERS.values():
                cursor.execute(statement)
            cursor.execute(SQLITE_REBUILD_SQL)
    elif vendor == "postgresql":
        for statement in POSTGRES_FORWARD_SQL:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": SQLITE_BACKWARD_SQL, "postgresql": POSTGRES_BACKWARD_SQL}.get(vendor, [])
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("articles", "0002_desk_fields")]

    operations = [migrations.RunPython(forwards, backwards)]
