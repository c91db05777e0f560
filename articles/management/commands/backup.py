"""Back up the site: `python manage.py backup [--output FOLDER_OR_FILE]`."""

from django.core.management.base import BaseCommand, CommandError

from articles.backups import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Write one archive (.tar.gz) of the database, the media folder and a manifest. Safe "
        "while the site runs; never overwrites a file."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            metavar="FOLDER_OR_FILE",
            help="a folder (the archive is named by the time) or a new file "
            "(default: var/backups/newsdesk-YYYYmmdd-HHMMSS.tar.gz)",
        )

    def handle(self, *args, output=None, **options):
        try:
            path, manifest = backup_create(output=output)
        except BackupError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        counts = manifest["counts"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {path}: {manifest['engine']} database "
                f"({counts.get('articles_article', 0)} articles, "
                f"{counts.get('articles_revision', 0)} revisions), "
                f"{manifest['media']['files']} media files"
                + (
                    f" from the bucket {manifest['media']['store']}."
                    if manifest["media"].get("store")
                    else "."
                )
            )
        )
