"""A real SeaweedFS for the media tests: one `weed server` (with its S3 gateway) per test
process, started on free loopback ports the first time a test asks for it and stopped at the
end; each test gets its own bucket, and Newsdesk's media storage pointed at it."""

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from newsdesk.env import media_store_from_url
from newsdesk.stack import SeaweedFS

S3_BACKEND = "articles.media_store.S3MediaStorage"


def _credentials():
    # SeaweedFS without an IAM configuration takes any; boto3 insists on having some.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "newsdesk")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "newsdesk")


def start_seaweedfs() -> tuple[SeaweedFS, Path]:
    _credentials()
    folder = Path(tempfile.mkdtemp(prefix="newsdesk-seaweedfs-"))
    return SeaweedFS(folder).start(), folder


def stop_seaweedfs(weed: SeaweedFS, folder: Path) -> None:
    weed.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def seaweedfs():
    """One SeaweedFS with S3 on loopback ports for this test process."""
    weed, folder = start_seaweedfs()
    yield weed
    stop_seaweedfs(weed, folder)


class Bucket:
    """The test's own folder (prefix) of a bucket, read with boto3 (never through Newsdesk's
    storage). Keys are given without the prefix, as Newsdesk names them."""

    def __init__(self, weed: SeaweedFS, name: str, prefix: str = ""):
        self.weed, self.name, self.prefix, self.client = weed, name, prefix, weed.client()
        self.url = weed.storage_url(f"{name}/{prefix}" if prefix else name)
        self.store = media_store_from_url(self.url)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def keys(self) -> set[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=start
        )
        return {item["Key"][len(start) :] for page in pages for item in page.get("Contents", ())}

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=self._key(key))["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=self._key(key), Body=data)


def use_store(settings, bucket: Bucket, *, cdn: str = "") -> None:
    """Point MEDIA_STORAGE_URL (as settings.py reads it) at `bucket`."""
    settings.MEDIA_STORE = bucket.store
    settings.MEDIA_URL = (cdn.rstrip("/") + "/") if cdn else bucket.store["public_url"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": {"store": bucket.store}},
    }


SHARED_BUCKET = "newsdesk-tests"


def new_bucket(weed: SeaweedFS) -> Bucket:
    """A folder of its own in the shared bucket (SeaweedFS gives each bucket its own volumes,
    so one bucket per test would fill the small test server)."""
    weed.create_bucket(SHARED_BUCKET)
    return Bucket(weed, SHARED_BUCKET, f"t-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def bucket(seaweedfs, settings):
    """A fresh bucket in the shared SeaweedFS, with Newsdesk's media stored in it."""
    made = new_bucket(seaweedfs)
    use_store(settings, made)
    return made
