"""The one way content changes. Every action on articles, corrections, share links, authors,
sections and topics — from the desk, the wire importer, bulk actions or a command — is one
function here, named `<entity>_<action>`. Each one:

1. asks `workflow` whether this user may do it (PermissionDenied if not), with the same rules
   the change form applies;
2. writes the change in one transaction, refusing a save based on an old version
   (`revisions.article_version_claim`);
3. keeps a revision, and records exactly one audit entry for the action;
4. when readers can see the change, asks the page cache to forget after COMMIT
   (`cache.pages_changed`), and queues what webhooks and the WebSub hub are told
   (`webhooks.article_changed`, in the same transaction).

`user=None` is an unattended process (a command). The admin, the importer and the commands are
thin callers; nothing else writes articles.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import dateformat, timezone

from . import cache, notifications, webhooks, workflow
from .cache import keys_changed, keys_for_article, keys_for_taxonomy, pages_changed
from .models import (
    ApiKey,
    Article,
    AuditEntry,
    Author,
    Autosave,
    Byline,
    Category,
    Correction,
    EditSession,
    Notification,
    Revision,
    ShareLink,
    SlugRedirect,
    StateChange,
    Tag,
)
from .revisions import (
    Merge,
    RevisionConflict,  # noqa: F401 - callers catch it from here
    StaleVersionError,  # noqa: F401 - callers catch it from here
    apply_snapshot,
    article_snapshot,  # noqa: F401
    article_version_claim,
    revision_create,
    revision_merged,
    stale_version_error,  # noqa: F401
)
from .workflow import Action

State = Article.State
PRESENCE_WINDOW = dt.timedelta(minutes=5)
security_log = logging.getLogger("newsdesk.security")


# --- the audit trail -------------------------------------------------------------------------


def audit_record(
    *,
    user,
    action: str,
    article: Article | None = None,
    object_repr: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record one action. `user` may be None for commands and other unattended work."""
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    return AuditEntry.objects.create(
        user=user,
        action=action,
        article=article,
        object_repr=(object_repr or (str(article) if article is not None else ""))[:300],
        detail=detail or {},
    )


def audit_login(sender, request, user, **kwargs) -> None:
    """`user_logged_in` receiver (connected in apps.py): every sign-in to the desk is audited."""
    audit_record(user=user, action=AuditEntry.Action.LOGIN, object_repr=user.get_username())


def audit_login_event(
    *, action: str, username: str, ip_address: str | None, user=None, **detail: Any
) -> AuditEntry:
    """A failed sign-in, a lockout or an unlock (`logins.py` decides which): one audit entry and
    one WARNING line on `newsdesk.security`, naming the username tried and the client's address,
    never the password. `user` is whoever lifted a lockout; None for the rest."""
    detail = {"username": username, "ip": ip_address, **detail}
    security_log.warning(
        "%s: %s",
        AuditEntry.Action(action).label,
        " ".join(f"{name}={value!r}" for name, value in detail.items()),
    )
    return audit_record(user=user, action=action, object_repr=username, detail=detail)


# --- API keys ----------------------------------------------------------------------------------


@transaction.atomic
def api_key_create(key: ApiKey, *, user) -> str:
    """Store a new API key (its name and scope set) with a fresh secret, and return the secret:
    shown once, never stored. Audited with the key's name and scope."""
    key.created_by = _human(user)
    raw = key.new_secret()
    key.save()
    _audit_key(key, user=user, action=AuditEntry.Action.API_KEY_CREATE)
    return raw


@transaction.atomic
def api_keys_revoke(queryset, *, user) -> int:
    """Revoke the active keys among `queryset`: one audit entry each. Returns how many."""
    ids = list(queryset.values_list("pk", flat=True))  # the admin's has an aggregate
    keys = list(
        ApiKey.objects.filter(pk__in=ids, revoked_at__isnull=True)
        .select_for_update()
        .order_by("pk")
    )
    now = timezone.now()
    for key in keys:
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
        _audit_key(key, user=user, action=AuditEntry.Action.API_KEY_REVOKE)
    return len(keys)


def _audit_key(key: ApiKey, *, user, action: str) -> None:
    audit_record(
        user=user,
        action=action,
        object_repr=key.name,
        detail={"key": key.pk, "prefix": key.prefix, "scope": key.scope},
    )


