"""Article.word_count, kept by Article.save(); existing articles are counted here."""

from django.db import migrations, models

BATCH = 500


def count_existing(apps, schema_editor):
    from articles.models import count_words

    Article = apps.get_model("articles", "Article")
    batch = []
    for article in Article.objects.only("pk", "body").iterator(chunk_size=BATCH):
        article.word_count = count_words(article.body)
        batch.append(article)
        if len(batch) == BATCH:
            Article.objects.bulk_update(batch, ["word_count"])
            batch = []
    Article.objects.bulk_update(batch, ["word_count"])


class Migration(migrations.Migration):
    dependencies = [("articles", "0010_notifications")]

    operations = [
        migrations.AddField(
            model_name="article",
            name="word_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(count_existing, migrations.RunPython.noop),
    ]
