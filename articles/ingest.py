"""ninjs and NewsML-G2 news items, read into the wire importer's own record (`WireArticle`).

`parse_document(text)` tells the format by content: a JSON object is ninjs (1.x as Superdesk
emits it, with `guid`, `headline`, `body_html`, `byline`; 2.x with lower-case keys; 3.x with
camelCase keys), XML is a NewsML-G2 `newsItem`, anything else is plain-text wire copy. Each
parser is pure and raises `IngestError` naming where the problem is: `LINE:COL` for JSON or XML
that does not parse, a JSON pointer (`/headlines`) or an XPath-like path
(`/newsItem/contentMeta/headline`) for a document that parses but lacks what we need. Bodies
are HTML and stay HTML (`Article.BodyFormat.HTML`): the one sanitiser renders them on save.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .images import validate_image
from .importers import (
    AUTHOR_SEPARATOR,
    HEADLINE_MAX,
    NAME_MAX,
    WireArticle,
    WireCopyError,
    WireCorrection,
    WirePicture,
    parse_wire_copy,
    split_names,
)
from .models import ANCHOR_TIME, Correction
from .rendering import html_to_text, plain_text_to_html, sanitize

URI_MAX = 500
DATELINE_MAX = 100
BY_PREFIX = re.compile(r"^\s*by\s+", re.IGNORECASE)
G2_NS = "http://iptc.org/std/nar/2006-10-01/"
SLUG_MAX = 100  # the shortest of the slug fields (sections, topics)
OUR_URN = re.compile(r"^urn:newsdesk:.+:(?P<kind>section|topic|author):(?P<slug>[-a-zA-Z0-9_]+)$")
SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,200}$")
CORRECTION_ROLE = "https://schema.org/correction"
ANCHOR = re.compile(r"#correction-(?P<time>\d{8}T\d{12}Z)$")
KINDS = {label.casefold(): value for value, label in Correction.Kind.choices}


class IngestError(ValueError):
    """A document we cannot import. `where` is `:LINE:COL` (does not parse) or a path into the
    document (`/headlines`); `str(error)` with the file name in front is the message shown."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message

    def for_file(self, name: str) -> str:
        if self.where.startswith("/"):
            return f"{name}: {self.where}: {self.message}"
        return f"{name}{self.where}: {self.message}"


XML_START = re.compile(r"<\?xml\b|<(?:[\w.-]+:)?news(?:Item|Message)\b")


def detect_format(text: str) -> str:
    """'ninjs', 'newsml' or 'wire', by content. Wire copy is anything the wire parser reads (a
    wire headline may well begin with `{` or `<`); otherwise a JSON object is ninjs, and an XML
    declaration or a `newsItem` element is NewsML-G2."""
    start = text.lstrip("\ufeff \t\r\n")
    if start[:1] in ("{", "[") or XML_START.match(start):
        try:
            parse_wire_copy(text)
        except WireCopyError:
            return "ninjs" if start[:1] in ("{", "[") else "newsml"
    return "wire"


def parse_document(text: str) -> WireArticle:
    """Any accepted format into a `WireArticle`; raises WireCopyError or IngestError."""
    kind = detect_format(text)
    if kind == "ninjs":
        return parse_ninjs(text)
    if kind == "newsml":
        return parse_newsml(text)
    return parse_wire_copy(text)


# --- shared checks -----------------------------------------------------------------------


def _datetime(value, where: str) -> dt.datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise IngestError(where, f"expected a date-time like 2024-05-01T09:30:00Z, found {value!r}")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed


def _version(value, where: str) -> int | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 9:
        raise IngestError(where, f"expected a version number, found {value!r}")
    return int(text)


def _headline(value: str, where: str) -> str:
    headline = " ".join(value.split())
    if not headline:
        raise IngestError(where, "required")
    if "\x00" in headline:
        raise IngestError(where, "contains a NUL character")
    if len(headline) > HEADLINE_MAX:
        raise IngestError(where, f"longer than {HEADLINE_MAX} characters")
    return headline


def _names(values: list[str], where: str) -> list[str]:
    names = split_names(",".join(v.replace(",", " ") for v in values), re.compile(r"\s*,\s*"))
    for name in names:
        if len(name) > NAME_MAX:
            raise IngestError(
                where, f"the name {name[:30]!r}… is longer than {NAME_MAX} characters"
            )
    return names


def _byline(by: str, where: str) -> list[str]:
    names = split_names(BY_PREFIX.sub("", by), AUTHOR_SEPARATOR)
    return _names(names, where)


