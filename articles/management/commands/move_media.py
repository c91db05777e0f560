"""Copy uploaded images and their renditions between the local media folder and the object
store: `python manage.py move_media --to s3` (or `--to file`) [--store s3://…] [--dry-run]."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from articles.images import IMAGE_FIELDS, MediaStorage, renditions_of
from articles.media_store import MediaStoreError, S3MediaStorage, ensure_bucket
from articles.models import Article, Author, Revision
from newsdesk.env import media_store_from_url

MODELS = {"articles.Article": Article, "articles.Author": Author}


def media_names():
    """Every file the rows name: each image, its recorded renditions and the originals an
    article's history keeps. Read from the database, never by listing a storage."""
    names = []
    for label, field in IMAGE_FIELDS.items():
        model = MODELS[label]
        rows = model._base_manager.exclude(**{field: ""}).only("pk", field, f"{field}_renditions")
        for row in rows.order_by("pk").iterator(chunk_size=500):
            fieldfile = getattr(row, field)
            names.append(fieldfile.name)
            names.extend(r["name"] for r in renditions_of(fieldfile))
    kept = Revision.objects.values_list("data__lead_image", flat=True)
    names.extend(name for name in kept.iterator(chunk_size=2000) if name)
    return list(dict.fromkeys(names))


class Command(BaseCommand):
    help = (
        "Copy the originals and renditions of lead images and author photos from the local "
        "media folder to the object store (--to s3) or back (--to file). Files already at the "
        "target are skipped, so a second run copies nothing. Nothing is deleted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, metavar="s3|file", help="where to copy to")
        parser.add_argument(
            "--store",
            metavar="S3_URL",
            help="the store (s3://bucket?endpoint=…), by default MEDIA_STORAGE_URL's",
        )
        parser.add_argument("--dry-run", action="store_true", help="say what would be copied")

    def handle(self, *args, to, store=None, dry_run=False, **options):
        if to not in {"s3", "file"}:
            raise CommandError(f"--to must be s3 or file, not {to!r}.", returncode=1)
        try:
            described = media_store_from_url(store) if store else settings.MEDIA_STORE
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc).replace("MEDIA_STORAGE_URL", "--store"), 1) from exc
        if not described:
            raise CommandError(
                "No object store is configured: set MEDIA_STORAGE_URL=s3://… or pass "
                "--store s3://bucket?endpoint=…",
                returncode=1,
            )
        bucket = S3MediaStorage(store=described)
        disk = MediaStorage(location=settings.MEDIA_ROOT)
        source, target = (disk, bucket) if to == "s3" else (bucket, disk)
        where = f"s3://{described['bucket']}"
        try:
            if to == "s3" and not dry_run:
                ensure_bucket(bucket)
            else:
                bucket.exists("newsdesk-probe")  # answers, or raises MediaStoreError
        except MediaStoreError as exc:
            raise CommandError(
                f"The object store {where} ({described['endpoint_url'] or 'Amazon S3'}) cannot be "
                f"reached: {exc.strerror}. Nothing was copied.",
                returncode=1,
            ) from exc
        names = media_names()
        copied = skipped = failed = 0
        progress = _Progress(self.stdout, len(names), enabled=_is_tty(self.stdout))
        for name in names:
            try:
                if target.exists(name):
                    skipped += 1
                elif dry_run:
                    copied += 1
                    if options["verbosity"] > 1:
                        self.stdout.write(f"would copy {name}")
                else:
                    with source.open(name, "rb") as handle:
                        target._save(name, File(handle, name=name))
                    copied += 1
            except (OSError, MediaStoreError) as exc:
                failed += 1
                progress.clear()
                self.stderr.write(f"Could not copy {name}: {exc.strerror or exc}")
            progress.step()
        progress.clear()
        verb = "Would copy" if dry_run else "Copied"
        direction = f"to {where}" if to == "s3" else f"from {where} to {settings.MEDIA_ROOT}"
        summary = f"{verb} {copied}, skipped {skipped}, failed {failed} ({direction})."
        if failed:
            raise CommandError(summary, returncode=1)
        self.stdout.write(summary)


def _is_tty(stream) -> bool:
    target = getattr(stream, "_out", stream)
    return bool(getattr(target, "isatty", lambda: False)())


class _Progress:
    """`[#####     ] 12/40` rewritten in place on a terminal; nothing otherwise."""

    WIDTH = 30

    def __init__(self, stream, total, *, enabled):
        self.stream, self.total, self.done, self.enabled = stream, total, 0, enabled

    def step(self):
        self.done += 1
        if self.enabled and self.total:
            filled = self.WIDTH * self.done // self.total
            bar = "#" * filled + " " * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total}", ending="")
            self.stream.flush()

    def clear(self):
        if self.enabled and self.done:
            self.stream.write("\r" + " " * (self.WIDTH + 24) + "\r", ending="")
            self.stream.flush()
