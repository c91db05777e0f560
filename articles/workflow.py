"""Who may do what to an article, the desk's actions and the pre-publish checklist.

The one home of the desk's rules. An article's state comes from `Article.state`
(`models.state_conditions`) and ownership from `Article.is_owned_by` / `ArticleQuerySet.owned_by`;
the functions here combine them with the user's permissions. The admin's querysets, buttons and
read-only decisions, previews, share links, the dashboard, bulk actions, the importer and every
service function in `services.py` ask these functions, and nothing else decides.

Editors (`articles.edit_any_article`) see and edit every article in the desk; reporters see their
own (created by them or with them on the byline) and edit them while they are drafts, recall them
from review, and read (never edit) colleagues' stories in review or published. Withdrawn
and trashed articles are read-only for everyone. `user=None` is an unattended process (a
command): it may do anything a change of state allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from .models import Article, StateChange

STANDFIRST_MAX = 300
SEO_DESCRIPTION_MAX = 160
# "TK" (to come) only in capitals, so "tk" inside ordinary words never trips it.
PLACEHOLDERS = [re.compile(r"\bTK\b"), re.compile(r"\bXXX+\b|lorem\s+ipsum", re.IGNORECASE)]
State = Article.State
READ_ONLY_STATES = Article.READ_ONLY_STATES
# What a reporter may read of a colleague's story: what is in review or out in the world.
COLLEAGUE_READABLE_STATES = (State.REVIEW, State.PUBLISHED)


class Action:
    SAVE = "save"
    SUBMIT = "submit"
    PUBLISH = "publish"
    SCHEDULE = "schedule"
    UNPUBLISH = "unpublish"
    SEND_BACK = "send_back"
    RECALL = "recall"

    LABELS = {
        SAVE: "Save draft",
        SUBMIT: "Submit for review",
        PUBLISH: "Publish now",
        SCHEDULE: "Schedule",
        UNPUBLISH: "Unpublish",
        SEND_BACK: "Send back to reporter",
        RECALL: "Recall from review",
    }
    # What a revision written by a change of state says happened (`revision_note`).
    DONE = {
        SUBMIT: "Submitted for review",
        PUBLISH: "Published",
        SEND_BACK: "Sent back",
        RECALL: "Recalled",
        UNPUBLISH: "Unpublished",
    }


def _active(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def is_editor(user) -> bool:
    """May see and edit every article in the desk."""
    return user is None or (_active(user) and user.has_perm("articles.edit_any_article"))


def can_publish(user) -> bool:
    return user is None or (_active(user) and user.has_perm("articles.publish_article"))


def desk_articles(user, queryset=None):
    """The articles `user` sees in the desk (the trash aside): all for editors; for everyone
    else her own and colleagues' stories in review or published."""
    queryset = (Article.objects.all() if queryset is None else queryset).in_desk()
    if is_editor(user):
        return queryset
    if not (_active(user) and user.has_perm("articles.view_article")):
        return queryset.none()
    readable = queryset.in_state(*COLLEAGUE_READABLE_STATES).values("pk")
    return queryset.owned_by(user) | queryset.filter(pk__in=readable)


def can_view(user, article: Article) -> bool:
    """Editors read everything; reporters their own and colleagues' stories in review or
    published (drafts of others stay private)."""
    if is_editor(user):
        return True
    return (
        _active(user)
        and (user.has_perm("articles.view_article") or user.has_perm("articles.change_article"))
        and (article.state in COLLEAGUE_READABLE_STATES or article.is_owned_by(user))
    )


def can_edit(user, article: Article | None) -> bool:
    """Editors edit every article; reporters their own while they are drafts. Nobody edits a
    withdrawn or trashed article. `article=None` asks about a new one."""
    if user is not None and not (_active(user) and user.has_perm("articles.change_article")):
        return False
    if article is None or article.pk is None:
        return user is None or user.has_perm("articles.add_article")
    state = article.state
    if state in READ_ONLY_STATES:
        return False
    if is_editor(user):
        return True
    return state == State.DRAFT and article.is_owned_by(user)


def edit_refusal(user, article: Article) -> str:
    """Why `user` may not change `article` now, what happened and what she may do instead: the
    message a refused save shows above the editor's text (which the form keeps)."""
    state = article.state
    change = article.state_changes.select_related("user").order_by("-created_at", "-pk").first()
    happened = f"It is now {state.label.lower()}"
    if change is not None and change.to_state == state:
        who = change.user.get_full_name() or change.user.get_username() if change.user else ""
        happened += f" ({who + ', ' if who else ''}{timezone.localtime(change.created_at):%H:%M})"
    if state in READ_ONLY_STATES:
        advice = "Nobody can change it in this state."
    elif state in (State.REVIEW, State.SCHEDULED, State.PUBLISHED, State.EXPIRED):
        advice = (
            "Only editors change a story once it has been submitted. Copy your text and send "
            "it to an editor, or ask for it to be sent back to you."
        )
    else:
        advice = "Only its writers and editors may change it."
    return (
        f"Your changes were not saved. {happened}. {advice} Your text is still in the form below."
    )


