"""The Redis page cache's tracked copies of ETags and pages: a revalidation, and a hit on a page
a worker served lately, cost no round trip, and Redis's own invalidations keep every worker's
copies true (run against the machine's Redis)."""

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
    """A stored page, and revalidations until this worker keeps the ETag's copy (Redis's word
    of the store's own write may cross the first one, whose read is then not kept)."""
    _wait(lambda: _copies().live)
    client.get(url)
    etag = client.get(url)["ETag"]
    kept = lambda: any(k.startswith(cache.make_key("etag:")) for k in _copies().values)  # noqa: E731
    _wait(lambda: client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304 and kept())
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


def _environ(url, **headers):
    """The WSGI environ gunicorn's event loop would hand to the front door."""
    from django.test import RequestFactory

    return RequestFactory().get(url, **headers).environ


def test_the_loop_answers_a_revalidation_from_the_copies_only_while_lost_purges_were_looked_for(
    client, redis_cache, count_reads, monkeypatch
):
    """`FrontDoor.answer_in_loop` (asked by the worker's event loop, which has no cache
    connection of its own) gives the 304 a thread would, from the copies alone, and declines
    once no thread of the process has looked for lost purges within DEBT_CHECK_SECONDS."""
    from newsdesk.wsgi import application

    article = make_article("Answered by the loop")
    url = article.get_absolute_url()
    etag = _revalidate(client, url)
    count_reads.clear()
    status, headers = application.answer_in_loop(_environ(url, HTTP_IF_NONE_MATCH=etag))
    assert status == "304 Not Modified" and count_reads == []
    thread = client.get(url, HTTP_IF_NONE_MATCH=etag)
    # The same answer as the thread's (whose s-maxage may be a second less by now).
    same = lambda items: {k: v for k, v in items if k not in ("Content-Type", "Cache-Control")}  # noqa: E731
    assert same(headers) == same(thread.items()) and "xkey" in same(headers)
    assert "s-maxage=" in dict(headers)["Cache-Control"]
    for declined in (
        _environ(url, HTTP_IF_NONE_MATCH='"another"'),
        _environ(url),
        _environ(url, HTTP_IF_NONE_MATCH=etag, HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}=x"),
        _environ("/admin/login/", HTTP_IF_NONE_MATCH=etag),
    ):
        assert application.answer_in_loop(declined) is None
    stale = time.monotonic() - page_cache.DEBT_CHECK_SECONDS
    monkeypatch.setattr(page_cache, "_looked_in_process", [stale])
    assert application.answer_in_loop(_environ(url, HTTP_IF_NONE_MATCH=etag)) is None
    assert count_reads == []


def test_the_loop_remembers_each_address_but_asks_who_is_asking_every_time(
    client, redis_cache, monkeypatch, settings
):
    """What the loop finds from an address alone (its declaration, canonical query, digest) is
    remembered: a second revalidation reads nothing of it again. A session cookie, an API key or
    another method is declined at a remembered address, and an address is its scheme and
    query too (an https page is not the http one's; a junk parameter is the same page)."""
    from newsdesk.wsgi import application

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    monkeypatch.setattr(page_cache, "_ETAG_ENTRIES", {})
    article = make_article("Remembered address")
    url = article.get_absolute_url()
    etag = _revalidate(client, url)
    built, original = [], page_cache._reading

    def counted(request, urlconf=None):
        built.append(request.path)
        return original(request, urlconf)

    monkeypatch.setattr(page_cache, "_reading", counted)
    assert application.answer_in_loop(_environ(url, HTTP_IF_NONE_MATCH=etag))[0].startswith("304")
    assert built == [url]
    for _ in range(3):
        status, _headers = application.answer_in_loop(_environ(url, HTTP_IF_NONE_MATCH=etag))
        assert status == "304 Not Modified"
    assert built == [url]  # remembered
    head = _environ(url, HTTP_IF_NONE_MATCH=etag)
    head["REQUEST_METHOD"] = "HEAD"
    assert application.answer_in_loop(head)[0] == "304 Not Modified"  # a HEAD shares its GET's
    post = _environ(url, HTTP_IF_NONE_MATCH=etag)
    post["REQUEST_METHOD"] = "POST"
    cookie = f"{settings.SESSION_COOKIE_NAME}=x"
    for declined in (
        post,
        _environ(url, HTTP_IF_NONE_MATCH=etag, HTTP_COOKIE=cookie),
        _environ(url, HTTP_IF_NONE_MATCH=etag, HTTP_AUTHORIZATION="Bearer nd_x"),
        _environ(url, HTTP_IF_NONE_MATCH=etag, HTTP_X_FORWARDED_PROTO="https"),
    ):
        assert application.answer_in_loop(declined) is None
    # An article reads no parameter: with a junk one it is the same page, found anew once.
    junk = _environ(url + "?utm_source=x", HTTP_IF_NONE_MATCH=etag)
    assert application.answer_in_loop(junk)[0] == "304 Not Modified"
    # Only the new addresses were read: the https one and the one with a query.
    assert built == [url, url, url]
    assert application.answer_in_loop(_environ(url, HTTP_IF_NONE_MATCH=etag)) is not None
    assert len(built) == 3


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
    # Kept again, from a fresh read (not from the read that looks for lost purges, due every
    # DEBT_CHECK_SECONDS, which keeps nothing).
    _wait(lambda: client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304 and copies.values)


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


