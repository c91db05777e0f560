"""Request-wide rules: which HTTP methods the site answers, and a clean 503 page instead of a
traceback when the database or the cache has vanished."""

import json
import logging

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseNotAllowed
from django.template.loader import render_to_string
from django.urls import reverse

logger = logging.getLogger(__name__)

READER_METHODS = ("GET", "HEAD")
DESK_METHODS = ("GET", "HEAD", "POST")
API_PREFIX = "/api/"


class AllowedMethodsMiddleware:
    """Readers' pages, feeds, sitemaps and health checks answer GET and HEAD; the desk also
    POST. Anything else (TRACE, OPTIONS, PUT, ...) is a 405 with an `Allow` header and a one-line
    message, before any view runs: no view answers a method it was not written for. OPTIONS included:
    nothing calls the site cross-origin, so there is nothing to negotiate."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in READER_METHODS:
            desk = request.path.startswith(reverse("admin:index"))
            allowed = DESK_METHODS if desk else READER_METHODS
            if request.method not in allowed:
                return self.not_allowed(HttpResponseNotAllowed(allowed), request)
        response = self.get_response(request)
        if response.status_code == 405 and not response.streaming and not response.content:
            return self.not_allowed(response, request)
        return response

    @staticmethod
    def not_allowed(response, request):
        """Every 405 says, in words, which methods the address answers (the API in its own
        error format, RFC 9457 problem details)."""
        message = f"Method not allowed: this address answers {response['Allow']}."
        if request.path.startswith(API_PREFIX):
            response.content = json.dumps(
                {
                    "type": "about:blank",
                    "title": "Method Not Allowed",
                    "status": 405,
                    "detail": message,
                }  # fmt: skip
            )
            response["Content-Type"] = "application/problem+json"
        else:
            response.content = f"{message}\n"
            response["Content-Type"] = "text/plain; charset=utf-8"
        response["Cache-Control"] = "no-store"
        return response


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
