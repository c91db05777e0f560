"""Every field is plain text or sanitised HTML: script payloads typed into any field, through the
ORM, the desk's forms or a wire import, reach no page, feed, sitemap, JSON-LD block, search
snippet or desk page as something a browser or a feed reader would run."""

import datetime as dt
import html
import itertools
import json
import re
import xml.etree.ElementTree as ET
from collections import deque
from pathlib import Path

import html5lib
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import models
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from articles import services
from articles.models import (
    Article,
    AuditEntry,
    Author,
    Category,
    Correction,
    Notification,
    Revision,
    ShareLink,
    ShareLinkOpen,
    StateChange,
    Tag,
)
from articles.rendering import FIELD_KINDS, HTML, TEXT, field_html, field_text, plain_text
from articles.workflow import Action

from .factories import (
    change_form_data,
    image_bytes,
    make_article,
    make_author,
    make_category,
    make_editor,
    make_reporter,
    make_tag,
)

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).parent / "data" / "xss_payloads.txt"


def load_payloads() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [
        line.replace("\\t", "\t").replace("\\n", "\n")
        for line in lines
        if line.strip() and not line.startswith("# ")
    ]


PAYLOADS = load_payloads()

# --- the detector ---------------------------------------------------------------------------

_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "background", "code"}
_ANIMATED = {"to", "from", "values", "by"}
_DATA_TYPES = {"application/ld+json", "application/json", "text/template"}
_SAFE_DATA = re.compile(r"data:image/(png|jpe?g|gif|webp)[;,]")
_STRIP_FROM_URL = re.compile(r"[\x00-\x20\x7f]+")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def dangerous_url(value: str) -> bool:
    """A URL a browser would run as script or open as a document of its own, as a browser reads
    it (whitespace and control characters inside the scheme are ignored)."""
    url = _STRIP_FROM_URL.sub("", value or "").lower()
    if url.startswith(("javascript:", "vbscript:", "livescript:")):
        return True
    return url.startswith("data:") and not _SAFE_DATA.match(url)


def html_dangers(markup: str, *, fragment: bool = False) -> list[str]:
    """What in `markup`, parsed as a browser parses it, would run script: executable <script>
    elements, on* attributes, javascript:/vbscript:/data:text/html URLs, <iframe srcdoc>,
    <meta http-equiv=refresh>; JSON-LD that does not parse (it broke out of its element) or
    whose strings hold markup, and meta tags whose content holds markup."""
    parse = html5lib.parseFragment if fragment else html5lib.parse
    root = parse(markup, treebuilder="etree", namespaceHTMLElements=False)
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str):  # comments
            continue
        tag = _local(element.tag)
        attrs = {_local(k): v for k, v in element.attrib.items()}
        where = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in attrs.items())}>"[:200]
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"event handler {name} on {where}")
            elif name in _URL_ATTRIBUTES and dangerous_url(value):
                found.append(f"script URL in {where}")
            elif name in _ANIMATED and "javascript:" in _STRIP_FROM_URL.sub("", value).lower():
                found.append(f"script URL animated into {where}")
            elif name == "style" and re.search(r"expression\(|javascript:", value, re.I):
                found.append(f"script in style of {where}")
        if tag == "iframe" and "srcdoc" in attrs:
            found.append(f"iframe srcdoc: {where}")
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh":
            found.append(f"meta refresh: {where}")
        if tag == "meta" and attrs.get("content"):
            found += [f"in {where}: {d}" for d in html_dangers(attrs["content"], fragment=True)]
        if tag == "script":
            kind = attrs.get("type", "").lower()
            text = "".join(element.itertext())
            if kind == "application/ld+json":
                found += json_ld_dangers(text)
            elif kind not in _DATA_TYPES and (text.strip() or not _own_script(attrs.get("src"))):
                found.append(f"executable script: {where} {text[:120]!r}")
    return found


def _own_script(src) -> bool:
    """A script file from this site (the admin's own: /static/…, /admin/jsi18n/)."""
    return bool(src) and src.startswith("/") and not src.startswith("//")


