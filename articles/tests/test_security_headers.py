"""Content-Security-Policy and the other security headers: on every kind of page, on cached
hits, switchable to report-only, and no page relying on inline script or style."""

import io
import json
import secrets
from html.parser import HTMLParser

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.test import RequestFactory
from django.urls import reverse

from articles import cache as page_cache
from articles.models import Notification
from articles.workflow import Action

from .factories import image_upload, make_article, make_author, make_category, make_editor
from .test_settings import run_manage
from .test_workflow import change_url, form_data, login, ready_draft

pytestmark = pytest.mark.django_db

CSP = "Content-Security-Policy"
CSP_REPORT_ONLY = "Content-Security-Policy-Report-Only"


def directives(header):
    """`"a x y; b z"` as `{"a": ["x", "y"], "b": ["z"]}`."""
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_strict(header):
    policy = directives(header)
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["img-src"] == ["'self'"]
    for kind in ("script-src", "style-src"):
        assert policy[kind] == ["'self'"], kind
    # No nonce: a public page is cached and served to everyone, and the desk needs none.
    assert "nonce-" not in header and "unsafe" not in header


def assert_security_headers(headers):
    assert_strict(headers[CSP])
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


class InlineCode(HTMLParser):
    """Collects what a strict policy blocks: inline <script> (JSON-LD excepted: a data block,
    never run), <style> elements, style="" and on…="" attributes, javascript: links."""

    def __init__(self):
        super().__init__()
        self.found = []
        self.json_ld = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src"):
            if attrs.get("type") == "application/ld+json":
                self.json_ld += 1
            else:
                self.found.append(f"inline <script {attrs}>")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs.items():
            if name == "style" or name.startswith("on"):
                self.found.append(f'<{tag} {name}="{value}">')
            if name in ("href", "src", "action") and (value or "").lower().startswith(
                "javascript:"
            ):
                self.found.append(f'<{tag} {name}="{value}">')


def inline_code(html):
    parser = InlineCode()
    parser.feed(html)
    return parser


@pytest.fixture
def newsroom(client, reporter, editor, django_capture_on_commit_callbacks):
    """A desk with everything on it: a story sent back (note on the dashboard and the form), an
    unread notice, a lead image in the change list, a published story with JSON-LD."""
    article = ready_draft(reporter)
    with django_capture_on_commit_callbacks(execute=True):
        login(client, reporter).post(change_url(article), form_data(article, action=Action.SUBMIT))
        article.refresh_from_db()
        data = form_data(article, action=Action.SEND_BACK, workflow_note="A second source.")
        login(client, editor).post(change_url(article), data)
    article.refresh_from_db()
    assert Notification.objects.filter(recipient=reporter, read_at=None).exists()
    live = make_article(
        "Harbour reopens", category=make_category("Local"), authors=[make_author("Cal Reporter")]
    )
    live.lead_image = image_upload()
    live.lead_image_alt = "The harbour"
    live.save()
    return {"draft": article, "live": live}


def test_public_pages_send_the_strict_policy_and_run_no_inline_code(reader, newsroom):
    """Front page, article (with its JSON-LD), section, list and search: strict headers, and
    nothing in the HTML a strict policy would block."""
    live = newsroom["live"]
    pages = ["/", live.get_absolute_url(), live.category.get_absolute_url(), "/articles/"]
    pages.append(reverse("articles:search") + "?q=harbour")
    for url in pages:
        response = reader.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response)
        assert inline_code(response.content.decode()).found == [], url
    assert inline_code(reader.get(live.get_absolute_url()).content.decode()).json_ld >= 1


def test_desk_pages_send_the_strict_policy_and_run_no_inline_code(client, reporter, newsroom):
    """The login page, the dashboard (notices, sent back), the change list (thumbnails), the
    change form (sent-back note, checklist, autosave), revisions, trash and the add form."""
    client.logout()
    login_page = client.get(reverse("admin:login"))
    assert_security_headers(login_page)
    assert inline_code(login_page.content.decode()).found == []
    draft, live = newsroom["draft"], newsroom["live"]
    urls = {
        reporter: [
            reverse("admin:index"),
            change_url(draft),
            reverse("admin:articles_article_changelist"),
            reverse("admin:articles_article_add"),
        ],
        make_editor("eve"): [
            reverse("admin:articles_article_changelist"),
            change_url(live),
            reverse("admin:articles_article_revisions", args=[live.pk]),
            reverse("admin:articles_article_trash"),
            reverse("admin:articles_author_changelist"),
            reverse("admin:articles_article_share", args=[live.pk]),
        ],
    }
    for user, pages in urls.items():
        login(client, user)
        for url in pages:
            response = client.get(url)
            assert response.status_code == 200, url
            assert_security_headers(response)
            html = response.content.decode()
            assert inline_code(html).found == [], url
    dashboard = login(client, reporter).get(reverse("admin:index")).content.decode()
    assert 'class="sent-back-badge"' in dashboard and 'class="unread"' in dashboard
    assert 'id="sent-back"' in client.get(change_url(draft)).content.decode()
    changelist = client.get(reverse("admin:articles_article_changelist"))
    assert '<img class="desk-thumb"' in changelist.content.decode()


