"""The corrections feed: every correction, clarification, update and editor's note."""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse

from .models import Article, Correction


class CorrectionsFeed(Feed):
    description = "Corrections, clarifications, updates and editor's notes, newest first."

    def title(self):
        return f"{settings.SITE_NAME}: corrections and updates"

    def link(self):
        return reverse("articles:corrections")

    def items(self):
        return (
            Correction.objects.filter(article__in=Article.objects.published().values("pk"))
            .select_related("article")
            .order_by("-created_at", "-pk")[:50]
        )

    def item_title(self, item):
        return f"{item.get_kind_display()}: {item.article.headline}"

    def item_description(self, item):
        return item.text

    def item_link(self, item):
        return item.get_absolute_url()

    def item_guid(self, item):
        return f"{settings.SITE_URL}/corrections/{item.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.created_at

    def item_updateddate(self, item):
        return item.created_at
