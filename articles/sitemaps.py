"""Sitemaps for search engines, on the canonical site (`SITE_URL`) whatever host was asked.

Every `items()` calls `published()` when the sitemap is rendered, never at import time.
"""

import datetime as dt
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from .models import Article, Author, Category, Tag

NEWS_WINDOW = dt.timedelta(hours=48)
NEWS_LIMIT = 1000  # the news sitemap format allows at most 1,000 URLs


class SiteSitemap(Sitemap):
    limit = 50_000

    def get_protocol(self, protocol=None):
        return urlsplit(settings.SITE_URL).scheme or "https"

    def get_domain(self, site=None):
        return urlsplit(settings.SITE_URL).netloc


class ArticleSitemap(SiteSitemap):
    changefreq = "daily"

    def items(self):
        return (
            Article.objects.published()
            .only("slug", "published_at", "revised_at")
            .order_by("-published_at", "-pk")
        )

    def lastmod(self, item):
        return item.modified_at

    def location(self, item):
        # `get_absolute_url()` with one reverse() per page instead of one per article: reversing
        # is most of the cost of a 50,000-URL page. Slugs need no quoting.
        if not hasattr(self, "_detail_url"):
            self._detail_url = reverse("articles:detail", args=["-slug-"])
        return self._detail_url.replace("-slug-", item.slug)

    def get_latest_lastmod(self):
        # One query instead of walking every item, as the base class would.
        latest = self.items().first()
        return latest.modified_at if latest else None


class CategorySitemap(SiteSitemap):
    changefreq = "hourly"

    def items(self):
        # EXISTS per row: an index probe each, instead of collecting every published article.
        return Category.objects.filter(
            Exists(Article.objects.published().filter(category=OuterRef("pk")))
        ).order_by("order", "name")


class AuthorSitemap(SiteSitemap):
    def items(self):
        return Author.objects.filter(
            Exists(Article.objects.published().filter(bylines__author=OuterRef("pk")))
        ).order_by("name", "pk")


class TagSitemap(SiteSitemap):
    def items(self):
        return Tag.objects.filter(
            Exists(Article.objects.published().filter(tags=OuterRef("pk")))
        ).order_by("name", "pk")


sitemaps = {
    "articles": ArticleSitemap,
    "categories": CategorySitemap,
    "authors": AuthorSitemap,
    "tags": TagSitemap,
}


def news_articles():
    """Articles for the news sitemap: published in the last 48 hours, newest first."""
    since = timezone.now() - NEWS_WINDOW
    return list(
        Article.objects.published()
        .filter(published_at__gte=since)
        .only("slug", "headline", "published_at")
        .newest_first()[:NEWS_LIMIT]
    )