def _record(
    *,
    uri: str,
    uri_where: str,
    headline: str,
    body_html: str,
    body_where: str,
    published_at: dt.datetime,
    embargo: dt.datetime | None,
    **fields,
) -> WireArticle:
    if len(uri) > URI_MAX:
        raise IngestError(uri_where, f"longer than {URI_MAX} characters")
    if "\x00" in body_html:
        raise IngestError(body_where, "contains a NUL character")
    text = html_to_text(sanitize(body_html))
    if not text:
        raise IngestError(body_where, "the article has no body text")
    if embargo is not None:
        # Embargoed copy carries its embargo (the desk shows "EMBARGOED until …"); copy still
        # under it is scheduled for the embargo's end, as publishing before it is refused. An
        # embargo already over changes nothing but the record.
        fields["embargo_until"] = embargo
        if embargo > published_at and embargo > timezone.now():
            published_at = embargo
    fields["dateline"] = " ".join(fields.get("dateline", "").split())[:DATELINE_MAX]
    return WireArticle(
        headline=headline,
        published_at=published_at,
        paragraphs=[text],
        body_html=body_html,
        uri=uri,
        **fields,
    )


# --- ninjs ---------------------------------------------------------------------------------


def _get(doc: dict, name: str):
    """A ninjs property by its 3.x name, or by the lower-case name 1.x and 2.x use."""
    if name in doc:
        return name, doc[name]
    lower = name.lower()
    return lower, doc.get(lower)


def _string(doc: dict, name: str, *, required=False) -> str:
    key, value = _get(doc, name)
    if value is None:
        if required:
            raise IngestError(f"/{key}", "required")
        return ""
    if not isinstance(value, str):
        raise IngestError(f"/{key}", f"expected a string, found {type(value).__name__}")
    return value


def _objects(doc: dict, name: str) -> tuple[str, list[tuple[str, dict]]]:
    key, value = _get(doc, name)
    if value is None:
        return key, []
    if not isinstance(value, list):
        raise IngestError(f"/{key}", f"expected an array, found {type(value).__name__}")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise IngestError(f"/{key}/{i}", f"expected an object, found {type(item).__name__}")
        items.append((f"/{key}/{i}", item))
    return key, items


def _value_by_role(doc: dict, name: str, roles: tuple[str, ...]) -> tuple[str, str]:
    """The `value` of the entry of a 2.x/3.x `headlines`/`descriptions`/`bodies` array whose
    role comes first in `roles` (an entry without a role counts as the first role)."""
    key, items = _objects(doc, name)
    best, best_rank = None, len(roles) + 1
    for where, item in items:
        role = item.get("role") or roles[0]
        rank = roles.index(role) if role in roles else len(roles)
        if rank < best_rank:
            best, best_rank = (where, item), rank
    if best is None:
        return f"/{key}", ""
    where, item = best
    value = item.get("value")
    if not isinstance(value, str):
        raise IngestError(f"{where}/value", "required (a string)")
    return f"{where}/value", value


