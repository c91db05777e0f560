"""The public page cache, shared by every worker through Django's cache (Redis in production),
and what public responses tell an HTTP cache in front (`edge.py` purges that one).

Anonymous GETs of public pages are stored whole and forgotten by *what they show*:

- Each public view declares, with `@cache.public(params=..., keys=...)`, the query parameters
  it reads and its fixed keys; while rendering it adds the keys of what it shows with
  `cache.tag(request, *articles_or_keys)`. Keys: `a:<id>` (an article on the page), `front`,
  `archive`, `section:<id>`, `author:<id>`, `topic:<id>`, `feeds`, `sitemaps`, `corrections`,
  `search`, `notfound` (404, 410 and redirect answers) and `pages` (every page).
- `keys_for_article(article)` is the one reading of where an article shows; services take it
  before a change and after it, `keys_changed(before, after)` turns the two into keys (only
  the article's own key and the text-driven lists when its placement did not move), and
  `pages_changed(*keys)` purges them after the transaction COMMITs (a reader in between would
  re-store the old page).
  A login, a refused save or a draft's edit calls nothing.
- The key of a page is its path plus only the declared parameters, sorted; the view sees only
  those, so `/?x=1` and `/?x=2` are one entry and junk cannot force uncached renders.
- Each stored page remembers the next scheduled publication or unpublication time when it was
  rendered and is not served past it, so scheduled articles appear (and go) with no job.

Store. A hit is one cache read: `page:<format>:<digest>` holds `(valid_until, key header,
status, headers, body)` (plain values: unpickling a whole response object cost more than the
lookup; `STORE_FORMAT` is in the name, so after an upgrade the old form is never read). Its ETag is
kept beside it in a small `etag:<format>:<digest>` entry, so a request with a matching If-None-Match
answers 304 from that entry without loading the body; with Redis, each worker keeps copies of the
ETag entries that Redis itself keeps true (`newsdesk.redis_cache.TrackedCopies`), so a
revalidation needs no round trip at all. Purging deletes the entries recorded under
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

Outages. If the cache is unreachable pages are rendered as if there were no cache. A purge the
cache did not take is written to the database (`CachePurgeDebt`), which a cache restored from an
old snapshot cannot roll back, and replayed before a hit is trusted again: a worker looks for
owed purges whenever its lookup connection (re)connects (every outage and restart drops it) and
at least every DEBT_CHECK_SECONDS, so a hit costs one query only that often. If the database
cannot record the debt either, the page still expires after `NEWSDESK_CACHE_SECONDS`; an HTTP
cache in front keeps a page at most `NEWSDESK_EDGE_SECONDS` plus its stale-while-revalidate time.

Edge headers on public answers (200, 301, 404, 410): `Surrogate-Key` and `xkey` carry the keys
(space-separated), `Cache-Control: public, max-age=0, s-maxage=<edge seconds, or less before the
next scheduled change>, stale-while-revalidate=<NEWSDESK_EDGE_STALE_SECONDS>`. Other 4xx and 5xx
answers to the same requests are `private, no-cache`; previews, the desk and share links are
never cached (`never_cache`).
"""

import functools
import hashlib
import logging
import time
import uuid
from http import HTTPStatus
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.http import HttpResponse, HttpResponseNotModified, QueryDict
from django.http.cookie import parse_cookie
from django.urls import Resolver404, get_urlconf, resolve
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


# Lists that show many articles with no per-article tag worth keeping, or whose membership
# follows the text: a change to an article's content purges these with its own key.
CONTENT_LISTS = ("search", "feeds", "sitemaps")


class Shown:
    """Where an article shows, read from the database: the keys of its own page and of every
    list it is on, and its *placement* — what decides which lists it is on and where (its
    state, dates, section, byline, topics, featured flag). Take one before a change and one
    after it and pass both to `keys_changed`. Iterating gives the keys."""

    def __init__(self, article):
        from .models import Article, Byline

        self.pk = article.pk
        self.keys = [f"a:{article.pk}", *LISTS]
        self.placement = None
        if article.pk is None:
            self.keys = self.keys[1:]
            return
        authors = list(
            Byline.objects.filter(article_id=article.pk)
            .order_by("position", "pk")
            .values_list("author_id", flat=True)
        )
        tags = sorted(
            Article.tags.through.objects.filter(article_id=article.pk).values_list(
                "tag_id", flat=True
            )
        )
        if article.category_id:
            self.keys.append(f"section:{article.category_id}")
        self.keys += [f"author:{pk}" for pk in authors]
        self.keys += [f"topic:{pk}" for pk in tags]
        self.placement = (
            article.state,
            article.published_at,
            article.unpublish_at,
            article.embargo_until,
            article.featured,
            article.category_id,
            tuple(authors),
            tuple(tags),
        )

    def __iter__(self):
        return iter(self.keys)


