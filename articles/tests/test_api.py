"""The read API (`/api/v1/`) and its ninjs documents."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
from django.utils import timezone

from articles import services
from articles.models import ApiKey, ApiKeyUse, Article, Category
from articles.ninjs import to_ninjs, urn

from .factories import (
    image_upload,
    make_article,
    make_author,
    make_category,
    make_correction,
    make_editor,
    make_live_article,
    make_reporter,
    make_tag,
    make_user,
)

SCHEMAS = Path(__file__).parent / "data" / "ninjs"


def _validator(version):
    schema = json.loads(
        (SCHEMAS / f"ninjs-schema_{'3.1' if version == 3 else '2.2'}.json").read_text()
    )
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


VALIDATORS = {3: _validator(3), 2: _validator(2)}


def validate(document, version=3):
    """Fail with every error when `document` is not valid ninjs of `version`."""
    errors = sorted(VALIDATORS[version].iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def get_json(client, url, status=200, **headers):
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.content[:300]
    if status >= 400:
        assert response["Content-Type"] == PROBLEM
        body = response.json()
        assert body["status"] == status and body["title"] and body["detail"]
        assert body["type"] == "about:blank"
    return response


def full_story():
    """A story with everything ninjs carries: byline, section, topics, SEO texts, dateline,
    source, lead image, a correction and an old slug."""
    editor = make_editor()
    story = make_live_article(
        headline="Grid fails in the north",
        tags=[make_tag("Energy"), make_tag("Weather")],
        seo_title="Northern grid failure",
        seo_description="Power out for 40,000 homes.",
        dateline="TROMSØ",
        source="Wire service",
        lead_image=image_upload(size=(1600, 900)),
        lead_image_caption="Linesmen at work",
        lead_image_alt="Two linesmen on a pylon",
        lead_image_credit="A. Photographer",
        body="The **grid** failed at dawn. Crews worked on.",
    )
    services.correction_add(story, user=editor, kind="correction", text="It was at 5 am.")
    story.refresh_from_db()
    story.slug = "grid-fails"
    story.save()
    return story


# --- the serializer -----------------------------------------------------------------------------


def test_validator_refuses_a_broken_document():
    """The schema copies really validate: a wrong type, an unknown property, a bad status fail."""
    for broken in ({"uri": "urn:x:1", "type": "story"}, {"uri": "urn:x:1", "unknown": 1},
                   {"uri": "urn:x:1", "pubStatus": "gone"}, {"type": "text"}):  # fmt: skip
        with pytest.raises(AssertionError):
            validate(broken)


@pytest.mark.parametrize("version", [3, 2])
def test_full_story_is_valid_ninjs(version):
    """Every property the article fills is valid ninjs of that version."""
    story = full_story()
    document = to_ninjs(story, version=version)
    validate(document, version)
    names = set(document)
    if version == 3:
        assert {"uri", "type", "version", "firstCreated", "versionCreated", "contentCreated",
                "pubStatus", "language", "headlines", "descriptions", "bodies", "by", "people",
                "subjects", "located", "copyrightHolder", "associations", "altIds",
                "trustIndicators", "infoSources"} <= names  # fmt: skip
    else:
        assert {"firstcreated", "pubstatus", "altids", "trustindicators"} <= names


def test_full_story_document_says_what_the_page_says():
    """Headlines, standfirst, body, byline, subjects, dateline, image, slugs and corrections."""
    story = full_story()
    doc = to_ninjs(story)
    assert doc["uri"] == f"urn:newsdesk:127.0.0.1:8000:article:{story.pk}"
    assert doc["type"] == "text" and doc["pubStatus"] == "usable"
    assert [(h["role"], h["value"]) for h in doc["headlines"]] == [
        ("main", "Grid fails in the north"), ("seo", "Northern grid failure")]  # fmt: skip
    assert doc["descriptions"][0]["value"] == story.standfirst
    body = doc["bodies"][0]
    assert body["value"] == story.body_html and "<strong>grid</strong>" in body["value"]
    assert body["wordCount"] == 8 and body["charCount"] == len(
        "The grid failed at dawn. Crews worked on."
    )
    assert doc["by"] == story.byline_authors[0].name
    assert [s["rel"] for s in doc["subjects"]] == ["section", "topic", "topic"]
    assert doc["located"] == "TROMSØ"
    assert {"role": "oldSlug", "value": "grid-fails-in-the-north"} in doc["altIds"]
    assert {"role": "slug", "value": "grid-fails"} in doc["altIds"]
    correction = story.corrections.get()
    assert doc["trustIndicators"][1]["href"].endswith(f"/articles/grid-fails/#{correction.anchor}")
    picture = doc["associations"][0]
    assert picture["name"] == "picture" and picture["type"] == "picture"
    widths = {(r["width"], r["contentType"]) for r in picture["renditions"]}
    assert (1600, "image/jpeg") in widths and any(c == "image/webp" for _, c in widths)
    assert all(r["href"].startswith("http") and r["height"] for r in picture["renditions"])


def test_a_correction_and_an_edit_bump_the_version():
    """`version` grows with every published change, corrections included."""
    story = make_live_article()
    editor = make_editor()
    first = int(to_ninjs(story)["version"])
    services.correction_add(story, user=editor, kind="update", text="Added a quote.")
    second = int(to_ninjs(Article.objects.get(pk=story.pk))["version"])
    story.refresh_from_db()
    services.article_save(story, expected_version=story.version, user=editor, action="save")
    third = int(to_ninjs(Article.objects.get(pk=story.pk))["version"])
    assert first < second < third


def test_withdrawn_story_is_canceled_with_its_reason():
    story = make_live_article()
    services.article_withdraw(story, user=make_editor(perms=["articles.withdraw_article"]),
                              reason="Legal advice")  # fmt: skip
    doc = to_ninjs(Article.objects.get(pk=story.pk))
    validate(doc)
    assert doc["pubStatus"] == "canceled" and doc["edNote"] == "Legal advice"


# --- the API against the pages ------------------------------------------------------------------


def _in_state(state):
    now = timezone.now()
    day = dt.timedelta(days=1)
    if state == "draft":
        return make_article(status=Article.Status.DRAFT)
    if state == "review":
        return make_article(status=Article.Status.REVIEW)
    if state == "scheduled":
        return make_article(published_at=now + day)
    if state == "expired":
        return make_article(published_at=now - 2 * day, unpublish_at=now - day)
    if state == "embargoed":
        return make_article(published_at=now - day, embargo_until=now + day)
    story = make_live_article()
    if state == "withdrawn":
        editor = make_editor(perms=["articles.withdraw_article"])
        services.article_withdraw(story, user=editor, reason="Could not be verified")
    if state == "trashed":
        services.article_trash(story, user=make_editor())
    return Article._base_manager.get(pk=story.pk)


STATES = {"published": (200, 200, "usable"), "withdrawn": (410, 200, "canceled"),
          "draft": (404, 404, None), "review": (404, 404, None), "scheduled": (404, 404, None),
          "expired": (404, 404, None), "embargoed": (404, 404, None),
          "trashed": (404, 404, None)}  # fmt: skip


@pytest.mark.parametrize("state", STATES)
def test_every_state_as_readers_see_it(state, reader):
    """Anonymous callers get the page's story, 404 where the page is 404, and `canceled` where
    it is 410; the list holds exactly the archive's stories."""
    story = _in_state(state)
    assert story.state == ("scheduled" if state == "embargoed" else state)
    page_status, api_status, pub_status = STATES[state]
    assert reader.get(f"/articles/{story.slug}/").status_code == page_status
    for url in (f"/api/v1/articles/{story.pk}", f"/api/v1/articles/slug/{story.slug}"):
        for fmt, version in (("ninjs", 3), ("ninjs2", 2)):
            response = get_json(reader, f"{url}?format={fmt}", api_status)
            if api_status == 200:
                doc = response.json()
                validate(doc, version)
                assert doc["pubstatus" if version == 2 else "pubStatus"] == pub_status
    archive = reader.get("/articles/").context["articles"]
    listed = get_json(reader, "/api/v1/articles").json()
    for doc in listed:
        validate(doc)
    assert [d["uri"].rsplit(":", 1)[1] for d in listed] == [str(a.pk) for a in archive]