def parse_ninjs(text: str) -> WireArticle:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(f":{exc.lineno}:{exc.colno}", f"not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise IngestError("/", f"expected a ninjs object, found a JSON {type(doc).__name__}")
    modern = any(k in doc for k in ("headlines", "bodies", "descriptions", "subjects"))
    legacy = not modern and any(k in doc for k in ("guid", "headline", "body_html", "body_text"))

    uri = _string(doc, "uri") or (_string(doc, "guid") if legacy else "")
    if not uri.strip():
        raise IngestError("/guid" if legacy and "uri" not in doc else "/uri", "required")
    uri = uri.strip()
    kind = _string(doc, "type")
    if kind and kind != "text":
        raise IngestError("/type", f"only text items can be imported, found {kind!r}")

    if legacy:
        headline_where, headline = "/headline", _string(doc, "headline")
        body_where, body_html = "/body_html", _string(doc, "body_html")
        if not body_html and _string(doc, "body_text"):
            body_where, body_html = "/body_text", plain_text_to_html(_string(doc, "body_text"))
        standfirst = _string(doc, "description_text")
        by_where, by = "/byline", _string(doc, "byline")
        subject_key = "subject"
    else:
        headline_where, headline = _value_by_role(doc, "headlines", ("main", "default", ""))
        body_where, body_html = _value_by_role(doc, "bodies", ("main", "default", ""))
        _, standfirst = _value_by_role(doc, "descriptions", ("summary", "default", "main", ""))
        by_where, by = "/by", _string(doc, "by")
        subject_key = "subjects"
    if not headline.strip():
        raise IngestError(headline_where, "required")
    headline = _headline(headline, headline_where)
    if not body_html.strip():
        raise IngestError(body_where, "required")

    extra = _round_trip_fields(doc) if not legacy else {}
    authored = [
        item
        for _, item in _objects(doc, "people")[1]
        if str(item.get("rel") or item.get("role") or "").lower() == "author" and item.get("name")
    ]
    if authored and not legacy:
        # Each author by name (a name may hold a comma or "and"), matched by our URN's slug.
        authors = _names([str(item["name"]) for item in authored], "/people")
    else:
        authors = _byline(by, by_where) if by.strip() else []
    if not authors:
        people = [
            (where, item)
            for key in ("infoSources", "people")
            for where, item in _objects(doc, key)[1]
            if "author" in str(item.get("role") or item.get("rel") or "").lower()
        ]
        authors = _names([str(item.get("name") or "") for _, item in people], "/infoSources")
    subject_key, subjects = _objects(doc, subject_key)
    named = [item for _, item in subjects if item.get("name")]
    rels = [str(item.get("rel") or "") for item in named]
    if not legacy and "section" in rels:
        named = [named[rels.index("section")]] + [
            item for item, rel in zip(named, rels, strict=True) if rel != "section"
        ]
    elif not legacy and "topic" in rels:
        extra["sectionless"] = True  # only topics: no section
    categories = _names([str(item["name"]) for item in named], f"/{subject_key}")
    slugs = {}
    for item in [*named, *authored]:
        match = OUR_URN.match(str(item.get("uri") or ""))
        if match and len(match["slug"]) <= SLUG_MAX:
            name = " ".join(str(item["name"]).replace(",", " ").split())
            slugs[(match["kind"], name.casefold())] = match["slug"]

    first_key, first = _get(doc, "firstCreated")
    version_key, version_created = _get(doc, "versionCreated")
    if first is not None:
        published_at = _datetime(first, f"/{first_key}")
    elif version_created is not None:
        published_at = _datetime(version_created, f"/{version_key}")
    else:
        raise IngestError(f"/{first_key}", "required (or versionCreated)")
    embargo_key, embargo = _get(doc, "embargoedUntil")
    if embargo is None:
        embargo_key, embargo = _get(doc, "embargoed")
    status_key, pub_status = _get(doc, "pubStatus")
    if pub_status not in (None, "usable", "withheld", "canceled"):
        raise IngestError(
            f"/{status_key}", f"expected usable, withheld or canceled: {pub_status!r}"
        )
    return _record(
        uri=uri,
        uri_where="/uri",
        headline=headline,
        body_html=body_html,
        body_where=body_where,
        published_at=published_at,
        embargo=_datetime(embargo, f"/{embargo_key}") if embargo else None,
        version=_version(_get(doc, "version")[1], "/version"),
        categories=categories,
        authors=authors,
        standfirst=" ".join(html_to_text(sanitize(standfirst)).split()),
        dateline=_string(doc, "located"),
        source=(_source(doc) or _string(doc, "copyrightHolder"))[:200],
        pub_status=pub_status or "usable",
        slugs=slugs,
        **extra,
    )


def _source(doc: dict) -> str:
    """The name of the `infoSources` entry with the role `source` (ours name the origin)."""
    for _, item in _objects(doc, "infoSources")[1]:
        if item.get("role") == "source" and isinstance(item.get("name"), str):
            return " ".join(item["name"].split())
    return ""


def _round_trip_fields(doc: dict) -> dict:
    """What a 2.x/3.x document of ours carries beyond the basics: the SEO title and
    description, slug and old slugs, corrections, the lead picture, contentCreated."""
    fields = {}
    _, seo_title = _value_by_role_only(doc, "headlines", "seo")
    _, seo_description = _value_by_role_only(doc, "descriptions", "seo")
    fields["seo_title"] = " ".join(seo_title.split())[:70]
    fields["seo_description"] = " ".join(seo_description.split())[:160]
    key, alt_ids = _objects(doc, "altIds")
    old = []
    for where, item in alt_ids:
        value = item.get("value")
        if item.get("role") in ("slug", "oldSlug") and not (
            isinstance(value, str) and SLUG.match(value)
        ):
            raise IngestError(f"{where}/value", f"not a slug: {value!r}")
        if item.get("role") == "slug":
            fields["slug"] = value.lower()
        elif item.get("role") == "oldSlug":
            old.append(value.lower())
    fields["old_slugs"] = old
    key, indicators = _objects(doc, "trustIndicators")
    corrections = []
    for where, item in indicators:
        if item.get("role") != CORRECTION_ROLE:
            continue
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            raise IngestError(f"{where}/title", "required: the correction's text")
        label, sep, text = title.partition(":")
        kind = KINDS.get(label.strip().casefold()) if sep else None
        text = text.strip() if kind else title.strip()
        anchor = ANCHOR.search(str(item.get("href") or ""))
        when = None
        if anchor:
            when = dt.datetime.strptime(anchor["time"], ANCHOR_TIME).replace(tzinfo=dt.UTC)
        corrections.append(
            WireCorrection(kind=kind or Correction.Kind.CORRECTION, text=text, created_at=when)
        )
    fields["corrections"] = corrections
    fields["picture"] = _lead_picture(doc)
    created_key, created = _get(doc, "contentCreated")
    if created is not None:
        fields["content_created"] = _datetime(created, f"/{created_key}")
    return fields


def _value_by_role_only(doc: dict, name: str, role: str) -> tuple[str, str]:
    key, items = _objects(doc, name)
    for where, item in items:
        if item.get("role") == role:
            value = item.get("value")
            if not isinstance(value, str):
                raise IngestError(f"{where}/value", "required (a string)")
            return f"{where}/value", value
    return f"/{key}", ""


def _lead_picture(doc: dict) -> WirePicture | None:
    """The first picture association: its original rendition (else its widest), and its texts."""
    key, associations = _objects(doc, "associations")
    for where, item in associations:
        if item.get("type") != "picture":
            continue
        renditions = item.get("renditions") or []
        if not isinstance(renditions, list) or not all(isinstance(r, dict) for r in renditions):
            raise IngestError(f"{where}/renditions", "expected an array of objects")
        candidates = [
            (i, r) for i, r in enumerate(renditions) if isinstance(r.get("href"), str) and r["href"]
        ]
        if not candidates:
            return None
        i, best = next(
            ((i, r) for i, r in candidates if r.get("name") == "original"),
            max(candidates, key=lambda pair: pair[1].get("width") or 0),
        )
        texts = {}
        for d in item.get("descriptions") or []:
            if isinstance(d, dict) and isinstance(d.get("value"), str):
                texts.setdefault(d.get("role"), d["value"])
        return WirePicture(
            href=best["href"],
            where=f"{where}/renditions/{i}/href",
            caption=texts.get("caption", "")[:500],
            alt=texts.get("alternative", "")[:250],
            credit=str(item.get("by") or "")[:200],
        )
    return None


# --- NewsML-G2 -----------------------------------------------------------------------------


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element, name: str):
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element, name: str) -> list:
    return [child for child in element if _local(child.tag) == name]


