import contextlib
import functools
import glob
import os
import shutil
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .browser import chromium  # noqa: F401 - the shared browser fixture
from .objectstore import bucket, seaweedfs  # noqa: F401 - a real SeaweedFS for media tests


def pytest_sessionfinish(session):
    """Django removes the SQLite test database's file but not the write-ahead log beside it."""
    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for path in glob.glob(glob.escape(name) + "*"):
            with contextlib.suppress(OSError):
                os.remove(path)


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


class MediaHandler(SimpleHTTPRequestHandler):
    """Serves a media folder at /media/, quietly."""

    def translate_path(self, path):
        return super().translate_path(path.removeprefix("/media"))

    def log_message(self, *args):
        pass


@pytest.fixture
def media_server(settings):
    """The original site: its media folder served over HTTP on loopback, and `SITE_URL` pointing
    there, so the exported picture hrefs are real addresses the importer fetches from."""
    handler = functools.partial(MediaHandler, directory=str(settings.MEDIA_ROOT))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    settings.SITE_URL = f"http://{host}"
    settings.NEWSDESK_INGEST_IMAGE_HOSTS = [host]
    yield host
    server.shutdown()
    server.server_close()


def pytest_report_header(config):
    db = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    cache = "Redis" if os.environ.get("REDIS_URL") else "local memory"
    return f"newsdesk: database={db}, cache={cache}"