def test_old_slug_answers_the_story(reader):
    story = full_story()
    doc = get_json(reader, "/api/v1/articles/slug/grid-fails-in-the-north").json()
    assert doc["uri"].endswith(f":article:{story.pk}")


# --- lists: filters, errors, cursors ---------------------------------------------------------------


def test_filters_are_the_archives(reader):
    """section, author, topic, featured, dates and updated_since pick what the archive picks."""
    section, author, topic = make_category("World"), make_author("Ann"), make_tag("Energy")
    old = make_article(ago=dt.timedelta(days=10))
    on_all = make_article(
        category=section, authors=[author], tags=[topic], featured=True, ago=dt.timedelta(hours=1)
    )
    Article.objects.filter(pk=old.pk).update(updated_at=timezone.now() - dt.timedelta(days=9))
    since = (timezone.now() - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    for query in ("category=world", "author=ann", "tag=energy", "featured=true",
                  f"updated_since={since}"):  # fmt: skip
        docs = get_json(reader, f"/api/v1/articles?{query}").json()
        assert [d["uri"] for d in docs] == [f"urn:newsdesk:127.0.0.1:8000:article:{on_all.pk}"], (
            query
        )
        page = reader.get(f"/articles/?{query}") if "updated" not in query else None
        if page is not None:
            assert [a.pk for a in page.context["articles"]] == [on_all.pk]
    day = old.published_at.date().isoformat()
    docs = get_json(reader, f"/api/v1/articles?published_before={day}").json()
    assert [d["uri"].rsplit(":", 1)[1] for d in docs] == [str(old.pk)]


@pytest.mark.parametrize(
    ("query", "field"),
    [("category=nowhere", "category"), ("author=nobody", "author"), ("tag=none", "tag"),
     ("published_after=yesterday", "published_after"),
     ("published_after=2026-02-01&published_before=2026-01-01", "published_before"),
     ("updated_since=yesterday", "updated_since"), ("updated_since=2026-01-01T00:00", "updated_since"),
     ("after=not-a-cursor", "after"), ("limit=0", "limit"), ("limit=abc", "limit"),
     ("limit=99999999999999999999", "limit"), ("format=newsml", "format")],
)  # fmt: skip
def test_bad_filter_is_a_400_naming_the_field(query, field, reader):
    make_live_article()
    body = get_json(reader, f"/api/v1/articles?{query}", 400).json()
    assert body["field"] == field and body["detail"].startswith(field)


def test_cursor_walk_visits_every_story_once(reader):
    """Following `Link: rel="next"` walks the list newest first, ties on time included."""
    when = timezone.now() - dt.timedelta(hours=1)
    stories = [make_article(published_at=when) for _ in range(3)]
    stories += [make_article(ago=dt.timedelta(hours=h)) for h in (2, 3, 4)]
    expected = [str(a.pk) for a in Article.objects.published().newest_first()]
    seen, url, pages = [], "/api/v1/articles?limit=2", 0
    while url:
        response = get_json(reader, url)
        seen += [d["uri"].rsplit(":", 1)[1] for d in response.json()]
        link = response.get("Link", "")
        url = link[1 : link.index(">")].replace("http://127.0.0.1:8000", "") if link else ""
        assert not link or link.endswith('rel="next"')
        pages += 1
    assert seen == expected and pages == 3


def test_corrections_list_pages_with_a_cursor(reader):
    story = make_live_article()
    for n in range(3):
        make_correction(story, text=f"Fix {n}")
    make_correction(make_article(status=Article.Status.DRAFT), text="Unseen")
    first = get_json(reader, "/api/v1/corrections?limit=2")
    link = first["Link"]
    second = get_json(reader, link[1 : link.index(">")].replace("http://127.0.0.1:8000", ""))
    texts = [c["text"] for c in first.json() + second.json()]
    assert sorted(texts) == ["Fix 0", "Fix 1", "Fix 2"] and "Link" not in second


def test_list_of_twenty_costs_a_fixed_number_of_queries(reader, django_assert_num_queries):
    """No N+1: bylines, topics, corrections and old slugs come in one query each."""

    def many(n):
        for _ in range(n):
            story = make_live_article(tags=[make_tag()])
            make_correction(story)

    many(2)
    with django_assert_num_queries(5):
        get_json(reader, "/api/v1/articles?limit=20")
    many(20)
    with django_assert_num_queries(5):
        assert len(get_json(reader, "/api/v1/articles?limit=20").json()) == 20


# --- HTTP: caching, errors, docs ----------------------------------------------------------------


def test_etag_answers_304(reader):
    story = make_live_article()
    url = f"/api/v1/articles/{story.pk}"
    etag = get_json(reader, url)["ETag"]
    assert reader.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_cached_like_the_pages_and_purged_by_the_same_invalidation(
    reader, settings, django_capture_on_commit_callbacks
):
    """Surrogate keys name the story; an edit through the desk's service purges the answer."""
    settings.CACHE_SECONDS = 300
    story = make_live_article()
    url = f"/api/v1/articles/{story.pk}"
    first = get_json(reader, url)
    assert f"a:{story.pk}" in first["Surrogate-Key"].split()
    assert first["Cache-Control"].startswith("public") and first["X-Cache"] == "miss"
    assert get_json(reader, url)["X-Cache"] == "hit"
    listed = get_json(reader, "/api/v1/articles")
    assert f"a:{story.pk}" in listed["Surrogate-Key"].split()
    story.headline = "A new headline"
    with django_capture_on_commit_callbacks(execute=True):
        services.article_save(
            story, expected_version=story.version, user=make_editor(), action="save"
        )
    again = get_json(reader, url)
    assert again["X-Cache"] == "miss" and again.json()["headlines"][0]["value"] == "A new headline"
    assert get_json(reader, "/api/v1/articles").json()[0]["headlines"][0]["value"] == (
        "A new headline"
    )


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [("get", "/api/v1/articles/999999", 404), ("get", "/api/v1/nothing/here", 404),
     ("get", "/api/v1/", 404), ("get", "/api/v1/articles/slug/no-such-story", 404),
     ("post", "/api/v1/articles", 405), ("delete", "/api/v1/articles/1", 405),
     ("put", "/api/v1/sections", 405)],
)  # fmt: skip
def test_errors_are_problem_details(method, url, status, reader):
    response = getattr(reader, method)(url)
    assert response.status_code == status
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]


