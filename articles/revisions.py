"""Revisions: what a revision keeps, how it is stored and brought back, and the version check
that refuses a save based on an old version (no lost updates).

The actions that use them (save, restore, publish a draft revision) are in `services.py`.
"""

import datetime as dt
from typing import Any

from django.db.models import Max
from django.utils import timezone
from django.utils.safestring import SafeString

from .diffs import snapshot_diff_html
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


class StaleVersionError(Exception):
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
) -> Revision:
    """Store the article as it now is (or `data`, for a pending draft revision)."""
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
    )


def _user_label(user) -> str:
    if user is None:
        return "An automatic process"
    return user.get_full_name() or user.get_username()


def stale_version_error(article: Article, *, expected_version: int) -> StaleVersionError:
    """Explain who changed `article` since `expected_version`, with what changed."""
    stored = Article.objects.get(pk=article.pk)
    latest = (
        Revision.objects.filter(article=stored, pending=False)
        .select_related("created_by")
        .order_by("-number")
        .first()
    )
    if latest is not None and latest.article_version == stored.version:
        changed_by, changed_at = _user_label(latest.created_by), latest.created_at
    else:
        entry = (
            AuditEntry.objects.filter(article=stored)
            .exclude(action=AuditEntry.Action.CONFLICT)
            .select_related("user")
            .first()
        )
        changed_by = _user_label(entry.user) if entry else "Someone"
        changed_at = entry.created_at if entry else stored.updated_at
    loaded = (
        Revision.objects.filter(article=stored, article_version=expected_version)
        .order_by("-number")
        .values_list("data", flat=True)
        .first()
    )
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


def apply_snapshot(article: Article, data: dict) -> None:
    """Write a snapshot's content into `article` and its relations (missing ones are skipped)."""
    for name in CONTENT_FIELDS:
        if name in data:
            setattr(article, name, data[name])
    slug = data.get("slug")
    if slug and Article._base_manager.filter(slug=slug).exclude(pk=article.pk).exists():
        article.slug = Article._base_manager.get(pk=article.pk).slug  # taken since: keep current
    if article.lead_image.name != (data.get("lead_image") or ""):
        article.lead_image.name = data.get("lead_image") or ""
        try:
            article._meta.get_field("lead_image").update_dimension_fields(article, force=True)
        except OSError:  # the file has gone from storage: keep the name, drop the sizes
            article.lead_image_width = article.lead_image_height = None
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