def keys_for_article(article) -> Shown:
    """The keys of every page that shows `article` as it is in the database now: its own page,
    its section, authors and topics, and every list."""
    return Shown(article)


def keys_changed(before: Shown | None, after: Shown) -> list[str]:
    """What a change from `before` to `after` purges. When the article's placement is the same,
    every page that shows it is tagged with its key (front page, lists, related stories), so
    that key and the text-driven lists are enough: an edit of an old story leaves the front
    page and the lists it is not on in the cache. Otherwise, every list it was or is on."""
    if before is not None and before.placement is not None and before.placement == after.placement:
        return [f"a:{after.pk}", *CONTENT_LISTS]
    return [*(before or ()), *after]


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
        _purge_cache(keys)
    except Exception:  # noqa: BLE001 - a cache outage must not break a save
        logger.warning("page cache: could not purge %s", " ".join(keys[:20]), exc_info=True)
        _owe(keys)
    edge.purge(keys)


def _purge_cache(keys):
    cache.set(PURGED_KEY, uuid.uuid4().hex, None)
    _index().purge(keys)
    # Other workers hear of it from Redis; this one need not wait. A process that never served
    # a page keeps no copies (and starts no listener).
    for copies in (_etag_copies(start=False), _page_copies(start=False)):
        if copies is not None:
            copies.forget_all()


def _owe(keys):
    """Record a purge the cache did not take, in the database: the cache may come back from a
    snapshot taken before it, still holding the pages the purge was for."""
    from .models import CachePurgeDebt

    try:
        CachePurgeDebt.objects.create(keys=keys)
    except Exception:  # noqa: BLE001 - nothing more to do; the pages still expire in time
        logger.error("page cache: could not record the lost purge of %s", " ".join(keys[:20]))


DEBT_CHECK_SECONDS = 5


def settle_purge_debt() -> bool:
    """Replay the purges lost to a cache outage, oldest first, and forget them. True when there
    were any (what was read from the cache before may be stale); raises when the cache or the
    database cannot be reached (the debt is then kept)."""
    from .models import CachePurgeDebt

    owed = list(CachePurgeDebt.objects.values_list("pk", "keys"))
    if not owed:
        return False
    keys = list(dict.fromkeys(key for _, keys in owed for key in keys))
    _purge_cache(keys if len(keys) <= MAX_KEYS else [EVERY_PAGE])
    CachePurgeDebt.objects.filter(pk__in=[pk for pk, _ in owed]).delete()
    logger.warning("page cache: replayed %d purge(s) lost to an outage", len(owed))
    return True


def _debt_check_due():
    """Whether this cache connection must look for lost purges before trusting a hit: when it
    has (re)connected since the last look (an outage or a restart in between), and at least
    every DEBT_CHECK_SECONDS (a purge lost by a worker that could not reach the cache while
    this one could)."""
    seen = getattr(cache, "purge_debt_seen", None)
    return (
        seen is None
        or seen[0] != getattr(cache, "connects", 0)
        or time.monotonic() - seen[1] >= DEBT_CHECK_SECONDS
    )


_looked_in_process = [float("-inf")]  # when a thread of this process last looked (monotonic)


def _looked(mark):
    cache.purge_debt_seen = mark
    _looked_in_process[0] = mark[1]


def _settle(found):
    """Look for lost purges and replay them; the hit in `found` (if any) stands only if there
    were none."""
    mark = (getattr(cache, "connects", 0), time.monotonic())
    try:
        replayed = settle_purge_debt()
    except DatabaseError:
        # The database is down: no purge can have been recorded since it went, and readers keep
        # the cached pages (rendering would fail too). Look again in DEBT_CHECK_SECONDS.
        logger.warning("page cache: could not look for lost purges (database unavailable)")
        _looked(mark)
        return
    except Exception:  # noqa: BLE001 - the cache is down: do not trust the hit
        logger.warning("page cache: could not look for lost purges", exc_info=True)
        found.answer = None
        return
    _looked(mark)
    if replayed:
        found.answer = None


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


def _declaration(request, urlconf=None):
    """The view's `public()` declaration, or None when the page is not cacheable. `urlconf`:
    the request's URL configuration when it is not this thread's (`get_urlconf()`)."""
    if (
        not _anyones(request.META)
        or request.path.startswith(EXCLUDED_PREFIXES)
        or len(request.path) + len(request.META.get("QUERY_STRING", "")) > 2000
    ):
        return None
    return _declared(request.path_info, urlconf or get_urlconf())


