"""Wire copy: parse the agency's plain-text format and turn it into articles.

The same path takes ninjs and NewsML-G2 news items: `articles.ingest` tells the format by
content and reads each into a `WireArticle` (with its `uri` and `version`: an older version of a
story never overwrites a newer one, it is counted as skipped).

`parse_wire_copy(text)` is pure and raises `WireCopyError(line, message)` for anything it cannot
read; `import_wire_copy(parsed, status=..., user=...)` writes one article through
`services.article_save`, so an import obeys the same ownership and workflow rules as the change
form (a reporter's import creates drafts and updates her own drafts, never a story she may not
edit; nobody's import rewrites a withdrawn or trashed story). `import_file_bytes` reads one file
into an `ImportResult`: the command (through `import_paths`) and the desk's upload page call it.

Imports run side by side (several commands, the desk's upload page): a new section, author or
topic two of them introduce at once is created once (`_get_or_create_named`), a story both store
is stored once (the loser of the race reads the winner's row and tries again), and anything else
that goes wrong with one file is that file's failure, never the folder's.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from . import services, workflow
from .models import Article, AuditEntry, Author, Category, SlugRedirect, Tag

MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
DATE_LINE = re.compile(
    r"^(?P<month>[A-Za-z]+)\s+(?P<day>\d{1,2}),\s*(?P<year>\d{4})\s*-\s*(?P<hour>\d{1,2}):(?P<minute>\d{2})$"
)
POSTED_IN = re.compile(r"^posted\s+in\s*:(?P<value>.*)$", re.IGNORECASE)
WRITTEN_BY = re.compile(r"^written\s+by\s*:(?P<value>.*)$", re.IGNORECASE)
AUTHOR_SEPARATOR = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+", re.IGNORECASE)
SAFE_MEDIA_NAME = re.compile(r"^[\w][\w./-]{0,99}$")
HEADLINE_MAX = 255
NAME_MAX = 100

logger = logging.getLogger(__name__)


class WireCopyError(ValueError):
    """A wire file that does not follow the format; `line` is 1-based."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class WireArticle:
    headline: str
    published_at: dt.datetime
    categories: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    # Filled by the ninjs and NewsML-G2 readers (articles.ingest); plain wire copy has none.
    body_html: str = ""
    standfirst: str = ""
    dateline: str = ""
    source: str = ""
    uri: str = ""
    version: int | None = None
    pub_status: str = "usable"
    embargo_until: dt.datetime | None = None
    # What a ninjs document of ours carries besides (so an export imports back as it was).
    seo_title: str = ""
    seo_description: str = ""
    slug: str = ""
    old_slugs: list[str] = field(default_factory=list)
    # (kind, name casefolded) -> slug, for "author", "section" and "topic" URNs of ours.
    slugs: dict = field(default_factory=dict)
    sectionless: bool = False  # the subjects say which is the section: there is none
    corrections: list[WireCorrection] = field(default_factory=list)
    picture: WirePicture | None = None
    content_created: dt.datetime | None = None

    @property
    def category(self) -> str | None:
        return self.categories[0] if self.categories and not self.sectionless else None

    @property
    def tags(self) -> list[str]:
        return self.categories if self.sectionless else self.categories[1:]

    def slug_of(self, kind: str, name: str) -> str:
        return self.slugs.get((kind, name.casefold()), "")

    @property
    def body(self) -> str:
        return self.body_html or "\n\n".join(self.paragraphs)

    @property
    def body_format(self) -> str:
        return Article.BodyFormat.HTML if self.body_html else Article.BodyFormat.PLAIN

    @property
    def key(self) -> str:
        """What identifies this story across re-sends: its uri (ninjs, NewsML-G2 guid), else
        headline and filing time."""
        if self.uri:
            raw = f"uri|{self.uri}"
        else:
            raw = f"{_fold(self.headline)}|{self.published_at.astimezone(dt.UTC).isoformat()}"
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def checksum(self) -> str:
        """Changes whenever anything in the copy changes."""
        raw = json.dumps(
            [
                self.headline,
                self.published_at.isoformat(),
                self.categories,
                self.authors,
                self.paragraphs,
            ]
            # Plain wire copy keeps the checksum it always had (stored ones stay "unchanged").
            + (
                [self.body_html, self.standfirst, self.dateline, self.source, self.version]
                + ([self.embargo_until.isoformat()] if self.embargo_until else [])
                + ([self._extras()] if self._extras() else [])
                if self.uri
                else []
            ),
            default=str,
        )
        return hashlib.sha256(raw.encode()).hexdigest()

    def _extras(self) -> dict:
        """The fields added for the round trip, when any is set (checksums of earlier imports
        stay as they were)."""
        extras = {
            "seo": [self.seo_title, self.seo_description],
            "slugs": [self.slug, self.old_slugs, sorted(self.slugs.items())],
            "sectionless": self.sectionless,
            "corrections": [vars(c) for c in self.corrections],
            "picture": vars(self.picture) if self.picture else None,
            "created": self.content_created,
        }
        empty = {"seo": ["", ""], "slugs": ["", [], []], "sectionless": False, "corrections": [],
                 "picture": None, "created": None}  # fmt: skip
        return {k: v for k, v in extras.items() if v != empty[k]}


