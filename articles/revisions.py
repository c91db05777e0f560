"""Revisions: what a revision keeps, how it is stored and brought back, and the version check
that refuses a save based on an old version (no lost updates).

The actions that use them (save, restore, publish a draft revision) are in `services.py`.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max
from django.utils import timezone
from django.utils.safestring import SafeString

from .diffs import FIELD_LABELS, snapshot_diff_html
from .models import Article, AuditEntry, Author, Byline, Category, Revision, Tag

# Content a revision brings back when restored; workflow state (status and times) is left
# alone so restoring old words never unpublishes or reschedules a story.
CONTENT_FIELDS = [
    "headline",
    "slug",
    "standfirst",
    "body",
    "body_format",
    "featured",
    "dateline",
    "source",
    "lead_image_alt",
    "lead_image_caption",
    "lead_image_credit",
    "seo_title",
    "seo_description",
]


def _labels(names: list[str]) -> list[str]:
    return [label for name, label in FIELD_LABELS if name in names]


class MergeLabels:
    """What a form shows of a merge (`self.merge`, a `Merge` or None), as field labels."""

    merge = None

    @property
    def taken_labels(self) -> list[str]:
        """Fields taken from the other side, because this side had not changed them."""
        return _labels(self.merge.taken) if self.merge else []

    @property
    def conflict_labels(self) -> list[str]:
        """Fields both sides changed: this side's words are kept."""
        return _labels(self.merge.conflicts) if self.merge else []


class StaleVersionError(MergeLabels, Exception):
    """A save based on an old version of the article: someone else saved in between."""

    def __init__(
        self,
        *,
        article: Article,
        expected_version: int,
        current_version: int,
        changed_by: str,
        changed_at: dt.datetime | None,
        loaded_data: dict | None,
        stored_data: dict,
    ):
        self.article = article
        self.expected_version = expected_version
        self.current_version = current_version
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.loaded_data = loaded_data
        self.stored_data = stored_data
        self.merge: Merge | None = None  # set when the refused edit was merged into the form
        when = timezone.localtime(changed_at).strftime("%-d %B %Y, %H:%M:%S") if changed_at else ""
        super().__init__(
            f"{changed_by} changed this article{' at ' + when if when else ''} "
            f"(version {current_version}) after you opened it (version {expected_version})."
        )

    @property
    def diff_html(self) -> SafeString | None:
        """What changed between the version the editor loaded and the one now stored."""
        if self.loaded_data is None:
            return None
        return snapshot_diff_html(self.loaded_data, self.stored_data)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def article_snapshot(
    article: Article,
    *,
    tags: list[Tag] | None = None,
    authors: list[Author] | None = None,
) -> dict[str, Any]:
    """Everything a revision keeps. `tags`/`authors` override what the database holds (used for
    draft revisions, whose relations were never saved)."""
    if tags is None:
        tags = list(article.tags.order_by("name")) if article.pk else []
    if authors is None:
        authors = (
            [b.author for b in article.bylines.select_related("author").order_by("position", "pk")]
            if article.pk
            else []
        )
    category = article.category
    data = {name: getattr(article, name) for name in CONTENT_FIELDS}
    data.update(
        status=article.status,
        published_at=_iso(article.published_at),
        unpublish_at=_iso(article.unpublish_at),
        category={"id": category.pk, "name": category.name} if category else None,
        tags=[{"id": t.pk, "name": t.name} for t in tags],
        byline=[{"id": a.pk, "name": a.name} for a in authors],
        lead_image=article.lead_image.name or "",
    )
    return data


def revision_create(
    article: Article,
    *,
    user,
    substantive: bool = False,
    note: str = "",
    pending: bool = False,
    data: dict | None = None,
    base_version: int | None = None,
) -> Revision:
    """Store the article as it now is (or `data`, for a pending draft revision written from
    `base_version`)."""
    last = article.revisions.aggregate(n=Max("number"))["n"] or 0
    return Revision.objects.create(
        article=article,
        number=last + 1,
        article_version=None if pending else article.version,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        data=data if data is not None else article_snapshot(article),
        substantive=substantive,
        note=note[:255],
        pending=pending,
        base_version=base_version if pending else None,
    )


def _user_label(user, viewer=None) -> str:
    if user is None:
        return "An automatic process"
    if viewer is not None and user.pk == viewer.pk:
        return "You (in another tab or window)"
    return user.get_full_name() or user.get_username()


