"""The desk's rules: who may do what to an article, the pre-publish checklist, and state changes.

Reporters write and submit their own drafts; editors (anyone with `articles.publish_article`)
publish, schedule, unpublish and send back. Every rule here is checked on the server whatever
the form showed, and every state change is recorded as a `StateChange`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .audit import audit_record
from .cache import content_changed
from .models import Article, AuditEntry, StateChange
from .services import articles_bulk_update, revision_create

STANDFIRST_MAX = 300
SEO_DESCRIPTION_MAX = 160
# "TK" (to come) only in capitals, so "tk" inside ordinary words never trips it.
PLACEHOLDERS = [re.compile(r"\bTK\b"), re.compile(r"\bXXX+\b|lorem\s+ipsum", re.IGNORECASE)]


class Action:
    SAVE = "save"
    SUBMIT = "submit"
    PUBLISH = "publish"
    SCHEDULE = "schedule"
    UNPUBLISH = "unpublish"
    SEND_BACK = "send_back"

    LABELS = {
        SAVE: "Save draft",
        SUBMIT: "Submit for review",
        PUBLISH: "Publish now",
        SCHEDULE: "Schedule",
        UNPUBLISH: "Unpublish",
        SEND_BACK: "Send back to reporter",
    }


def can_publish(user) -> bool:
    return user.is_active and user.has_perm("articles.publish_article")


def can_edit(user, article: Article | None) -> bool:
    """Editors edit everything; reporters only their own articles while they are drafts."""
    if not (user.is_active and user.has_perm("articles.change_article")):
        return False
    if article is None or article.pk is None or user.has_perm("articles.edit_any_article"):
        return True
    return article.created_by_id == user.pk and article.status == Article.Status.DRAFT


def can_preview(user, article: Article) -> bool:
    """Staff who may edit the article, or who can see it in the desk, may preview it."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    if not user.has_perm("articles.preview_article") and not user.has_perm(
        "articles.change_article"
    ):
        return False
    return (
        user.has_perm("articles.edit_any_article")
        or article.created_by_id == user.pk
        or article.bylines.filter(author__user=user).exists()
    )


def allowed_actions(user, article: Article | None) -> list[str]:
    """The workflow buttons this user may press on this article, in display order."""
    status = article.status if article and article.pk else Article.Status.DRAFT
    actions = []
    if can_edit(user, article):
        if status != Article.Status.PUBLISHED or can_publish(user):
            actions.append(Action.SAVE)
        if status == Article.Status.DRAFT:
            actions.append(Action.SUBMIT)
    if can_publish(user) and user.has_perm("articles.edit_any_article"):
        live = article is not None and article.pk and article.state == "published"
        # A live story is not "published now" again (that would re-date it); it can be rescheduled.
        actions += [Action.SCHEDULE] if live else [Action.PUBLISH, Action.SCHEDULE]
        if status == Article.Status.PUBLISHED:
            actions.append(Action.UNPUBLISH)
        if status == Article.Status.REVIEW:
            actions.append(Action.SEND_BACK)
    return actions


@dataclass(frozen=True)
class Check:
    label: str
    ok: bool
    message: str


def checklist(
    *,
    headline: str,
    standfirst: str,
    body: str,
    author_count: int,
    has_category: bool,
    has_lead_image: bool,
    lead_image_alt: str,
    seo_description: str,
) -> list[Check]:
    """Every pre-publish check, passed or not, in the order editors see them."""

    def placeholder_in(*texts):
        for text in texts:
            for pattern in PLACEHOLDERS:
                match = pattern.search(text or "")
                if match:
                    return match.group(0)
        return None

    leftover = placeholder_in(headline, standfirst, body)
    return [
        Check("Headline", bool(headline.strip()), "Add a headline."),
        Check(
            "Standfirst",
            bool(standfirst.strip()),
            "Add a standfirst (the summary under the headline).",
        ),
        Check("Byline", author_count > 0, "Add at least one author to the byline."),
        Check("Category", has_category, "Choose a category."),
        Check(
            "Lead image alt text",
            not has_lead_image or bool(lead_image_alt.strip()),
            "Describe the lead image in its alt text.",
        ),
        Check(
            "Standfirst length",
            len(standfirst) <= STANDFIRST_MAX,
            f"Shorten the standfirst to {STANDFIRST_MAX} characters (it has {len(standfirst)}).",
        ),
        Check(
            "SEO description length",
            len(seo_description) <= SEO_DESCRIPTION_MAX,
            f"Shorten the SEO description to {SEO_DESCRIPTION_MAX} characters (it has {len(seo_description)}).",
        ),
        Check(
            "No placeholder text",
            leftover is None,
            f"Remove the placeholder text “{leftover}” from the headline, standfirst or body.",
        ),
    ]