# --- articles ----------------------------------------------------------------------------------


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


def _touches_readers(*states) -> bool:
    return any(state in Article.PUBLIC_STATES for state in states)


def _human(user):
    return user if getattr(user, "is_authenticated", False) else None


def _finish(
    article: Article,
    *,
    user,
    before,
    audit_action: str,
    detail: dict | None = None,
    note: str = "",
    substantive: bool = False,
    revision_note: str = "",
    shown_before=None,
) -> Revision:
    """What follows every write of an article: a revision, the step on the article's history when
    its state moved, one audit entry, and invalidation when readers can see the change."""
    after = article.state
    revision = revision_create(article, user=user, substantive=substantive, note=revision_note)
    detail = {"version": article.version, "revision": revision.number, **(detail or {})}
    if before != after:
        detail.update({"from": before or "new", "to": after})
    if note:
        detail["note"] = note
    if before is not None and (before != after or note):
        StateChange.objects.create(
            article=article, user=_human(user), from_state=before, to_state=after, note=note
        )
    audit_record(user=user, action=audit_action, article=article, detail=detail)
    if _touches_readers(before, after):
        pages_changed(*keys_changed(shown_before, keys_for_article(article)))
        webhooks.article_changed(article, before=before)
    return revision


def default_byline(user) -> list[Author]:
    """A new article's byline when none is given: the author profile of whoever writes it."""
    profile = getattr(user, "author_profile", None) if _human(user) else None
    return [profile] if profile is not None else []


def _set_byline(article: Article, authors: list[Author]) -> None:
    """Make the byline `authors`, in order, keeping the rows of authors who stay (an open form
    refers to them)."""
    wanted = {author.pk: position for position, author in enumerate(dict.fromkeys(authors))}
    existing = {b.author_id: b for b in Byline.objects.filter(article=article)}
    Byline.objects.filter(article=article).exclude(author_id__in=wanted).delete()
    for author_id, position in wanted.items():
        byline = existing.get(author_id)
        if byline is None:
            Byline.objects.create(article=article, author_id=author_id, position=position)
        elif byline.position != position:
            byline.position = position
            byline.save(update_fields=["position"])


@transaction.atomic
def article_save(
    article: Article,
    *,
    user,
    action: str = Action.SAVE,
    expected_version: int | None = None,
    authors: list[Author] | None = None,
    tags: list[Tag] | None = None,
    substantive: bool = False,
    note: str = "",
    published_at: dt.datetime | None = None,
    audit_action: str | None = None,
    audit_detail: dict | None = None,
    from_revision: Revision | None = None,
    old_slugs: list[str] | None = None,
) -> Article:
    """Create or change an article and take a workflow `action` (save, submit, publish, …).

    `expected_version` is the version the editor loaded: a save based on an older one raises
    `StaleVersionError` and changes nothing. `authors`/`tags` replace the byline (in order) and
    topics when given; a new article without a byline gets its writer's author profile.
    `published_at` publishes at a given time (wire copy keeps its filing time).
    `from_revision` is the revision the editor loaded into the form and reviewed: the save is
    recorded as restoring it (or, for a pending draft revision, as publishing it).
    `old_slugs` are earlier addresses of the story elsewhere (an imported copy): each one no
    article uses redirects to it, like its own old slugs. Raises PermissionDenied when `user`
    may not take `action` on this article.
    """
    creating = article.pk is None
    stored = None if creating else Article.objects.select_for_update().get(pk=article.pk)
    workflow.check_action(action, user=user, article=stored)
    before = None if creating else stored.state
    shown_before = keys_for_article(stored) if _touches_readers(before) else None
    if creating:
        article.created_by = _human(user)
    else:
        expected = stored.version if expected_version is None else expected_version
        article_version_claim(article, expected_version=expected)
    workflow.apply_action(article, action)
    if published_at is not None and action == Action.PUBLISH:
        article.published_at = published_at
    if action in (Action.PUBLISH, Action.SCHEDULE) or (
        stored is not None and stored.embargo_until != article.embargo_until
    ):
        # Going out before the embargo ends is refused, whoever asks: an editor lifts it first.
        refusal = workflow.embargo_refusal(article, before=before)
        if refusal:
            raise PermissionDenied(refusal)
    if substantive and before == State.PUBLISHED:
        article.revised_at = timezone.now()
    article.save()
    if creating and not authors:
        authors = default_byline(user)
    if authors is not None:
        _set_byline(article, authors)
    if tags is not None:
        article.tags.set(tags)
    for old in old_slugs or ():
        taken = SlugRedirect.objects.filter(old_slug=old).exists()
        if (
            old != article.slug
            and not taken
            and not Article._base_manager.filter(slug=old).exists()
        ):
            SlugRedirect.objects.create(old_slug=old, article=article)
    revision_note = ""
    if from_revision is not None:
        audit_action, audit_detail, revision_note = _from_revision(
            from_revision, user=user, article=article, detail=audit_detail
        )
    if before != article.state or action == Action.SCHEDULE:
        notifications.article_moved(article, action=action, before=before, actor=user, note=note)
    if audit_action is None:
        audit_action = (
            AuditEntry.Action.CREATE
            if creating
            else AuditEntry.Action.STATE
            if before != article.state
            else AuditEntry.Action.SAVE
        )
    _finish(
        article,
        user=user,
        before=before,
        audit_action=audit_action,
        detail={"action": action, "substantive": substantive, **(audit_detail or {})},
        note=note,
        substantive=substantive,
        revision_note=revision_note or _what_happened(action, article, before=before, note=note),
        shown_before=shown_before,
    )
    return article


