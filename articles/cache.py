"""The public page cache, shared by every worker through Django's cache (Redis in production),
and what public responses tell an HTTP cache in front (`edge.py` purges that one).

Anonymous GETs of public pages are stored whole and forgotten by *what they show*:

- Each public view declares, with `@cache.public(params=..., keys=...)`, the query parameters
  it reads and its fixed keys; while rendering it adds the keys of what it shows with
  `cache.tag(request, *articles_or_keys)`. Keys: `a:<id>` (an article on the page), `front`,
  `archive`, `section:<id>`, `author:<id>`, `topic:<id>`, `feeds`, `sitemaps`, `corrections`,
  `search`, `notfound` (404, 410 and redirect answers) and `pages` (every page).
- `keys_for_article(article)` is the one list of keys an article change touches; services pass
  the keys of the article before the change and after it to `pages_changed(*keys)`, which
  purges them after the transaction COMMITs (a reader in between would re-store the old page).
  A login, a refused save or a draft's edit calls nothing.
- The key of a page is its path plus only the declared parameters, sorted; the view sees only
  those, so `/?x=1` and `/?x=2` are one entry and junk cannot force uncached renders.
- Each stored page remembers the next scheduled publication or unpublication time when it was
  rendered and is not served past it, so scheduled articles appear (and go) with no job.

Store. A hit is one cache read: `page:<digest>` holds `(valid_until, response)`. Its ETag is
kept beside it in a small `etag:<digest>` entry, so a request with a matching If-None-Match
answers 304 from that entry without loading the body. Purging deletes the entries recorded under
each key: in Redis the key -> pages index is a Redis set (SADD on store, SMEMBERS + DEL on
purge, one pipeline each); other backends (the local-memory cache of the tests, the file cache
of one machine) keep the index as a plain cache entry, read-modify-write, which two workers
storing at once may lose (that page then lives until it expires). Per-key generation counters
were the other choice: every hit would need a second read for its keys' generations (measured
on the 2-core machine against local Redis: a GET of a 40 kB page plus an MGET of 30 counters
took about twice as long as the GET alone), for nothing the sets do not give.

A store that races a purge (rendered from the old rows, stored after the purge ran) is caught
by the `pages:purged` token: it is read with the page lookup and checked again after storing;
a purge in between makes the store delete what it wrote.

Outages. If the cache is unreachable pages are rendered as if there were no cache. A purge lost
to an outage cannot keep a stale page forever: every entry and index expires after
`NEWSDESK_CACHE_SECONDS` (as before, when a lost generation bump aged out the same way), and
an HTTP cache in front keeps a page at most `NEWSDESK_EDGE_SECONDS` plus its
stale-while-revalidate time.

Edge headers on public answers (200, 301, 404, 410): `Surrogate-Key` and `xkey` carry the keys
(space-separated), `Cache-Control: public, max-age=0, s-maxage=<edge seconds, or less before the
next scheduled change>, stale-while-revalidate=<NEWSDESK_EDGE_STALE_SECONDS>`. Other 4xx and 5xx
answers to the same requests are `private, no-cache`; previews, the desk and share links are
never cached (`never_cache`).
"""

import hashlib
import logging
import time
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponseNotModified, QueryDict
from django.urls import Resolver404, resolve
from django.utils.cache import set_response_etag
from django.utils.http import parse_etags

logger = logging.getLogger(__name__)

PURGED_KEY = "pages:purged"
EVERY_PAGE = "pages"
NOT_FOUND = "notfound"
LISTS = ("front", "archive", "search", "feeds", "sitemaps", "corrections", NOT_FOUND)
EXCLUDED_PREFIXES = ("/admin/", "/preview/", "/healthz", "/static/", "/media/")
EDGE_STATUSES = (200, 301, 304, 404, 410)
KEY_PREFIXES = {"Category": "section", "Author": "author", "Tag": "topic"}
MAX_KEYS = 500  # a change touching more keys than this purges every page


# --- declaring and tagging ----------------------------------------------------------------------


def public(*, params=(), keys=()):
    """Mark a view (function, class-based view or Feed class) as a cacheable public page that
    reads the query parameters `params` and always shows `keys`."""

    def mark(view):
        view.page_cache = (tuple(sorted(params)), tuple(keys))
        return view

    return mark


def tag(request, *items):
    """Add to the keys of the page being rendered: strings, articles (`a:<id>`), sections,
    authors or topics (`section:<id>`, ...)."""
    keys = getattr(request, "cache_keys", None)
    if keys is None:
        return
    for item in items:
        if isinstance(item, str):
            keys.add(item)
        elif item is not None:
            keys.add(f"{KEY_PREFIXES.get(type(item).__name__, 'a')}:{item.pk}")


