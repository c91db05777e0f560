"""Restore a backup: `python manage.py restore ARCHIVE [--yes]`."""

from django.core.management.base import BaseCommand, CommandError

from articles.backups import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Replace the configured database and media folder with a backup's, then migrate and "
        "check the row counts against the backup's manifest. Refuses a database that holds "
        "articles or users unless --yes."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", metavar="ARCHIVE", help="a file written by `backup`")
        parser.add_argument(
            "--yes",
            "--force",
            dest="yes",
            action="store_true",
            help="replace a database that already holds articles or users",
        )

    def handle(self, *args, archive, yes, **options):
        try:
            result = backup_restore(archive, force=yes)
        except BackupError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        manifest = result.manifest
        counts = manifest["counts"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {archive} (made {manifest['created_at']}): "
                f"{counts.get('articles_article', 0)} articles, "
                f"{counts.get('articles_revision', 0)} revisions, "
                f"{result.media_files} media files; row counts match the manifest."
            )
        )