def article_lift_embargo(article: Article, *, user) -> Article:
    """Clear the embargo of `article` (editors only): it goes out as its status and times say,
    at once if they say so. Audited as a change of state with `{"embargo": "lifted"}`."""
    _require(workflow.can_lift_embargo(user, article), "Only editors may lift an embargo.")
    lifted = article.embargo_until
    article.embargo_until = None
    detail = {"embargo": "lifted", "embargo_until": lifted.isoformat()}
    return article_save(
        article, user=user, audit_action=AuditEntry.Action.STATE, audit_detail=detail
    )


def _from_revision(revision: Revision, *, user, article: Article, detail: dict | None):
    """How a save of a revision loaded into the form is recorded; a pending draft revision
    saved this way is published and stops being pending."""
    detail = {**(detail or {}), "restored": revision.number}
    if not revision.pending:
        return AuditEntry.Action.RESTORE_REVISION, detail, f"Restored revision {revision.number}"
    _require(can_publish_revision(user, article), "Only editors may publish a draft revision.")
    Revision.objects.filter(pk=revision.pk).update(pending=False, applied_at=timezone.now())
    note = f"Published draft revision {revision.number}"
    return AuditEntry.Action.PUBLISH_REVISION, detail, note


def _what_happened(action: str, article: Article, *, before, note: str) -> str:
    """The revision note of a save that moved the story: the history reads as what happened."""
    after = article.state
    if before == after and action != Action.SCHEDULE or before is None and after == State.DRAFT:
        return ""
    if after == State.SCHEDULED:
        when = dateformat.format(timezone.localtime(article.published_at), "j M H:i")
        return f"Scheduled for {when}"
    if action == Action.SEND_BACK:
        return f"Sent back: {note}"
    return workflow.Action.DONE.get(action) or after.label


@dataclass
class BulkResult:
    changed: int = 0
    skipped: list[str] = field(default_factory=list)


def _bulk(queryset, *, user, action=Action.SAVE, change=None, check=None) -> BulkResult:
    """Take `action` (after `change`) on each article through `article_save`; report by name
    those `check` or the workflow refuses."""
    result = BulkResult()
    for article in queryset.select_related("category").prefetch_related("bylines"):
        reason = check(article) if check else None
        if reason is None:
            if change:
                change(article)
            try:
                article_save(article, user=user, action=action, note="bulk")
            except PermissionDenied as exc:
                reason = str(exc)
        if reason:
            result.skipped.append(f"“{article.headline}”: {reason}")
        else:
            result.changed += 1
    return result


def articles_publish(queryset, *, user) -> BulkResult:
    """Publish each article that passes the checklist; report the others by name."""
    _require(workflow.can_publish(user), "Only editors may publish.")

    def check(article):
        failed = workflow.problems(workflow.article_checklist(article))
        return " ".join(failed) or None

    live = queryset.in_state(State.PUBLISHED).values("pk")
    return _bulk(queryset.exclude(pk__in=live), user=user, action=Action.PUBLISH, check=check)


