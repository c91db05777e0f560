"""Build the missing renditions of every article's lead image and every author's photo."""

from django.core.management.base import BaseCommand

from articles.images import refresh_renditions
from articles.models import Article, Author


class Command(BaseCommand):
    help = (
        "Make the responsive renditions of lead images and author photos that are missing "
        "(e.g. for images uploaded before renditions existed). Safe to run again: existing "
        "rendition files are reused."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Re-check every image, even those whose renditions are already recorded.",
        )

    def handle(self, *args, force=False, **options):
        updated = checked = 0
        for model, field in ((Article, "lead_image"), (Author, "photo")):
            rows = (
                model._base_manager.exclude(**{field: ""})
                .only("pk", field, f"{field}_width", f"{field}_height", f"{field}_renditions")
                .order_by("pk")
            )
            for instance in rows.iterator(chunk_size=500):
                checked += 1
                if refresh_renditions(instance, field, force=force):
                    updated += 1
                    if options["verbosity"] > 1:
                        self.stdout.write(f"{model._meta.verbose_name} {instance.pk}: made")
        self.stdout.write(f"Renditions: {checked} images checked, {updated} updated.")