def json_ld_dangers(text: str) -> list[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return [f"JSON-LD that does not parse (broke out of its element?): {text[:200]!r}"]
    found = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            if key in {"url", "@id", "item", "image", "logo", "target"} and dangerous_url(value):
                found.append(f"JSON-LD {key} is a script URL: {value!r}")
            found.extend(f"JSON-LD {key}: {d}" for d in html_dangers(value, fragment=True))
            if "<" in value and html5lib.parseFragment(value, namespaceHTMLElements=False).find(
                ".//*"
            ):
                found.append(f"JSON-LD {key} holds markup: {value[:120]!r}")

    walk(data)
    return found


def xml_dangers(document: bytes) -> list[str]:
    """A feed or sitemap read as a feed reader reads it: the XML parsed, then every text and
    attribute value parsed as HTML (readers render titles and descriptions as HTML); links and
    locations must not be script URLs."""
    root = ET.fromstring(document)
    found = []
    for element in root.iter():
        tag = _local(element.tag)
        text = element.text or ""
        if tag in {"link", "loc", "guid", "id", "uri", "url"} and dangerous_url(text.strip()):
            found.append(f"script URL in <{tag}>: {text[:120]!r}")
        for name, value in element.attrib.items():
            if _local(name) in {"href", "src", "url"} and dangerous_url(value):
                found.append(f"script URL in <{tag} {_local(name)}>: {value[:120]!r}")
        if text.strip():
            found.extend(f"in <{tag}>: {d}" for d in html_dangers(text, fragment=True))
    return found


def response_dangers(response) -> list[str]:
    content_type = response.get("Content-Type", "")
    if "xml" in content_type:
        return xml_dangers(response.content)
    return html_dangers(response.content.decode())


# --- the detector, tested -------------------------------------------------------------------


@pytest.mark.parametrize(
    "markup",
    [
        "<p>x</p><script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
        '<a href=" JaVaScRiPt:alert(1)">x</a>',
        '<svg><a xlink:href="javascript:alert(1)">x</a></svg>',
        '<iframe srcdoc="<b>x</b>"></iframe>',
        '<meta http-equiv="refresh" content="0;url=https://evil.example">',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
        '<script type="application/ld+json">{"a": "</script><script>alert(1)</script>',
        '<script type="application/ld+json">{"name": "<img src=x onerror=alert(1)>"}</script>',
        '<meta name="description" content="<img src=x onerror=alert(1)>">',
        '<script src="https://evil.example/x.js"></script>',
    ],
)
def test_detector_catches_planted_payloads(markup):
    """Positive controls: each planted payload is reported."""
    assert html_dangers(f"<!doctype html><title>t</title>{markup}")


def test_detector_reads_feeds_as_a_reader_does():
    """An escaped script in an RSS description is a script once the reader decodes it."""
    rss = b"<rss><channel><item><description>&lt;script&gt;alert(1)&lt;/script&gt;</description>"
    assert xml_dangers(rss + b"</item></channel></rss>")
    double = b"<rss><channel><description>&amp;lt;script&amp;gt;</description></channel></rss>"
    assert not xml_dangers(double)
    assert xml_dangers(b"<feed><link href='javascript:alert(1)'/></feed>")


def test_detector_passes_escaped_text_and_our_own_scripts():
    """Negative controls: escaped text, static scripts and plain JSON-LD are not reported."""
    page = (
        "<!doctype html><title>&lt;script&gt;</title><p>&lt;img src=x onerror=alert(1)&gt;</p>"
        '<script src="/static/admin/js/core.js"></script>'
        '<script type="application/ld+json">{"headline": "1 \\u003C 2"}</script>'
        '<a href="https://news.example/">ok</a><img src="data:image/png;base64,AAAA" alt="">'
    )
    assert html_dangers(page) == []


def test_corpus_has_about_a_hundred_distinct_payloads():
    assert len(PAYLOADS) >= 100 and len(set(PAYLOADS)) == len(PAYLOADS)
    for payload in PAYLOADS:  # each one is caught when planted raw (the corpus is live)
        if payload.startswith(("javascript:", "JaVaScRiPt:", "data:", "[", "!", "%", "\\u")):
            continue
        assert html_dangers(payload, fragment=True) or "&" in payload or payload[0] in "\"'-]<", (
            payload
        )


# --- which fields are what ------------------------------------------------------------------


def test_every_text_field_is_declared_text_or_html():
    """A model that gains a field of words must say, in rendering.FIELD_KINDS, what it holds."""
    internal = {"slug", "body_html", "body_format", "status", "kind", "wire_key", "wire_checksum"}
    internal |= {"from_state", "to_state", "action"}  # choices, written by the code
    desk = (StateChange, Revision, ShareLink, ShareLinkOpen, Notification, AuditEntry)
    for model in (Article, Author, Category, Tag, Correction, *desk):
        declared = FIELD_KINDS[model.__name__]
        words = {
            f.name
            for f in model._meta.get_fields()
            if isinstance(f, models.CharField | models.TextField) and f.name not in internal
        }
        assert words == set(declared), model
        assert set(declared.values()) <= {TEXT, HTML}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_plain_text_holds_no_markup_however_it_is_read(payload):
    """As text, as HTML, or entity-decoded once more, `plain_text` output runs nothing."""
    text = plain_text(payload)
    assert html_dangers(text, fragment=True) == []
    assert html_dangers(text.replace("&", "&amp;"), fragment=True) == []
    assert html_dangers(html.unescape(text), fragment=True) == []
    assert not dangerous_url(text) or payload.lower().startswith(("javascript", "data"))


def test_field_html_escapes_text_fields_and_sanitises_markup_fields():
    article = Article(standfirst="<b>x</b> & y", body_html='<p onclick="x()">hi</p>')
    assert field_html(article, "standfirst") == "<p>x &amp; y</p>"
    assert field_html(article, "body") == "<p>hi</p>"
    assert field_text(article, "body") == "hi"
    with pytest.raises(KeyError):
        field_text(article, "wire_key")


# --- every surface --------------------------------------------------------------------------


class Corpus:
    """Hands out the payloads in turn, each to a field long enough to hold it, so every payload
    is used across the fields."""

    def __init__(self):
        self.pending = deque(PAYLOADS)
        self.used = set()

    def take(self, max_length=None) -> str:
        if not self.pending:
            self.pending.extend(PAYLOADS)
        for _ in range(len(self.pending)):
            payload = self.pending.popleft()
            if max_length is None or len(payload) <= max_length:
                self.used.add(payload)
                return payload
            self.pending.append(payload)
        return "<script>alert('short')</script>"[:max_length]

    def fill(self, model, *, skip=(), **fixed) -> dict:
        """A payload for every declared field of `model` not given in `fixed` or `skip`."""
        values = dict(fixed)
        for name in FIELD_KINDS[model.__name__]:
            if name not in values and name not in skip:
                field = model._meta.get_field(name)
                values[name] = self.take(field.max_length)
        return values


@pytest.fixture
def poisoned(settings, django_capture_on_commit_callbacks):
    """A newsroom whose every field holds a payload: sections, topics, authors (one with a
    photo), published stories (Markdown and wire copy, with and without a lead image, with
    corrections and revisions), a draft, a withdrawn story."""
    settings.SITE_URL = "https://news.example"
    corpus = Corpus()
    editor = make_editor("safety-ed")
    sections = [make_category(**corpus.fill(Category)) for _ in range(2)]
    topics = [make_tag(**corpus.fill(Tag)) for _ in range(3)]
    authors = [make_author(**corpus.fill(Author)) for _ in range(3)]
    authors[0].photo.save("face.jpg", ContentFile(image_bytes()), save=True)
    now = timezone.now()
    stories = []
    for i in range(8):
        body = f"zebra {corpus.take()}\n\nzebra {corpus.take()}"
        values = corpus.fill(Article, skip={"withdrawal_reason"}, body=body)
        article = make_article(
            authors=authors[i % 3 : i % 3 + 2],
            tags=topics[i % 3 :],
            category=sections[i % 2],
            body_format="plain" if i % 2 else "markdown",
            published_at=now - dt.timedelta(hours=i + 1),
            status=Article.Status.DRAFT if i == 7 else Article.Status.PUBLISHED,
            **values,
        )
        if i < 2:
            article.lead_image.save(f"lead{i}.jpg", ContentFile(image_bytes()), save=True)
        stories.append(article)
    for article in stories[:4]:
        correction = Correction(article=article, text=corpus.take(), kind="correction")
        services.correction_save(correction, user=editor)
        article.refresh_from_db()
        article.standfirst = corpus.take()
        services.article_save(article, user=editor, substantive=True)
    services.article_withdraw(stories[6], user=editor, reason=corpus.take())
    # The draft: a reporter's, submitted, sent back with a note, shared, opened.
    reporter = make_reporter("safety-rita")
    draft = stories[7]
    Article.objects.filter(pk=draft.pk).update(created_by=reporter)
    draft.refresh_from_db()
    services.article_save(draft, user=reporter, action=Action.SUBMIT)
    draft.refresh_from_db()
    note, agent = corpus.take(), corpus.take(200)
    with django_capture_on_commit_callbacks(execute=True):  # notices are made after COMMIT
        services.article_save(draft, user=editor, action=Action.SEND_BACK, note=note)
    link = services.share_link_create(draft, user=editor, note=corpus.take(200), hours=2)
    share_note = link.note
    assert Client().get(link.get_absolute_url(), HTTP_USER_AGENT=agent).status_code == 200
    assert ShareLinkOpen.objects.filter(link=link).exists()
    assert Notification.objects.filter(recipient=reporter).exists()
    return {
        "editor": editor,
        "reporter": reporter,
        "desk_notes": {"send_back": note, "share": share_note},
        "sections": sections,
        "topics": topics,
        "authors": authors,
        "stories": stories,
        "corpus": corpus,
    }


def public_urls(world) -> list[str]:
    urls = ["/", "/articles/", "/corrections/", "/search/?q=zebra", "/feeds/rss/", "/feeds/atom/"]
    urls += ["/corrections/feed/", "/sitemap.xml", "/news-sitemap.xml"]
    urls += [f"/sitemap-{s}.xml" for s in ("articles", "categories", "authors", "tags")]
    readable = (Article.State.PUBLISHED, Article.State.WITHDRAWN)  # withdrawn: 410 and reason
    urls += [a.get_absolute_url() for a in world["stories"] if a.state in readable]
    for obj in world["sections"] + world["authors"]:
        urls += [obj.get_absolute_url(), obj.get_absolute_url() + "feed/"]
    urls += [t.get_absolute_url() for t in world["topics"]]
    urls += ["/search/?q=" + p for p in PAYLOADS[:3]]
    return urls


def desk_urls(world) -> list[str]:
    urls = ["/admin/", "/admin/articles/article/", "/admin/articles/article/?q=zebra"]
    urls += ["/admin/articles/auditentry/", "/admin/articles/article/trash/"]
    for model in ("author", "category", "tag"):
        urls.append(f"/admin/articles/{model}/")
    urls += [f"/admin/articles/author/{a.pk}/change/" for a in world["authors"]]
    urls += [f"/admin/articles/category/{c.pk}/change/" for c in world["sections"]]
    urls += [f"/admin/articles/tag/{t.pk}/change/" for t in world["topics"]]
    for article in world["stories"]:
        base = f"/admin/articles/article/{article.pk}/"
        urls += [base + "change/", base + "revisions/", f"/preview/{article.pk}/"]
        if ShareLink.objects.filter(article=article).exists():
            urls.append(base + "share/")  # its notes and the browsers that opened it
    for article in world["stories"]:
        numbers = sorted(article.revisions.values_list("number", flat=True))
        if len(numbers) > 1:
            base = f"/admin/articles/article/{article.pk}/"
            urls.append(base + f"revisions/compare/?a={numbers[0]}&b={numbers[-1]}")
    return urls


def walk(client, urls) -> dict[str, list[str]]:
    found = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 410), (url, response.status_code)
        dangers = response_dangers(response)
        if dangers:
            found[url] = dangers
    return found