def test_error_pages_send_the_policy_and_need_no_inline_style(client, settings):
    """The 404 and the 500 page (rendered without a database) carry the policy and link their
    stylesheet instead of an inline one."""
    settings.ROOT_URLCONF = "articles.tests.urls_broken"
    settings.DEBUG = False
    client.raise_request_exception = False
    for url, status in [("/broken/", 500), ("/no-such-page/", 404)]:
        response = client.get(url)
        assert response.status_code == status
        assert_strict(response[CSP])
        html = response.content.decode()
        assert inline_code(html).found == [], url
    assert "articles/error.css" in client.get("/broken/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_cached_pages_carry_the_headers_through_the_front_door(settings):
    """A page-cache hit answered by the WSGI front door, before any middleware runs, carries
    the same Content-Security-Policy and security headers as the miss that stored it."""
    settings.CACHE_SECONDS = 300
    article = make_article("Harbour reopens", category=make_category("Local"))
    application = page_cache.FrontDoor(WSGIHandler())

    def get(path):
        environ = RequestFactory().get(path).environ
        environ["wsgi.input"] = io.BytesIO()
        answer = {}

        def start_response(status, headers, exc_info=None):
            answer.update(status=status, headers=dict(headers))

        b"".join(application(environ, start_response))
        return answer["status"], answer["headers"]

    started = []

    def count(**kwargs):
        started.append(1)

    request_started.connect(count)
    try:
        for url in ["/", article.get_absolute_url()]:
            status, miss = get(url)
            assert status == "200 OK" and miss["X-Cache"] == "miss"
            status, hit = get(url)
            assert status == "200 OK" and hit["X-Cache"] == "hit"
            assert_security_headers(hit)
            assert hit[CSP] == miss[CSP]
        assert len(started) == 2  # the hits never reached Django
    finally:
        request_started.disconnect(count)


HEADERS_SCRIPT = (
    "import json; from django.test import Client; "
    "r = Client().get('/admin/login/', secure=True, HTTP_X_FORWARDED_PROTO='https'); "
    "print(json.dumps(dict(r.headers)))"
)


def served_headers(tmp_path, **env):
    """The headers a fresh process configured by `env` sends with the admin login page."""
    result = run_manage(
        "shell", "-c", HEADERS_SCRIPT, DJANGO_DEBUG="1", DJANGO_DATA_DIR=str(tmp_path), **env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("report_only", "report_uri"),
    [("", ""), ("0", ""), ("1", ""), ("1", "/csp-reports/"), ("", "https://r.example.org/csp")],
)
def test_report_only_mode_is_switched_by_the_environment(tmp_path, report_only, report_uri):
    """NEWSDESK_CSP_REPORT_ONLY=1 sends the same policy as Report-Only (and no enforced one);
    NEWSDESK_CSP_REPORT_URI adds where browsers send their reports."""
    headers = served_headers(
        tmp_path, NEWSDESK_CSP_REPORT_ONLY=report_only, NEWSDESK_CSP_REPORT_URI=report_uri
    )
    sent, absent = (CSP_REPORT_ONLY, CSP) if report_only == "1" else (CSP, CSP_REPORT_ONLY)
    assert absent not in headers
    policy = directives(headers[sent])
    assert policy.pop("report-uri", None) == ([report_uri] if report_uri else None)
    assert_strict("; ".join(f"{k} {' '.join(v)}" for k, v in policy.items()))


def test_hsts_only_when_https_is_on(tmp_path):
    """Strict-Transport-Security is sent with DJANGO_HTTPS=1 and never without."""
    assert "Strict-Transport-Security" not in served_headers(tmp_path, DJANGO_HTTPS="0")
    secure = served_headers(tmp_path, DJANGO_HTTPS="1")
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert secure["Cross-Origin-Opener-Policy"] == "same-origin"


def test_check_deploy_is_clean_in_production(tmp_path):
    """`check --deploy` has nothing to say (not even a warning) about production settings."""
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        DJANGO_HTTPS="1",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50)[:50],
        DJANGO_ALLOWED_HOSTS="example.org",
        DJANGO_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_other_image_hosts_are_allowed_for_images_only(tmp_path):
    """NEWSDESK_CSP_IMG_SRC lets body images come from another host; it never admits scripts."""
    headers = served_headers(
        tmp_path, NEWSDESK_CSP_IMG_SRC="https://images.example.org, https://cdn.example.net"
    )
    policy = directives(headers[CSP])
    assert policy["img-src"] == ["'self'", "https://images.example.org", "https://cdn.example.net"]
    assert policy["script-src"] == policy["style-src"] == policy["default-src"] == ["'self'"]


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("/static/", None),
        ("static/", None),
        ("https://cdn.example.org/static/", "https://cdn.example.org"),
        ("//cdn.example.org/media/", "cdn.example.org"),
    ],
)
def test_only_an_absolute_static_or_media_url_adds_a_host(url, origin):
    """A static or media URL on another host puts that host in the policy; a path adds none."""
    from newsdesk.settings import _origin

    assert _origin(url) == origin
