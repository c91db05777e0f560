from django.db import migrations, models


class Migration(migrations.Migration):
    """Indexes for the desk's change list on a large archive: by state, newest activity first
    (covering the state conditions) or by section, and sorted by headline."""

    dependencies = [
        ("articles", "0013_read_path_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="article",
            index=models.Index(
                fields=["status", "-updated_at", "-id", "published_at", "unpublish_at",
                        "deleted_at", "withdrawn_at"],  # fmt: skip
                name="article_desk_state_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="article",
            index=models.Index(fields=["headline", "id"], name="article_desk_headline_idx"),
        ),
        migrations.AddIndex(
            model_name="article",
            index=models.Index(
                fields=["category", "-updated_at", "-id"], name="article_desk_category_idx"
            ),
        ),
    ]