def test_openapi_lists_every_resource(reader):
    paths = get_json(reader, "/api/v1/openapi.json").json()["paths"]
    for name in ("articles", "sections", "authors", "topics", "corrections"):
        assert f"/api/v1/{name}" in paths


def test_docs_page_works_under_the_content_security_policy(reader):
    """The docs load Swagger UI from our own static files (the CSP forbids CDNs and inline
    scripts): every script is external, from /static/, and the files exist."""
    import re

    from django.contrib.staticfiles import finders

    response = reader.get("/api/v1/docs")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp.replace("  ", " ") or "default-src 'self'" in csp
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    for attrs, body in scripts:
        if "application/json" in attrs:
            continue
        assert not body.strip()
        src = re.search(r'src="([^"]+)"', attrs)[1]
        assert src.startswith("/static/ninja/")
        assert finders.find(src.removeprefix("/static/"))
    assert "cdn" not in html.lower()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_docs_page_renders_in_a_browser_without_csp_violations(chromium, live_server):
    """Swagger UI lists the API's operations in a real chromium under the site's policy."""
    from django.db import connections

    from .test_browser_csp import watched

    context, seen = watched(chromium)
    page = context.new_page()
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    context.close()
    connections.close_all()
    assert any("/api/v1/articles" in p for p in paths)
    assert seen == []


