"""The public page cache, shared by every worker through Django's cache (Redis in production).

Anonymous GETs of public pages are stored whole. Two things keep them honest:

- a *generation* token in the shared cache, replaced by `pages_changed()` after the transaction
  of a change readers can see commits. The service functions in `services.py` (every desk save,
  import, bulk action, restore, correction, merge, trash and withdrawal) are its callers, and
  they call it only when the change touches what readers see: a login, a refused save or a
  draft's edit empties nothing. An edit is visible on every worker at once;
- each stored page remembers the next scheduled publication or unpublication time at the moment
  it was rendered and is not served past it, so scheduled articles appear (and go) on their own,
  with no background job.

If the cache itself is unreachable, pages are rendered as if there were no cache.
"""

import hashlib
import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

GENERATION_KEY = "pages:generation"
EXCLUDED_PREFIXES = ("/admin/", "/preview/", "/healthz", "/static/", "/media/")


def pages_changed() -> None:
    """The one invalidation: every cached page on every worker is stale once the current
    transaction commits (at once outside a transaction). Run after COMMIT so that a reader in
    between cannot store the old page under the new generation."""
    transaction.on_commit(_new_generation)


def _new_generation() -> None:
    try:
        cache.set(GENERATION_KEY, uuid.uuid4().hex, None)
    except Exception:  # noqa: BLE001 - a cache outage must not break a save
        logger.warning("page cache: could not bump the generation", exc_info=True)


def _generation():
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        generation = uuid.uuid4().hex
        cache.add(GENERATION_KEY, generation, None)
        generation = cache.get(GENERATION_KEY, generation)
    return generation


def next_scheduled_change() -> float | None:
    """Unix time of the next scheduled publication or expiry, if any."""
    from .models import Article

    when = Article.objects.next_scheduled_change()
    return when.timestamp() if when else None


def _key(request, generation):
    digest = hashlib.sha256(request.get_full_path().encode()).hexdigest()
    return f"page:{generation}:{request.method == 'HEAD'}:{digest}"


def _cacheable_request(request):
    return (
        request.method in ("GET", "HEAD")
        and not request.path.startswith(EXCLUDED_PREFIXES)
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and len(request.get_full_path()) <= 2000
    )


class PublicPageCacheMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not _cacheable_request(request) or settings.CACHE_SECONDS <= 0:
            return self.get_response(request)
        try:
            generation = _generation()
            key = _key(request, generation)
            entry = cache.get(key)
        except Exception:  # noqa: BLE001 - degrade to uncached pages
            logger.warning("page cache unavailable", exc_info=True)
            return self.get_response(request)
        if entry is not None:
            valid_until, response = entry
            if time.time() < valid_until:
                response["X-Cache"] = "hit"
                return response
        response = self.get_response(request)
        if response.status_code == 200 and not response.cookies and not response.streaming:
            self._store(key, response)
        response["X-Cache"] = "miss"
        response.setdefault("Cache-Control", "public, max-age=0, must-revalidate")
        return response

    def _store(self, key, response):
        try:
            valid_until = time.time() + settings.CACHE_SECONDS
            scheduled = next_scheduled_change()
            if scheduled is not None:
                valid_until = min(valid_until, scheduled)
            response.setdefault("Cache-Control", "public, max-age=0, must-revalidate")
            cache.set(key, (valid_until, response), settings.CACHE_SECONDS)
        except Exception:  # noqa: BLE001
            logger.warning("page cache: could not store a page", exc_info=True)
        return response