@dataclass(frozen=True)
class WireCorrection:
    kind: str
    text: str
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class WirePicture:
    """The lead picture of a ninjs document: where to fetch it (`where` is its JSON pointer),
    and its texts."""

    href: str
    where: str
    caption: str = ""
    alt: str = ""
    credit: str = ""


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0  # an older version of a story we hold, or a withheld / canceled item
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why each skipped file was skipped
    articles: list[Article] = field(default_factory=list)

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def summary(self) -> str:
        line = (
            f"{self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.failed} failed"
        )
        return line + (f", {self.skipped} skipped" if self.skipped else "")


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _clean(line: str) -> str:
    # str.split()/strip() treat NBSP and other Unicode spaces as whitespace.
    return " ".join(line.split())


def decode_wire_bytes(data: bytes) -> str:
    """UTF-8 with or without BOM; undecodable bytes are an error on the line they sit on."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise WireCopyError(line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})") from None


def parse_date_line(text: str, line: int) -> dt.datetime:
    match = DATE_LINE.match(text)
    if not match:
        raise WireCopyError(
            line,
            f"expected the date line, e.g. 'January 04, 2020 - 20:39', found {text[:80]!r}",
        )
    month = MONTHS.get(match["month"].lower())
    if month is None:
        raise WireCopyError(line, f"unknown month {match['month']!r}")
    try:
        # Times in wire copy are in the site's time zone.
        return dt.datetime(
            int(match["year"]),
            month,
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            tzinfo=timezone.get_default_timezone(),
        )
    except ValueError as exc:
        raise WireCopyError(line, f"impossible date or time {text!r} ({exc})") from None


def split_names(value: str, pattern: re.Pattern) -> list[str]:
    names, seen = [], set()
    for raw in pattern.split(value):
        name = _clean(raw)
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return names


def parse_wire_copy(text: str) -> WireArticle:
    """Parse one wire file. Raises WireCopyError naming the line of the first problem."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    numbered = [(i + 1, _clean(line)) for i, line in enumerate(lines)]
    if not any(content for _, content in numbered):
        raise WireCopyError(1, "the file is empty")

    pos = 0

    def next_nonblank():
        nonlocal pos
        while pos < len(numbered) and not numbered[pos][1]:
            pos += 1
        if pos >= len(numbered):
            return None, None
        number, content = numbered[pos]
        pos += 1
        return number, content

    headline_line, headline = next_nonblank()
    if "\x00" in headline:
        raise WireCopyError(headline_line, "the headline contains a NUL character")
    if len(headline) > HEADLINE_MAX:
        raise WireCopyError(headline_line, f"the headline is longer than {HEADLINE_MAX} characters")

    number, content = next_nonblank()
    if number is None:
        raise WireCopyError(len(lines), "the file ends after the headline; expected the date line")
    if _fold(content) == _fold(headline):
        number, content = next_nonblank()
        if number is None:
            raise WireCopyError(
                len(lines), "the file ends after the headline; expected the date line"
            )
    published_at = parse_date_line(content, number)

    def header(pattern, label):
        nonlocal pos
        if pos >= len(numbered):
            raise WireCopyError(len(lines), f"the file ends before the '{label}:' line")
        number, content = numbered[pos]
        match = pattern.match(content)
        if not match:
            raise WireCopyError(number, f"expected '{label}:' here, found {content[:80]!r}")
        pos += 1
        return number, match["value"]

    posted_line, posted = header(POSTED_IN, "Posted in")
    categories = split_names(posted, re.compile(r"\s*,\s*"))
    written_line, written = header(WRITTEN_BY, "Written By")
    authors = split_names(written, AUTHOR_SEPARATOR)
    for names, line in ((categories, posted_line), (authors, written_line)):
        for name in names:
            if len(name) > NAME_MAX:
                raise WireCopyError(
                    line, f"the name {name[:30]!r}… is longer than {NAME_MAX} characters"
                )

    paragraphs, current = [], []
    for _, content in numbered[pos:]:
        if content:
            current.append(content)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    if not paragraphs:
        raise WireCopyError(len(lines), "the article has no body text")
    if any("\x00" in p for p in paragraphs):
        raise WireCopyError(written_line + 1, "the body contains a NUL character")

    return WireArticle(
        headline=headline,
        published_at=published_at,
        categories=categories,
        authors=authors,
        paragraphs=paragraphs,
    )