def can_delete(user, article: Article | None = None) -> bool:
    """Move to the trash (and restore from it): editors only, never a withdrawn article."""
    if user is not None and not (_active(user) and user.has_perm("articles.delete_article")):
        return False
    if not is_editor(user):
        return False
    return article is None or article.state not in READ_ONLY_STATES


def can_preview(user, article: Article) -> bool:
    """Staff who may see the article in the desk may preview it."""
    if user is None or not (_active(user) and user.is_staff):
        return False
    if not (user.has_perm("articles.preview_article") or user.has_perm("articles.change_article")):
        return False
    return can_view(user, article)


def can_share(user, article: Article) -> bool:
    """Make or revoke a share link: whoever may preview the article and edits it or owns it
    (reading a colleague's story is not enough), while it is not withdrawn or trashed (links
    never open those)."""
    return (
        can_preview(user, article)
        and (is_editor(user) or article.is_owned_by(user))
        and article.state not in READ_ONLY_STATES
    )


def can_withdraw(user, article: Article) -> bool:
    if user is not None and not (_active(user) and user.has_perm("articles.withdraw_article")):
        return False
    return article.was_published and article.state not in READ_ONLY_STATES


def allowed_actions(user, article: Article | None) -> list[str]:
    """The workflow buttons this user may press on this article, in display order."""
    state = article.state if article is not None and article.pk else State.DRAFT
    if not can_edit(user, article):
        return [Action.RECALL] if can_recall(user, article) else []
    actions = []
    going = state in (State.SCHEDULED, State.PUBLISHED, State.EXPIRED)
    if not going or can_publish(user):
        actions.append(Action.SAVE)
    if state == State.DRAFT:
        actions.append(Action.SUBMIT)
    if can_publish(user) and is_editor(user):
        # A live story is not "published now" again (that would re-date it); it can be rescheduled.
        actions += (
            [Action.SCHEDULE] if state == State.PUBLISHED else [Action.PUBLISH, Action.SCHEDULE]
        )
        if going:
            actions.append(Action.UNPUBLISH)
        if state == State.REVIEW:
            actions.append(Action.SEND_BACK)
    if can_recall(user, article):
        actions.append(Action.RECALL)
    return actions


def can_lift_embargo(user, article: Article | None) -> bool:
    """Clear an embargo that still holds: editors who may publish, never on a withdrawn or
    trashed story. Reporters may not."""
    return (
        article is not None
        and article.pk is not None
        and article.is_embargoed
        and can_publish(user)
        and is_editor(user)
        and article.state not in READ_ONLY_STATES
    )


def embargo_refusal(article: Article, *, before=None, now=None) -> str | None:
    """Why `article` as it now stands may not be saved because of its embargo (None if it may):
    it would go out before the embargo ends. `before` is its state as stored."""
    if not article.embargo_blocks_publication(now=now):
        return None
    when = timezone.localtime(article.embargo_until).strftime("%-d %b %Y %H:%M")
    if before == State.PUBLISHED:
        return (
            f"Embargoed until {when}, but it is already published: readers have seen it. "
            "Unpublish it first, or clear the embargo time."
        )
    return (
        f"Embargoed until {when}: it cannot be published before then. Schedule it for "
        f"{when} or later, or ask an editor to lift the embargo."
    )


def can_recall(user, article: Article | None) -> bool:
    """Take her own story back from review (to draft) before an editor acts on it."""
    return (
        article is not None
        and article.pk is not None
        and _active(user)
        and user.has_perm("articles.change_article")
        and article.state == State.REVIEW
        and article.is_owned_by(user)
    )


def sent_back(articles):
    """The send-back standing on each of `articles`: the `StateChange` steps that are the latest
    of their article and moved it from review to draft with an editor's note (a recall has no
    note). The note stands until the story moves again (she resubmits it)."""
    latest = (
        StateChange.objects.filter(article=OuterRef("article_id"))
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    return (
        StateChange.objects.filter(
            article__in=articles, from_state=State.REVIEW, to_state=State.DRAFT
        )
        .exclude(note="")
        .filter(pk=Subquery(latest))
        .select_related("user", "article")
        .order_by("-created_at", "-pk")
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
    elif action in (Action.SEND_BACK, Action.UNPUBLISH, Action.RECALL):
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
