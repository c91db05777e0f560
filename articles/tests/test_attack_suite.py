"""The standing attack suite: bad input at every URL the site answers, and at every desk form.

Every pattern in the URLconf (readers' pages, the desk, later the API) is walked with malformed
path values, malformed query strings, wrong methods and POSTs without a CSRF token, as a
reader, a superuser and a reporter; every desk form is posted with malformed values field by
field. Each answer must be below 500, a 4xx must say why in its body, and the database must be
as it was. A URL added to the site without a row in `URLS` fails `test_every_url_is_attacked`.
"""

import datetime as dt
import hashlib
import re
from urllib.parse import quote

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from articles import services
from articles.models import (
    ApiKey,
    Article,
    AuditEntry,
    Notification,
    Revision,
    ShareLink,
    Webhook,
)

from .factories import (
    change_form_data,
    make_category,
    make_correction,
    make_live_article,
    make_reporter,
    make_tag,
    make_user,
)

# --- the bad-input table ----------------------------------------------------------------------

HUGE_INT = "9" * 20  # past 2**63 - 1: SQLite's integers overflow
# Values put in place of a path parameter (already URL-encoded).
BAD_PATH = {
    "word": "abc",
    "huge-int": HUGE_INT,
    "negative": "-1",
    "bad-utf8": "%FF%FE",
    "nul": "%00",
    "long": "x" * 3000,
}
# Values for query-string and form fields (URL-encoded as a browser or a script would send them).
BAD_VALUE = {
    "word": "abc",
    "huge-int": HUGE_INT,
    "negative": "-1",
    "bad-utf8": "%FF%FE",
    "nul": "%00",
    "long": "x" * 20000,
}
# Every query parameter some page reads (admin filters, paging, revisions, search, autocomplete).
QUERY_NAMES = [
    "q", "p", "o", "e", "page", "a", "b", "revision", "restore_autosave", "category", "tags",
    "tag", "author", "authors", "category__id__exact", "authors__id__exact", "featured__exact",
    "featured", "state", "mine", "published_at__year", "published_at__month",
    "published_at__day", "published_after", "published_before", "_changelist_filters",
    "_to_field", "_popup", "term", "app_label", "model_name", "field_name", "next",
    "action__exact", "user__id__exact", "article__id__exact", "is_staff__exact",
    "groups__id__exact", "id", "pk", "created_at__gte",
]  # fmt: skip
# Every field some desk form posts.
FORM_NAMES = [
    "action", "_selected_action", "index", "select_across", "revoke", "restore", "empty",
    "confirm", "target", "apply", "reason", "substantive", "note", "hours", "headline", "slug",
    "standfirst", "body", "category", "tags", "status", "loaded_version", "from_revision",
    "_action", "published_at_0", "published_at_1", "bylines-TOTAL_FORMS",
    "bylines-INITIAL_FORMS", "bylines-0-author", "name", "order", "form-TOTAL_FORMS",
    "form-INITIAL_FORMS", "username", "password", "password1", "password2", "old_password",
    "new_password1", "new_password2", "dry_run", "user", "groups",
]  # fmt: skip


# --- the URL table ------------------------------------------------------------------------------

User = get_user_model()
ALL = ("reader", "superuser", "reporter")
DESK = ("superuser", "reporter")


class Row:
    """How one URL pattern is attacked.

    `reads`: the query parameters the page reads, each attacked alone as well as all together.
    `acts`: a POST with a valid token is a legitimate button press whatever it carries (logout,
    mark all read, delete confirmations): the database may change, the status must stay < 500.
    `changes`: models an ordinary GET of the page may write (opening a notice marks it read).
    """

    def __init__(self, *, reads=(), acts=False, changes=()):
        self.reads, self.acts, self.changes = reads, acts, set(changes)


CHANGELIST = ("q", "p", "o", "e", "_changelist_filters", "_to_field", "_popup")
ARTICLE_LIST_READS = (
    *CHANGELIST, "category", "tags", "authors", "state", "mine", "featured__exact",
    "category__id__exact", "authors__id__exact", "published_at__year", "published_at__month",
    "published_at__day",
)  # fmt: skip
CHANGE_FORM = ("_changelist_filters", "_to_field", "_popup")
PUBLIC_LIST = ("page", "q", "category", "author", "tag", "published_after", "published_before",
               "featured")  # fmt: skip