# --- API keys -----------------------------------------------------------------------------------


def make_key(scope=ApiKey.Scope.READ_PUBLISHED, **kwargs):
    key = ApiKey(name="partner", scope=scope, **kwargs)
    raw = key.new_secret()
    key.save()
    return key, raw


def bearer(raw):
    return {"Authorization": f"Bearer {raw}"}


# (status, pubStatus) per state for a read-drafts key: everything but the trash.
DRAFT_SCOPE = {"published": (200, "usable"), "withdrawn": (200, "canceled"),
               "draft": (200, "withheld"), "review": (200, "withheld"),
               "scheduled": (200, "withheld"), "expired": (200, "withheld"),
               "embargoed": (200, "withheld"), "trashed": (404, None)}  # fmt: skip


@pytest.mark.parametrize("state", STATES)
def test_every_state_with_each_key_scope(state, reader):
    """A read-published key sees what readers see; a read-drafts key sees all but the trash,
    by id, by slug and in the list (where `state` picks the story's state)."""
    story = _in_state(state)
    make_live_article(headline="Another published story")
    _, published = make_key()
    _, drafts = make_key(ApiKey.Scope.READ_DRAFTS)
    anonymous = [d["uri"] for d in get_json(reader, "/api/v1/articles").json()]
    assert anonymous == [urn("article", a.pk) for a in Article.objects.published().newest_first()]
    assert [d["uri"] for d in get_json(reader, "/api/v1/articles", **bearer(published)).json()] == (
        anonymous
    )
    listed = get_json(reader, "/api/v1/articles", **bearer(drafts)).json()
    for doc in listed:
        validate(doc)
    for doc in get_json(reader, "/api/v1/articles?format=ninjs2", **bearer(drafts)).json():
        validate(doc, 2)
    uris = [d["uri"] for d in listed]
    assert (urn("article", story.pk) in uris) == (DRAFT_SCOPE[state][0] == 200)
    assert set(anonymous) <= set(uris)
    if state != "trashed":
        only = get_json(reader, f"/api/v1/articles?state={story.state}", **bearer(drafts)).json()
        assert [d["uri"] for d in only if d["uri"].endswith(f":{story.pk}")] == [
            urn("article", story.pk)
        ]
        assert {d["pubStatus"] for d in only} == {DRAFT_SCOPE[state][1]}
    expect = {published: (STATES[state][1], STATES[state][2]), drafts: DRAFT_SCOPE[state]}
    for raw, (status, pub_status) in expect.items():
        for url in (f"/api/v1/articles/{story.pk}", f"/api/v1/articles/slug/{story.slug}"):
            response = get_json(reader, url, status, **bearer(raw))
            assert response["Cache-Control"] == "private, no-store"
            if status == 200:
                validate(response.json())
                assert response.json()["pubStatus"] == pub_status
                embargo = response.json().get("embargoedUntil")
                assert embargo == (story.embargo_until.isoformat() if story.embargo_until else None)