def _get_or_create_named(model, name: str, *, slug: str = "", attempts: int = 5):
    """The row named `name` (in any case), created when there is none. With `slug` (from one of
    our URNs), the row with that slug comes first, and a new row takes it when it is free.

    Two imports may introduce the same name at once: on PostgreSQL the second INSERT waits for
    the first transaction, then fails on the unique slug. The insert runs in a savepoint, so the
    failure leaves the import's transaction usable, and the name is read again (the other row is
    committed by then). When that finds nothing, only the slug was shared ("Health", "Health!")
    and the next attempt takes the next free slug."""
    for attempt in range(attempts - 1):
        existing = (model.objects.filter(slug=slug).first() if slug else None) or (
            model.objects.filter(name__iexact=name).order_by("pk").first()
        )
        if existing:
            return existing
        try:
            with transaction.atomic():
                return model.objects.create(name=name, slug=slug if attempt == 0 else "")
        except IntegrityError:
            continue
    return model.objects.filter(name__iexact=name).order_by("pk").first() or model.objects.create(
        name=name
    )


def _get_or_create_all(model, names: list[str], slugs=None) -> list:
    """`_get_or_create_named` for each of `names`, in the order given, but created in one sorted
    order: two imports that introduce the same two names in opposite orders would otherwise
    each hold one new row while waiting for the other's (a deadlock on PostgreSQL). `slugs`
    gives a name's slug, if any."""
    found = {}
    for name in sorted(names, key=str.casefold):
        found[name] = _get_or_create_named(model, name, slug=slugs(name) if slugs else "")
    return [found[name] for name in names]


class ImportRefused(Exception):
    """The copy is readable, but this user may not apply it to the story it matches."""


def _refusal(article: Article | None, user) -> str | None:
    """Why `user` may not import over `article` (None when she may)."""
    if article is None:
        return None if workflow.can_edit(user, None) else "you may not add articles"
    if workflow.can_edit(user, article):
        return None
    return (
        f"matches “{article.headline}”, which is {article.state.label.lower()}; "
        "you may not change it"
    )


def _standing(article: Article | None, parsed: WireArticle) -> str | None:
    """'unchanged' or 'skipped' when `parsed` must not touch `article`; None when it may."""
    if article is None:
        return None
    if (
        parsed.version is not None
        and article.ingest_version is not None
        and parsed.version < article.ingest_version
    ):
        return "skipped"  # an older version never overwrites a newer one
    if article.wire_checksum == parsed.checksum:
        # The same copy again: nothing changes, and editors' later edits are kept.
        return "unchanged"
    return None


