"""An article as an IPTC ninjs document (https://iptc.org/standards/ninjs/): the one serializer
the read API (and anything else that speaks ninjs) uses. 3.x by default, `version=2` gives 2.x.

Choices the standard leaves to us:

- `uri` is `urn:newsdesk:<SITE_URL host>:article:<pk>`: stable across slug changes and page
  moves (the page address is in `altIds` with the role `url`). A story that came from elsewhere
  (ninjs or NewsML-G2 ingest) keeps the uri it came with (`Article.ingest_uri`), so a copy of a
  copy is still the same story to everyone downstream.
- Sections, topics and authors are `urn:newsdesk:<host>:<kind>:<slug>`: the importer finds (or
  makes) them by that slug, so they survive an export and an import into another database.
- `version` is `Article.version` (bumped by every save of the article) plus the number of
  correction changes in the audit trail (adding, editing or deleting one is a published change
  that does not touch the article's row). Both only grow, so a newer copy always has a higher
  version. A caller may pass `correction_changes` as an annotation to spare the count query.
  The importer sets `Article.version` so that an imported story keeps its source's version.
- `copyrightHolder` is the site; `infoSources` names the story's source when it is someone
  else (`Article.source`).
- Each correction is a `trustIndicators` entry: `title` "<kind>: <text>", `href` the correction
  on the article's page, whose anchor is its time (`Correction.anchor`), not a database id, so
  an imported copy links to its corrections at the same address.
- `firstCreated` is the first publication (the creation time before that), `contentCreated`
  when the desk created the story, `versionCreated` the last change of the article or of its
  corrections.
- `pubStatus`: `usable` when readers see the article, `canceled` when it was withdrawn (its
  reason in `edNote`), `withheld` for anything else (only API keys with read-drafts see those).
- 2.x is the same document with the property names of 2.x (all lower case) and `embargoed`.
"""

import html
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse

from .images import MIME_TYPES, rendition_url, renditions_of
from .models import Article, AuditEntry, count_words
from .seo import absolute

TAGS = re.compile(r"<[^>]*>")
CORRECTIONS_POLICY = "https://schema.org/correctionsPolicy"
CORRECTION = "https://schema.org/correction"
FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}


def site_host() -> str:
    return urlsplit(settings.SITE_URL).netloc or "localhost"


def urn(kind: str, pk) -> str:
    """The stable URI of one of our objects: `urn:newsdesk:<host>:<kind>:<pk>`."""
    return f"urn:newsdesk:{site_host()}:{kind}:{pk}"


def taxonomy_urn(obj) -> str:
    """The URI of a section, topic or author: by slug (see the module's docstring)."""
    kind = {"Category": "section", "Tag": "topic", "Author": "author"}[type(obj).__name__]
    return urn(kind, obj.slug)


def article_uri(article: Article) -> str:
    """The stable URI of a story: the one it came with, else ours."""
    return article.ingest_uri or urn("article", article.pk)


def language() -> str:
    """LANGUAGE_CODE as a BCP 47 tag (en-us → en-US)."""
    lang, _, region = settings.LANGUAGE_CODE.partition("-")
    return f"{lang}-{region.upper()}" if region else lang


def stamp(value) -> str | None:
    return value.isoformat() if value is not None else None


def published_version(article: Article) -> int:
    """`version` as described above."""
    changes = getattr(article, "correction_changes", None)
    if changes is None:
        changes = AuditEntry.objects.filter(
            article_id=article.pk, action=AuditEntry.Action.CORRECTION
        ).count()
    return article.version + changes


def _text(body_html: str) -> str:
    return html.unescape(TAGS.sub("", body_html)).strip()


def _text_length(body_html: str) -> int:
    """`charCount` and `wordCount` count the body the document carries (the HTML readers see),
    not the desk's source (Markdown link addresses are no words of the story)."""
    return len(_text(body_html))


def _picture(article: Article, uri: str) -> dict | None:
    image = article.lead_image
    if not image:
        return None
    renditions = [
        {
            "name": f"{item['width']}w-{item['format']}",
            "href": absolute(rendition_url(image, item)),
            "contentType": FORMATS.get(item["format"], "application/octet-stream"),
            "width": item["width"],
            "height": item["height"],
        }
        for item in sorted(renditions_of(image), key=lambda r: (r["width"], r["format"]))
    ]
    original = {"name": "original", "href": absolute(image.url)}
    extension = image.name.rsplit(".", 1)[-1].lower()
    content_type = MIME_TYPES.get({"jpg": "JPEG"}.get(extension, extension.upper()))
    if content_type:
        original["contentType"] = content_type
    if article.lead_image_width and article.lead_image_height:
        original.update(width=article.lead_image_width, height=article.lead_image_height)
    picture = {
        "name": "picture",
        "uri": f"{uri}:lead-image",
        "type": "picture",
        "renditions": [original, *renditions],
    }
    descriptions = []
    if article.lead_image_caption:
        descriptions.append({"role": "caption", "value": article.lead_image_caption})
    if article.lead_image_alt:
        descriptions.append({"role": "alternative", "value": article.lead_image_alt})
    if descriptions:
        picture["descriptions"] = descriptions
    if article.lead_image_credit:
        picture["by"] = article.lead_image_credit
    return picture


