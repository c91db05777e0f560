from django.db import migrations


class Migration(migrations.Migration):
    """Indexes for readers' pages on a large archive."""

    dependencies = [
        ("articles", "0012_revision_base_version"),
    ]

    operations = [
        # A topic's newest links by article id (related articles): the automatic index on
        # tag_id alone would read every link to a popular topic and sort them.
        migrations.RunSQL(
            "CREATE INDEX articles_article_tags_tag_article_idx "
            "ON articles_article_tags (tag_id, article_id)",
            "DROP INDEX articles_article_tags_tag_article_idx",
        ),
    ]