def stale_version_error(
    article: Article, *, expected_version: int, viewer=None
) -> StaleVersionError:
    """Explain who changed `article` since `expected_version`, with what changed (`viewer`, the
    person whose save was refused, is told when it was their own other tab)."""
    stored = Article.objects.get(pk=article.pk)
    latest = (
        Revision.objects.filter(article=stored, pending=False)
        .select_related("created_by")
        .order_by("-number")
        .first()
    )
    if latest is not None and latest.article_version == stored.version:
        changed_by, changed_at = _user_label(latest.created_by, viewer), latest.created_at
    else:
        entry = (
            AuditEntry.objects.filter(article=stored)
            .exclude(action=AuditEntry.Action.CONFLICT)
            .select_related("user")
            .first()
        )
        changed_by = _user_label(entry.user, viewer) if entry else "Someone"
        changed_at = entry.created_at if entry else stored.updated_at
    loaded = snapshot_at(stored, expected_version)
    return StaleVersionError(
        article=stored,
        expected_version=expected_version,
        current_version=stored.version,
        changed_by=changed_by,
        changed_at=changed_at,
        loaded_data=loaded,
        stored_data=article_snapshot(stored),
    )


def article_version_claim(article: Article, *, expected_version: int, user=None) -> int:
    """Atomically move the stored article from `expected_version` to the next version.

    Call inside a transaction, before writing the article. Two saves based on the same version
    cannot both pass: the conditional UPDATE lets exactly one through. Raises StaleVersionError.
    """
    claimed = Article.objects.filter(pk=article.pk, version=expected_version).update_versioned()
    if not claimed:
        raise stale_version_error(article, expected_version=expected_version)
    if not Revision.objects.filter(
        article_id=article.pk, article_version=expected_version
    ).exists():
        # The first save under revision control: keep what was there before as revision 1,
        # so it can be compared with and restored.
        before = Article.objects.get(pk=article.pk)
        before.version = expected_version
        revision_create(before, user=None, note="Before the first tracked save")
    article.version = expected_version + 1
    return article.version


def set_lead_image(article: Article, name: str) -> None:
    """Point the lead image at a stored file a revision kept (its sizes read again)."""
    if article.lead_image.name != name:
        article.lead_image.name = name
        try:
            article._meta.get_field("lead_image").update_dimension_fields(article, force=True)
        except OSError:  # the file has gone from storage: keep the name, drop the sizes
            article.lead_image_width = article.lead_image_height = None


def apply_snapshot(article: Article, data: dict) -> None:
    """Write a snapshot's content into `article` and its relations (missing ones are skipped)."""
    for name in CONTENT_FIELDS:
        if name in data:
            setattr(article, name, data[name])
    slug = data.get("slug")
    if slug and Article._base_manager.filter(slug=slug).exclude(pk=article.pk).exists():
        article.slug = Article._base_manager.get(pk=article.pk).slug  # taken since: keep current
    set_lead_image(article, data.get("lead_image") or "")
    category = data.get("category")
    article.category = (
        Category.objects.filter(pk=category["id"]).first()
        or Category.objects.filter(name=category["name"]).first()
        if category
        else None
    )
    article.save()
    tag_ids = [t["id"] for t in data.get("tags", [])]
    article.tags.set(Tag.objects.filter(pk__in=tag_ids))
    author_ids = [a["id"] for a in data.get("byline", [])]
    existing = set(Author.objects.filter(pk__in=author_ids).values_list("pk", flat=True))
    Byline.objects.filter(article=article).delete()
    Byline.objects.bulk_create(
        Byline(article=article, author_id=pk, position=i)
        for i, pk in enumerate(pk for pk in author_ids if pk in existing)
    )


# What a three-way merge compares: the content, the filing and the relations a revision keeps
# (status and times are the workflow's, never merged).
MERGED_FIELDS = [*CONTENT_FIELDS, "category", "tags", "byline", "lead_image"]


def _comparable(value):
    if isinstance(value, str):
        return value.replace("\r\n", "\n").strip()
    if isinstance(value, dict):
        return value.get("id")
    if isinstance(value, list):
        return [item.get("id") if isinstance(item, dict) else item for item in value]
    return value


def same_value(a, b) -> bool:
    """Whether two snapshot values say the same thing (line endings and edge spaces aside)."""
    return _comparable(a) == _comparable(b)


