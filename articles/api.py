"""The read API (`/api/v1/`, django-ninja): articles as IPTC ninjs (`ninjs.py`), and the
sections, authors, topics and corrections readers see.

- Anonymous callers see what readers see: `Article.objects.published()`; a withdrawn article's
  detail answers 200 with `pubStatus: canceled` (its page answers 410), anything else 404.
- A read-drafts key also sees drafts, copy in review, scheduled, embargoed and expired copy,
  in the detail and in the list (`listed`), where `state` picks one state.
- The article list takes the archive's filters (`ArticleFilter`) plus `updated_since`; every
  list pages with a cursor (`?after=`, `Link: <…>; rel="next"`, `?limit=` from 1 to 100):
  `paginate` is the one place that does it.
- Answers are public pages to the page cache (`cache.public`, `cache.tag`): stored, given
  ETags, Surrogate-Keys and Cache-Control, and purged by the same invalidation as the pages.
- Every error is RFC 9457 `application/problem+json` with a 4xx status.
"""

import base64
import hashlib
import json
from typing import Literal

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from ninja import NinjaAPI, Query
from ninja.errors import HttpError, ValidationError

from . import cache
from .filters import ArticleFilter
from .models import (
    ApiKey,
    ApiKeyUse,
    Article,
    AuditEntry,
    Author,
    Category,
    Correction,
    SlugRedirect,
    Tag,
)
from .ninjs import article_uri, taxonomy_urn, to_ninjs, urn
from .seo import absolute

PROBLEM = "application/problem+json"
PER_PAGE, MAX_PER_PAGE = 20, 100
FORMATS = {"ninjs": 3, "ninjs3": 3, "ninjs2": 2}
LIST_PARAMS = (*ArticleFilter.base_filters, "updated_since", "state", "after", "limit", "format")

api = NinjaAPI(
    title=f"{settings.SITE_NAME} read API",
    version="1",
    description="Published articles as IPTC ninjs 3.x (`?format=ninjs2` for 2.x), and the "
    "sections, authors, topics and corrections readers see.",
    urls_namespace="api",
)


class Problem(Exception):
    """A 4xx answer as RFC 9457 problem details."""

    def __init__(self, status: int, detail: str, *, title: str = "", field: str = "", headers=None):
        super().__init__(detail)
        self.status, self.detail, self.title, self.field = status, detail, title, field
        self.headers = headers or {}


def problem_response(status: int, detail: str, *, title: str = "", **extra) -> HttpResponse:
    from http import HTTPStatus

    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM)
    return response


def _answer(request, response):
    """Every API answer varies with the key; an answer to a request with one is private."""
    response["Vary"] = "Authorization"
    if "HTTP_AUTHORIZATION" in request.META:
        response["Cache-Control"] = "private, no-store"
    return response


@api.exception_handler(Problem)
def _problem(request, exc):
    extra = {"field": exc.field} if exc.field else {}
    response = problem_response(exc.status, exc.detail, title=exc.title, **extra)
    for name, value in exc.headers.items():
        response[name] = value
    return _answer(request, response)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _answer(request, problem_response(404, str(exc) or "There is nothing at this address."))


@api.exception_handler(ValidationError)
def _invalid(request, exc):
    first = exc.errors[0] if exc.errors else {}
    where = [str(part) for part in first.get("loc", ()) if part not in ("query", "path")]
    field = where[0] if where else ""
    message = first.get("msg", "Invalid request.")
    detail = f"{field}: {message}" if field else message
    return _answer(request, problem_response(400, detail, title="Invalid parameter", field=field))


@api.exception_handler(HttpError)
def _http_error(request, exc):
    status = exc.status_code if 400 <= exc.status_code < 500 else 400
    return _answer(request, problem_response(status, str(exc)))