@pytest.mark.parametrize("header", ["Bearer nd_000000000000_nope", "Bearer junk", "Basic abc",
                                    "Bearer ", "revoked"])  # fmt: skip
def test_unknown_or_revoked_key_is_401(header, reader):
    story = make_live_article()
    if header == "revoked":
        key, raw = make_key(revoked_at=timezone.now())
        header = f"Bearer {raw}"
    response = get_json(reader, f"/api/v1/articles/{story.pk}", 401, Authorization=header)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_every_use_of_a_key_is_recorded(reader):
    story = make_live_article()
    key, raw = make_key()
    for url in ("/api/v1/articles", f"/api/v1/articles/{story.pk}", "/api/v1/articles/999"):
        reader.get(url, headers=bearer(raw))
    reader.get("/api/v1/articles")  # anonymous: nothing to record
    assert sorted(ApiKeyUse.objects.filter(key=key).values_list("path", flat=True)) == sorted(
        ["/api/v1/articles", f"/api/v1/articles/{story.pk}", "/api/v1/articles/999"]
    )


def test_keyed_answers_never_enter_the_page_cache(reader, settings):
    """A draft fetched with a read-drafts key is not stored for the next anonymous caller, and
    a keyed caller is never answered from what anonymous callers stored."""
    settings.CACHE_SECONDS = 300
    draft = make_article(status=Article.Status.DRAFT)
    _, raw = make_key(ApiKey.Scope.READ_DRAFTS)
    url = f"/api/v1/articles/{draft.pk}"
    get_json(reader, url, 404)  # anonymous first: the 404 answer
    keyed = get_json(reader, url, 200, **bearer(raw))
    assert "X-Cache" not in keyed and keyed["Cache-Control"] == "private, no-store"
    get_json(reader, url, 404)
    assert get_json(reader, "/api/v1/articles")["X-Cache"] == "miss"
    assert get_json(reader, "/api/v1/articles")["X-Cache"] == "hit"
    assert "X-Cache" not in get_json(reader, "/api/v1/articles", **bearer(raw))