def test_payloads_in_every_field_reach_no_surface_as_script(client, poisoned):
    """Every public page, feed, sitemap, JSON-LD block, search snippet, preview and desk page,
    with every corpus payload in some field."""
    assert poisoned["corpus"].used == set(PAYLOADS)
    snippets = client.get("/search/?q=zebra").content.decode()
    assert snippets.count("<mark>zebra</mark>") >= 6  # the search found the stories
    assert walk(client, public_urls(poisoned)) == {}
    client.force_login(poisoned["editor"])
    desk = desk_urls(poisoned)
    assert sum("/revisions/compare/" in url for url in desk) >= 4
    assert walk(client, desk) == {}
    draft = poisoned["stories"][7]
    shared = client.get(f"/admin/articles/article/{draft.pk}/share/").content.decode()
    assert escape(poisoned["desk_notes"]["share"]) in shared  # shown, as text
    client.force_login(poisoned["reporter"])  # her dashboard: the sent-back note, notices
    dashboard = client.get("/admin/").content.decode()
    assert escape(poisoned["desk_notes"]["send_back"]).replace("\n", "<br>")[:20] in dashboard
    assert walk(client, ["/admin/", f"/admin/articles/article/{draft.pk}/change/"]) == {}


def test_payloads_typed_into_the_desk_forms_reach_no_surface_as_script(client, poisoned):
    """An author added, a section changed and a story edited (with a new correction) through
    the admin's own forms, then every surface walked."""
    editor, corpus = poisoned["editor"], Corpus()
    client.force_login(editor)
    added = corpus.fill(Author, slug="typed-author", user="")
    response = client.post("/admin/articles/author/add/", added)
    assert response.status_code == 302, response.context["adminform"].form.errors
    author = Author.objects.get(slug="typed-author")
    assert author.bio == added["bio"]
    section = poisoned["sections"][0]
    typed = corpus.fill(Category, slug=section.slug, order=0)
    response = client.post(f"/admin/articles/category/{section.pk}/change/", typed)
    assert response.status_code == 302, response.context["adminform"].form.errors
    article = poisoned["stories"][4]  # published, no correction yet
    headline, correction = corpus.take(255), corpus.take()
    when = timezone.localtime()
    data = change_form_data(
        article,
        headline=headline,
        dateline=corpus.take(100),
        lead_image_caption=corpus.take(500),
        **{
            "corrections-TOTAL_FORMS": "1",
            "corrections-0-kind": "correction",
            "corrections-0-text": correction,
            "corrections-0-article": article.pk,
            "corrections-0-created_at_0": when.strftime("%Y-%m-%d"),
            "corrections-0-created_at_1": when.strftime("%H:%M:%S"),
            "_save": "Save",
        },
    )
    response = client.post(f"/admin/articles/article/{article.pk}/change/", data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [f.errors for f in response.context["inline_admin_formsets"][1].formset],
        response.context.get("messages") and list(response.context["messages"]),
    )
    article.refresh_from_db()
    assert article.headline == headline.strip()
    assert article.corrections.filter(text=correction.strip()).exists()
    touched = {"stories": [article], "sections": [section], "authors": [author], "topics": []}
    assert walk(client, desk_urls(touched)) == {}
    client.logout()
    assert walk(client, public_urls(touched)) == {}