def caller(request) -> ApiKey | None:
    """The API key the request carries (`Authorization: Bearer <key>`), None for anonymous
    callers. A key that is not an active one is a 401. Every use is recorded (`ApiKeyUse`)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, raw = header.partition(" ")
    key = ApiKey.active_for(raw.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        raise Problem(
            401,
            "Send an active API key as `Authorization: Bearer <key>`, or no Authorization "
            "header for what readers see.",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    ApiKeyUse.objects.create(key=key, method=request.method, path=request.get_full_path()[:500])
    return key


def json_response(request, data, *, links=()) -> HttpResponse:
    """`data` as JSON with an ETag of its bytes (ConditionalGetMiddleware answers 304). An
    answer to a key is private: no shared cache may keep it (the page cache never sees such
    requests, see `cache._declaration`)."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    response = _answer(request, HttpResponse(body, content_type="application/json"))
    response["ETag"] = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    if links:
        response["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links)
    return response


def _version(fmt: str) -> int:
    if fmt not in FORMATS:
        raise Problem(
            400,
            f"format: choose one of {', '.join(FORMATS)}.",
            title="Invalid parameter",
            field="format",
        )
    return FORMATS[fmt]


def with_ninjs(queryset):
    """What `to_ninjs` reads, fetched in a fixed number of queries for any number of articles."""
    changes = (
        AuditEntry.objects.filter(article=OuterRef("pk"), action=AuditEntry.Action.CORRECTION)
        .order_by()
        .values("article")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        queryset.for_listing()
        .prefetch_related(
            Prefetch("corrections", queryset=Correction.objects.order_by("created_at", "pk")),
            Prefetch("old_slugs", queryset=SlugRedirect.objects.order_by("pk")),
        )
        .annotate(correction_changes=Coalesce(Subquery(changes), Value(0)))
    )


def visible(key):
    """The articles whose detail a caller may read: published ones, and withdrawn ones
    (answered as `canceled`); with a read-drafts key, everything but the trash."""
    if key is not None and key.sees_drafts:
        return Article.objects.in_desk()
    return Article.objects.in_state(Article.State.PUBLISHED, Article.State.WITHDRAWN)


def _detail(request, article, fmt):
    version = _version(fmt)
    if article is None:
        raise Http404("No published article here.")
    cache.tag(request, article)
    return json_response(request, to_ninjs(article, version=version))


# --- pages: one cursor, one Link header -------------------------------------------------------


def bad_parameter(field: str, message: str) -> Problem:
    return Problem(400, f"{field}: {message}", title="Invalid parameter", field=field)


def checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PER_PAGE:
        raise bad_parameter("limit", f"from 1 to {MAX_PER_PAGE}.")
    return limit


def encode_cursor(value, pk) -> str:
    """The cursor of a page that ends at the row (`value`, `pk`) of its sort key."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return base64.urlsafe_b64encode(f"{text}|{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, timed: bool = True):
    """(value, pk) of a cursor (the value a time when `timed`), or a 400 naming `after`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value, sep, pk = raw.rpartition("|")
        pk = int(pk)
        if timed:
            value = parse_datetime(value)
            if value is None or value.tzinfo is None:
                raise ValueError
        if not sep or not 0 < pk < 2**63:
            raise ValueError
        return value, pk
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise bad_parameter("after", "not a cursor this API gave.") from None


def paginate(request, queryset, *, key: str, limit: int, after: str, newest_first: bool = True):
    """One page of `queryset` in (`key`, pk) order — descending for `newest_first` — after the
    request's cursor, and its `Link: rel="next"` (the request's own parameters with the next
    cursor) when there is more. Every paged list of the API goes through here."""
    limit = checked_limit(limit)
    if after:
        value, pk = decode_cursor(after, timed=newest_first)
        op = "lt" if newest_first else "gt"
        queryset = queryset.filter(
            Q(**{f"{key}__{op}": value}) | Q(**{key: value, f"pk__{op}": pk})
        )
    order = (f"-{key}", "-pk") if newest_first else (key, "pk")
    rows = list(queryset.order_by(*order)[: limit + 1])
    page, more = rows[:limit], len(rows) > limit
    links = []
    if more:
        last = page[-1]
        query = [(k, v) for k in request.GET for v in request.GET.getlist(k) if k != "after"]
        query.append(("after", encode_cursor(getattr(last, key), last.pk)))
        links.append(("next", absolute(f"{request.path}?{urlencode(query)}")))
    return page, links


# --- routes -------------------------------------------------------------------------------------


STATES = [state for state in Article.State.values if state != Article.State.TRASHED]


def listed(key, state: str):
    """The articles a caller's list holds, with the key each is sorted by (`listed_at`).
    Anonymous callers and read-published keys: `published()`, newest first by publication
    time. A read-drafts key: the desk's articles (`in_desk()`: all but the trash), those
    without a publication time by their creation time; `state` picks one `Article.State`."""
    if state and state not in STATES:
        raise bad_parameter("state", f"choose one of {', '.join(STATES)}.")
    if key is None or not key.sees_drafts:
        if state and state != Article.State.PUBLISHED:
            raise bad_parameter("state", "only a read-drafts API key lists articles in it.")
        return Article.objects.published().annotate(listed_at=F("published_at"))
    articles = Article.objects.in_desk()
    if state:
        articles = articles.in_state(state)
    return articles.annotate(listed_at=Coalesce("published_at", "created_at"))


@api.get("/articles", summary="Articles, newest first", tags=["articles"])
def article_list(
    request,
    q: str = "",
    category: str = "",
    author: str = "",
    tag: list[str] = Query(default=[]),  # noqa: B008 - ninja's way of declaring a list
    published_after: str = "",
    published_before: str = "",
    featured: str = "",
    updated_since: str = "",
    state: str = "",
    after: str = "",
    limit: int = PER_PAGE,
    format: Literal["ninjs", "ninjs3", "ninjs2"] = "ninjs",  # noqa: A002 - the public name
):
    """Filters are the archive's (`q`, `category`, `author`, `tag`, `published_after`,
    `published_before`, `featured`) plus `updated_since` (ISO 8601 time) and, for read-drafts
    keys, `state`; `after` is the cursor of the `Link: rel="next"` header."""
    key = caller(request)  # a bad key is a 401; a good one is recorded
    version = _version(format)
    checked_limit(limit)
    data = request.GET.copy()
    for name in ("updated_since", "state", "after", "limit", "format"):
        data.pop(name, None)
    filterset = ArticleFilter(data, queryset=listed(key, state))
    if not filterset.is_valid():
        field, errors = next(iter(filterset.errors.items()))
        field = "" if field == "__all__" else field
        message = " ".join(errors)
        raise Problem(
            400,
            f"{field}: {message}" if field else message,
            title="Invalid parameter",
            field=field,
        )
    articles = filterset.qs
    if updated_since:
        since = parse_datetime(updated_since)
        if since is None or since.tzinfo is None or not 1900 <= since.year <= 9998:
            raise bad_parameter(
                "updated_since", "an ISO 8601 time with its offset, e.g. 2026-01-31T09:00:00Z."
            )
        articles = articles.filter(Q(updated_at__gte=since) | Q(revised_at__gte=since))
    page, links = paginate(request, with_ninjs(articles), key="listed_at", limit=limit, after=after)
    cache.tag(request, *page)
    return json_response(
        request, [to_ninjs(article, version=version) for article in page], links=links
    )


@api.get("/articles/{int:article_id}", summary="An article by id", tags=["articles"])
def article_detail(request, article_id: int, format: str = "ninjs"):  # noqa: A002
    key = caller(request)
    if not 0 < article_id < 2**63:
        raise Http404("No published article here.")
    found = with_ninjs(visible(key)).filter(pk=article_id).first()
    return _detail(request, found, format)


@api.get(
    "/articles/slug/{slug:slug}",
    summary="An article by its slug (or an old one)",
    tags=["articles"],
)
def article_by_slug(request, slug: str, format: str = "ninjs"):  # noqa: A002
    key = caller(request)
    old = SlugRedirect.objects.filter(old_slug=slug).values("article_id")
    found = with_ninjs(visible(key)).filter(Q(slug=slug) | Q(pk__in=old)).first()
    return _detail(request, found, format)


def _taxonomy(request, queryset, *, after: str, limit: int, extra=lambda obj: {}):
    """A page of sections, authors or topics by name (a cursor and `Link: rel="next"` as the
    articles list has)."""
    page, links = paginate(
        request, queryset, key="name", limit=limit, after=after, newest_first=False
    )
    cache.tag(request, *page)
    return json_response(
        request,
        [
            {
                "uri": taxonomy_urn(obj),
                "name": obj.name,
                "slug": obj.slug,
                "url": absolute(obj.get_absolute_url()),
                **extra(obj),
            }
            for obj in page
        ],
        links=links,
    )


@api.get("/sections", summary="Sections, by name", tags=["taxonomy"])
def section_list(request, after: str = "", limit: int = PER_PAGE):
    caller(request)  # a bad key is a 401; a good one is recorded
    sections = Category.objects.only("name", "slug", "description")
    return _taxonomy(
        request,
        sections,
        after=after,
        limit=limit,
        extra=lambda c: {"description": c.description},
    )


@api.get("/authors", summary="Authors with a published article, by name", tags=["taxonomy"])
def author_list(request, after: str = "", limit: int = PER_PAGE):
    caller(request)  # a bad key is a 401; a good one is recorded
    on_byline = Exists(
        Article.objects.published().filter(bylines__author=OuterRef("pk")).values("pk")
    )
    authors = Author.objects.filter(on_byline).only("name", "slug", "bio")
    return _taxonomy(request, authors, after=after, limit=limit, extra=lambda a: {"bio": a.bio})


@api.get("/topics", summary="Topics with a published article, by name", tags=["taxonomy"])
def topic_list(request, after: str = "", limit: int = PER_PAGE):
    caller(request)  # a bad key is a 401; a good one is recorded
    tagged = Exists(Article.objects.published().filter(tags=OuterRef("pk")).values("pk"))
    return _taxonomy(request, Tag.objects.filter(tagged), after=after, limit=limit)


@api.get(
    "/corrections", summary="Corrections on published articles, newest first", tags=["corrections"]
)
def correction_list(request, after: str = "", limit: int = PER_PAGE):
    caller(request)  # a bad key is a 401; a good one is recorded
    corrections = Correction.objects.filter(
        Exists(Article.objects.published().filter(pk=OuterRef("article_id")))
    ).select_related("article")
    page, links = paginate(request, corrections, key="created_at", limit=limit, after=after)
    cache.tag(request, *(c.article for c in page))
    return json_response(
        request,
        [
            {
                "uri": urn("correction", c.pk),
                "kind": c.kind,
                "text": c.text,
                "created": c.created_at.isoformat(),
                "url": absolute(c.get_absolute_url()),
                "article": article_uri(c.article),
            }
            for c in page
        ],
        links=links,
    )


# --- URLs ---------------------------------------------------------------------------------------

# The query parameters each route reads, as the page cache must know them (`cache.public`).
ROUTE_PARAMS = {
    "article_list": (LIST_PARAMS, ("archive", "feeds")),
    "article_detail": (("format",), ()),
    "article_by_slug": (("format",), ()),
    "section_list": (("after", "limit"), ("archive",)),
    "author_list": (("after", "limit"), ("archive",)),
    "topic_list": (("after", "limit"), ("archive",)),
    "correction_list": (("after", "limit"), ("corrections",)),
}


def not_found(request, rest=""):
    """Any other address under the API: a 404 in the API's own error format."""
    return problem_response(404, "There is nothing at this address; see /api/v1/docs.")


def urls():
    """`api.urls` with each route declared to the page cache, and a problem+json 404 (in place
    of ninja's root view, which answers an HTML 404) for every other address under it."""
    patterns, app_name, namespace = api.urls
    patterns = [p for p in patterns if p.name != "api-root"]  # replaced below
    for pattern in patterns:
        if pattern.name in ROUTE_PARAMS:
            params, keys = ROUTE_PARAMS[pattern.name]
            cache.public(params=params, keys=keys)(pattern.callback)
    patterns += [
        path("", not_found, name="api-root"),
        path("<path:rest>", not_found, name="not-found"),
    ]
    return patterns, app_name, namespace
