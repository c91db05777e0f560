"""Work on articles that spans models: revisions, optimistic locking, trash, withdrawal,
merges, corrections and presence. Views, admin and commands stay thin and call these."""

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.safestring import SafeString

from .audit import audit_record
from .diffs import snapshot_diff_html
from .models import (
    Article,
    AuditEntry,
    Author,
    Byline,
    Category,
    Correction,
    EditSession,
    Revision,
    Tag,
)

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
PRESENCE_WINDOW = dt.timedelta(minutes=5)


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


@transaction.atomic
def article_save_checked(
    article: Article, *, expected_version: int, user, substantive: bool = False, note: str = ""
) -> Article:
    """Save `article` unless someone saved it after `expected_version` was loaded; store a
    revision and an audit entry. Raises StaleVersionError."""
    if article.pk is None:
        article.save()
        revision_create(article, user=user, substantive=substantive, note=note)
        audit_record(user=user, action=AuditEntry.Action.CREATE, article=article)
        return article
    article_version_claim(article, expected_version=expected_version, user=user)
    if substantive and article.is_published:
        article.revised_at = timezone.now()
    article.save()
    revision_after_save(article, user=user, substantive=substantive, note=note)
    return article


def revision_after_save(
    article: Article, *, user, substantive: bool = False, note: str = "", old_status: str = ""
) -> Revision:
    """The revision and audit entries that follow a save whose version was claimed."""
    revision = revision_create(article, user=user, substantive=substantive, note=note)
    detail = {"version": article.version, "revision": revision.number, "substantive": substantive}
    audit_record(user=user, action=AuditEntry.Action.SAVE, article=article, detail=detail)
    if old_status and old_status != article.status:
        audit_record(
            user=user,
            action=AuditEntry.Action.STATE,
            article=article,
            detail={"from": old_status, "to": article.status},
        )
    return revision


def _apply_snapshot(article: Article, data: dict) -> None:
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


@transaction.atomic
def revision_restore(revision: Revision, *, user) -> Article:
    """Bring back a revision's content as a new revision (the history keeps both)."""
    if revision.pending:
        raise ValueError("A draft revision is published, not restored.")
    article = Article.objects.select_for_update().get(pk=revision.article_id)
    article_version_claim(article, expected_version=article.version, user=user)
    _apply_snapshot(article, revision.data)
    revision_create(article, user=user, note=f"Restored revision {revision.number}")
    audit_record(
        user=user,
        action=AuditEntry.Action.RESTORE_REVISION,
        article=article,
        detail={"revision": revision.number, "version": article.version},
    )
    return article


def revision_save_draft(article: Article, *, user, data: dict, note: str = "") -> Revision:
    """Keep an edit of a published article as a pending revision; readers see no change."""
    revision = revision_create(article, user=user, pending=True, data=data, note=note)
    audit_record(
        user=user,
        action=AuditEntry.Action.DRAFT_REVISION,
        article=article,
        detail={"revision": revision.number},
    )
    return revision


@transaction.atomic
def revision_publish(revision: Revision, *, user, substantive: bool = False) -> Article:
    """Apply a pending draft revision to the article readers see."""
    revision = Revision.objects.select_for_update().get(pk=revision.pk)
    if not revision.pending:
        raise ValueError("This revision is not a pending draft.")
    article = Article.objects.select_for_update().get(pk=revision.article_id)
    article_version_claim(article, expected_version=article.version, user=user)
    if substantive and article.is_published:
        article.revised_at = timezone.now()
    _apply_snapshot(article, revision.data)
    revision.pending = False
    revision.applied_at = timezone.now()
    revision.save(update_fields=["pending", "applied_at"])
    revision_create(
        article,
        user=user,
        substantive=substantive,
        note=f"Published draft revision {revision.number}",
    )
    audit_record(
        user=user,
        action=AuditEntry.Action.PUBLISH_REVISION,
        article=article,
        detail={"revision": revision.number, "version": article.version},
    )
    return article


@transaction.atomic
def articles_bulk_update(queryset, *, user, note: str = "", **changes) -> int:
    """A bulk change that bumps versions (open forms are then refused), stores a revision per
    article and audits it. Use it for admin actions instead of a bare `update()`."""
    pks = list(queryset.values_list("pk", flat=True))
    count = Article.objects.filter(pk__in=pks).update_versioned(**changes)
    for article in Article.objects.filter(pk__in=pks):
        revision_create(article, user=user, note=note or "Bulk change")
        audit_record(
            user=user,
            action=AuditEntry.Action.BULK,
            article=article,
            detail={"changes": {k: str(v) for k, v in changes.items()}, "note": note},
        )
    return count


@transaction.atomic
def article_trash(article: Article, *, user) -> Article:
    """Move an article to the trash: readers get a 404, editors can restore it."""
    now = timezone.now()
    Article.objects.filter(pk=article.pk).update_versioned(deleted_at=now)
    article.refresh_from_db()
    audit_record(user=user, action=AuditEntry.Action.TRASH, article=article)
    return article


@transaction.atomic
def article_restore_from_trash(article: Article, *, user) -> Article:
    Article.objects.filter(pk=article.pk).update_versioned(deleted_at=None)
    article.refresh_from_db()
    audit_record(user=user, action=AuditEntry.Action.RESTORE, article=article)
    return article