def _text(element) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _required(parent, name: str, path: str):
    element = _child(parent, name) if parent is not None else None
    if element is None:
        raise IngestError(f"{path}/{name}", "missing")
    return element


def _xhtml(element) -> str:
    """The children of `element` as HTML without XML namespaces."""
    for node in element.iter():
        if isinstance(node.tag, str):
            node.tag = _local(node.tag)
            node.attrib = {_local(k): v for k, v in node.attrib.items()}
    parts = [element.text or ""]
    parts += [ET.tostring(child, encoding="unicode", method="html") for child in element]
    return "".join(parts)


def parse_newsml(text: str) -> WireArticle:
    declaration = re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE)
    if declaration:
        # No DTDs: nothing to expand (entity bombs) and nothing to fetch (external entities).
        line = text.count("\n", 0, declaration.start()) + 1
        raise IngestError(f":{line}:1", "a DOCTYPE or entity declaration is not accepted")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD or entities get this far
    except ET.ParseError as exc:
        line, col = exc.position
        reason = re.sub(r": line \d+, column \d+$", "", str(exc.msg))
        raise IngestError(f":{line}:{col + 1}", f"not well-formed XML ({reason})") from None
    if _local(root.tag) != "newsItem":
        raise IngestError("/", f"expected a NewsML-G2 newsItem, found <{_local(root.tag)}>")
    path = "/newsItem"
    uri = (root.get("guid") or "").strip()
    if not uri:
        raise IngestError(f"{path}/@guid", "missing")
    item_meta = _required(root, "itemMeta", path)
    content_meta = _required(root, "contentMeta", path)
    item_class = _child(item_meta, "itemClass")
    if item_class is not None and item_class.get("qcode", "ninat:text") != "ninat:text":
        raise IngestError(
            f"{path}/itemMeta/itemClass",
            f"only text items can be imported: {item_class.get('qcode')}",
        )
    headline_path = f"{path}/contentMeta/headline"
    headline_element = _required(content_meta, "headline", f"{path}/contentMeta")
    headline = _headline(_text(headline_element), headline_path)

    content_set = _required(root, "contentSet", path)
    inline = _required(content_set, "inlineXML", f"{path}/contentSet")
    body_path = f"{path}/contentSet/inlineXML"
    body = next((node for node in inline.iter() if _local(node.tag) == "body"), inline)
    body_html = _xhtml(body)

    when = _child(item_meta, "firstCreated")
    when_path = f"{path}/itemMeta/firstCreated"
    if when is None:
        when = _child(content_meta, "contentCreated")
        when_path = f"{path}/contentMeta/contentCreated"
    if when is None:
        when = _required(item_meta, "versionCreated", f"{path}/itemMeta")
        when_path = f"{path}/itemMeta/versionCreated"
    published_at = _datetime(_text(when), when_path)
    embargo = _child(item_meta, "embargoed")

    by = _child(content_meta, "by")
    if by is not None and _text(by):
        authors = _byline(_text(by), f"{path}/contentMeta/by")
    else:
        creators = [_text(_child(c, "name")) for c in _children(content_meta, "creator")]
        authors = _names([c for c in creators if c], f"{path}/contentMeta/creator")
    subjects = [_text(_child(s, "name")) for s in _children(content_meta, "subject")]
    categories = _names([s for s in subjects if s], f"{path}/contentMeta/subject")
    descriptions = _children(content_meta, "description")
    summary = next(
        (d for d in descriptions if d.get("role") in (None, "drol:summary")),
        descriptions[0] if descriptions else None,
    )
    located = _child(content_meta, "located")
    dateline = _text(_child(content_meta, "dateline")) or (
        _text(_child(located, "name")) if located is not None else ""
    )
    status = _child(item_meta, "pubStatus")
    pub_status = status.get("qcode", "stat:usable") if status is not None else "stat:usable"
    pub_status = pub_status.split(":", 1)[-1]
    if pub_status not in ("usable", "withheld", "canceled"):
        raise IngestError(f"{path}/itemMeta/pubStatus", f"unknown status {pub_status!r}")
    provider = _child(item_meta, "provider")
    return _record(
        uri=uri,
        uri_where=f"{path}/@guid",
        headline=headline,
        body_html=body_html,
        body_where=body_path,
        published_at=published_at,
        embargo=(
            _datetime(_text(embargo), f"{path}/itemMeta/embargoed") if embargo is not None else None
        ),
        version=_version(root.get("version"), f"{path}/@version"),
        categories=categories,
        authors=authors,
        standfirst=_text(summary),
        dateline=dateline,
        source=(_text(_child(provider, "name")) or "") if provider is not None else "",
        pub_status=pub_status,
    )