def _anyones(environ):
    """Whether the request is one whose answer may be anyone's: a GET or HEAD without a session
    cookie, and not an API key's (its answers are its own: drafts for read-drafts keys; never
    stored, never answered from the store)."""
    return (
        environ.get("REQUEST_METHOD", "").upper() in ("GET", "HEAD")
        and "HTTP_AUTHORIZATION" not in environ
        and not _has_session_cookie(environ)
    )


def _has_session_cookie(environ):
    name = settings.SESSION_COOKIE_NAME
    raw = environ.get("HTTP_COOKIE", "")
    return name in raw and name in parse_cookie(raw)


@functools.lru_cache(maxsize=4096)
def _declared(path_info, urlconf):
    """Resolving a path is a tenth of a cache hit's cost; the answer only changes with the URL
    configuration, so it is remembered (bounded: junk paths only evict each other)."""
    try:
        view = resolve(path_info, urlconf).func
    except Resolver404:
        return None
    return getattr(getattr(view, "view_class", view), "page_cache", None)


def canonical_query(request, params) -> str:
    """The query string of the parameters the page reads, in a stable order."""
    return urlencode([(name, v) for name in params for v in request.GET.getlist(name)])


def _digest(request, query):
    """The page's name in the store. A HEAD shares its GET's entries: a view renders both
    alike (the server drops a HEAD's body, and the front door sends none), so a HEAD is
    answered, and revalidated, from the page a GET stored, and the other way round."""
    secure = request.is_secure()  # an http request must still meet SecurityMiddleware's redirect
    return hashlib.sha256(f"{secure}:{request.path}?{query}".encode()).hexdigest()


def key_header(keys) -> str:
    """The keys as the `Surrogate-Key`/`xkey` header value (stored with the page this way)."""
    return " ".join(sorted(keys))


def _edge_headers(header, valid_until):
    # Fresh time plus stale time never reach past `valid_until` (the next scheduled publication
    # or expiry among them): the edge never serves a page past the moment it changes by itself,
    # not even once while it revalidates.
    until_change = max(0, int(valid_until - time.time()))
    stale = min(settings.EDGE_STALE_SECONDS, until_change)
    s_maxage = max(0, min(settings.EDGE_SECONDS, until_change - stale))
    return [
        (
            "Cache-Control",
            f"public, max-age=0, s-maxage={s_maxage}, stale-while-revalidate={stale}",
        ),
        ("Surrogate-Key", header),
        ("xkey", header),
    ]


def _revalidated(request, found, entry) -> bool:
    """Answer 304 from a stored `(valid_until, etag, key header)` entry when it matches."""
    found.answer = _not_modified_answer(request.META.get("HTTP_IF_NONE_MATCH"), entry)
    return found.answer is not None


def _not_modified_answer(wanted, entry):
    """(304, headers, b"") when the stored `(valid_until, etag, key header)` entry is valid and
    the If-None-Match value `wanted` names its ETag, else None."""
    if entry is None or not wanted:
        return None
    valid_until, etag, header = entry
    if (
        time.time() < valid_until
        and etag
        and (etag in parse_etags(wanted) or wanted.strip() == "*")
    ):
        return 304, [("ETag", etag), *_edge_headers(header, valid_until), ("X-Cache", "hit")], b""
    return None


def _etag_copies(*, start=True):
    """This worker's copies of the stored ETags, which Redis keeps true (see
    `newsdesk.redis_cache.TrackedCopies`): a revalidation then needs no round trip at all.
    None with other caches (the local-memory cache of the tests, the file cache), and, unless
    `start`, when this process has none yet."""
    tracked = getattr(cache, "tracked_copies", None)
    return tracked(f"etag:{STORE_FORMAT}:", start=start) if tracked is not None else None


def _page_copies(*, start=True):
    """This worker's copies of the pages its readers asked for most recently (at most
    `PAGE_COPIES` of them), kept true by Redis as the ETags are: a hit on one of them needs no
    round trip, no transfer of the page from Redis and no unpickling. A big page (the archive,
    a search, a sitemap) costs as little as a small one, and less than the bare view."""
    tracked = getattr(cache, "tracked_copies", None)
    if tracked is None or settings.PAGE_COPIES <= 0:
        return None
    return tracked(f"page:{STORE_FORMAT}:", start=start, limit=settings.PAGE_COPIES)