# Keyed by the route as Django prints it (unnamed routes have no name to key them by).
URLS = {
    # readers
    "": Row(),
    "articles/": Row(reads=PUBLIC_LIST),
    "articles/<slug:slug>/": Row(),
    "categories/<slug:slug>/": Row(reads=("page",)),
    "categories/<slug:slug>/feed/": Row(),
    "authors/<slug:slug>/": Row(reads=("page",)),
    "authors/<slug:slug>/feed/": Row(),
    "tags/<slug:slug>/": Row(reads=("page",)),
    "preview/<int:pk>/": Row(),
    "preview/shared/<str:token>/": Row(),
    "corrections/": Row(reads=("page",)),
    "corrections/feed/": Row(),
    "search/": Row(reads=("q", "page")),
    "feeds/rss/": Row(),
    "feeds/atom/": Row(),
    "healthz": Row(),
    "robots.txt": Row(),
    "sitemap.xml": Row(),
    "sitemap-<section>.xml": Row(reads=("p",)),
    "news-sitemap.xml": Row(),
    "^media/(?P<path>.*)$": Row(),
    # the read API
    "api/v1/": Row(),
    "api/v1/openapi.json": Row(),
    "api/v1/docs": Row(),
    "api/v1/articles": Row(reads=(*PUBLIC_LIST, "updated_since", "after", "limit", "format")),
    "api/v1/articles/<int:article_id>": Row(reads=("format",)),
    "api/v1/articles/slug/<slug:slug>": Row(reads=("format",)),
    "api/v1/sections": Row(),
    "api/v1/authors": Row(),
    "api/v1/topics": Row(),
    "api/v1/corrections": Row(reads=("after", "limit")),
    "api/v1/<path:rest>": Row(),
    # the desk: Django's own pages
    "admin/": Row(),
    "admin/login/": Row(reads=("next",), acts=True),
    "admin/logout/": Row(acts=True),
    "admin/password_change/": Row(),
    "admin/password_change/done/": Row(),
    "admin/autocomplete/": Row(reads=("term", "app_label", "model_name", "field_name")),
    "admin/jsi18n/": Row(),
    "admin/r/<path:content_type_id>/<path:object_id>/": Row(),
    "admin/r/<str:content_type_id>/<path:object_id>/": Row(),
    "admin/^(?P<app_label>auth|axes|articles)/$": Row(),
    "admin/(?P<url>.*)$": Row(),
    # the desk: the article admin's own pages
    "admin/articles/article/trash/": Row(),
    "admin/articles/article/import/": Row(),
    "admin/articles/article/<path:object_id>/revisions/": Row(),
    "admin/articles/article/<path:object_id>/revisions/compare/": Row(reads=("a", "b")),
    "admin/articles/article/<path:object_id>/revisions/<int:number>/restore/": Row(),
    "admin/articles/article/<path:object_id>/revisions/<int:number>/publish/": Row(acts=True),
    "admin/articles/article/<path:object_id>/withdraw/": Row(),
    "admin/articles/article/<path:object_id>/share/": Row(),
    "admin/articles/article/<path:object_id>/autosave/": Row(),
    "admin/articles/article/<path:object_id>/autosave/discard/": Row(acts=True),
    "admin/articles/notification/<int:pk>/open/": Row(changes=["articles.notification"]),
    "admin/articles/notification/read/": Row(acts=True),
}
# Every registered ModelAdmin's own pages.
for _model in ("auth/group", "articles/apikey", "articles/article", "articles/auditentry",
               "articles/author", "articles/category", "articles/tag", "articles/webhook",
               "auth/user", "axes/accessattempt", "axes/accessfailurelog",
               "axes/accesslog"):  # fmt: skip
    _reads = ARTICLE_LIST_READS if _model == "articles/article" else CHANGELIST
    URLS[f"admin/{_model}/"] = Row(reads=_reads)
    URLS[f"admin/{_model}/add/"] = Row(reads=(*CHANGE_FORM, "category", "tags"))
    URLS[f"admin/{_model}/<path:object_id>/history/"] = Row()
    URLS[f"admin/{_model}/<path:object_id>/delete/"] = Row(acts=True)
    URLS[f"admin/{_model}/<path:object_id>/change/"] = Row(
        reads=(*CHANGE_FORM, "revision", "restore_autosave")
    )
    URLS[f"admin/{_model}/<path:object_id>/"] = Row()
URLS["admin/auth/user/<id>/password/"] = Row()


