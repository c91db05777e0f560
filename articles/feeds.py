"""RSS 2.0 and Atom feeds for the site, each section and each author."""

import mimetypes

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Enclosure

from .models import Article, Author, Category
from .seo import absolute

FEED_SIZE = 30


class LatestArticlesFeed(Feed):
    """The newest published articles; subclasses narrow `articles()` and name themselves."""

    description_template = "feeds/article_description.html"
    feed_copyright = None

    def title(self, obj=None):
        return settings.SITE_NAME

    def link(self, obj=None):
        return absolute(reverse("articles:home"))

    def description(self, obj=None):
        return f"The latest articles from {settings.SITE_NAME}."

    def feed_url(self, obj=None):
        return absolute(self.request_path)

    def get_feed(self, obj, request):
        self.request_path = request.path
        return super().get_feed(obj, request)

    def articles(self, obj):
        return Article.objects.published()

    def items(self, obj=None):
        return list(self.articles(obj).for_listing().newest_first()[:FEED_SIZE])

    def item_title(self, item):
        return item.headline

    def item_link(self, item):
        return absolute(item.get_absolute_url())

    def item_guid(self, item):
        return absolute(item.get_absolute_url())

    def item_author_name(self, item):
        return ", ".join(a.name for a in item.byline_authors) or None

    def item_author_link(self, item):
        authors = item.byline_authors
        return absolute(authors[0].get_absolute_url()) if len(authors) == 1 else None

    def item_categories(self, item):
        names = [item.category.name] if item.category else []
        return names + [t.name for t in item.tags.all()]

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.modified_at

    def item_enclosures(self, item):
        if not item.lead_image:
            return []
        try:
            length = item.lead_image.size
        except OSError:
            length = 0
        mime = mimetypes.guess_type(item.lead_image.name)[0] or "image/jpeg"
        return [Enclosure(absolute(item.lead_image.url), str(length), mime)]


class LatestArticlesAtomFeed(LatestArticlesFeed):
    feed_type = Atom1Feed
    subtitle = LatestArticlesFeed.description


class CategoryFeed(LatestArticlesFeed):
    def get_object(self, request, slug):
        return get_object_or_404(Category, slug=slug)

    def title(self, obj):
        return f"{obj.name} — {settings.SITE_NAME}"

    def link(self, obj):
        return absolute(obj.get_absolute_url())

    def description(self, obj):
        return obj.description or f"The latest {obj.name} articles from {settings.SITE_NAME}."

    def articles(self, obj):
        return Article.objects.published().in_category(obj)


class AuthorFeed(LatestArticlesFeed):
    def get_object(self, request, slug):
        return get_object_or_404(Author, slug=slug)

    def title(self, obj):
        return f"{obj.name} — {settings.SITE_NAME}"

    def link(self, obj):
        return absolute(obj.get_absolute_url())

    def description(self, obj):
        return f"The latest articles by {obj.name} on {settings.SITE_NAME}."

    def articles(self, obj):
        return Article.objects.published().by_author(obj)
