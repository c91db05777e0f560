"""The desk dashboard on the admin index: what needs attention now, stories sent back to the
user, and her inbox. Which articles a user sees, their state and what was sent back are asked of
`workflow.desk_articles`, `Article.State` and `workflow.sent_back`."""

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from articles import workflow
from articles.models import Article, Category, Notification

register = template.Library()
LIMIT = 8
State = Article.State


@register.inclusion_tag("admin/desk_dashboard.html", takes_context=True)
def desk_dashboard(context):
    user = context["request"].user
    now = timezone.now()
    articles = workflow.desk_articles(user).only("pk", "headline", "published_at", "status")
    panels = [
        ("Waiting for review", "review",
         articles.in_state(State.REVIEW, now=now).order_by("updated_at")),
        ("Scheduled next", "scheduled",
         articles.scheduled_soonest(now=now)),
        ("My drafts", "drafts",
         articles.owned_by(user).in_state(State.DRAFT, now=now).order_by("-updated_at")),
        ("Recently published", "recent",
         articles.in_state(State.PUBLISHED, now=now).order_by("-published_at")),
    ]  # fmt: skip
    inbox = Notification.objects.inbox(user, now=now)
    context = {
        "panels": [],
        "notifications": list(inbox.select_related("article")[:LIMIT]),
        "unread": inbox.unread().count(),
    }
    if user.has_perm("articles.view_article"):
        context["panels"] = [(title, key, list(qs[:LIMIT])) for title, key, qs in panels]
        context["sent_back"] = list(workflow.sent_back(articles.owned_by(user))[:LIMIT])
        context["no_sections"] = not Category.objects.exists()
        context["can_add_section"] = user.has_perm("articles.add_category")
    return context


@register.filter
def ago(when):
    """ "just now" under a minute, else "3 minutes ago" (never "0 minutes ago")."""
    if when is None:
        return ""
    if timezone.now() - when < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(when)} ago"