EDGE_HEADERS = {"cache-control", "surrogate-key", "xkey", "x-cache"}
STORE_FORMAT = 2  # in the entries' names: change it whenever what they hold changes
LOOKUP = "newsdesk.page_cache"


class Lookup:
    """The page cache's reading of one request: the page's declaration, its canonical query,
    its entries and, on a hit, the answer as (status, headers, body)."""

    __slots__ = ("fixed", "query", "entry_keys", "purged", "answer", "settle")

    def __init__(self, fixed, query):
        self.fixed, self.query = fixed, query
        self.entry_keys = self.purged = self.answer = None
        self.settle = False  # look for lost purges (in Django, with its database) before answering


def lookup(request) -> Lookup | None:
    """None when the request is not for a cacheable public page. Done once per request: the
    result is kept in the WSGI environ, which the front door and Django's request share."""
    if LOOKUP in request.META:
        return request.META[LOOKUP]
    found = request.META[LOOKUP] = _lookup(request)
    return found


def _reading(request, urlconf=None):
    """A new `Lookup` of the request (its declaration and canonical query), or None when the
    page is not cacheable."""
    declared = _declaration(request, urlconf)
    if declared is None:
        return None
    params, fixed = declared
    return Lookup(fixed, canonical_query(request, params))


def _lookup(request):
    found = _reading(request)
    if found is None:
        return None
    if settings.CACHE_SECONDS <= 0:  # off here and at the edge
        return found
    page_key, etag_key = _entry_keys(request, found.query)
    conditional = "HTTP_IF_NONE_MATCH" in request.META
    wanted = etag_key if conditional else page_key
    try:
        copies = _etag_copies() if conditional else _page_copies()
        if copies is not None and not _debt_check_due():
            # Copies are named as Redis names them (its invalidations carry those names).
            tracked_name = cache.make_key(wanted)
            kept = copies.get(tracked_name)
            if _revalidated(request, found, kept) if conditional else _hit(found, kept):
                return found
            mark = copies.mark()
        else:
            copies = None
        entries = cache.get_many([wanted, PURGED_KEY])
        found.settle = _debt_check_due()
        if copies is not None and not found.settle and wanted in entries:
            copies.keep(tracked_name, entries[wanted], mark)
        if conditional and etag_key in entries:
            if _revalidated(request, found, entries[etag_key]):
                return found
            entries.update(cache.get_many([page_key]))
    except Exception:  # noqa: BLE001 - degrade to uncached pages
        logger.warning("page cache unavailable", exc_info=True)
        return found
    found.entry_keys, found.purged = (page_key, etag_key), entries.get(PURGED_KEY)
    _hit(found, entries.get(page_key))
    return found


def _entry_keys(request, query):
    """The names of the page's two entries: (the page, its ETag)."""
    digest = _digest(request, query)
    return f"page:{STORE_FORMAT}:{digest}", f"etag:{STORE_FORMAT}:{digest}"


def revalidated_from_memory(environ):
    """(status, headers) of a 304 for a conditional request this worker can answer from its
    ETag copies alone, or None. It reads no socket, cache or database, so the worker's event
    loop may ask it before handing the request to a thread (`newsdesk.gunicorn_worker`); any
    doubt is None, and the request takes the usual way. The copies are trusted here only while
    a thread of this process has looked for lost purges within DEBT_CHECK_SECONDS (the loop
    has no cache connection of its own to look with)."""
    if "HTTP_IF_NONE_MATCH" not in environ or settings.CACHE_SECONDS <= 0:
        return None
    if time.monotonic() - _looked_in_process[0] >= DEBT_CHECK_SECONDS:
        return None
    copies = _etag_copies(start=False)
    if copies is None:
        return None
    name = _etag_entry_of(environ)
    if name is None:
        return None
    answer = _not_modified_answer(environ["HTTP_IF_NONE_MATCH"], copies.get(cache.make_key(name)))
    return None if answer is None else answer[:2]


_ETAG_ENTRIES = {}  # what `_etag_entry_of` found for each address this process was asked for