def articles_unpublish(queryset, *, user) -> BulkResult:
    _require(workflow.can_publish(user), "Only editors may unpublish.")
    going = queryset.in_state(State.SCHEDULED, State.PUBLISHED, State.EXPIRED)
    return _bulk(going, user=user, action=Action.UNPUBLISH)


def articles_feature(queryset, *, user, featured: bool) -> BulkResult:
    _require(workflow.can_publish(user), "Only editors may feature articles.")

    def change(article):
        article.featured = featured

    return _bulk(queryset.exclude(featured=featured), user=user, change=change)


# --- revisions -------------------------------------------------------------------------------


@transaction.atomic
def revision_save_draft(
    article: Article, *, user, data: dict, note: str = "", base_version: int | None = None
) -> Revision:
    """Keep an edit of a published article as a pending revision; readers see no change.
    `base_version` is the version the edit was made from (the article's current one if not
    given): publishing the revision later keeps whatever was changed since."""
    _require(workflow.can_edit(user, article), "You may not change this article.")
    revision = revision_create(
        article,
        user=user,
        pending=True,
        data=data,
        note=note,
        base_version=base_version or article.version,
    )
    audit_record(
        user=user,
        action=AuditEntry.Action.DRAFT_REVISION,
        article=article,
        detail={"revision": revision.number},
    )
    return revision


def can_publish_revision(user, article: Article) -> bool:
    return workflow.can_publish(user) and workflow.can_edit(user, article)


@transaction.atomic
def revision_publish(revision: Revision, *, user, substantive: bool = False) -> Merge:
    """Apply a pending draft revision to the article readers see; the merge says which live
    edits made since the revision was written were kept."""
    revision = Revision.objects.select_for_update().get(pk=revision.pk)
    if not revision.pending:
        raise ValueError("This revision is not a pending draft.")
    article = Article.objects.select_for_update().get(pk=revision.article_id)
    _require(can_publish_revision(user, article), "Only editors may publish a draft revision.")
    before = article.state
    shown_before = keys_for_article(article) if _touches_readers(before) else None
    merge = revision_merged(revision, article)  # RevisionConflict: nothing changes
    article_version_claim(article, expected_version=article.version)
    if substantive and before == State.PUBLISHED:
        article.revised_at = timezone.now()
    apply_snapshot(article, merge.data)
    revision.pending = False
    revision.applied_at = timezone.now()
    revision.save(update_fields=["pending", "applied_at"])
    _finish(
        article,
        user=user,
        before=before,
        audit_action=AuditEntry.Action.PUBLISH_REVISION,
        detail={"published": revision.number, "substantive": substantive, "kept": merge.taken},
        substantive=substantive,
        revision_note=f"Published draft revision {revision.number}",
        shown_before=shown_before,
    )
    return merge


# --- trash and withdrawal ----------------------------------------------------------------------


@transaction.atomic
def article_trash(article: Article, *, user) -> Article:
    """Move an article to the trash: readers get a 404, editors can restore it."""
    _require(workflow.can_delete(user, article), "You may not move this article to the trash.")
    before = article.state
    Article.objects.filter(pk=article.pk).update_versioned(deleted_at=timezone.now())
    article.refresh_from_db()
    audit_record(user=user, action=AuditEntry.Action.TRASH, article=article)
    if _touches_readers(before):
        pages_changed(*keys_for_article(article))
        webhooks.article_changed(article, before=before)
    return article


@transaction.atomic
def article_restore_from_trash(article: Article, *, user) -> Article:
    _require(workflow.can_delete(user), "You may not restore articles from the trash.")
    Article.objects.filter(pk=article.pk).update_versioned(deleted_at=None)
    article.refresh_from_db()
    audit_record(user=user, action=AuditEntry.Action.RESTORE, article=article)
    if _touches_readers(article.state):
        pages_changed(*keys_for_article(article))
        webhooks.article_changed(article, before=State.TRASHED)
    return article