def to_ninjs(article: Article, *, version: int = 3) -> dict:
    """`article` as a ninjs 3.x document (2.x with `version=2`). Reads the section, byline,
    topics, corrections and old slugs through `article`: prefetch them for lists."""
    state = article.state
    authors = article.byline_authors
    corrections = list(article.corrections.all())
    changed = [article.updated_at, *(c.created_at for c in corrections)]
    uri = article_uri(article)
    doc = {
        "uri": uri,
        "type": "text",
        "representationType": "full",
        "version": str(published_version(article)),
        "firstCreated": stamp(article.first_published_at or article.created_at),
        "versionCreated": stamp(max(t for t in changed if t is not None)),
        "contentCreated": stamp(article.created_at),
        "embargoedUntil": stamp(getattr(article, "embargo_until", None)),
        "pubStatus": (
            "usable"
            if state == Article.State.PUBLISHED
            else "canceled"
            if state == Article.State.WITHDRAWN
            else "withheld"
        ),
        "edNote": article.withdrawal_reason if state == Article.State.WITHDRAWN else None,
        "copyrightHolder": settings.SITE_NAME,
        "language": language(),
        "headlines": [{"role": "main", "contentType": "text/plain", "value": article.headline}],
        "descriptions": [],
        "bodies": [
            {
                "role": "main",
                "contentType": "text/html",
                "charCount": _text_length(article.body_html),
                "wordCount": count_words(_text(article.body_html)),
                "value": article.body_html,
            }
        ],
        "by": ", ".join(a.name for a in authors) or None,
        "people": [{"name": a.name, "rel": "author", "uri": taxonomy_urn(a)} for a in authors],
        "subjects": [],
        "located": article.dateline or None,
        "altIds": [{"role": "slug", "value": article.slug}],
        "trustIndicators": [
            {"role": CORRECTIONS_POLICY, "href": absolute(reverse("articles:corrections"))},
            *(
                {
                    "role": CORRECTION,
                    "title": f"{c.get_kind_display()}: {c.text}",
                    "href": absolute(c.get_absolute_url()),
                }
                for c in corrections
            ),
        ],
    }
    if article.seo_title:
        doc["headlines"].append(
            {"role": "seo", "contentType": "text/plain", "value": article.seo_title}
        )
    if article.standfirst:
        doc["descriptions"].append(
            {"role": "summary", "contentType": "text/plain", "value": article.standfirst}
        )
    if article.seo_description:
        doc["descriptions"].append(
            {"role": "seo", "contentType": "text/plain", "value": article.seo_description}
        )
    if article.category is not None:
        doc["subjects"].append(
            {
                "name": article.category.name,
                "rel": "section",
                "uri": taxonomy_urn(article.category),
            }
        )
    doc["subjects"] += [
        {"name": t.name, "rel": "topic", "uri": taxonomy_urn(t)} for t in article.tags.all()
    ]
    if article.source and article.source != doc["copyrightHolder"]:
        doc["infoSources"] = [{"name": article.source, "role": "source"}]
    if state == Article.State.PUBLISHED:
        doc["altIds"].append({"role": "url", "value": absolute(article.get_absolute_url())})
    doc["altIds"] += [{"role": "oldSlug", "value": s.old_slug} for s in article.old_slugs.all()]
    picture = _picture(article, uri)
    if picture is not None:
        doc["associations"] = [picture]
    doc = {k: v for k, v in doc.items() if v not in (None, [])}
    return doc if version == 3 else to_version_2(doc)


V2_NAMES = {"embargoedUntil": "embargoed"}


def to_version_2(node):
    """A ninjs 3.x document as 2.x: the same properties under the 2.x names (lower case)."""
    if isinstance(node, list):
        return [to_version_2(item) for item in node]
    if isinstance(node, dict):
        return {V2_NAMES.get(k, k).lower(): to_version_2(v) for k, v in node.items()}
    return node
