"""Newsdesk settings: one module, configured entirely from the environment.

The parsing helpers (booleans, numbers, lists, DATABASE_URL) live in `newsdesk/env.py`.

Every variable read here is listed in the README and in `.env.example`. Defaults are safe for a
developer's laptop; with `DJANGO_DEBUG` off the production values must be given explicitly.
"""

import datetime as dt
import os
import secrets
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from newsdesk.env import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    media_store_from_url,
    sqlite_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent

TESTING = "pytest" in sys.modules or (len(sys.argv) > 1 and sys.argv[1] == "test")


DEBUG = env_bool("DJANGO_DEBUG", False)

DATA_DIR = Path(os.environ.get("DJANGO_DATA_DIR") or BASE_DIR / "var")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
SECRET_KEY_MISSING_MESSAGE = (
    "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
    "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
)
# Without a key, commands that serve nobody (makemigrations, migrate, collectstatic) still run
# on a throwaway key; serving the site (newsdesk/wsgi.py, asgi.py) and `check --deploy` refuse.
SECRET_KEY_MISSING = not SECRET_KEY
if SECRET_KEY_MISSING:
    SECRET_KEY = "insecure-throwaway-" + secrets.token_urlsafe(40)


def require_secret_key():
    """Fail fast before serving with a throwaway key in production."""
    if SECRET_KEY_MISSING and not DEBUG and not TESTING:
        raise ImproperlyConfigured(SECRET_KEY_MISSING_MESSAGE)


ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS",
    ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG or TESTING else [],
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = os.environ.get("NEWSDESK_SITE_NAME", "Newsdesk")
SITE_LANGUAGE = os.environ.get("NEWSDESK_LANGUAGE", "en")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.humanize",
    "django_filters",
    # The read API's docs page: its Swagger UI is then served from our static files, which the
    # Content-Security-Policy allows (ninja's fallback loads it from a CDN, which it forbids).
    "ninja",
    # Before `articles`, so its failed-login count is on the request when ours is audited.
    "axes",
    "articles",
]

MIDDLEWARE = [
    # Public pages are stored here with every other middleware's headers; hits are answered by
    # the WSGI front door (`newsdesk/wsgi.py`), or here when there is none (tests, ASGI).
    "articles.cache.PublicPageCacheMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "articles.middleware.AllowedMethodsMiddleware",
    "articles.logins.SignInThrottleMiddleware",
    # After the sign-in throttle, which turns a crowd of sign-ins away before any waits here.
    "articles.middleware.DeskLaneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "articles.middleware.ServiceUnavailableMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "newsdesk.urls"
# `make bench` only: adds a bare `HttpResponse("ok")` view behind the same middleware.
if env_bool("NEWSDESK_BENCH", False):
    ROOT_URLCONF = "articles.bench_urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "articles.context_processors.site",
            ],
        },
    },
]

# Django's form templates, with a widget's attributes and empty error lists written in Python
# (`articles/form_rendering.py`): a tenth of the desk's change form.
FORM_RENDERER = "articles.form_rendering.FormRenderer"

WSGI_APPLICATION = "newsdesk.wsgi.application"


DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if not DATABASE_URL:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
# A short wait for a pooled connection: when the database is down, readers get a 503 within
# seconds instead of a hung worker. A short reconnect_timeout: psycopg's pool doubles the delay
# between its reconnection attempts (1, 2, 4, 8 s …) until that timeout, so after an outage of
# a minute a worker could go on answering 503 for another minute; given up after 2 s, the next
# reader starts a new attempt at once, and a worker is back within about a second of the
# database. Tests run without the pool.
DATABASE_POOL = (
    None
    if TESTING
    else {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_SIZE", 10),
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 5),
        "reconnect_timeout": 2,
    }
)
DATABASES = {
    "default": database_from_url(DATABASE_URL, base_dir=BASE_DIR, pool=DATABASE_POOL)
    if DATABASE_URL
    else sqlite_database(DATA_DIR / "newsdesk.sqlite3")
}
if TESTING and not DATABASE_URL:
    # Tests on SQLite use a file, as production does, not Django's shared in-memory database:
    # the browser tests' live server answers requests side by side (an autosave beside a
    # save), and its threads sharing that one connection fail them with "table is locked".
    # pytest-django adds each worker's suffix to the name.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"newsdesk-test-{os.getpid()}.sqlite3")
    }

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL and TESTING:
    # Each test worker gets its own Redis database, so clearing the cache never touches db 0
    # or another worker's keys.
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    _parts = urlsplit(REDIS_URL)
    _first = env_int("NEWSDESK_TEST_REDIS_DB", 1)
    REDIS_URL = _parts._replace(path=f"/{max(1, (_first + int(_worker or 0)) % 16)}").geturl()
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "newsdesk.redis_cache.Cache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("NEWSDESK_CACHE_PREFIX", "newsdesk"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
elif TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    # A file cache is shared by every worker process on one machine.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": DATA_DIR / "cache",
        }
    }
