import os
import shutil
import tempfile

import pytest

from .browser import chromium  # noqa: F401 - the shared browser fixture
from .objectstore import bucket, seaweedfs  # noqa: F401 - a real SeaweedFS for media tests


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Hashing passwords the production way costs about half of the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def reader():
    """A reader: an anonymous client that has never signed in (no session, no cookies)."""
    from django.test import Client

    return Client()


@pytest.fixture
def reporter(db):
    from .factories import make_reporter

    return make_reporter("rita", author_name="Rita Reporter")


@pytest.fixture
def editor(db):
    from .factories import make_editor

    return make_editor("ed")


@pytest.fixture(autouse=True)
def _media_root(settings):
    """Every test writes uploads into its own throwaway folder."""
    path = tempfile.mkdtemp(prefix="newsdesk-media-")
    settings.MEDIA_ROOT = path
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_page_cache(settings):
    """Tests see freshly rendered pages; test_cache.py turns the page cache on for itself."""
    settings.CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def pytest_report_header(config):
    db = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    cache = "Redis" if os.environ.get("REDIS_URL") else "local memory"
    return f"newsdesk: database={db}, cache={cache}"
