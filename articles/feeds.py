"""RSS 2.0 and Atom feeds: the site, each section, each author, and the corrections.

Feed instances live in urls.py and are shared by every thread, so they hold no per-request
state: each feed's own URL is reversed from its URL name (and its object's slug). Every link,
guid and self link is absolute on `SITE_URL`, whatever host the request came in on.

Feed readers render titles and descriptions as HTML after decoding the XML, so an escaped
`&lt;script&gt;` is a script to them: every field reaches a feed through `field_text` (markup
stripped) or `field_html` (stripped and escaped, or sanitised), as `rendering.FIELD_KINDS`
declares it.

Every feed names itself (`rel="self"`) and, when `NEWSDESK_WEBSUB_HUB` is set, the WebSub hub
(`rel="hub"`) that `webhooks` pings when it changes.
"""

import io
import mimetypes

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Enclosure, Rss201rev2Feed
from django.utils.html import escape

from . import cache
from .images import stored_size
from .models import Article, Author, Category, Correction, load_cards
from .rendering import field_html, field_text
from .seo import absolute
from .templatetags.newsdesk_dates import long_date

FEED_SIZE = 30


class WrittenWhole:
    """Writes the feed into a string, then into the response once: the XML writer's thousand
    small writes each went through an encoding wrapper and the response's own write."""

    def write(self, outfile, encoding):
        buffer = io.StringIO()
        super().write(buffer, encoding)
        outfile.write(buffer.getvalue())


class HubRssFeed(WrittenWhole, Rss201rev2Feed):
    """RSS 2.0 with `<atom:link rel="self">` (Django's) and `<atom:link rel="hub">`."""

    def add_root_elements(self, handler):
        super().add_root_elements(handler)
        if settings.NEWSDESK_WEBSUB_HUB:
            handler.addQuickElement(
                "atom:link", None, {"rel": "hub", "href": settings.NEWSDESK_WEBSUB_HUB}
            )


class HubAtomFeed(WrittenWhole, Atom1Feed):
    """Atom with `<link rel="self">` (Django's) and `<link rel="hub">`."""

    def add_root_elements(self, handler):
        super().add_root_elements(handler)
        if settings.NEWSDESK_WEBSUB_HUB:
            handler.addQuickElement(
                "link", "", {"rel": "hub", "href": settings.NEWSDESK_WEBSUB_HUB}
            )


@cache.public(keys=("feeds",))
class LatestArticlesFeed(Feed):
    """The newest published articles; subclasses narrow `articles()` and name themselves."""

    url_name = "articles:feed-rss"
    feed_type = HubRssFeed
    feed_copyright = None

    def title(self, obj=None):
        return settings.SITE_NAME

    def link(self, obj=None):
        return absolute(reverse("articles:home"))

    def description(self, obj=None):
        return f"The latest articles from {settings.SITE_NAME}."

    def feed_url(self, obj=None):
        kwargs = {"slug": obj.slug} if obj is not None else None
        return absolute(reverse(self.url_name, kwargs=kwargs))

    def articles(self, obj):
        return Article.objects.published()

    def items(self, obj=None):
        ids = list(self.articles(obj).newest_first().values_list("pk", flat=True)[:FEED_SIZE])
        cards = load_cards(ids, topics=True)
        return [cards[pk] for pk in ids if pk in cards]

    def item_description(self, item):
        """The lead picture, the standfirst and when it was last updated, as HTML (written in
        Python: a template per item was a seventh of the feed's time)."""
        parts = []
        if item.lead_image:
            src, alt = absolute(item.lead_image.url), field_text(item, "lead_image_alt")
            parts.append(f'<p><img src="{escape(src)}" alt="{escape(alt)}"></p>\n')
        if item.standfirst:
            parts.append(field_html(item, "standfirst"))
        parts.append("\n")
        if item.is_revised:
            updated = long_date(item.modified_at)
            parts.append(f"<p><em>Updated {escape(updated)}</em></p>")
        parts.append("\n")
        return "".join(parts)

    def item_title(self, item):
        return field_text(item, "headline")

    def item_link(self, item):
        return absolute(item.get_absolute_url())

    def item_guid(self, item):
        return absolute(item.get_absolute_url())

    def item_author_name(self, item):
        return ", ".join(field_text(a, "name") for a in item.byline_authors) or None

    def item_author_link(self, item):
        authors = item.byline_authors
        return absolute(authors[0].get_absolute_url()) if len(authors) == 1 else None

    def item_categories(self, item):
        names = [item.category] if item.category else []
        return [field_text(n, "name") for n in [*names, *item.topics]]

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.modified_at

    def item_enclosures(self, item):
        if not item.lead_image:
            return []
        length = stored_size(item.lead_image)  # recorded on the row: no call to the storage
        mime = mimetypes.guess_type(item.lead_image.name)[0] or "image/jpeg"
        return [Enclosure(absolute(item.lead_image.url), str(length), mime)]


class LatestArticlesAtomFeed(LatestArticlesFeed):
    url_name = "articles:feed-atom"
    feed_type = HubAtomFeed
    subtitle = LatestArticlesFeed.description


class CategoryFeed(LatestArticlesFeed):
    url_name = "articles:category-feed"

    def get_object(self, request, slug):
        return get_object_or_404(Category, slug=slug)

    def title(self, obj):
        return f"{field_text(obj, 'name')} — {settings.SITE_NAME}"

    def link(self, obj):
        return absolute(obj.get_absolute_url())

    def description(self, obj):
        name = field_text(obj, "name")
        return (
            field_text(obj, "description")
            or f"The latest {name} articles from {settings.SITE_NAME}."
        )

    def articles(self, obj):
        return Article.objects.published().in_category(obj)


class AuthorFeed(LatestArticlesFeed):
    url_name = "articles:author-feed"

    def get_object(self, request, slug):
        return get_object_or_404(Author, slug=slug)

    def title(self, obj):
        return f"{field_text(obj, 'name')} — {settings.SITE_NAME}"

    def link(self, obj):
        return absolute(obj.get_absolute_url())

    def description(self, obj):
        return f"The latest articles by {field_text(obj, 'name')} on {settings.SITE_NAME}."

    def articles(self, obj):
        return Article.objects.published().by_author(obj)


@cache.public(keys=("feeds", "corrections"))
class CorrectionsFeed(Feed):
    """Every correction, clarification, update and editor's note on a published article."""

    feed_type = HubRssFeed
    description = "Corrections, clarifications, updates and editor's notes, newest first."
    item_guid_is_permalink = False

    def title(self):
        return f"{settings.SITE_NAME}: corrections and updates"

    def link(self):
        return absolute(reverse("articles:corrections"))

    def feed_url(self):
        return absolute(reverse("articles:corrections_feed"))

    def items(self):
        return (
            Correction.objects.filter(
                Exists(Article.objects.published().filter(pk=OuterRef("article_id")))
            )
            .select_related("article")
            .order_by("-created_at", "-pk")[:50]
        )

    def item_title(self, item):
        return f"{item.get_kind_display()}: {field_text(item.article, 'headline')}"

    def item_description(self, item):
        return field_html(item, "text")

    def item_link(self, item):
        return absolute(item.get_absolute_url())

    def item_guid(self, item):
        return absolute(f"/corrections/{item.pk}")

    def item_pubdate(self, item):
        return item.created_at

    def item_updateddate(self, item):
        return item.created_at