def keys_for_article(article) -> list[str]:
    """The keys of every page that shows `article` as it is in the database now: its own page,
    its section, authors and topics, and every list. Take it before a change and after it."""
    from .models import Article, Byline

    keys = [f"a:{article.pk}", *LISTS]
    if article.pk is None:
        return keys[1:]
    if article.category_id:
        keys.append(f"section:{article.category_id}")
    authors = Byline.objects.filter(article_id=article.pk).values_list("author_id", flat=True)
    keys += [f"author:{pk}" for pk in authors]
    tags = Article.tags.through.objects.filter(article_id=article.pk)
    keys += [f"topic:{pk}" for pk in tags.values_list("tag_id", flat=True)]
    return keys


def keys_for_taxonomy(*objects, article_pks=()) -> list[str]:
    """The keys of a section, author or topic's own pages and of the articles on them. A section
    is in every page's menu, so changing one purges every page."""
    if any(type(obj).__name__ == "Category" for obj in objects):
        return [EVERY_PAGE]
    keys = [f"{KEY_PREFIXES[type(obj).__name__]}:{obj.pk}" for obj in objects]
    return [*keys, *LISTS, *(f"a:{pk}" for pk in article_pks)]


# --- purging ------------------------------------------------------------------------------------


def pages_changed(*keys: str) -> None:
    """Forget every cached page tagged with one of `keys` (here and at the edge) once the
    current transaction commits (at once outside a transaction)."""
    keys = list(dict.fromkeys(k for k in keys if k))
    if not keys:
        return
    if len(keys) > MAX_KEYS:
        keys = [EVERY_PAGE]
    transaction.on_commit(lambda: _purge(keys))


def _purge(keys):
    from . import edge

    try:
        cache.set(PURGED_KEY, uuid.uuid4().hex, None)
        _index().purge(keys)
    except Exception:  # noqa: BLE001 - a cache outage must not break a save
        logger.warning("page cache: could not purge %s", " ".join(keys[:20]), exc_info=True)
    edge.purge(keys)


class _SetIndex:
    """key -> page entries as Redis sets (atomic, one pipeline per store or purge)."""

    def __init__(self, client):
        self.client = client

    def add(self, keys, entries):
        names = [cache.make_and_validate_key(e) for e in entries]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            index = cache.make_and_validate_key(f"index:{key}")
            pipe.sadd(index, *names)
            pipe.expire(index, settings.CACHE_SECONDS + 60)
        pipe.execute()

    def purge(self, keys):
        indexes = [cache.make_and_validate_key(f"index:{key}") for key in keys]
        pipe = self.client.pipeline(transaction=False)
        for index in indexes:
            pipe.smembers(index)
        pipe.delete(*indexes)
        members = {m for found in pipe.execute()[:-1] for m in found}
        if members:
            self.client.delete(*members)


class _EntryIndex:
    """key -> page entries as plain cache entries, for backends without sets."""

    def add(self, keys, entries):
        names = {f"index:{key}": key for key in keys}
        found = cache.get_many(list(names))
        cache.set_many(
            {name: sorted(set(found.get(name, ())) | set(entries)) for name in names},
            settings.CACHE_SECONDS + 60,
        )

    def purge(self, keys):
        names = [f"index:{key}" for key in keys]
        entries = {e for found in cache.get_many(names).values() for e in found}
        cache.delete_many([*entries, *names])


def _index():
    client = getattr(getattr(cache, "_cache", None), "get_client", None)  # RedisCache only
    if client is not None:
        return _SetIndex(client(write=True))
    return _EntryIndex()


# --- serving ------------------------------------------------------------------------------------


def next_scheduled_change() -> float | None:
    """Unix time of the next scheduled publication or expiry, if any."""
    from .models import Article

    when = Article.objects.next_scheduled_change()
    return when.timestamp() if when else None


def _declaration(request):
    """The view's `public()` declaration, or None when the page is not cacheable."""
    if (
        request.method not in ("GET", "HEAD")
        or request.path.startswith(EXCLUDED_PREFIXES)
        or settings.SESSION_COOKIE_NAME in request.COOKIES
        or len(request.get_full_path()) > 2000
    ):
        return None
    try:
        view = resolve(request.path_info).func
    except Resolver404:
        return None
    return getattr(getattr(view, "view_class", view), "page_cache", None)


def canonical_query(request, params) -> str:
    """The query string of the parameters the page reads, in a stable order."""
    return urlencode([(name, v) for name in params for v in request.GET.getlist(name)])


