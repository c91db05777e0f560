"""Import wire copy, ninjs or NewsML-G2:
`python manage.py import_articles PATH... [--status draft|published] [--dry-run]`."""

from django.core.management.base import BaseCommand, CommandError

from articles.importers import import_paths
from articles.models import Article


class Command(BaseCommand):
    help = (
        "Import wire copy (.txt), ninjs (.json) or NewsML-G2 (.xml) files, or folders of them. "
        "Idempotent; bad files are reported and skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "paths", nargs="+", metavar="PATH", help="files or folders of wire copy"
        )
        parser.add_argument(
            "--status",
            choices=[Article.Status.DRAFT, Article.Status.PUBLISHED],
            default=Article.Status.PUBLISHED,
            help="status of newly created articles (default: published)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would happen; save nothing"
        )

    def handle(self, *args, paths, status, dry_run, **options):
        result = import_paths(paths, status=status, dry_run=dry_run)
        for error in result.errors:
            self.stderr.write(error)
        for note in result.notes:
            self.stderr.write(note)
        prefix = "Dry run: would have " if dry_run else ""
        line = prefix + result.summary() + "."
        if result.failed:
            self.stdout.write(line)
            raise CommandError(f"{result.failed} file(s) could not be imported", returncode=1)
        if not (result.created or result.updated or result.unchanged or result.skipped):
            self.stdout.write(line)
            raise CommandError("no wire files found in the given paths", returncode=1)
        self.stdout.write(self.style.SUCCESS(line))
