"""The Redis page cache's tracked ETag copies: a revalidation costs no round trip, and Redis's
own invalidations keep every worker's copies true (run against the machine's Redis)."""

import os
import time

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from articles import cache as page_cache
from articles import services
from newsdesk.redis_cache import TrackedCopies

from .factories import make_article, make_editor

pytestmark = pytest.mark.django_db(transaction=True)


def _redis_url():
    """The worker's own Redis database: the one CI's second pass gives it, else the same
    numbering on the machine's Redis (the SQLite pass uses the local-memory cache)."""
    configured = settings.CACHES["default"]
    if configured["BACKEND"] == "newsdesk.redis_cache.Cache":
        return configured["LOCATION"]
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    first = int(os.environ.get("NEWSDESK_TEST_REDIS_DB", "1"))
    return f"redis://127.0.0.1:6379/{max(1, (first + worker) % 16)}"


@pytest.fixture
def redis_cache(settings):
    url = _redis_url()
    settings.CACHE_SECONDS = 300
    caches = {
        "default": {
            "BACKEND": "newsdesk.redis_cache.Cache",
            "LOCATION": url,
            "KEY_PREFIX": "tracked-test",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    with override_settings(CACHES=caches):
        cache.clear()
        yield redis.Redis.from_url(url)
        cache.clear()


def _copies():
    return page_cache._etag_copies()


def _wait(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _revalidate(client, url):
    """A stored page, and a first revalidation, which reads Redis and keeps the ETag's copy."""
    _wait(lambda: _copies().live)
    client.get(url)
    etag = client.get(url)["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    return etag


@pytest.fixture
def count_reads(monkeypatch):
    reads = []
    original = type(cache._connections["default"]).get_many

    def counted(self, keys, version=None):
        reads.append(list(keys))
        return original(self, keys, version)

    monkeypatch.setattr(type(cache._connections["default"]), "get_many", counted)
    return reads


def test_a_revalidation_needs_no_round_trip_to_redis(client, redis_cache, count_reads):
    """Once a worker has seen a page's ETag, a matching If-None-Match is a 304 from memory."""
    article = make_article("Tracked story")
    etag = _revalidate(client, article.get_absolute_url())
    count_reads.clear()
    response = client.get(article.get_absolute_url(), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304 and response["ETag"] == etag
    assert response["X-Cache"] == "hit" and "s-maxage=" in response["Cache-Control"]
    assert count_reads == []


def test_a_change_made_by_another_worker_reaches_the_copies(client, redis_cache):
    """Redis tells the listener of every change under the prefix: the copy goes, and the
    next revalidation reads Redis again (here the entry is gone, so the page is rendered)."""
    article = make_article("Changed elsewhere")
    etag = _revalidate(client, article.get_absolute_url())
    name = next(k for k in _copies().values if k.startswith(cache.make_key("etag:")))
    redis_cache.delete(name)  # as another worker's purge does
    _wait(lambda: name not in _copies().values)
    response = client.get(article.get_absolute_url(), HTTP_IF_NONE_MATCH=etag)
    assert response["X-Cache"] == "miss"


def test_an_edit_here_is_seen_by_the_very_next_revalidation(client, redis_cache):
    """A purge made by this process drops its copies at once, without waiting for Redis."""
    article = make_article("Before the edit")
    etag = _revalidate(client, article.get_absolute_url())
    article.headline = "After the edit"
    services.article_save(article, user=make_editor())
    response = client.get(article.get_absolute_url(), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and "After the edit" in response.content.decode()


def test_a_flush_drops_every_copy(client, redis_cache):
    """FLUSHDB sends Redis's 'everything changed' message."""
    article = make_article("Flushed")
    _revalidate(client, article.get_absolute_url())
    assert _copies().values
    redis_cache.flushdb()
    _wait(lambda: not _copies().values)


def test_no_copy_is_trusted_while_the_tracking_connection_is_down(client, redis_cache):
    """When the listener's connection goes, copies go with it and none is kept until Redis
    tracks the prefix again; then revalidations are served from memory again."""
    article = make_article("Connection lost")
    url = article.get_absolute_url()
    etag = _revalidate(client, url)
    copies = _copies()
    own = [
        c["id"]
        for c in redis_cache.client_list()
        if c.get("cmd") in ("subscribe", "ping") and int(c.get("sub", 0)) == 1
    ]
    before = copies.generation
    for client_id in own:
        redis_cache.client_kill_filter(_id=client_id)
    _wait(lambda: copies.generation != before and not copies.values)
    _wait(lambda: copies.live, seconds=10)
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert copies.values  # kept again, from a fresh read


def test_a_value_read_across_an_invalidation_is_not_kept():
    """`keep` refuses a value whose read began before an invalidation arrived."""
    copies = TrackedCopies(_redis_url(), {"socket_timeout": 1}, "unit-test:")
    try:
        _wait(lambda: copies.live)
        mark = copies.mark()
        copies._forget([b"unit-test:a"])  # Redis said something changed meanwhile
        copies.keep("unit-test:a", "old", mark)
        assert copies.get("unit-test:a") is None
        copies.keep("unit-test:a", "new", copies.mark())
        assert copies.get("unit-test:a") == "new"
    finally:
        copies.close()