@transaction.atomic
def trash_empty(*, user) -> int:
    """Delete every trashed article for good."""
    _require(
        user is None or (workflow.can_delete(user) and user.has_perm("articles.empty_trash")),
        "You may not empty the trash.",
    )
    trashed = Article.objects.in_trash()
    headlines = list(trashed.values_list("pk", "headline"))
    if not headlines:
        return 0
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
    if article.state == State.WITHDRAWN:
        raise ValueError("This article is already withdrawn.")
    if not article.was_published:
        raise ValueError("Only a published article can be withdrawn.")
    _require(workflow.can_withdraw(user, article), "You may not withdraw this article.")
    before = article.state
    Article.objects.filter(pk=article.pk).update_versioned(
        withdrawn_at=timezone.now(), withdrawal_reason=reason
    )
    article.refresh_from_db()
    _finish(
        article,
        user=user,
        before=before,
        audit_action=AuditEntry.Action.WITHDRAW,
        detail={"reason": reason},
        revision_note=f"Withdrawn: {reason}"[:255],
    )
    notifications.notify(notifications.Kind.WITHDRAWN, article, actor=user, note=reason)
    return article


# --- corrections -------------------------------------------------------------------------------


@transaction.atomic
def correction_save(correction: Correction, *, user) -> Correction:
    """Add or change a correction readers see at the foot (or top) of a published story; it
    re-dates the story ("Updated …")."""
    article = correction.article
    _require(
        workflow.can_edit(user, article) and article.was_published,
        "Corrections are added by editors to published articles.",
    )
    correction.text = (correction.text or "").strip()
    if not correction.text:
        raise ValueError("A correction needs its text.")
    is_new = correction.pk is None
    if is_new and correction.created_by_id is None:
        correction.created_by = _human(user)
    correction.save()
    if article.revised_at is None or correction.created_at > article.revised_at:
        # No version bump: `revised_at` is not on the change form, so no open form can undo it.
        article.revised_at = correction.created_at
        Article.objects.filter(pk=article.pk).update(revised_at=correction.created_at)
    audit_record(
        user=user,
        action=AuditEntry.Action.CORRECTION,
        article=article,
        detail={"kind": correction.kind, "text": correction.text[:500], "new": is_new},
    )
    if is_new:
        notifications.notify(
            notifications.Kind.CORRECTED, article, actor=user, note=correction.text
        )
    if _touches_readers(article.state):
        pages_changed(*keys_for_article(article))
        event = webhooks.Event.CORRECTED if is_new else webhooks.Event.UPDATED
        webhooks.article_changed(article, event=event)
    return correction


def correction_add(
    article: Article,
    *,
    user,
    kind: str,
    text: str,
    pinned_top: bool = False,
    created_at: dt.datetime | None = None,
) -> Correction:
    return correction_save(
        Correction(
            article=article,
            kind=kind,
            text=text,
            pinned_top=pinned_top,
            created_at=created_at or timezone.now(),
        ),
        user=user,
    )


@transaction.atomic
def correction_delete(correction: Correction, *, user) -> None:
    article = correction.article
    _require(workflow.can_edit(user, article), "You may not change this article.")
    audit_record(
        user=user,
        action=AuditEntry.Action.CORRECTION,
        article=article,
        detail={"kind": correction.kind, "text": correction.text[:500], "deleted": True},
    )
    correction.delete()
    if _touches_readers(article.state):
        pages_changed(*keys_for_article(article))
        webhooks.article_changed(article, event=webhooks.Event.UPDATED)


# --- share links -------------------------------------------------------------------------------


def share_link_create(article: Article, *, user, note: str, hours: int) -> ShareLink:
    _require(workflow.can_share(user, article), "You may not share this article.")
    return ShareLink.objects.create(
        article=article,
        note=note,
        created_by=_human(user),
        expires_at=timezone.now() + dt.timedelta(hours=hours),
    )


def share_link_revoke(link: ShareLink, *, user) -> ShareLink:
    _require(workflow.can_share(user, link.article), "You may not change this article's links.")
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
    return link


# --- authors, sections and topics --------------------------------------------------------------


def _require_taxonomy(user, model, *verbs) -> None:
    name = model._meta.model_name
    _require(
        user is None or all(user.has_perm(f"articles.{verb}_{name}") for verb in verbs),
        f"You may not change {model._meta.verbose_name_plural}.",
    )


def _published_pks(obj) -> list[int]:
    """The published articles on an author, section or topic's pages (none for a new one)."""
    if obj.pk is None or not hasattr(obj, "articles"):
        return []
    return list(obj.articles.published().values_list("pk", flat=True)[: cache.MAX_KEYS + 1])