CACHE_SECONDS = env_int("NEWSDESK_CACHE_SECONDS", 300)
# With Redis, each worker keeps copies of this many recently served pages, which Redis's key
# tracking keeps true (`articles.cache._page_copies`): about 40 KB each, 0 turns them off.
PAGE_COPIES = env_int("NEWSDESK_PAGE_COPIES", 200)
# Desk requests on a lane of their own in each worker: this many threads at a lower CPU priority
# (`articles.middleware.DeskLaneMiddleware`); gunicorn.conf.py sets 1, 0 runs them in place.
DESK_LANE = env_int("NEWSDESK_DESK_LANE", 0)
# Nice 1, not more: a lane thread much lower than the readers' is preempted while it holds the
# interpreter lock, and its worker's readers then wait for a thread that is not running (in
# alternating live-desk runs, nice 4 left readers 0.89× of their quiet rate and the desk 83% of
# its saves; nice 1 gave 0.95× and 98%; nice 0 0.86× and 100%).
DESK_NICE = env_int("NEWSDESK_DESK_NICE", 1)
# An HTTP cache in front (Varnish with xkey): how long it may keep a public page, how long it may
# serve a stale one while fetching a fresh one, and where `articles/edge.py` sends purges.
EDGE_SECONDS = env_int("NEWSDESK_EDGE_SECONDS", 300)
EDGE_STALE_SECONDS = env_int("NEWSDESK_EDGE_STALE_SECONDS", 30)
EDGE_PURGE_URLS = env_list("NEWSDESK_EDGE_PURGE_URLS")
EDGE_PURGE_HEADER = os.environ.get("NEWSDESK_EDGE_PURGE_HEADER", "").strip() or "xkey-purge"
EDGE_PURGE_TIMEOUT = env_int("NEWSDESK_EDGE_PURGE_TIMEOUT", 2)
# A WebSub hub (https://www.w3.org/TR/websub/): feeds name it as rel="hub", and each change
# readers can see pings it (through the webhook outbox, sent by `deliver_webhooks`). Empty: none.
NEWSDESK_WEBSUB_HUB = os.environ.get("NEWSDESK_WEBSUB_HUB", "").strip()
# Hosts (`host` or `host:port`, comma separated) the ninjs importer may fetch a lead picture
# from (its rendition's href). Empty: pictures in imported documents are not fetched.
NEWSDESK_INGEST_IMAGE_HOSTS = env_list("NEWSDESK_INGEST_IMAGE_HOSTS")
NEWSDESK_INGEST_IMAGE_TIMEOUT = env_int("NEWSDESK_INGEST_IMAGE_TIMEOUT", 10)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("DJANGO_LANGUAGE_CODE", "en-us")
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or DATA_DIR / "static")
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT") or DATA_DIR / "media")
# Uploads and renditions on the local disk (the default) or, with MEDIA_STORAGE_URL=s3://…, in an
# S3-compatible bucket shared by every app server. Readers fetch them from MEDIA_CDN_URL when set,
# else from the bucket's public address, else from /media/ on this site.
MEDIA_STORE = media_store_from_url(os.environ.get("MEDIA_STORAGE_URL"))
MEDIA_CDN_URL = os.environ.get("MEDIA_CDN_URL", "").strip()
if MEDIA_CDN_URL and urlsplit(MEDIA_CDN_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(
        f"MEDIA_CDN_URL must be an http:// or https:// address, not {MEDIA_CDN_URL!r}"
    )
MEDIA_URL = (
    MEDIA_CDN_URL.rstrip("/") + "/"
    if MEDIA_CDN_URL
    else MEDIA_STORE["public_url"]
    if MEDIA_STORE
    else "/media/"
)
# Files in a bucket are never served by the app servers.
SERVE_MEDIA = env_bool("NEWSDESK_SERVE_MEDIA", True) and not MEDIA_STORE
WHITENOISE_USE_FINDERS = DEBUG or TESTING
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
if DEBUG or TESTING:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

STORAGES = {
    # Either storage removes what a failed write (a full disk, a store that went away) left.
    "default": (
        {"BACKEND": "articles.media_store.S3MediaStorage", "OPTIONS": {"store": MEDIA_STORE}}
        if MEDIA_STORE
        else {"BACKEND": "articles.images.MediaStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

FIXTURE_DIRS = [BASE_DIR / "fixtures"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Uploads: lead images and author photos.
IMAGE_MAX_BYTES = env_int("NEWSDESK_IMAGE_MAX_BYTES", 10 * 1024 * 1024)
IMAGE_MAX_PIXELS = env_int("NEWSDESK_IMAGE_MAX_PIXELS", 40_000_000)
IMAGE_RENDITION_WIDTHS = (480, 960, 1600)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

ARTICLES_PER_PAGE = env_int("NEWSDESK_ARTICLES_PER_PAGE", 20)
SEARCH_MAX_LENGTH = 1000

# HTTPS hardening is on whenever debug is off, unless DJANGO_HTTPS=0 (a plain-HTTP test server).
HTTPS = env_bool("DJANGO_HTTPS", not DEBUG and not TESTING)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"


def _origin(url):
    """A URL's host as a CSP source (`https://cdn.example.org`, or `cdn.example.org` for a
    scheme-relative URL); None for a path on this site."""
    parts = urlsplit(url)
    if not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme else parts.netloc


# Content-Security-Policy (django-csp): no inline script or style anywhere, public or desk, so no
# page needs a nonce: a public page is cached and served to every reader, and a nonce in it would
# be everyone's. JSON-LD (`type="application/ld+json"`) is a data block browsers never execute,
# which CSP does not govern. Body images from other sites need their origin in
# NEWSDESK_CSP_IMG_SRC (comma separated); the static and media hosts are added when absolute.
# Uploads are only ever images: a media host is trusted for images, never for scripts.
_static_origin = [o for o in [_origin(STATIC_URL)] if o]
_media_origin = [o for o in [_origin(MEDIA_URL)] if o]
_csp_directives = {
    "default-src": ["'self'", *_static_origin],
    "script-src": ["'self'", *_static_origin],
    "style-src": ["'self'", *_static_origin],
    "img-src": ["'self'", *_static_origin, *_media_origin, *env_list("NEWSDESK_CSP_IMG_SRC")],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
_csp_report_uri = os.environ.get("NEWSDESK_CSP_REPORT_URI", "").strip()
if _csp_report_uri:
    _csp_directives["report-uri"] = [_csp_report_uri]
# NEWSDESK_CSP_REPORT_ONLY=1 sends the same policy as Content-Security-Policy-Report-Only:
# browsers report what it would block and block nothing (try a policy change out first).
if env_bool("NEWSDESK_CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _csp_directives}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp_directives}

LOGIN_URL = "admin:login"
# Where a sign-in goes when `next` is missing or points off the site: the desk, never Django's
# default /accounts/profile/ (which does not exist here).
LOGIN_REDIRECT_URL = "admin:index"

# Sign-ins (`articles/logins.py`). django-axes refuses a username + address after
# NEWSDESK_LOGIN_FAILURES failed attempts, for NEWSDESK_LOGIN_COOLOFF_MINUTES after the last
# one, before any password is hashed. Its records live in the database: every app server
# shares them in every deployment (Redis is optional, and the file cache is per machine), and
# clearing the page cache never lifts a lockout.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "articles.logins.ThrottledModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("NEWSDESK_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("NEWSDESK_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "articles.logins.lockout_response"
# The username as typed, cut to what a username can hold and without NULs: axes stores it in its
# access log (255 characters; PostgreSQL refuses NULs), and a longer one is nobody's.
AXES_USERNAME_CALLABLE = "articles.logins.client_username"
# The client's address: REMOTE_ADDR, or the X-Forwarded-For hop a trusted proxy added when the
# request came from one of NEWSDESK_TRUSTED_PROXIES (IPs or networks). ipware's own proxy
# settings match the header's hops and never REMOTE_ADDR, so a client connecting directly could
# still name its address; `client_ip` checks who actually connected.
TRUSTED_PROXIES = env_list("NEWSDESK_TRUSTED_PROXIES")
AXES_CLIENT_IP_CALLABLE = "articles.logins.client_ip"
# Not read while the callable is set; should it ever be removed, axes falls back to REMOTE_ADDR.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_IPWARE_PROXY_COUNT = None
# How many passwords one worker process hashes at once, and how many more sign-ins may wait
# their turn (holding a thread each); beyond that a sign-in is answered 429 "busy, try again".
# Guessers then queue behind each other instead of taking every core and thread from readers.
LOGIN_HASHING = env_int("NEWSDESK_LOGIN_HASHING", 1)
LOGIN_WAITING = env_int("NEWSDESK_LOGIN_WAITING", 1)

# Email (desk notifications): SMTP when EMAIL_HOST is set; otherwise printed to the console in
# debug, and not sent at all in production (the desk inbox still shows every notice).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "").strip()
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", f"{SITE_NAME} <newsdesk@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "").strip() or (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.dummy.EmailBackend"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
    "loggers": {
        # Failed sign-ins, lockouts and unlocks: always at WARNING, whatever DJANGO_LOG_LEVEL says.
        "newsdesk.security": {"level": "WARNING"},
        # django-axes logs every failure itself, with the same facts; ours are the ones to read.
        "axes": {"level": "ERROR"},
    },
}