def _etag_entry_of(environ):
    """The name of the ETag entry of the page a request from the loop asks for, or None when it
    is not a cacheable public page. What depends on the address alone (its declaration, the
    canonical query, the digest) is remembered per address, as `_declared` remembers a path's
    view: a revalidation then builds no request, parses no query and hashes nothing. What
    depends on the rest of the request (its method, a session cookie, an API key) is asked
    every time."""
    if not _anyones(environ):
        return None
    proxy = settings.SECURE_PROXY_SSL_HEADER
    address = (
        settings.ROOT_URLCONF,  # the loop sets no other
        environ.get("wsgi.url_scheme"),
        environ.get(proxy[0]) if proxy else None,  # with the scheme: `request.is_secure()`
        environ.get("SCRIPT_NAME", ""),
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
    )
    try:
        return _ETAG_ENTRIES[address]
    except KeyError:
        pass
    from django.core.handlers.wsgi import WSGIRequest

    request = WSGIRequest(environ)
    found = _reading(request, settings.ROOT_URLCONF)
    name = None if found is None else _entry_keys(request, found.query)[1]
    if len(_ETAG_ENTRIES) >= 4096:  # bounded: junk addresses only evict each other
        _ETAG_ENTRIES.clear()
    _ETAG_ENTRIES[address] = name
    return name


def _hit(found, entry) -> bool:
    """Answer from a stored `(valid_until, key header, status, headers, body)` page entry while
    it is valid."""
    if entry is None:
        return False
    valid_until, header, status, headers, content = entry
    if time.time() >= valid_until:
        return False
    edge = _edge_headers(header, valid_until)
    found.answer = (status, [*headers, *edge, ("X-Cache", "hit")], content)
    return True


class FrontDoor:
    """WSGI: answers a cache hit straight from the stored status, headers and body, before
    Django builds its request, sends its signals or runs any middleware. Everything else goes
    to Django, where `PublicPageCacheMiddleware` uses the same lookup without reading again."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        from django.core.handlers.wsgi import WSGIRequest

        try:
            found = lookup(WSGIRequest(environ))
        except Exception:  # noqa: BLE001 - a malformed request: Django answers it (400s included)
            environ.pop(LOOKUP, None)
            found = None
        if found is None or found.answer is None or found.settle:
            return self.application(environ, start_response)
        status, headers, body = found.answer
        start_response(_status_line(status), headers)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]

    def answer_in_loop(self, environ):
        """(status line, headers) when the request can be answered without a thread (a
        revalidation from this worker's memory: `revalidated_from_memory`), else None. Asked by
        the worker's event loop; never raises."""
        try:
            answer = revalidated_from_memory(environ)
        except Exception:  # noqa: BLE001 - the thread's way answers it, errors included
            return None
        return None if answer is None else (_status_line(answer[0]), answer[1])


@functools.cache
def _status_line(status):
    return f"{status} {HTTPStatus(status).phrase}"


class PublicPageCacheMiddleware:
    """The first middleware, so a stored page carries every other middleware's headers. A hit
    (when the front door did not answer it: the test client, ASGI) returns before sessions,
    CSRF, auth and messages do anything."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        found = lookup(request)
        if found is None:
            response = self.get_response(request)
            if request.method in ("GET", "HEAD") and not request.path.startswith(EXCLUDED_PREFIXES):
                response.setdefault("Cache-Control", "public, max-age=0, must-revalidate")
            return response
        if found.settle and found.answer is not None:  # a miss looks after rendering (below)
            _settle(found)
        if found.answer is not None:
            status, headers, body = found.answer
            if status == 304:  # as the front door's: no Content-Type for a body it has not
                return HttpResponseNotModified(headers=headers)
            return HttpResponse(body, status=status, headers=headers)
        request.GET = QueryDict(found.query)
        request.META["QUERY_STRING"] = found.query
        request.cache_keys = {EVERY_PAGE, *found.fixed}
        if settings.CACHE_SECONDS <= 0:
            response = self.get_response(request)
            response.setdefault("Cache-Control", "public, max-age=0, must-revalidate")
            return response
        return self._render(request, found)

    def _render(self, request, found):
        entry_keys, purged = found.entry_keys, found.purged
        response = self.get_response(request)
        if found.settle and response.status_code < 500:
            # The page came from the database, which answers: a good moment to look for lost
            # purges (before the page is stored), so the next hit need not.
            _settle(found)
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
            for name, value in _edge_headers(key_header(keys), valid_until):
                response[name] = value
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
        header = key_header(keys)
        try:
            seconds = settings.CACHE_SECONDS
            cache.set_many(
                {
                    page_key: (
                        valid_until,
                        header,
                        response.status_code,
                        [(k, v) for k, v in response.items() if k.lower() not in EDGE_HEADERS],
                        response.content,
                    ),
                    etag_key: (valid_until, response.get("ETag", ""), header),
                },
                seconds,
            )
            _index().add(keys, entry_keys)
            if cache.get(PURGED_KEY) != purged:
                cache.delete_many(entry_keys)  # a purge ran while this page was rendered
        except Exception:  # noqa: BLE001
            logger.warning("page cache: could not store a page", exc_info=True)
