"""The public page cache, shared by every worker through Django's cache (Redis in production).

Anonymous GETs of public pages are stored whole. Two things keep them honest:

- a *generation* token in the shared cache, replaced whenever content changes (model signals,
  every successful desk POST, commands that bulk-insert), so an edit is visible on every worker
  at once;
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
from django.db.models import Min, Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

logger = logging.getLogger(__name__)

GENERATION_KEY = "pages:generation"
EXCLUDED_PREFIXES = ("/admin/", "/preview/", "/healthz", "/static/", "/media/")


def content_changed(**kwargs) -> None:
    """Invalidate every cached page on every worker."""
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


def next_scheduled_change(now=None) -> float | None:
    """Unix time of the next scheduled publication or unpublication, if any."""
    from .models import Article

    now = now or timezone.now()
    upcoming = Article.objects.filter(
        status=Article.Status.PUBLISHED, withdrawn_at__isnull=True, deleted_at__isnull=True
    ).aggregate(
        next_publish=Min("published_at", filter=Q(published_at__gt=now)),
        next_unpublish=Min("unpublish_at", filter=Q(unpublish_at__gt=now)),
    )
    times = [t for t in upcoming.values() if t is not None]
    return min(times).timestamp() if times else None


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
        if request.method == "POST" and request.path.startswith("/admin/"):
            response = self.get_response(request)
            if response.status_code < 400:
                content_changed()
            return response
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


def connect_signals():
    from .models import Article, Author, Byline, Category, Tag

    for model in (Article, Author, Byline, Category, Tag):
        post_save.connect(
            content_changed, sender=model, dispatch_uid=f"pages-save-{model.__name__}"
        )
        post_delete.connect(
            content_changed, sender=model, dispatch_uid=f"pages-del-{model.__name__}"
        )
    m2m_changed.connect(content_changed, sender=Article.tags.through, dispatch_uid="pages-tags")