def _digest(request):
    path = f"{request.method == 'HEAD'}:{request.path}?{request.META['QUERY_STRING']}"
    return hashlib.sha256(path.encode()).hexdigest()


def _edge_headers(response, keys, valid_until):
    header = " ".join(sorted(keys))
    response["Surrogate-Key"] = header
    response["xkey"] = header
    # Fresh time plus stale time never reach past `valid_until` (the next scheduled publication
    # or expiry among them): the edge never serves a page past the moment it changes by itself,
    # not even once while it revalidates.
    until_change = max(0, int(valid_until - time.time()))
    stale = min(settings.EDGE_STALE_SECONDS, until_change)
    s_maxage = max(0, min(settings.EDGE_SECONDS, until_change - stale))
    response["Cache-Control"] = (
        f"public, max-age=0, s-maxage={s_maxage}, stale-while-revalidate={stale}"
    )


def _not_modified(request, etag):
    wanted = request.headers.get("If-None-Match")
    return bool(wanted) and (etag in parse_etags(wanted) or wanted.strip() == "*")


class PublicPageCacheMiddleware:
    """Runs right after SecurityMiddleware and WhiteNoise: a hit returns before sessions, CSRF,
    auth and messages do anything."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = _declaration(request)
        if declared is None:
            response = self.get_response(request)
            if request.method in ("GET", "HEAD") and not request.path.startswith(EXCLUDED_PREFIXES):
                response.setdefault("Cache-Control", "public, max-age=0, must-revalidate")
            return response
        params, fixed = declared
        query = canonical_query(request, params)
        request.GET = QueryDict(query)
        request.META["QUERY_STRING"] = query
        request.cache_keys = {EVERY_PAGE, *fixed}
        if settings.CACHE_SECONDS <= 0:  # off here and at the edge
            response = self.get_response(request)
            response.setdefault("Cache-Control", "public, max-age=0, must-revalidate")
            return response
        digest = _digest(request)
        page_key, etag_key = f"page:{digest}", f"etag:{digest}"
        conditional = "If-None-Match" in request.headers
        try:
            found = cache.get_many([etag_key if conditional else page_key, PURGED_KEY])
        except Exception:  # noqa: BLE001 - degrade to uncached pages
            logger.warning("page cache unavailable", exc_info=True)
            return self._render(request, None, None)
        now = time.time()
        if conditional and etag_key in found:
            valid_until, etag, keys = found[etag_key]
            if now < valid_until and etag and _not_modified(request, etag):
                response = HttpResponseNotModified()
                response["ETag"] = etag
                _edge_headers(response, keys, valid_until)
                response["X-Cache"] = "hit"
                return response
            found.update(cache.get_many([page_key]))
        entry = found.get(page_key)
        if entry is not None:
            valid_until, keys, response = entry
            if now < valid_until:
                _edge_headers(response, keys, valid_until)
                response["X-Cache"] = "hit"
                return response
        return self._render(request, (page_key, etag_key), found.get(PURGED_KEY))

    def _render(self, request, entry_keys, purged):
        response = self.get_response(request)
        keys = request.cache_keys
        if response.status_code in (301, 404, 410):
            keys.add(NOT_FOUND)
        storable = (
            response.status_code == 200
            and not response.cookies
            and not response.streaming
            and entry_keys is not None
        )
        valid_until = time.time() + settings.CACHE_SECONDS
        if response.status_code in EDGE_STATUSES and not response.cookies:
            try:
                scheduled = next_scheduled_change()
            except Exception:  # noqa: BLE001 - no database: do not store
                scheduled, storable = None, False
            if scheduled is not None:
                valid_until = min(valid_until, scheduled)
            if response.status_code == 200 and not response.has_header("ETag"):
                set_response_etag(response)
            _edge_headers(response, keys, valid_until)
            if storable and valid_until > time.time():
                self._store(entry_keys, response, keys, valid_until, purged)
        elif response.status_code >= 400:
            response["Cache-Control"] = "private, no-cache"
        else:
            response.setdefault("Cache-Control", "public, max-age=0, must-revalidate")
        response["X-Cache"] = "miss"
        return response

    def _store(self, entry_keys, response, keys, valid_until, purged):
        page_key, etag_key = entry_keys
        try:
            seconds = settings.CACHE_SECONDS
            cache.set_many(
                {
                    page_key: (valid_until, keys, response),
                    etag_key: (valid_until, response.get("ETag", ""), keys),
                },
                seconds,
            )
            _index().add(keys, entry_keys)
            if cache.get(PURGED_KEY) != purged:
                cache.delete_many(entry_keys)  # a purge ran while this page was rendered
        except Exception:  # noqa: BLE001
            logger.warning("page cache: could not store a page", exc_info=True)