@transaction.atomic
def taxonomy_save(obj, *, user):
    """Save an author, section or topic: their pages and every page naming them change."""
    _require_taxonomy(user, type(obj), "change" if obj.pk else "add")
    obj.save()
    pages_changed(*keys_for_taxonomy(obj, article_pks=_published_pks(obj)))
    return obj


@transaction.atomic
def taxonomy_delete(obj, *, user) -> None:
    _require_taxonomy(user, type(obj), "delete")
    keys = keys_for_taxonomy(obj, article_pks=_published_pks(obj))
    obj.delete()
    pages_changed(*keys)


def _merge_done(model_name: str, source, target, article_pks: list[int], *, user) -> int:
    """Bump the moved articles' versions, keep a revision of each, audit the merge."""
    Article.objects.filter(pk__in=article_pks).update_versioned()
    pages_changed(*keys_for_taxonomy(source, target, article_pks=article_pks))
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


def _check_merge(source, target, *, user) -> None:
    _require_taxonomy(user, type(source), "change", "delete")
    if source.pk == target.pk:
        raise ValueError("Choose a different item to merge into.")


@transaction.atomic
def author_merge(source: Author, target: Author, *, user) -> int:
    """Move `source`'s bylines to `target` (keeping byline order) and delete `source`."""
    _check_merge(source, target, user=user)
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
    _check_merge(source, target, user=user)
    article_pks = list(source.articles.values_list("pk", flat=True))
    Article.objects.filter(pk__in=article_pks).update(category=target)
    moved = _merge_done("Category", source, target, article_pks, user=user)
    source.delete()
    return moved


@transaction.atomic
def tag_merge(source: Tag, target: Tag, *, user) -> int:
    _check_merge(source, target, user=user)
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


# --- presence -------------------------------------------------------------------------------


def edit_session_open(article: Article, *, user) -> list[EditSession]:
    """Note that `user` opened the article; return the others who opened it recently. The desk
    opens the form again after every save, so the note is one UPDATE; the row is created the
    first time only (`update_or_create` read it in a transaction of its own every time)."""
    now = timezone.now()
    mine = EditSession.objects.filter(article=article, user=user)
    if not mine.update(opened_at=now):
        try:
            with transaction.atomic():
                EditSession.objects.create(article=article, user=user, opened_at=now)
        except IntegrityError:  # another request of hers created it in between
            mine.update(opened_at=now)
    return list(
        EditSession.objects.filter(article=article, opened_at__gte=now - PRESENCE_WINDOW)
        .exclude(user=user)
        .select_related("user")
        .order_by("-opened_at")
    )


def edit_session_close(article: Article, *, user) -> None:
    EditSession.objects.filter(article=article, user=user).delete()


# --- the inbox -------------------------------------------------------------------------------
# Reading one's own notices changes no content: no revision, audit entry or invalidation.


def notification_open(notification: Notification, *, user) -> Notification:
    """Mark one of `user`'s own notices read (PermissionDenied for anyone else's)."""
    _require(notification.recipient_id == user.pk, "This is not your notification.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user) -> int:
    """Mark every notice in `user`'s inbox read."""
    return Notification.objects.inbox(user).unread().update(read_at=timezone.now())


# --- autosave: private work in progress --------------------------------------------------------

# The change form's text fields an autosave keeps (never files, never workflow state).
AUTOSAVE_FIELDS = [
    "headline", "slug", "standfirst", "body", "body_format", "dateline", "source", "seo_title",
    "seo_description", "lead_image_alt", "lead_image_caption", "lead_image_credit",
    "workflow_note",
]  # fmt: skip


def autosave_store(article: Article, *, user, base_version: int, data: dict) -> Autosave | None:
    """Keep `user`'s unsaved text of `article` for her alone: no revision, no audit entry, no
    new version, nothing for the page cache. None when she has herself saved the article since
    `base_version`: a late autosave must not outlive her save."""
    _require(workflow.can_edit(user, article), "You may not edit this article.")
    if Revision.objects.filter(
        article=article, created_by=user, pending=False, article_version__gt=base_version
    ).exists():
        return None
    autosave, _ = Autosave.objects.update_or_create(
        article=article,
        user=user,
        defaults={"base_version": base_version, "data": data, "saved_at": timezone.now()},
    )
    return autosave


def autosave_discard(article: Article, *, user) -> None:
    Autosave.objects.filter(article=article, user=user).delete()