@transaction.atomic
def import_wire_copy(
    parsed: WireArticle,
    *,
    status: str = Article.Status.PUBLISHED,
    user=None,
    picture: bytes | None = None,
):
    """Create or update the article for `parsed`. Returns (article, 'created'|'updated'|
    'unchanged'|'skipped'). Raises ImportRefused when `user` may not change the story the copy
    matches. `picture` is the lead picture's file, fetched beforehand (`fetch_picture`)."""
    article = Article.objects.select_for_update().filter(wire_key=parsed.key).first()
    standing = _standing(article, parsed)
    if standing:
        return article, standing
    refusal = _refusal(article, user)
    if refusal:
        raise ImportRefused(refusal)

    outcome = "updated" if article else "created"
    action = workflow.Action.SAVE
    if article is None:
        article = Article(wire_key=parsed.key, status=Article.Status.DRAFT)
        if parsed.slug and not _slug_taken(parsed.slug):
            article.slug = parsed.slug
        if status == Article.Status.PUBLISHED:
            action = workflow.Action.PUBLISH
    article.headline = parsed.headline
    article.published_at = parsed.published_at
    article.body = parsed.body
    article.body_format = parsed.body_format
    article.standfirst = (
        parsed.standfirst or article.standfirst or _standfirst(parsed.paragraphs[0])
    )
    article.dateline = parsed.dateline or article.dateline
    article.seo_title = parsed.seo_title or article.seo_title
    article.seo_description = parsed.seo_description or article.seo_description
    if parsed.picture is not None:
        if picture is not None:
            _store_picture(article, parsed.picture, picture)
        article.lead_image_caption = parsed.picture.caption
        article.lead_image_alt = parsed.picture.alt
        article.lead_image_credit = parsed.picture.credit
    article.ingest_uri = parsed.uri
    if parsed.embargo_until is not None:
        article.embargo_until = parsed.embargo_until
    article.ingest_version = parsed.version
    article.category = (
        _get_or_create_named(
            Category, parsed.category, slug=parsed.slug_of("section", parsed.category)
        )
        if parsed.category
        else None
    )
    article.wire_checksum = parsed.checksum
    article.source = parsed.source or article.source or "Wire"
    try:
        services.article_save(
            article,
            user=user,
            action=action,
            published_at=parsed.published_at,
            authors=_get_or_create_all(
                Author, parsed.authors, lambda n: parsed.slug_of("author", n)
            ),
            tags=_get_or_create_all(Tag, parsed.tags, lambda n: parsed.slug_of("topic", n)),
            old_slugs=parsed.old_slugs,
            audit_action=AuditEntry.Action.IMPORT,
            audit_detail={"outcome": outcome},
        )
        _import_corrections(article, parsed, user=user)
    except PermissionDenied as exc:
        raise ImportRefused(str(exc)) from None
    if outcome == "created" and parsed.content_created is not None:
        Article.objects.filter(pk=article.pk).update(created_at=parsed.content_created)
        article.created_at = parsed.content_created
    _keep_source_version(article, parsed)
    return article, outcome


def _slug_taken(slug: str) -> bool:
    return (
        Article._base_manager.filter(slug=slug).exists()
        or SlugRedirect.objects.filter(old_slug=slug).exists()
    )


def _import_corrections(article: Article, parsed: WireArticle, *, user) -> None:
    """The document's corrections the story lacks (same time and text), added through the
    desk's service. Only a story readers have seen takes corrections: a draft import has none."""
    if not parsed.corrections or not article.was_published:
        return
    have = set(article.corrections.values_list("created_at", "text"))
    for wired in parsed.corrections:
        if wired.created_at is not None and (wired.created_at, wired.text) in have:
            continue
        if wired.created_at is None and any(text == wired.text for _, text in have):
            continue
        services.correction_add(
            article, user=user, kind=wired.kind, text=wired.text, created_at=wired.created_at
        )


def _keep_source_version(article: Article, parsed: WireArticle) -> None:
    """An imported story keeps its source's ninjs `version` (see `ninjs.published_version`):
    `Article.version` is set so that it plus the story's correction changes give it. Never
    backwards: a form opened before the import is refused as after any save."""
    if parsed.version is None:
        return
    from .ninjs import published_version

    changes = published_version(article) - article.version
    target = parsed.version - changes
    if target > article.version:
        Article.objects.filter(pk=article.pk).update(version=target)
        article.version = target


def _store_picture(article: Article, picture: WirePicture, data: bytes) -> None:
    """Make `data` the lead image, under the name the source gave it when that is free: a
    picture from this site's own media address keeps its folder and name (so its renditions
    get the same addresses again), any other keeps its file name in the upload folder."""
    import io
    from urllib.parse import unquote, urlsplit

    from django.conf import settings
    from django.core.files.base import ContentFile
    from PIL import Image

    from .seo import absolute

    field = Article._meta.get_field("lead_image")
    storage = field.storage
    media = absolute(settings.MEDIA_URL)
    path = unquote(urlsplit(picture.href).path)
    wanted = ""
    if picture.href.startswith(media):
        wanted = unquote(picture.href[len(media) :].split("?", 1)[0])
    if not SAFE_MEDIA_NAME.match(wanted) or ".." in wanted.split("/"):
        wanted = field.generate_filename(article, path.rsplit("/", 1)[-1] or "picture")
    current = article.lead_image
    if current and current.name == wanted and storage.exists(wanted):
        if storage.size(wanted) == len(data):
            return  # the same file: nothing to store
    name = storage.save(wanted, ContentFile(data))
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    article.lead_image = name
    article.lead_image_width, article.lead_image_height = width, height


def _standfirst(paragraph: str, limit: int = 300) -> str:
    text = " ".join(paragraph.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def wire_files(paths) -> list[Path]:
    """Expand files and folders into the wire files to read, in a stable order.

    A folder contributes its `*.txt` (wire copy), `*.json` (ninjs) and `*.xml` (NewsML-G2)
    files, recursively; a file named explicitly is always read. The format is told by content.
    """
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix.lower() in WIRE_SUFFIXES
                    and p.is_file()
                    and not p.name.startswith(".")
                )
            )
        else:
            files.append(path)
    return files


