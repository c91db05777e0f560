"""The desk dashboard on the admin index: what needs attention now."""

from django import template
from django.db.models import Q
from django.utils import timezone

from articles.models import Article

register = template.Library()
LIMIT = 8


@register.inclusion_tag("admin/desk_dashboard.html", takes_context=True)
def desk_dashboard(context):
    user = context["request"].user
    now = timezone.now()
    if not user.has_perm("articles.view_article"):
        return {"panels": []}
    articles = Article.objects.only("pk", "headline", "published_at", "status")
    if not user.has_perm("articles.edit_any_article"):
        articles = articles.filter(Q(created_by=user) | Q(bylines__author__user=user)).distinct()
    mine = articles.filter(created_by=user, status=Article.Status.DRAFT).order_by("-updated_at")
    panels = [
        (
            "Waiting for review",
            "review",
            articles.filter(status=Article.Status.REVIEW).order_by("updated_at"),
        ),
        (
            "Scheduled next",
            "scheduled",
            articles.filter(status=Article.Status.PUBLISHED, published_at__gt=now).order_by(
                "published_at"
            ),
        ),
        ("My drafts", "drafts", mine),
        ("Recently published", "recent", articles.published(now=now).order_by("-published_at")),
    ]
    return {"panels": [(title, key, list(qs[:LIMIT])) for title, key, qs in panels]}
