"""Request-wide rules: which HTTP methods the site answers, and a clean 503 page instead of a
traceback when the database or the cache has vanished."""

import json
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
from django.http import HttpResponse, HttpResponseNotAllowed
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf, reverse, set_script_prefix, set_urlconf

logger = logging.getLogger(__name__)

READER_METHODS = ("GET", "HEAD")
DESK_METHODS = ("GET", "HEAD", "POST")
API_PREFIX = "/api/"
DESK_PREFIX = "/admin/"


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


class DeskLaneMiddleware:
    """Readers first: each worker runs its desk requests (`/admin/`) on a lane of its own —
    `NEWSDESK_DESK_LANE` threads (gunicorn.conf.py sets 1; 0, the default elsewhere, turns the
    lane off) at a lower CPU priority (`NEWSDESK_DESK_NICE`, 1). A change list at 100,000
    articles or a save is tens of milliseconds of Python; run on the request threads, two or
    three of them held the interpreter lock most of the time while the readers' cache hits,
    a tenth of a millisecond each, queued behind them. On the lane they take turns, and the
    kernel lets the readers' threads run first when the cores are busy."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.lane, self.pid = None, None
        self.lock = threading.Lock()
        self.queued = 0  # desk requests on the lane or waiting for it

    def __call__(self, request):
        if settings.DESK_LANE <= 0 or not request.path_info.startswith(DESK_PREFIX):
            return self.get_response(request)
        lane = self._lane()
        with self.lock:
            # A request waiting for the lane holds a request thread: with more than one waiting
            # per lane thread, the rest run where they are, as without the lane, so a crowd of
            # desk requests (a burst of sign-ins) cannot hold every thread readers need.
            overflow = self.queued >= 2 * settings.DESK_LANE
            if not overflow:
                self.queued += 1
        if overflow:
            return self.get_response(request)
        # What Django's handler set for this request in this thread, for the lane's thread.
        prefix, urlconf = get_script_prefix(), get_urlconf()
        try:
            return lane.submit(self._run, request, prefix, urlconf).result()
        finally:
            with self.lock:
                self.queued -= 1

    def _lane(self):
        if self.pid != os.getpid():  # none yet, or inherited across a fork
            with self.lock:
                if self.pid != os.getpid():
                    self.lane = ThreadPoolExecutor(
                        max_workers=settings.DESK_LANE,
                        thread_name_prefix="desk-lane",
                        initializer=_lower_priority,
                    )
                    self.pid = os.getpid()
        return self.lane

    def _run(self, request, prefix, urlconf):
        set_script_prefix(prefix)
        set_urlconf(urlconf)
        # As Django's handler does around each request on its own threads: the lane's thread
        # keeps its database connection only while it is usable and within CONN_MAX_AGE.
        close_old_connections()
        try:
            return self.get_response(request)
        finally:
            close_old_connections()


def _lower_priority():
    # Linux alone gives each thread a priority of its own, set through its thread id; elsewhere
    # the same call would renice whatever process has that number.
    if not sys.platform.startswith("linux") or settings.DESK_NICE <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), settings.DESK_NICE)
    except OSError:  # not allowed here: the desk still takes turns on its lane
        logger.warning("desk lane: could not lower its priority", exc_info=True)
