"""Turn a vanished database or cache into a clean 503 page instead of a traceback."""

import logging

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)) or _is_cache_outage(exception):
            logger.error("service unavailable: %s", exception)
            try:
                body = render_to_string("503.html", {"site_name": "Newsdesk"})
            except Exception:  # noqa: BLE001 - the error page must never fail
                body = "<h1>Service temporarily unavailable</h1>"
            response = HttpResponse(body, status=503)
            response["Retry-After"] = "30"
            response["Cache-Control"] = "no-store"
            return response
        return None


def _is_cache_outage(exception):
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exception, (RedisConnectionError, RedisTimeoutError)) and not isinstance(
        exception, DatabaseError
    )