RACE_ATTEMPTS = 3
WIRE_SUFFIXES = (".txt", ".json", ".xml")


def import_file_bytes(
    name: str, data: bytes, *, status: str, result: ImportResult, dry_run: bool = False, user=None
):
    """Read one file into `result`. Whatever goes wrong with this file is counted as its failure
    and reported as `NAME: message`; it never stops the files after it."""
    try:
        return _import_file_bytes(
            name, data, status=status, result=result, dry_run=dry_run, user=user
        )
    except Exception as exc:  # noqa: BLE001 - one bad file must not abort the folder
        logger.info("import of %s failed", name, exc_info=True)  # the reader gets the message
        result.failed += 1
        result.errors.append(f"{name}: could not be imported ({type(exc).__name__}: {exc})")
        return None


def _import_file_bytes(name, data, *, status, result, dry_run, user):
    from .ingest import IngestError, parse_document  # it builds on this module

    try:
        parsed = parse_document(decode_wire_bytes(data))
    except WireCopyError as exc:
        result.failed += 1
        result.errors.append(f"{name}:{exc.line}: {exc.message}")
        return None
    except IngestError as exc:
        result.failed += 1
        result.errors.append(exc.for_file(name))
        return None
    if parsed.pub_status != "usable":
        # Withheld or canceled copy creates or changes nothing: withdrawing or unpublishing a
        # story stays an editor's decision in the desk, with a reason readers are shown.
        result.add("skipped")
        result.notes.append(
            f"{name}: pubStatus is {parsed.pub_status}; not imported (withdraw or unpublish "
            "the story in the desk if it runs)"
        )
        return None
    if dry_run:
        existing = Article.objects.filter(wire_key=parsed.key).first()
        standing = _standing(existing, parsed)
        if standing:
            result.add(standing)
            if standing == "skipped":
                result.notes.append(_older_note(name, parsed, existing))
        elif _refusal(existing, user):
            result.failed += 1
            result.errors.append(f"{name}:1: {_refusal(existing, user)}")
        else:
            result.add("updated" if existing else "created")
        return None
    try:
        picture = _picture_for(name, parsed, result)
    except IngestError as exc:
        result.failed += 1
        result.errors.append(exc.for_file(name))
        return None
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            article, outcome = import_wire_copy(parsed, status=status, user=user, picture=picture)
            break
        except ImportRefused as exc:
            result.failed += 1
            result.errors.append(f"{name}:1: {exc}")
            return None
        except (IntegrityError, OperationalError):
            # Another import stored the same story (or a story with the same slug) or deadlocked
            # with this one; its transaction is committed or rolled back now: read again.
            if attempt == RACE_ATTEMPTS:
                raise
            logger.info("import of %s raced another import; trying again", name, exc_info=True)
    result.add(outcome)
    if outcome == "skipped":
        result.notes.append(_older_note(name, parsed, article))
        return None
    result.articles.append(article)
    return article


def _picture_for(name: str, parsed: WireArticle, result: ImportResult) -> bytes | None:
    """The lead picture's file, fetched before the import's transaction (never inside one),
    and only when the copy will be applied. A picture on a host not allowed is left out, with
    a note."""
    from .ingest import fetch_picture, picture_host_allowed

    if parsed.picture is None:
        return None
    if _standing(Article.objects.filter(wire_key=parsed.key).first(), parsed):
        return None
    if not picture_host_allowed(parsed.picture.href):
        result.notes.append(
            f"{name}: {parsed.picture.where}: the picture was not fetched: its host is not in "
            "NEWSDESK_INGEST_IMAGE_HOSTS"
        )
        return None
    return fetch_picture(parsed.picture)


def _older_note(name: str, parsed: WireArticle, article: Article) -> str:
    return (
        f"{name}: version {parsed.version} of {parsed.uri} is older than version "
        f"{article.ingest_version} already imported; skipped"
    )


def import_paths(
    paths, *, status: str = Article.Status.PUBLISHED, dry_run: bool = False, user=None
) -> ImportResult:
    result = ImportResult()
    for path in wire_files(paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            result.failed += 1
            result.errors.append(f"{path}:0: cannot read the file ({exc.strerror or exc})")
            continue
        import_file_bytes(str(path), data, status=status, result=result, dry_run=dry_run, user=user)
    return result