def test_payloads_in_wire_copy_reach_no_surface_as_script(client, poisoned, tmp_path):
    """A wire file whose headline, sections, bylines and paragraphs are payloads, imported with
    `manage.py import_articles`, then every surface walked."""
    corpus = Corpus()
    for skip in itertools.islice(PAYLOADS, 50):  # other payloads than the forms' test
        corpus.pending.remove(skip)
        corpus.pending.append(skip)
    one_line = [p for p in corpus.pending if "\n" not in p and "," not in p and " and " not in p]
    headline, section, topic, author = one_line[:4]
    paragraphs = "\n\n".join(p.replace("\n", " ") for p in list(corpus.pending)[4:20])
    stamp = (timezone.localtime() - dt.timedelta(minutes=30)).strftime("%B %d, %Y - %H:%M")
    wire = tmp_path / "poisoned.txt"
    wire.write_text(
        f"{headline}\n\n{stamp}\nPosted in: {section}, {topic}\nWritten By: {author}\n\n"
        f"{paragraphs}\n",
        encoding="utf-8",
    )
    call_command("import_articles", str(wire))
    imported = Article.objects.get(headline=" ".join(headline.split()))
    assert imported.category.name == " ".join(section.split())
    touched = {
        "stories": [imported],
        "sections": [imported.category],
        "authors": imported.byline_authors,
        "topics": list(imported.tags.all()),
    }
    assert touched["authors"] and touched["topics"]
    assert walk(client, public_urls(touched)) == {}
    client.force_login(poisoned["editor"])
    assert walk(client, desk_urls(touched)) == {}