def url_patterns(patterns=None, prefix=""):
    """(route, pattern) for every URL pattern the site answers."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


ROUTES = sorted({route for route, _ in url_patterns()})


# --- the world the attacks run in -------------------------------------------------------------

SNAPSHOT_SKIP = {
    # Logs that reading writes by design: who has a form open, who opened a share link, sessions.
    "articles.editsession",
    "articles.sharelinkopen",
    "sessions.session",
    "admin.logentry",
}


def snapshot(skip=()):
    """Every row of every table the attacks could reach, as a digest per model."""
    state = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in SNAPSHOT_SKIP or label in skip or model._meta.app_label.startswith("axes"):
            continue
        rows = model._default_manager.order_by("pk").values_list()
        if model is User:
            rows = model.objects.order_by("pk").values_list(
                "pk", "username", "password", "is_staff", "is_active", "is_superuser"
            )
        state[label] = hashlib.sha256(repr(list(rows)).encode()).hexdigest()
    return state


@pytest.fixture
def world(db):
    """A published story with a byline, a correction, two revisions, a share link, a trashed
    story, a notice for each desk user, and the three people who attack."""
    superuser = make_user("chief", superuser=True)
    reporter = make_reporter("rita")
    category, tag = make_category("World"), make_tag("Energy")
    story = make_live_article(headline="Attack target", category=category, tags=[tag])
    story.created_by = reporter
    story.save()
    services.article_save(story, expected_version=1, user=superuser, action="save")
    story.headline = "Attack target, edited"
    services.article_save(story, expected_version=story.version, user=superuser, action="save")
    story.refresh_from_db()
    make_correction(story)
    trashed = make_live_article(headline="In the trash")
    services.article_trash(trashed, user=superuser)
    link = ShareLink.objects.create(
        article=story, created_by=superuser, expires_at=timezone.now() + dt.timedelta(days=1)
    )
    for user in (superuser, reporter):
        Notification.objects.create(recipient=user, article=story, kind="published", text="x")
    AuditEntry.objects.create(user=superuser, action=AuditEntry.Action.SAVE, article=story)
    api_key = ApiKey(name="partner", created_by=superuser)
    api_key.new_secret()
    api_key.save()
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    seen = {"user_agent": "x", "ip_address": "127.0.0.1", "username": "guesser",
            "http_accept": "*/*", "path_info": "/admin/login/"}  # fmt: skip
    attempt = AccessAttempt.objects.create(
        **seen, get_data="", post_data="", failures_since_start=1
    )
    failure = AccessFailureLog.objects.create(**seen, locked_out=False)
    access = AccessLog.objects.create(**seen)
    hook = Webhook.objects.create(url="http://127.0.0.1:9/hook")  # the discard port: refused
    clients = {"reader": Client(raise_request_exception=False)}
    csrf = {"reader": Client(enforce_csrf_checks=True, raise_request_exception=False)}
    for name, user in (("superuser", superuser), ("reporter", reporter)):
        clients[name] = Client(raise_request_exception=False)
        clients[name].force_login(user)
        csrf[name] = Client(enforce_csrf_checks=True, raise_request_exception=False)
        csrf[name].force_login(user)
    values = {
        "slug:articles": story.slug,
        "slug:categories": category.slug,
        "slug:authors": story.authors.first().slug,
        "slug:tags": tag.slug,
        "slug:api": story.slug,
        "article_id": str(story.pk),
        "rest": "no/such/resource",
        "pk": str(Notification.objects.get(recipient=superuser).pk),
        "token": link.get_absolute_url().rstrip("/").rsplit("/", 1)[-1],
        "section": "articles",
        "number": str(Revision.objects.filter(article=story).order_by("number")[0].number),
        "content_type_id": str(ContentType.objects.get_for_model(Article).pk),
        "id": str(reporter.pk),
        "object_id:articles/article": str(story.pk),
        "object_id:articles/author": str(story.authors.first().pk),
        "object_id:articles/category": str(category.pk),
        "object_id:articles/tag": str(tag.pk),
        "object_id:articles/auditentry": str(AuditEntry.objects.first().pk),
        "object_id:articles/apikey": str(api_key.pk),
        "object_id:auth/user": str(reporter.pk),
        "object_id:auth/group": str(Group.objects.get(name="Reporters").pk),
        "object_id:admin/r": str(story.pk),
        "object_id:axes/accessattempt": str(attempt.pk),
        "object_id:axes/accessfailurelog": str(failure.pk),
        "object_id:axes/accesslog": str(access.pk),
        "object_id:articles/webhook": str(hook.pk),
    }
    return {"clients": clients, "csrf": csrf, "values": values, "story": story, "superuser": superuser,
            "reporter": reporter, "trashed": trashed, "link": link}  # fmt: skip


PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def concrete(route, values, override=None):
    """The route with each parameter filled in from the world (or `override`: name → value)."""
    override = override or {}
    fixed = {
        "admin/^(?P<app_label>auth|axes|articles)/$": "admin/articles/",
        "admin/(?P<url>.*)$": "admin/no/such/page/",
        "^media/(?P<path>.*)$": "media/no-such-file.jpg",
    }
    if route in fixed:
        path = fixed[route]
        for name, value in override.items():
            path = path.replace("no-such-file.jpg" if name == "path" else "no/such/page/", value)
        return "/" + path

    def fill(match):
        name = match["name"]
        if name in override:
            return override[name]
        for key in (f"{name}:{_scope(route)}", name):
            if key in values:
                return quote(values[key])
        raise KeyError(f"no value for <{name}> in {route}: add one to the `world` fixture")

    return "/" + PARAM.sub(fill, route)


def _scope(route):
    parts = route.split("/")
    if route.startswith("admin/r/"):
        return "admin/r"
    if parts[0] == "admin":
        return "/".join(parts[1:3])
    return parts[0]


def params_of(route):
    names = [m["name"] for m in PARAM.finditer(route)]
    names += re.findall(r"\(\?P<(\w+)>", route)
    return names


# --- what every answer must be ----------------------------------------------------------------


def judge(response, what, failures):
    status = response.status_code
    if status >= 500:
        exc = getattr(response, "exc_info", None)
        reason = f" {exc[0].__name__}: {str(exc[1])[:120]!r}" if exc else ""
        failures.append(f"{what}: {status}{reason}")
    elif status >= 400 and not _readable(response):
        failures.append(f"{what}: {status} with no readable message")


def _readable(response):
    if getattr(response, "streaming", False):
        return True
    return bool(re.sub(rb"<[^>]*>|\s", b"", response.content))


def _query(pairs):
    return "&".join(f"{name}={value}" for name, value in pairs)


# --- the attacks ------------------------------------------------------------------------------


def test_every_url_is_attacked():
    """A URL added to the site must get a row in the attack table (the API's URLs included)."""
    assert [route for route in ROUTES if route not in URLS] == []
    assert [route for route in URLS if route not in ROUTES] == []


@pytest.mark.parametrize("route", ROUTES)
def test_bad_input_at_every_url(route, world, settings):
    """Malformed path values, query strings and form fields, wrong methods and missing CSRF
    tokens, as a reader, a superuser and a reporter: never a 500, a 4xx says why, and nothing
    in the database changes."""
    settings.DEBUG = False
    row = URLS[route]
    values, clients, csrf = world["values"], world["clients"], world["csrf"]
    chief = clients["superuser"]
    url = concrete(route, values)
    failures = []
    before = snapshot(row.changes)

    def attack(client, method, target, what, body=None, content_type=None):
        kwargs = {} if body is None else {"data": body, "content_type": content_type}
        judge(getattr(client, method)(target, **kwargs), what, failures)

    # Path parameters, one at a time (what a role may see is asked later, of the real page).
    for param in params_of(route):
        for label, bad in BAD_PATH.items():
            attack(chief, "get", concrete(route, values, {param: bad}),
                   f"GET {route} <{param}>={label}")  # fmt: skip

    # Query strings: every parameter at once, then each the page reads on its own.
    for label, bad in BAD_VALUE.items():
        query = _query((name, bad[:2000]) for name in QUERY_NAMES)
        attack(chief, "get", f"{url}?{query}", f"GET {route}?*={label}")
    for who, label in (("reader", "nul"), ("reporter", "huge-int"), ("reporter", "word")):
        query = _query((name, BAD_VALUE[label]) for name in QUERY_NAMES)
        attack(clients[who], "get", f"{url}?{query}", f"GET {route}?*={label} as {who}")
    for name in row.reads:
        for label in ("word", "huge-int"):
            attack(chief, "get", f"{url}?{name}={BAD_VALUE[label]}", f"GET {route}?{name}={label}")

    # Wrong methods.
    attack(chief, "put", url, f"PUT {route}")
    attack(chief, "delete", url, f"DELETE {route}")
    attack(clients["reader"], "patch", url, f"PATCH {route} as reader")
    assert_unchanged(before, snapshot(row.changes), f"GET {route}", failures)

    # A POST without a CSRF token is refused, whoever sends it.
    body = _query((name, "%00") for name in FORM_NAMES)
    for who in ALL:
        attack(csrf[who], "post", url, f"POST {route} without CSRF as {who}", body, FORM)
    assert_unchanged(before, snapshot(row.changes), f"POST {route} without CSRF", failures)

    # With a token: a NUL in every field is refused by every form (no field may hold one) ...
    for who in ALL:
        attack(clients[who], "post", url, f"POST {route} *=nul as {who}", body, FORM)
    for label, (broken, content_type) in BROKEN_BODIES.items():
        attack(chief, "post", url, f"POST {route} {label}", broken, content_type)
    broken, content_type = BROKEN_BODIES["multipart cut short"]
    attack(clients["reporter"], "post", url, f"POST {route} multipart cut short as reporter",
           broken, content_type)  # fmt: skip
    if not row.acts:
        assert_unchanged(before, snapshot(row.changes), f"POST {route} *=nul", failures)

    # ... while words and numbers may be a fair save (a topic called "abc"): never a 500.
    for label in ("word", "huge-int", "long"):
        body = _query((name, BAD_VALUE[label][:2000]) for name in FORM_NAMES)
        attack(chief, "post", url, f"POST {route} *={label}", body, FORM)
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


FORM = "application/x-www-form-urlencoded"
BROKEN_BODIES = {
    "multipart cut short": (
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nabc',
        "multipart/form-data; boundary=b",
    ),
    "multipart bad header": (
        b"--b\r\nContent-Disposition\r\n\r\nabc\r\n--b--",
        "multipart/form-data; boundary=b",
    ),
    "too many fields": (
        "&".join(f"f{i}=1" for i in range(5000)),
        "application/x-www-form-urlencoded",
    ),
    "json": (b'{"headline": "\\u0000"}', "application/json"),
}


def assert_unchanged(before, after, route, failures):
    changed = sorted(label for label in before if before[label] != after.get(label))
    if changed:
        failures.append(f"{route}: the database changed ({', '.join(changed)})")


# --- the malformed desk values of issue 11, each at its own page ------------------------------

MALFORMED = [
    # (what, who, method, page, data): page is a route of `URLS`; data the query or the form.
    ("bulk action on a word", "superuser", "post", "admin/articles/article/",
     {"action": "publish_selected", "index": "0", "_selected_action": "abc"}),
    ("bulk action on an id past 64 bits", "superuser", "post", "admin/articles/article/",
     {"action": "publish_selected", "index": "0", "_selected_action": HUGE_INT}),
    ("bulk action on a NUL", "superuser", "post", "admin/articles/article/",
     {"action": "unpublish_selected", "index": "0", "_selected_action": "\x00"}),
    ("merge of a word", "superuser", "post", "admin/articles/tag/",
     {"action": "merge_selected", "index": "0", "_selected_action": "abc", "apply": "1"}),
    ("merge into an id past 64 bits", "superuser", "post", "admin/articles/category/",
     {"action": "merge_selected", "index": "0", "_selected_action": HUGE_INT,
      "target": HUGE_INT, "apply": "1"}),
    ("revoking a word", "superuser", "post", "admin/articles/article/<path:object_id>/share/",
     {"revoke": "abc"}),
    ("revoking an id past 64 bits", "superuser", "post",
     "admin/articles/article/<path:object_id>/share/", {"revoke": HUGE_INT}),
    ("restoring a word from the trash", "superuser", "post", "admin/articles/article/trash/",
     {"restore": "abc"}),
    ("section filter on a word", "reporter", "get", "admin/articles/article/",
     {"category": "abc"}),
    ("section filter past 64 bits", "superuser", "get", "admin/articles/article/",
     {"category": HUGE_INT}),
    ("topic filter on a word", "superuser", "get", "admin/articles/article/", {"tags": "abc"}),
    ("topic filter past 64 bits", "reporter", "get", "admin/articles/article/",
     {"tags": HUGE_INT}),
    ("byline author filter past 64 bits", "superuser", "get", "admin/articles/article/",
     {"authors": HUGE_INT}),
    ("date hierarchy year past 64 bits", "superuser", "get", "admin/articles/article/",
     {"published_at__year": HUGE_INT}),
    ("new article with a word for its section", "reporter", "get",
     "admin/articles/article/add/", {"category": "abc"}),
    ("new article with a word for its topics", "superuser", "get",
     "admin/articles/article/add/", {"tags": "abc"}),
    ("new article with a section past 64 bits", "superuser", "get",
     "admin/articles/article/add/", {"category": HUGE_INT}),
    ("revisions compared past 64 bits", "superuser", "get",
     "admin/articles/article/<path:object_id>/revisions/compare/", {"a": HUGE_INT, "b": "1"}),
    ("revisions compared with a word", "reporter", "get",
     "admin/articles/article/<path:object_id>/revisions/compare/", {"a": "abc", "b": "1"}),
]  # fmt: skip
# Change-form fields, posted on top of the form as it is (the save must be refused).
MALFORMED_FIELDS = [
    ("category", "abc"), ("category", HUGE_INT), ("category", "\x00"),
    ("tags", "abc"), ("tags", HUGE_INT), ("tags", "\x00"),
    ("bylines-0-author", "abc"), ("bylines-0-author", HUGE_INT),
    ("loaded_version", HUGE_INT), ("from_revision", "abc"), ("headline", "Bad\x00headline"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "who", "method", "route", "data"), MALFORMED,
                         ids=[row[0] for row in MALFORMED])  # fmt: skip
def test_malformed_desk_value_is_refused(what, who, method, route, data, world):
    """A tampered id, filter or selection gets a 4xx, the form again or Django's "?e=1" list
    (never a 500), and changes nothing."""
    before = snapshot()
    url = concrete(route, world["values"])
    response = getattr(world["clients"][who], method)(url, data)
    assert response.status_code < 500, getattr(response, "exc_info", None)
    if response.status_code >= 400:
        assert _readable(response)
    if response.status_code == 302 and method == "get":
        assert response["Location"].endswith("?e=1")  # Django's "invalid lookup" list
    assert snapshot() == before


@pytest.mark.parametrize(("field", "value"), MALFORMED_FIELDS)
def test_malformed_change_form_field_is_refused(field, value, world):
    """The article's change form posted with one tampered field is shown again with the
    error (or refused with a 4xx) and saves nothing."""
    story = world["story"]
    url = concrete("admin/articles/article/<path:object_id>/change/", world["values"])
    data = change_form_data(story, **{field: value})
    before = snapshot()
    response = world["clients"]["superuser"].post(url, data)
    assert response.status_code < 500, getattr(response, "exc_info", None)
    assert response.status_code != 302
    assert response.status_code >= 400 or "errornote" in response.content.decode()
    assert snapshot() == before


FAKE_UPLOADS = {
    "text named .jpg": ("photo.jpg", b"not a picture at all", "image/jpeg"),
    "PNG header only": ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"),
    "empty file": ("photo.jpg", b"", "image/jpeg"),
}


@pytest.mark.parametrize("label", FAKE_UPLOADS)
def test_fake_image_is_refused_and_saves_nothing(label, world):
    """A file that only claims to be a picture, as a lead image, an author's photo or wire
    copy, is refused with the form shown again and nothing saved."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    name, content, content_type = FAKE_UPLOADS[label]
    chief, values, story = world["clients"]["superuser"], world["values"], world["story"]
    author = story.authors.first()
    posts = [
        (concrete("admin/articles/article/<path:object_id>/change/", values),
         change_form_data(story, lead_image_alt="A photo")),
        (concrete("admin/articles/author/<path:object_id>/change/", values),
         {"name": author.name, "slug": author.slug, "photo_alt": "Portrait"}),
        (concrete("admin/articles/article/import/", values), {"status": "draft"}),
    ]  # fmt: skip
    before = snapshot()
    for url, data in posts:
        field = "files" if url.endswith("/import/") else "photo" if "/author/" in url else None
        field = field or "lead_image"
        upload = SimpleUploadedFile(name.replace(".jpg", ".txt") if field == "files" else name,
                                    content, content_type=content_type)  # fmt: skip
        response = chief.post(url, {**data, field: upload})
        assert response.status_code < 500, (url, getattr(response, "exc_info", None))
        assert response.status_code != 302, url
    assert snapshot() == before