def _page_copies():
    return page_cache._page_copies()


def _keep_page(client, url):
    """Serve `url` until this worker keeps its page (the store's own write may cross the first
    read from Redis, which is then not kept); the copy's name."""
    _wait(lambda: _page_copies().live)
    client.get(url)
    names = lambda: [k for k in _page_copies().values if k.startswith(cache.make_key("page:"))]  # noqa: E731
    _wait(lambda: client.get(url)["X-Cache"] == "hit" and names())
    return names()[0]


def test_a_page_hit_needs_no_round_trip_to_redis(client, redis_cache, count_reads):
    article = make_article("Kept page")
    url = article.get_absolute_url()
    _keep_page(client, url)
    count_reads.clear()
    response = client.get(url)
    assert response.status_code == 200 and "Kept page" in response.content.decode()
    assert response["X-Cache"] == "hit" and "s-maxage=" in response["Cache-Control"]
    assert count_reads == []


def test_an_edit_here_replaces_the_kept_page_at_once(client, redis_cache):
    article = make_article("Kept before the edit")
    url = article.get_absolute_url()
    _keep_page(client, url)
    article.headline = "Kept after the edit"
    services.article_save(article, user=make_editor())
    assert "Kept after the edit" in client.get(url).content.decode()


def test_a_purge_by_another_worker_reaches_the_kept_pages(client, redis_cache):
    """Another worker's purge deletes the entry in Redis; Redis tells this worker's listener,
    which drops the copy, and the next request renders the page afresh."""
    article = make_article("Purged elsewhere")
    url = article.get_absolute_url()
    name = _keep_page(client, url)
    redis_cache.delete(name)
    _wait(lambda: name not in _page_copies().values)
    assert client.get(url)["X-Cache"] == "miss"


def test_a_kept_page_is_not_served_past_its_time(client, redis_cache, monkeypatch):
    """A kept page ends when its entry does (the next scheduled change among the pages): the
    copy is checked against the clock on every hit."""
    article = make_article("Kept until scheduled")
    url = article.get_absolute_url()
    name = _keep_page(client, url)
    valid_until = _page_copies().values[name][0]
    monkeypatch.setattr(page_cache.time, "time", lambda: valid_until + 1)
    assert client.get(url)["X-Cache"] == "miss"


def test_kept_pages_are_bounded_oldest_first(settings, redis_cache):
    copies = TrackedCopies(_redis_url(), {"socket_timeout": 1}, "unit-bound:", limit=2)
    try:
        _wait(lambda: copies.live)
        for name in ("a", "b", "c"):
            copies.keep(f"unit-bound:{name}", name, copies.mark())
        copies.keep("unit-bound:b", "b again", copies.mark())  # already kept: nothing goes
        assert list(copies.values) == ["unit-bound:b", "unit-bound:c"]
    finally:
        copies.close()


def test_page_copies_can_be_turned_off(client, redis_cache, settings, count_reads):
    settings.PAGE_COPIES = 0
    article = make_article("Not kept")
    url = article.get_absolute_url()
    client.get(url)
    count_reads.clear()
    assert client.get(url)["X-Cache"] == "hit"
    assert count_reads  # read from Redis every time
