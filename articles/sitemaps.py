"""Sitemaps for search engines, on the canonical site (`SITE_URL`) whatever host was asked.

Every `items()` calls `published()` when the sitemap is rendered, never at import time.
"""

import datetime as dt
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.core.paginator import Paginator
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone
from django.utils.functional import cached_property

from .models import (
    SLUG_PLACEHOLDER,
    Article,
    Author,
    Category,
    Tag,
    load_id_block,
    slug_pattern,
)
from .rendering import field_text

NEWS_WINDOW = dt.timedelta(hours=48)
NEWS_LIMIT = 1000  # the news sitemap format allows at most 1,000 URLs
# Articles per sitemap page: a page costs the same at any archive size (see README,
# "Performance"); the index lists up to 50,000 pages, i.e. 50 million articles.
ARTICLES_PER_SITEMAP = 500


class OnePagePaginator(Paginator):
    """A taxonomy sitemap's paginator that knows it has one page without counting: when the
    whole table fits on a page, so do the rows that have published articles. Counting those
    (an EXISTS per section, author or topic) grew with the archive's authors and made the
    sitemap index 1.4x slower at 100,000 articles than at 1,000."""

    @cached_property
    def fits(self):
        return self.object_list.model.objects.count() <= self.per_page

    @cached_property
    def num_pages(self):
        return 1 if self.fits else super().num_pages

    def page(self, number):
        if not self.fits:
            return super().page(number)
        number = self.validate_number(number)
        return self._get_page(self.object_list[: self.per_page], number, self)


class SiteSitemap(Sitemap):
    limit = 50_000

    @property
    def paginator(self):
        return OnePagePaginator(self.items(), self.limit)

    def get_protocol(self, protocol=None):
        return urlsplit(settings.SITE_URL).scheme or "https"

    def get_domain(self, site=None):
        return urlsplit(settings.SITE_URL).netloc


class IdBlockPaginator(Paginator):
    """Page p holds the published articles with ids in ((p - 1) * per_page, p * per_page], read
    by a primary key range (`load_id_block`): every page costs the same at any depth, and a page
    keeps its URLs as new articles are published (they join the last page). A block with no
    published article is an empty page."""

    @cached_property
    def num_pages(self):
        # The highest id of any article, read from the primary key alone: the highest id of a
        # published one would sort every published article on SQLite.
        last = self.object_list.model.objects.aggregate(last=Max("pk"))["last"]
        return -(-last // self.per_page) if last else 1

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(load_id_block(bottom, bottom + self.per_page), number, self)


class ArticleSitemap(SiteSitemap):
    changefreq = "daily"
    limit = ARTICLES_PER_SITEMAP

    def items(self):
        return Article.objects.published().only("slug", "published_at", "revised_at").order_by("pk")

    @property
    def paginator(self):
        return IdBlockPaginator(self.items(), self.limit)

    def lastmod(self, item):
        return item.modified_at

    def location(self, item):
        # `get_absolute_url()` with its address pattern looked up once per page, not per URL.
        if not hasattr(self, "_pattern"):
            self._pattern = slug_pattern(Article.URL_NAME)
        return self._pattern.replace(SLUG_PLACEHOLDER, item.slug)

    def get_latest_lastmod(self):
        # One query instead of walking every item, as the base class would.
        latest = self.items().newest_first().first()
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
    """Articles for the news sitemap: published in the last 48 hours, newest first, each with
    its `news_title`."""
    since = timezone.now() - NEWS_WINDOW
    articles = list(
        Article.objects.published()
        .filter(published_at__gte=since)
        .only("slug", "headline", "published_at")
        .newest_first()[:NEWS_LIMIT]
    )
    for article in articles:
        article.news_title = field_text(article, "headline")  # plain text, markup stripped
    return articles
