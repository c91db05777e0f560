"""Telling people what happened to a story: who is concerned by each event, a `Notification` in
their desk inbox and an email to those with an address.

The services call `notify` once per event; the notices are made after COMMIT, so a save that
rolls back tells nobody, and a failure here is logged and never undoes the save. The actor is
never told about her own action.

Scheduled stories go live by the clock, with no job to run at that moment: scheduling makes the
"scheduled for <time>" notice and, dated at the publication time, the go-live notice, which the
inbox shows once its time has come (`NotificationQuerySet.inbox`). The go-live has no email of
its own: the scheduling email says when the story goes live. Rescheduling, publishing or
unpublishing the story replaces a go-live notice that has not come yet.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import dateformat, timezone

from . import workflow
from .models import Article, Author, Notification
from .workflow import Action

logger = logging.getLogger(__name__)
Kind = Notification.Kind
State = Article.State

# Who, beyond the story's own people (its byline's users and its creator), hears of each event.
TELLS_EDITORS = {Kind.SUBMITTED, Kind.WITHDRAWN}
TELLS_OWNERS = {Kind.SENT_BACK, Kind.PUBLISHED, Kind.SCHEDULED, Kind.CORRECTED, Kind.WITHDRAWN}


def event_for(action: str, before, after) -> str | None:
    """The event a workflow action that moved a story from `before` to `after` is, if any."""
    if action == Action.SCHEDULE and after == State.SCHEDULED:
        return Kind.SCHEDULED
    if before == after:
        return None
    if action == Action.SEND_BACK:
        return Kind.SENT_BACK
    if after == State.REVIEW:
        return Kind.SUBMITTED
    if after == State.PUBLISHED:
        return Kind.PUBLISHED
    return None


def editors():
    """The desk's editors: active users who may publish."""
    perm = Permission.objects.filter(content_type__app_label="articles", codename="publish_article")
    candidates = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True) | Q(groups__permissions__in=perm) | Q(user_permissions__in=perm)
        )
        .distinct()
    )
    return [user for user in candidates if workflow.can_publish(user)]


def owners(article: Article):
    """The story's people: its byline's users and its creator."""
    on_byline = Author.objects.filter(bylines__article=article, user__isnull=False)
    users = get_user_model().objects.filter(
        Q(pk=article.created_by_id) | Q(author_profile__in=on_byline), is_active=True
    )
    return list(users.distinct())


def recipients(kind: str, article: Article, *, actor) -> list:
    """Everyone concerned by `kind` on `article`, the actor aside."""
    people = {}
    if kind in TELLS_OWNERS:
        people.update((user.pk, user) for user in owners(article))
    if kind in TELLS_EDITORS:
        people.update((user.pk, user) for user in editors())
    if actor is not None:
        people.pop(actor.pk, None)
    return list(people.values())


def _when(moment) -> str:
    return dateformat.format(timezone.localtime(moment), "j M H:i")


def _texts(kind: str, article: Article, *, actor, note: str) -> str:
    who = (actor.get_full_name() or actor.get_username()) if actor is not None else "Newsdesk"
    headline = f"“{article.headline}”"
    return {
        Kind.SUBMITTED: f"{who} submitted {headline} for review.",
        Kind.SENT_BACK: f"{who} sent back {headline}: {note}",
        Kind.PUBLISHED: f"{who} published {headline}.",
        Kind.SCHEDULED: f"{who} scheduled {headline} to go live on {_when(article.published_at)}."
        if article.published_at
        else "",
        Kind.LIVE: f"{headline} went live.",
        Kind.CORRECTED: f"{who} added a correction to {headline}: {note}",
        Kind.WITHDRAWN: f"{who} withdrew {headline}: {note}",
    }[kind][:500]


def notify(kind: str | None, article: Article, *, actor, note: str = "") -> None:
    """Tell everyone concerned that `kind` happened to `article` — after COMMIT."""
    actor = actor if getattr(actor, "is_authenticated", False) else None
    transaction.on_commit(lambda: _deliver(kind, article, actor=actor, note=note), robust=True)


def article_moved(article: Article, *, action: str, before, actor, note: str = "") -> None:
    """A workflow action moved `article` from `before` to its state now: tell whom it concerns."""
    notify(event_for(action, before, article.state), article, actor=actor, note=note)


def _deliver(kind: str | None, article: Article, *, actor, note: str) -> None:
    try:
        # A go-live notice that has not come yet is out of date once the story moves again.
        Notification.objects.filter(
            article=article, kind=Kind.LIVE, created_at__gt=timezone.now()
        ).delete()
        if kind is None:
            return
        article.refresh_from_db()
        people = recipients(kind, article, actor=actor)
        text = _texts(kind, article, actor=actor, note=note)
        rows = [Notification(recipient=user, article=article, kind=kind, text=text, actor=actor)
                for user in people]  # fmt: skip
        if kind == Kind.SCHEDULED:
            go_live = _texts(Kind.LIVE, article, actor=actor, note=note)
            rows += [
                Notification(recipient=user, article=article, kind=Kind.LIVE, text=go_live,
                             actor=actor, created_at=article.published_at)
                for user in people
            ]  # fmt: skip
        Notification.objects.bulk_create(rows)
    except Exception:
        logger.exception("Could not make the %s notices for article %s", kind, article.pk)
        return
    _email(people, subject=text, article=article)


def _email(people, *, subject: str, article: Article) -> None:
    link = settings.SITE_URL + reverse("admin:articles_article_change", args=[article.pk])
    body = f"{subject}\n\nOpen it in the desk: {link}\n"
    subject = " ".join(f"[{settings.SITE_NAME}] {subject}".split())  # a header has one line
    subject = subject if len(subject) <= 120 else subject[:119] + "…"
    for user in people:
        if not user.email:
            continue
        try:
            send_mail(subject, body, None, [user.email])
        except Exception:
            logger.exception("Could not email %s about article %s", user.email, article.pk)