def test_key_is_made_in_the_desk_shown_once_and_kept_hashed(client):
    """The add form shows the key on the page after saving and never again; only its hash is
    stored; a revoked key is refused."""
    import re

    client.force_login(make_user("chief", superuser=True))
    response = client.post(
        "/admin/articles/apikey/add/", {"name": "Mobile app", "scope": "read-drafts"}
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    raw = re.search(r"nd_[0-9a-f]{12}_[\w-]+", response.content.decode())[0]
    key = ApiKey.objects.get(name="Mobile app")
    assert key.scope == "read-drafts" and key.created_by.username == "chief"
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in repr(list(ApiKey.objects.values_list()))
    for page in ("/admin/articles/apikey/", f"/admin/articles/apikey/{key.pk}/change/"):
        assert raw not in client.get(page).content.decode()
    story = make_live_article()
    get_json(client, f"/api/v1/articles/{story.pk}", 200, **bearer(raw))
    client.post("/admin/articles/apikey/", {"action": "revoke_selected", "index": "0",
                                            "_selected_action": [key.pk]})  # fmt: skip
    key.refresh_from_db()
    assert key.revoked_at is not None
    get_json(client, f"/api/v1/articles/{story.pk}", 401, **bearer(raw))


def test_making_and_revoking_a_key_in_the_desk_is_in_the_audit_trail(client):
    """Each leaves one audit entry naming who, which key and its scope, shown as a sentence in
    the desk's audit trail; revoking a key already revoked records nothing more."""
    from articles.models import AuditEntry

    chief = make_user("chief", superuser=True)
    chief.first_name, chief.last_name = "Carla", "Chief"
    chief.save()
    client.force_login(chief)
    client.post("/admin/articles/apikey/add/", {"name": "Mobile app", "scope": "read-drafts"})
    key = ApiKey.objects.get(name="Mobile app")
    made = AuditEntry.objects.get(action=AuditEntry.Action.API_KEY_CREATE)
    assert made.user == chief and made.object_repr == "Mobile app"
    assert made.detail == {"key": key.pk, "prefix": key.prefix, "scope": "read-drafts"}
    revoke = {"action": "revoke_selected", "index": "0", "_selected_action": [key.pk]}
    response = client.post("/admin/articles/apikey/", revoke, follow=True)
    assert "Revoked 1 key(s)." in response.content.decode()
    client.post("/admin/articles/apikey/", revoke)
    [revoked] = AuditEntry.objects.filter(action=AuditEntry.Action.API_KEY_REVOKE)
    assert revoked.user == chief and revoked.detail["prefix"] == key.prefix
    trail = client.get("/admin/articles/auditentry/").content.decode()
    assert "Carla Chief made the API key “Mobile app”, scope read-drafts" in trail
    assert "Carla Chief revoked the API key “Mobile app”, scope read-drafts" in trail
    filtered = client.get("/admin/articles/auditentry/?action__exact=api_key_revoke")
    assert "revoked the API key" in filtered.content.decode()
    assert "made the API key" not in filtered.content.decode()


def test_reporters_cannot_manage_keys(client):
    client.force_login(make_reporter("rita"))
    assert client.get("/admin/articles/apikey/").status_code == 403
    assert client.post("/admin/articles/apikey/add/", {"name": "x"}).status_code == 403
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    ("scope", "query", "message"),
    [(ApiKey.Scope.READ_DRAFTS, "state=gone", "state: choose one of draft, review"),
     (ApiKey.Scope.READ_DRAFTS, "state=trashed", "state: choose one of"),
     (ApiKey.Scope.READ_PUBLISHED, "state=draft", "state: only a read-drafts API key"),
     (None, "state=review", "state: only a read-drafts API key")],
)  # fmt: skip
def test_bad_or_forbidden_state_is_a_400_naming_the_field(scope, query, message, reader):
    """Only read-drafts keys pick a state; an unknown state is refused whoever asks."""
    make_article(status=Article.Status.DRAFT)
    headers = bearer(make_key(scope)[1]) if scope else {}
    body = get_json(reader, f"/api/v1/articles?{query}", 400, **headers).json()
    assert body["field"] == "state" and body["detail"].startswith(message)


def test_published_state_is_the_readers_list_for_anyone(reader):
    story, _ = make_live_article(), make_article(status=Article.Status.DRAFT)
    docs = get_json(reader, "/api/v1/articles?state=published").json()
    assert [d["uri"] for d in docs] == [urn("article", story.pk)]


