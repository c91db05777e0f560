"""Media in an S3-compatible object store (MEDIA_STORAGE_URL=s3://…), through django-storages.

`S3MediaStorage` keeps the local `MediaStorage`'s promises: a write that fails leaves nothing
behind (an object is stored whole or not at all; what a failed save began is deleted again), and
every failure of the store is an `OSError` (`MediaStoreError`), so the desk's
`undone_on_failure` undoes the save and the form says what happened. Public URLs are built from
MEDIA_URL (the CDN base or the bucket's public address) without asking the store anything: a
page render never lists, stats or signs an object. boto3 is imported only when this module is.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from .images import StoresWholeFiles

logger = logging.getLogger(__name__)

try:  # raised by upload_fileobj when the PUT failed
    from boto3.exceptions import Boto3Error
except ImportError:  # pragma: no cover - boto3 always has it
    Boto3Error = ClientError


class MediaStoreError(OSError):
    """The object store refused or did not answer; `strerror` says which, in plain words."""

    where = "store"  # the editor is told "the media store", not "the media disk"


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"it answered {error.get('Code') or 'an error'}"
    text = str(exc).split("\n")[0][:160]
    return f"it did not answer: {text}" if text else "it did not answer"


@contextmanager
def store_errors():
    """Turn boto3's failures into `MediaStoreError` (an OSError)."""
    try:
        yield
    except MediaStoreError:
        raise
    except (BotoCoreError, ClientError, Boto3Error) as exc:
        raise MediaStoreError(None, _reason(exc)) from exc


class S3MediaStorage(StoresWholeFiles, S3Storage):
    """django-storages' S3 storage for uploads and renditions, set up from MEDIA_STORAGE_URL."""

    def __init__(self, store=None, **options):
        store = store or settings.MEDIA_STORE
        options = {
            "bucket_name": store["bucket"],
            "location": store["location"],
            "endpoint_url": store["endpoint_url"],
            "region_name": store["region_name"],
            "addressing_style": store["addressing_style"],
            # Names are never reused: a second upload of `photo.jpg` gets its own key, so an old
            # page or a revision never shows another picture under its name.
            "file_overwrite": False,
            "querystring_auth": False,
            "default_acl": None,
            "signature_version": "s3v4",
            # A store that is down must fail a save in seconds, not hang a desk worker.
            "client_config": Config(
                connect_timeout=3,
                read_timeout=20,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": store["addressing_style"]},
                signature_version="s3v4",
            ),
            **options,
        }
        super().__init__(**options)

    def save(self, name, content, max_length=None):
        with store_errors():  # get_available_name asks the store too
            return super().save(name, content, max_length=max_length)

    def _save(self, name, content):
        with store_errors():
            return super()._save(name, content)

    def _open(self, name, mode="rb"):
        with store_errors():
            return super()._open(name, mode)

    def delete(self, name):
        with store_errors():
            super().delete(name)

    def exists(self, name):
        with store_errors():
            return super().exists(name)

    def size(self, name):
        with store_errors():
            return super().size(name)

    def listdir(self, name):
        with store_errors():
            return super().listdir(name)

    def url(self, name, parameters=None, expire=None, http_method=None):
        """The public address: MEDIA_URL (CDN base or the bucket's address) and the key. Built
        from the name alone: nothing is asked of the store."""
        return settings.MEDIA_URL + filepath_to_uri(clean_name(name)).lstrip("/")


def ensure_bucket(storage: S3MediaStorage) -> bool:
    """Create the bucket when it does not exist (a fresh store); True when it was created."""
    client = storage.connection.meta.client
    with store_errors():
        try:
            client.head_bucket(Bucket=storage.bucket_name)
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
                raise
        client.create_bucket(Bucket=storage.bucket_name)
        return True


def stored_names(storage, folder: str = ""):
    """Every file name under `folder` of `storage` (the local disk or a bucket), depth first.
    For maintenance commands (backup, move_media) only: it lists the store."""
    folders, files = storage.listdir(folder)
    for name in sorted(files):
        yield f"{folder}/{name}" if folder else name
    for sub in sorted(folders):
        if sub.startswith(".newsdesk-"):  # a restore in progress on the local disk
            continue
        yield from stored_names(storage, f"{folder}/{sub}" if folder else sub)