# --- pictures ------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl}", headers, fp)


def picture_host_allowed(href: str) -> bool:
    """Pictures are fetched only from the hosts in NEWSDESK_INGEST_IMAGE_HOSTS (`host` or
    `host:port`): a document must not make the server fetch an address of its choosing."""
    parts = urlsplit(href)
    allowed = {h.lower() for h in settings.NEWSDESK_INGEST_IMAGE_HOSTS}
    return parts.scheme in ("http", "https") and bool(
        parts.hostname and ({parts.hostname.lower(), parts.netloc.lower()} & allowed)
    )


def fetch_picture(picture: WirePicture) -> bytes:
    """The picture's bytes, checked as an upload is (`validate_image`); IngestError naming the
    rendition's href when it cannot be fetched or is not an image we accept. No redirects are
    followed (they could lead off the allowed hosts)."""
    opener = urllib.request.build_opener(_NoRedirects)
    limit = settings.IMAGE_MAX_BYTES
    try:
        with opener.open(picture.href, timeout=settings.NEWSDESK_INGEST_IMAGE_TIMEOUT) as answer:
            data = answer.read(limit + 1)
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
        raise IngestError(picture.where, f"could not fetch the picture ({reason})") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise IngestError(picture.where, f"could not fetch the picture ({reason})") from None
    try:
        validate_image(io.BytesIO(data))
    except ValidationError as exc:
        raise IngestError(picture.where, " ".join(exc.messages)) from None
    return data