@transaction.atomic
def trash_empty(*, user) -> int:
    """Delete every trashed article for good. Editors only: callers check `empty_trash`."""
    trashed = Article.objects.filter(deleted_at__isnull=False)
    headlines = list(trashed.values_list("pk", "headline"))
    if not headlines:
        return 0
    for pk, headline in headlines:
        audit_record(
            user=user,
            action=AuditEntry.Action.DELETE,
            object_repr=headline,
            detail={"article_id": pk},
        )
    trashed.delete()
    audit_record(
        user=user,
        action=AuditEntry.Action.EMPTY_TRASH,
        object_repr=f"{len(headlines)} articles",
        detail={"articles": [{"id": pk, "headline": h} for pk, h in headlines[:200]]},
    )
    return len(headlines)


@transaction.atomic
def article_withdraw(article: Article, *, user, reason: str) -> Article:
    """Take a published article down for good (legal takedown, retraction): its address answers
    410 Gone with `reason`; the desk keeps it, read-only, with its history."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("Give the public reason for the withdrawal.")
    if article.withdrawn_at is not None:
        raise ValueError("This article is already withdrawn.")
    if article.first_published_at is None:
        raise ValueError("Only a published article can be withdrawn.")
    Article.objects.filter(pk=article.pk).update_versioned(
        withdrawn_at=timezone.now(), withdrawal_reason=reason
    )
    article.refresh_from_db()
    revision_create(article, user=user, note=f"Withdrawn: {reason}"[:255])
    audit_record(
        user=user, action=AuditEntry.Action.WITHDRAW, article=article, detail={"reason": reason}
    )
    return article


def _merge_done(model_name: str, source, target, article_pks: list[int], *, user) -> int:
    """Bump the moved articles' versions, keep a revision of each, audit the merge."""
    Article.objects.filter(pk__in=article_pks).update_versioned()
    for article in Article.objects.filter(pk__in=article_pks):
        revision_create(article, user=user, note=f"{model_name} {source} merged into {target}")
    audit_record(
        user=user,
        action=AuditEntry.Action.MERGE,
        object_repr=f"{model_name} {source} → {target}",
        detail={
            "model": model_name,
            "source": {"id": source.pk, "name": str(source)},
            "target": {"id": target.pk, "name": str(target)},
            "articles": len(article_pks),
        },
    )
    return len(article_pks)


def _check_merge(source, target) -> None:
    if source.pk == target.pk:
        raise ValueError("Choose a different item to merge into.")


@transaction.atomic
def author_merge(source: Author, target: Author, *, user) -> int:
    """Move `source`'s bylines to `target` (keeping byline order) and delete `source`."""
    _check_merge(source, target)
    article_pks = list(source.bylines.values_list("article_id", flat=True))
    already = set(
        target.bylines.filter(article_id__in=article_pks).values_list("article", flat=True)
    )
    source.bylines.filter(article_id__in=already).delete()
    source.bylines.update(author=target)
    if source.user_id and not target.user_id:
        user_id, source.user = source.user_id, None
        source.save(update_fields=["user"])
        target.user_id = user_id
        target.save(update_fields=["user"])
    moved = _merge_done("Author", source, target, article_pks, user=user)
    source.delete()
    return moved


@transaction.atomic
def category_merge(source: Category, target: Category, *, user) -> int:
    _check_merge(source, target)
    article_pks = list(source.articles.values_list("pk", flat=True))
    Article.objects.filter(pk__in=article_pks).update(category=target)
    moved = _merge_done("Category", source, target, article_pks, user=user)
    source.delete()
    return moved


@transaction.atomic
def tag_merge(source: Tag, target: Tag, *, user) -> int:
    _check_merge(source, target)
    article_pks = list(source.articles.values_list("pk", flat=True))
    through = Article.tags.through
    have_target = set(
        through.objects.filter(tag=target, article_id__in=article_pks).values_list(
            "article_id", flat=True
        )
    )
    through.objects.bulk_create(
        through(article_id=pk, tag=target) for pk in article_pks if pk not in have_target
    )
    moved = _merge_done("Tag", source, target, article_pks, user=user)
    source.delete()
    return moved


def correction_add(
    article: Article,
    *,
    user,
    kind: str,
    text: str,
    pinned_top: bool = False,
    created_at: dt.datetime | None = None,
) -> Correction:
    """Publish a correction on an article; it re-dates the story ("Updated …")."""
    text = (text or "").strip()
    if not text:
        raise ValueError("A correction needs its text.")
    correction = Correction.objects.create(
        article=article,
        kind=kind,
        text=text,
        pinned_top=pinned_top,
        created_at=created_at or timezone.now(),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    correction_redate(article, correction)
    audit_record(
        user=user,
        action=AuditEntry.Action.CORRECTION,
        article=article,
        detail={"kind": kind, "text": text[:500]},
    )
    return correction


def correction_redate(article: Article, correction: Correction) -> None:
    """A correction is a substantive update: it moves `revised_at` (never backwards)."""
    if article.revised_at is None or correction.created_at > article.revised_at:
        article.revised_at = correction.created_at
        # No version bump: `revised_at` is not on the change form, so no open form can undo it.
        Article.objects.filter(pk=article.pk).update(revised_at=correction.created_at)


def edit_session_open(article: Article, *, user) -> list[EditSession]:
    """Note that `user` opened the article; return the others who opened it recently."""
    now = timezone.now()
    EditSession.objects.update_or_create(article=article, user=user, defaults={"opened_at": now})
    return list(
        EditSession.objects.filter(article=article, opened_at__gte=now - PRESENCE_WINDOW)
        .exclude(user=user)
        .select_related("user")
        .order_by("-opened_at")
    )


def edit_session_close(article: Article, *, user) -> None:
    EditSession.objects.filter(article=article, user=user).delete()
