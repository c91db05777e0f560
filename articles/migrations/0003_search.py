"""Full-text search index, kept in step with articles by the database itself.

SQLite: an FTS5 external-content table with triggers. PostgreSQL: a stored generated tsvector
column with a GIN index. Neither is a model field, so bulk inserts and raw updates are indexed
too and the other backend is unaffected.
"""

from django.db import migrations

from articles.search import (
    POSTGRES_BACKWARD_SQL,
    POSTGRES_FORWARD_SQL,
    SQLITE_BACKWARD_SQL,
    sqlite_install,
)


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        sqlite_install(schema_editor.connection, rebuild=True)
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