@dataclass
class Merge:
    """A three-way merge of snapshots: `data` holds `mine` with the fields only `theirs` changed
    taken from `theirs`; `conflicts` are the fields both changed differently (mine kept)."""

    data: dict
    taken: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def merge_snapshots(base: dict, mine: dict, theirs: dict) -> Merge:
    """Merge `mine` (an edit made from `base`) with `theirs` (what was saved from `base` since),
    field by field: a field only one side changed takes that side's value."""
    merged = Merge(data=dict(mine))
    for name in MERGED_FIELDS:
        if name not in mine or name not in theirs or name not in base:
            continue
        mine_changed = not same_value(mine[name], base[name])
        theirs_changed = not same_value(theirs[name], base[name])
        if theirs_changed and not mine_changed:
            merged.data[name] = theirs[name]
            merged.taken.append(name)
        elif theirs_changed and not same_value(mine[name], theirs[name]):
            merged.conflicts.append(name)
    return merged


def snapshot_at(article: Article, version: int) -> dict | None:
    """The stored snapshot of `article` at `version`, if a revision kept it."""
    return (
        Revision.objects.filter(article=article, article_version=version, pending=False)
        .order_by("-number")
        .values_list("data", flat=True)
        .first()
    )


class RevisionConflict(ValueError):
    """A draft revision cannot be published as it is: the live article changed the same fields
    since the revision was written."""

    def __init__(self, revision: Revision, merge: Merge | None):
        self.revision, self.merge = revision, merge
        if merge is None:
            what = "the version it was written from was not kept"
        else:
            what = "both changed " + ", ".join(_labels(merge.conflicts)).lower()
        super().__init__(
            f"Draft revision {revision.number} was not published: the live article was edited "
            f"after it was written, and {what}. Nothing was changed. Open the revision in the "
            "form to combine the two, then save."
        )


def revision_merged(revision: Revision, article: Article) -> Merge:
    """A pending draft revision combined with what was saved to `article` since it was written:
    fields only the live article changed keep their live value. Raises RevisionConflict when
    both changed a field (or the starting point is unknown)."""
    current = article_snapshot(article)
    if revision.base_version in (None, article.version):
        return Merge(data=dict(revision.data))
    base = snapshot_at(article, revision.base_version)
    if base is None:
        raise RevisionConflict(revision, None)
    merge = merge_snapshots(base, revision.data, current)
    if merge.conflicts:
        raise RevisionConflict(revision, merge)
    return merge


@dataclass
class LoadedRevision(MergeLabels):
    """A revision brought into the change form for review before anything is saved."""

    revision: Revision
    data: dict
    merge: Merge | None = None
    kept_slug: str = ""  # the revision's address, not brought back over a later rename
    byline_differs: bool = False
    later_corrections: list = field(default_factory=list)

    def form_initial(self) -> dict:
        """The revision's content as the change form's initial values (byline aside)."""
        initial = {name: self.data[name] for name in CONTENT_FIELDS if name in self.data}
        if "category" in self.data:
            initial["category"] = (self.data["category"] or {}).get("id")
        if "tags" in self.data:
            initial["tags"] = [tag["id"] for tag in self.data["tags"]]
        initial["from_revision"] = self.revision.number
        return initial


def revision_for_form(revision: Revision, article: Article) -> LoadedRevision:
    """What loading `revision` into the form brings back. A draft revision written before later
    live edits is merged with them (fields both changed keep the draft's words, and are named).
    A rename made since is kept, and corrections published since are listed, so restoring old
    words never silently undoes either."""
    current = article_snapshot(article)
    loaded = LoadedRevision(revision=revision, data=dict(revision.data))
    if revision.pending and revision.base_version not in (None, article.version):
        base = snapshot_at(article, revision.base_version)
        if base is not None:
            loaded.merge = merge_snapshots(base, revision.data, current)
            loaded.data = loaded.merge.data
    if not revision.pending and not same_value(loaded.data.get("slug"), current["slug"]):
        loaded.kept_slug = loaded.data.get("slug") or ""
        loaded.data["slug"] = current["slug"]
    loaded.byline_differs = not same_value(loaded.data.get("byline", []), current["byline"])
    loaded.later_corrections = list(
        article.corrections.filter(created_at__gt=revision.created_at).order_by("created_at")
    )
    return loaded