def test_read_drafts_cursor_walk_visits_drafts_without_a_time_once(reader):
    """Drafts have no publication time: a read-drafts key's list sorts them by creation time,
    and following `Link: rel="next"` visits every article in the desk exactly once."""
    stories = [make_article(status=Article.Status.DRAFT) for _ in range(3)]
    stories += [make_live_article() for _ in range(2)]
    stories += [make_article(published_at=timezone.now() + dt.timedelta(days=1))]
    _, raw = make_key(ApiKey.Scope.READ_DRAFTS)
    seen, url = [], "/api/v1/articles?limit=2"
    while url:
        response = get_json(reader, url, **bearer(raw))
        seen += [d["uri"] for d in response.json()]
        link = response.get("Link", "")
        url = link[1 : link.index(">")].replace("http://127.0.0.1:8000", "") if link else ""
    assert sorted(seen) == sorted(urn("article", s.pk) for s in stories)
    assert len(seen) == len(set(seen))


# --- sections, authors, topics: paged ---------------------------------------------------------


def _walk(reader, url):
    seen, pages = [], 0
    while url:
        response = get_json(reader, url)
        seen += [item["slug"] for item in response.json()]
        link = response.get("Link", "")
        assert not link or link.endswith('rel="next"')
        url = link[1 : link.index(">")].replace("http://127.0.0.1:8000", "") if link else ""
        pages += 1
    return seen, pages


def test_taxonomy_lists_page_by_name_with_a_cursor(reader):
    """Sections, authors and topics come by name, `limit` at a time, with `Link: rel="next"`
    until the last page; authors and topics only with a published story."""
    names = ["Delta", "Alpha", "Charlie", "Bravo", "Echo"]
    sections = [make_category(n) for n in names]
    authors = [make_author(n) for n in names]
    topics = [make_tag(n) for n in names]
    for section, author, topic in zip(sections, authors, topics, strict=True):
        make_live_article(category=section, authors=[author], tags=[topic])
    make_author("Unpublished")
    make_tag("Unused")
    for resource, objects in (("sections", sections), ("authors", authors), ("topics", topics)):
        seen, pages = _walk(reader, f"/api/v1/{resource}?limit=2")
        expected = [o.slug for o in sorted(objects, key=lambda o: (o.name, o.pk))]
        if resource == "sections":  # every section, the builders' own ones too
            expected = list(Category.objects.order_by("name", "pk").values_list("slug", flat=True))
        assert seen == expected, resource
        assert pages == -(-len(expected) // 2)
    [doc] = get_json(reader, "/api/v1/topics?limit=1").json()
    assert doc["uri"] == urn("topic", doc["slug"])


@pytest.mark.parametrize("resource", ["sections", "authors", "topics"])
@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"),
     ("after=not-a-cursor", "after")],
)  # fmt: skip
def test_bad_taxonomy_paging_is_a_400_naming_the_field(resource, query, field, reader):
    make_live_article(tags=[make_tag()])
    body = get_json(reader, f"/api/v1/{resource}?{query}", 400).json()
    assert body["field"] == field and body["detail"].startswith(field)


@pytest.mark.parametrize("resource", ["sections", "authors", "topics"])
def test_taxonomy_page_costs_one_query(resource, reader, django_assert_num_queries):
    """A page of sections, authors or topics is one query, however many there are."""
    for _ in range(3):
        make_live_article(tags=[make_tag()])
    with django_assert_num_queries(1):
        get_json(reader, f"/api/v1/{resource}?limit=2")
    for _ in range(30):
        make_live_article(tags=[make_tag()])
    with django_assert_num_queries(1):
        assert len(get_json(reader, f"/api/v1/{resource}?limit=20").json()) == 20


def test_keyed_list_of_drafts_costs_a_fixed_number_of_queries(reader, django_assert_num_queries):
    """A read-drafts key's list: the key and its use recorded, then the list's own five."""
    _, raw = make_key(ApiKey.Scope.READ_DRAFTS)

    def many(n):
        for _ in range(n):
            story = make_article(status=Article.Status.DRAFT, tags=[make_tag()])
            make_correction(story)

    many(2)
    with django_assert_num_queries(7):
        get_json(reader, "/api/v1/articles?limit=20", **bearer(raw))
    many(20)
    with django_assert_num_queries(7):
        assert len(get_json(reader, "/api/v1/articles?limit=20", **bearer(raw)).json()) == 20