def article_checklist(article: Article) -> list[Check]:
    return checklist(
        headline=article.headline,
        standfirst=article.standfirst,
        body=article.body,
        author_count=article.bylines.count() if article.pk else 0,
        has_category=article.category_id is not None,
        has_lead_image=bool(article.lead_image),
        lead_image_alt=article.lead_image_alt,
        seo_description=article.seo_description,
    )


def problems(checks: list[Check]) -> list[str]:
    return [check.message for check in checks if not check.ok]


def record_state_change(article: Article, *, user, from_state: str, to_state: str, note: str = ""):
    """List the change on the article and in the desk's audit trail."""
    if from_state != to_state or note:
        StateChange.objects.create(
            article=article, user=user, from_state=from_state, to_state=to_state, note=note
        )
        audit_record(
            user=user,
            action=AuditEntry.Action.STATE,
            article=article,
            detail={"from": from_state, "to": to_state, "note": note},
        )


def check_action(action: str, *, user, article: Article | None) -> None:
    """Refuse (PermissionDenied) an action this user may not take on this article."""
    if action not in Action.LABELS:
        raise PermissionDenied("Unknown action.")
    if action not in allowed_actions(user, article):
        raise PermissionDenied(f"You may not “{Action.LABELS[action]}” on this article.")


def apply_action(article: Article, action: str, *, now=None) -> None:
    """Set the status and times an action implies (no save, no checks)."""
    now = now or timezone.now()
    if action == Action.SUBMIT:
        article.status = Article.Status.REVIEW
    elif action == Action.SEND_BACK or action == Action.UNPUBLISH:
        article.status = Article.Status.DRAFT
    elif action == Action.PUBLISH:
        article.status = Article.Status.PUBLISHED
        article.published_at = now
        if article.unpublish_at and article.unpublish_at <= now:
            article.unpublish_at = None
    elif action == Action.SCHEDULE:
        article.status = Article.Status.PUBLISHED


def validate_schedule(published_at, *, now=None) -> None:
    now = now or timezone.now()
    if published_at is None or published_at <= now:
        raise ValidationError(
            "To schedule, set a publication time in the future (or use “Publish now”)."
        )


@dataclass
class BulkResult:
    changed: int = 0
    skipped: list[str] = None

    def __post_init__(self):
        self.skipped = self.skipped or []


@transaction.atomic
def _apply_in_bulk(article: Article, action: str, *, user, now=None) -> None:
    """Apply an action from a bulk action: save, bump the version (so forms opened before are
    refused), record the state change."""
    before = article.state
    apply_action(article, action, now=now)
    article.version = F("version") + 1
    article.save()
    article.refresh_from_db(fields=["version"])
    revision_create(article, user=user, note=f"Bulk: {Action.LABELS[action]}")
    record_state_change(article, user=user, from_state=before, to_state=article.state, note="bulk")


def bulk_publish(queryset, *, user) -> BulkResult:
    """Publish each article that passes the checklist; report the others by name."""
    if not can_publish(user):
        raise PermissionDenied("Only editors may publish.")
    result = BulkResult()
    now = timezone.now()
    for article in queryset.select_related("category").prefetch_related("bylines"):
        if article.status == Article.Status.PUBLISHED:
            continue
        failed = problems(article_checklist(article))
        if failed:
            result.skipped.append(f"“{article.headline}”: {' '.join(failed)}")
            continue
        _apply_in_bulk(article, Action.PUBLISH, user=user, now=now)
        result.changed += 1
    return result


def bulk_unpublish(queryset, *, user) -> BulkResult:
    if not can_publish(user):
        raise PermissionDenied("Only editors may unpublish.")
    result = BulkResult()
    for article in queryset.filter(status=Article.Status.PUBLISHED):
        _apply_in_bulk(article, Action.UNPUBLISH, user=user)
        result.changed += 1
    return result


def bulk_feature(queryset, *, user, featured: bool) -> int:
    if not can_publish(user):
        raise PermissionDenied("Only editors may feature articles.")
    count = articles_bulk_update(
        queryset.exclude(featured=featured),
        user=user,
        note="Featured" if featured else "No longer featured",
        featured=featured,
    )
    content_changed()
    return count
