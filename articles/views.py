"""Readers' pages (front, archive, article, section/author/topic, corrections, search), the
sitemaps, robots.txt and the health check, and previews of unpublished articles for staff and
share links.

Every reader's list starts from `Article.objects.published()` and a withdrawn article answers
410 (`Article.State`); previews ask `workflow.can_preview` and share links
`ShareLink.opens_article`. The views choose what to fetch (pagination by id, section heads,
related articles) so that each page does a fixed number of queries; the rules are on the models.
"""

import datetime as dt
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.paginator import InvalidPage
from django.db import connection
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import http_date
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, ListView, TemplateView

from . import cache, seo, workflow
from .compiled import Compiled, padded, union_column
from .filters import ArticleFilter
from .models import (
    SHARE_LINK_SALT,
    Article,
    Author,
    Category,
    Correction,
    ShareLink,
    ShareLinkOpen,
    SlugRedirect,
    Tag,
    as_card_rows,
    attach_bylines,
    cards_from,
    load_article,
    load_cards,
)
from .paging import CompiledList, IdFirstPaginator, LazyRows
from .search import SearchQueryError, search_articles
from .sitemaps import news_articles, sitemaps

logger = logging.getLogger(__name__)

FRONT_PAGE_LATEST = 12
SECTION_SIZE = 4
RELATED_SIZE = 4
RELATED_CANDIDATES = 20  # per shared topic, newest first
HOME = ("Front page", "/")


def page_path(request, page_obj=None):
    """The canonical path of a list page: its own path, plus `?page=N` past the first page."""
    if page_obj is not None and page_obj.number > 1:
        return f"{request.path}?page={page_obj.number}"
    return request.path


class PageNotFound(Http404):
    """No such page of a list; the message is written for readers (see `not_found_page`)."""


def card_rows(ids):
    """A reader's list page's articles, as cards (`load_cards`)."""
    return load_cards(ids).values()


def not_found_page(request, reason):
    """The 404 page with a reason for the reader: the template never prints exception text."""
    return TemplateResponse(request, "404.html", {"reason": reason}, status=404)


def paginate(request, items, per_page, rows=None, compiled=None, count=True):
    """A page of `items`, or PageNotFound with a message a reader understands. `rows` reads
    the page's objects from its ids (default: the rows of `items`); `compiled` is `(a
    CompiledList, its values)` for the same list; `count=False` for a list that shows no total
    (`IdFirstPaginator`)."""
    paginator = IdFirstPaginator(
        items, per_page, after=request.GET.get("after"), count=count, rows=rows, compiled=compiled
    )
    number = request.GET.get("page") or 1
    try:
        return paginator.page(number)
    except InvalidPage:
        if not paginator.counted:
            raise PageNotFound(f"There is no page {str(number)[:20]!r}.") from None
        raise PageNotFound(
            f"There is no page {str(number)[:20]!r}: pages run from 1 to {paginator.num_pages}."
        ) from None


def query_without(request, *names, drop=None):
    """The current query string minus `names` (and one `drop=(name, value)` pair)."""
    pairs = [
        (k, v)
        for k, values in request.GET.lists()
        for v in values
        if k not in names and (k, v) != drop and v != ""
    ]
    return urlencode(pairs)


def featured_ids(*, now):
    """The newest featured articles' ids, for the front page."""
    published = Article.objects.published(now=now).filter(featured=True)
    return published.newest_first().values_list("pk", flat=True)[:5]


def latest_ids(*, now, lead):
    """The newest articles' ids but the front page's lead (`lead`: an empty list or its id)."""
    published = Article.objects.published(now=now).exclude(pk__in=lead)
    return published.newest_first().values_list("pk", flat=True)[:FRONT_PAGE_LATEST]


def section_head(*, now, category):
    """The newest SECTION_SIZE article ids of section `category`: the front page asks for every
    section at once (`union_column`); a window function over every published article would
    read the whole table on a large archive."""
    published = Article.objects.published(now=now).filter(category_id=category)
    return published.newest_first().values_list("pk", flat=True)[:SECTION_SIZE]


FEATURED = Compiled(featured_ids)
LATEST = Compiled(latest_ids)
SECTION_HEAD = Compiled(section_head)


def in_archive(*, now):
    return Article.objects.published(now=now)


def in_section(*, now, of):
    return Article.objects.published(now=now).in_category(of)


def by_author(*, now, of):
    return Article.objects.published(now=now).by_author(of)


def on_topic(*, now, of):
    """A topic's page walks the newest published articles and asks each whether it is on the
    topic (EXISTS), stopping when the page is full; joining from the topic's links would read
    and sort every article on it."""
    links = Article.tags.through.objects.filter(article_id=OuterRef("pk"), tag=of)
    return Article.objects.published(now=now).filter(Exists(links))


ARCHIVE = CompiledList(in_archive)
SECTION = CompiledList(in_section)
AUTHOR = CompiledList(by_author)
TOPIC = CompiledList(on_topic)


def related_in_section(*, now, article, category):
    """Related candidates: the newest RELATED_SIZE published articles of section `category`."""
    published = Article.objects.published(now=now).exclude(pk=article)
    return (
        published.filter(category_id=category)
        .newest_first()
        .values_list("pk", flat=True)[:RELATED_SIZE]
    )


def related_on_topic(*, article, tag):
    """Related candidates: the newest links to topic `tag`, by article id (the (tag, article)
    index), not every article on the topic sorted by date."""
    links = Article.tags.through.objects.filter(tag_id=tag).exclude(article_id=article)
    return links.order_by("-article_id").values_list("article_id", flat=True)[:RELATED_CANDIDATES]


def newest_published(*, now, ids):
    """The newest RELATED_SIZE published articles among `ids`, as card rows: choosing them and
    loading them is one statement."""
    published = Article.objects.published(now=now).filter(pk__in=ids)
    return as_card_rows(published.newest_first())[:RELATED_SIZE]


RELATED_IN_SECTION = Compiled(related_in_section)
RELATED_ON_TOPIC = Compiled(related_on_topic)
NEWEST_PUBLISHED = Compiled(newest_published)


def related_rows(*, now, article, tags, category=None) -> list[tuple]:
    """The newest RELATED_SIZE published articles (card rows, `cards_from`) from section
    `category` or on one of the topics `tags`, `article` itself aside. The small candidate
    lists come first (one UNION ALL), then the newest published among them, loaded in the same
    query: one OR over the whole archive can use no index, and PostgreSQL, given the lists as
    subqueries, walked the published index backwards through thousands of rows to find four."""
    parts = [(RELATED_ON_TOPIC, {"article": article, "tag": tag}) for tag in tags]
    if category is not None:
        parts.append((RELATED_IN_SECTION, {"now": now, "article": article, "category": category}))
    candidates = sorted(set(union_column(parts)))
    if not candidates:
        return []
    return NEWEST_PUBLISHED.rows(now=now, ids=padded(candidates))


@cache.public(keys=("front",))
class HomeView(TemplateView):
    template_name = "articles/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        # Ids first (compiled once per process, see `Compiled`), then every card in one query:
        # the lists overlap, and each fetched its own rows, sections and bylines.
        featured = FEATURED.column(now=now)
        latest = LATEST.column(now=now, lead=featured[:1])
        # The section list doubles as the menu, so the menu costs no query of its own.
        categories = list(Category.objects.only("name", "slug", "order"))
        context["nav_categories"] = categories
        head_ids = SECTION_HEAD.union_column([{"now": now, "category": c.pk} for c in categories])
        cards = load_cards([*featured, *latest, *head_ids])
        featured = [cards[pk] for pk in featured if pk in cards]
        latest = [cards[pk] for pk in latest if pk in cards]
        lead = featured[0] if featured else (latest.pop(0) if latest else None)
        order = {c.pk: (c.order, c.name) for c in categories}
        ranked = sorted(
            (cards[pk] for pk in head_ids if pk in cards),
            key=lambda a: (order[a.category_id], -a.published_at.timestamp(), -a.pk),
        )
        sections = {}
        for article in ranked:
            articles = sections.setdefault(article.category, [])
            if len(articles) < SECTION_SIZE:
                articles.append(article)
        cache.tag(
            self.request, lead, *featured, *latest, *(a for s in sections.values() for a in s)
        )
        context.update(
            lead=lead,
            featured=[a for a in featured if a != lead][:4],
            latest=latest,
            sections=list(sections.items()),
            meta=seo.PageMeta(
                title=f"{settings.SITE_NAME} — latest news",
                name="Latest news",
                description=f"The latest news from {settings.SITE_NAME}.",
                path="/",
                image=seo.lead_image_url(lead) if lead else "",
                image_alt=lead.lead_image_alt if lead else "",
                structured_data=[
                    {
                        "@context": "https://schema.org",
                        "@type": "WebSite",
                        "name": settings.SITE_NAME,
                        "url": settings.SITE_URL + "/",
                        "potentialAction": {
                            "@type": "SearchAction",
                            "target": seo.absolute("/search/") + "?q={search_term_string}",
                            "query-input": "required name=search_term_string",
                        },
                    }
                ],
            ),
        )
        return context


@cache.public(params=(*ArticleFilter.base_filters, "page", "after"), keys=("archive",))
class ArticleListView(TemplateView):
    """The archive: every published article, newest first, filtered by `ArticleFilter`."""

    template_name = "articles/article_list.html"

    def get(self, request, *args, **kwargs):
        now = timezone.now()
        base = in_archive(now=now)
        filterset = ArticleFilter(request.GET or None, queryset=base)
        status, compiled = 200, None
        if filterset.is_bound and not filterset.is_valid():
            status = 400
            articles = base.none()
        elif filterset.is_bound and filterset.narrowing():
            articles = filterset.qs
        else:  # the whole archive (`?page=` and `?after=` alone included)
            articles, compiled = base, (ARCHIVE, {"now": now})
        try:
            page_obj = paginate(
                request,
                articles.newest_first(),
                settings.ARTICLES_PER_PAGE,
                rows=card_rows,
                compiled=compiled,
            )
        except PageNotFound as exc:
            return not_found_page(request, str(exc))
        cache.tag(request, *page_obj.object_list)
        context = self.get_context_data(
            filter=filterset,
            page_obj=page_obj,
            articles=page_obj.object_list,
            is_paginated=page_obj.paginator.num_pages > 1,
            query_string=query_without(request, "page", "after"),
            active_filters=self.active_filters(request, filterset) if status == 200 else [],
            meta=seo.PageMeta(
                title=seo.site_title("All articles"),
                name="All articles",
                description=f"Every article published on {settings.SITE_NAME}, newest first.",
                path=page_path(request, page_obj),
                structured_data=[seo.breadcrumbs([HOME, ("All articles", request.path)])],
            ),
            crumbs=[HOME],
        )
        return self.render_to_response(context, status=status)

    def active_filters(self, request, filterset):
        """(label, URL that removes it) for each filter in use."""
        if not filterset.is_bound:
            return []
        data = filterset.form.cleaned_data
        active = []
        for name in filterset.narrowing():
            value = data[name]
            label = filterset.filters[name].label or name.title()
            if name == "tag":
                for tag in value:
                    remove = query_without(request, "page", "after", drop=("tag", tag.slug))
                    active.append((f"{label}: {tag.name}", remove))
                continue
            if name == "featured":
                shown = "yes" if value else "no"
            elif hasattr(value, "isoformat"):
                shown = value.isoformat()
            else:
                shown = str(value)
            active.append((f"{label}: {shown}", query_without(request, "page", "after", name)))
        return active


@cache.public(params=("page", "after"))
class _ArticlesOfView(ListView):
    """A paginated list of the published articles belonging to one object."""

    model = None
    template_name = None
    listing = None  # a CompiledList of the object's articles (values: `now` and its id, `of`)
    context_object_name = "articles"

    def get_paginate_by(self, queryset):
        return settings.ARTICLES_PER_PAGE

    def get(self, request, *args, **kwargs):
        try:
            return super().get(request, *args, **kwargs)
        except PageNotFound as exc:
            return not_found_page(request, str(exc))

    def paginate_queryset(self, queryset, page_size):
        # No total: "Page N" and a link to the next page. Counting a topic's or an author's
        # articles (up to COUNT_LIMIT) was the part of these pages that grew with the archive.
        compiled = (self.listing, self.values)
        page_obj = paginate(
            self.request, queryset, page_size, rows=card_rows, compiled=compiled, count=False
        )
        return page_obj.paginator, page_obj, page_obj.object_list, page_obj.has_other_pages()

    def get_queryset(self):
        self.object = get_object_or_404(self.model, slug=self.kwargs["slug"])
        self.values = values = {"now": timezone.now(), "of": self.object.pk}
        return LazyRows(lambda: self.listing.rows(**values))  # the compiled pages need none

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object"] = self.object
        context[self.model._meta.model_name] = self.object
        cache.tag(self.request, self.object, *context["articles"])
        context["crumbs"] = [HOME]
        context["meta"] = self.get_meta(context["page_obj"])
        return context

    def get_meta(self, page_obj):
        name = str(self.object)
        return seo.PageMeta(
            title=seo.site_title(name),
            name=name,
            description=self.describe(),
            path=page_path(self.request, page_obj),
            structured_data=[
                seo.breadcrumbs([HOME, (name, self.object.get_absolute_url())]),
            ],
        )


class CategoryView(_ArticlesOfView):
    model = Category
    template_name = "articles/category_detail.html"
    listing = SECTION

    def describe(self):
        return self.object.description or f"The latest {self.object.name} articles."


class AuthorView(_ArticlesOfView):
    model = Author
    template_name = "articles/author_detail.html"
    listing = AUTHOR

    def describe(self):
        return self.object.bio or f"Articles by {self.object.name}."

    def get_meta(self, page_obj):
        meta = super().get_meta(page_obj)
        meta.og_type = "profile"
        meta.image = seo.absolute(self.object.photo.url) if self.object.photo else ""
        meta.image_alt = self.object.photo_alt or self.object.name
        meta.structured_data.insert(0, seo.profile_page(self.object))
        return meta


class TagView(_ArticlesOfView):
    model = Tag
    template_name = "articles/tag_detail.html"
    listing = TOPIC

    def describe(self):
        return f"Articles on {self.object.name}."


@cache.public()
class ArticleDetailView(DetailView):
    template_name = "articles/article_detail.html"
    context_object_name = "article"

    def get_object(self, queryset=None):
        article = load_article(
            self.kwargs["slug"], bylines=False
        )  # read with the related articles'
        if article is None:
            raise Http404("No published article at this address")
        return article

    def get(self, request, *args, **kwargs):
        try:
            self.object = self.get_object()
        except Http404:
            withdrawn = self.withdrawn(kwargs["slug"])
            if withdrawn is not None:
                return TemplateResponse(
                    request, "articles/withdrawn.html", {"article": withdrawn}, status=410
                )
            target = self.redirect_target(kwargs["slug"])
            if target is None:
                raise
            return redirect(target, permanent=True)
        context = self.get_context_data(object=self.object)
        return self.render_to_response(context)

    def withdrawn(self, slug):
        """A withdrawn article at this address (current or old): readers get 410 Gone. Two
        lookups by unique index: one query with `slug OR old slug` joined the old addresses to
        every article (200 ms per unknown address at 100,000 articles on SQLite)."""
        withdrawn = Article.objects.in_state(Article.State.WITHDRAWN)
        return (
            withdrawn.filter(slug=slug).first()
            or withdrawn.filter(old_slugs__old_slug=slug).first()
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        article = self.object
        crumbs = [HOME]
        if article.category:
            crumbs.append((article.category.name, article.category.get_absolute_url()))
        context["crumbs"] = crumbs
        context["related"] = self.related(article)
        cache.tag(self.request, article, *context["related"])
        context["meta"] = seo.article_meta(
            article, [*crumbs, (article.headline, article.get_absolute_url())]
        )
        return context

    def related(self, article):
        """Up to four published articles from the same section or on the same topics; the
        article's byline and theirs are read here, in one query."""
        tag_ids = [t.pk for t in article.tags.all()]
        cards = []
        if article.category_id or tag_ids:
            values = {"now": timezone.now(), "article": article.pk, "tags": tag_ids}
            if article.category_id:
                values["category"] = article.category_id
            cards = cards_from(related_rows(**values), bylines=False)
        attach_bylines(article, *cards)
        return cards

    def redirect_target(self, slug):
        old = SlugRedirect.objects.filter(old_slug=slug).select_related("article").first()
        if old and Article.objects.published().filter(pk=old.article_id).exists():
            return old.article.get_absolute_url()
        return None


@cache.public(params=("page",), keys=("corrections",))
class CorrectionListView(ListView):
    """Every correction, clarification, update and editor's note on a published article."""

    template_name = "articles/correction_list.html"
    context_object_name = "corrections"

    def get_paginate_by(self, queryset):
        return settings.ARTICLES_PER_PAGE

    def get(self, request, *args, **kwargs):
        try:
            return super().get(request, *args, **kwargs)
        except PageNotFound as exc:
            return not_found_page(request, str(exc))

    def paginate_queryset(self, queryset, page_size):
        page_obj = paginate(self.request, queryset, page_size)
        return page_obj.paginator, page_obj, page_obj.object_list, page_obj.has_other_pages()

    def get_queryset(self):
        return (
            Correction.objects.filter(
                Exists(Article.objects.published().filter(pk=OuterRef("article_id")))
            )
            .select_related("article")
            .order_by("-created_at", "-pk")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["meta"] = seo.PageMeta(
            title=seo.site_title("Corrections and updates"),
            name="Corrections and updates",
            description=f"Every correction, clarification and update {settings.SITE_NAME} has published.",
            path=self.request.path,
        )
        return context


@cache.public(params=("q", "page"), keys=("search",))
def search(request):
    """Ranked full-text search over published articles."""
    query = request.GET.get("q", "")
    context = {
        "query": query,
        "crumbs": [HOME],
        "meta": seo.PageMeta(
            title=seo.site_title(f"Search: {query[:80]}" if query.strip() else "Search"),
            name="Search",
            description=f"Search the articles of {settings.SITE_NAME}.",
            path=request.path,
        ),
        "robots": "noindex, follow",
    }
    status = 200
    if query.strip():
        try:
            results = search_articles(query)
        except SearchQueryError as exc:
            context["error"] = str(exc)
            status = 400
        else:
            try:
                page_obj = paginate(request, results, settings.ARTICLES_PER_PAGE)
            except PageNotFound as exc:
                return not_found_page(request, str(exc))
            context.update(
                searched=True,
                page_obj=page_obj,
                articles=page_obj.object_list,
                is_paginated=page_obj.paginator.num_pages > 1,
                query_string=query_without(request, "page"),
            )
    return TemplateResponse(request, "articles/search.html", context, status=status)


@cache.public(keys=("sitemaps",))
def sitemap_index(request):
    """The sitemap index, one entry per page of each section, on the canonical site."""
    entries = []
    for section, cls in sitemaps.items():
        site = cls()
        location = seo.absolute(reverse("sitemap-section", kwargs={"section": section}))
        lastmod = site.get_latest_lastmod() if section == "articles" else None
        entries.append({"location": location, "last_mod": lastmod})
        for page in range(2, site.paginator.num_pages + 1):
            entries.append({"location": f"{location}?p={page}", "last_mod": lastmod})
    # Written straight to XML like the pages (the template cost grew with the archive: one
    # entry per page of 500 articles).
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for entry in entries:
        line = f"<sitemap><loc>{escape(entry['location'])}</loc>"
        if entry["last_mod"]:
            stamp = entry["last_mod"].astimezone(dt.UTC).isoformat(timespec="seconds")
            line += f"<lastmod>{stamp}</lastmod>"
        lines.append(line + "</sitemap>")
    lines.append("</sitemapindex>")
    return HttpResponse("\n".join(lines) + "\n", content_type="application/xml")


@cache.public(params=("p",), keys=("sitemaps",))
def sitemap_section(request, section):
    """One page of one sitemap section, written straight to XML.

    The sections are Django `Sitemap` classes; this renders their pages without the template
    engine, which would take seconds for a full page of 50,000 URLs.
    """
    if section not in sitemaps:
        raise Http404(f"There is no sitemap called {section[:40]!r}.")
    site = sitemaps[section]()
    try:
        page = site.paginator.page(request.GET.get("p") or 1)
    except InvalidPage:
        raise Http404("There is no such page of this sitemap.") from None
    lastmod = getattr(site, "lastmod", None)
    changefreq = getattr(site, "changefreq", None)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    latest = None
    for item in page.object_list:
        entry = f"<url><loc>{escape(seo.absolute(site.location(item)))}</loc>"
        if lastmod:
            modified = lastmod(item)
            if modified:
                latest = max(latest, modified) if latest else modified
                # Full W3C datetime: a same-day correction must move lastmod too.
                stamp = modified.astimezone(dt.UTC).isoformat(timespec="seconds")
                entry += f"<lastmod>{stamp}</lastmod>"
        if changefreq:
            entry += f"<changefreq>{changefreq}</changefreq>"
        lines.append(entry + "</url>")
    lines.append("</urlset>")
    response = HttpResponse("\n".join(lines) + "\n", content_type="application/xml")
    response["X-Robots-Tag"] = "noindex, noodp, noarchive"
    if latest:
        response["Last-Modified"] = http_date(latest.timestamp())
    return response


@cache.public(keys=("sitemaps",))
def news_sitemap(request):
    """Google's news sitemap: the articles published in the last 48 hours."""
    return TemplateResponse(
        request,
        "news_sitemap.xml",
        {"articles": news_articles()},
        content_type="application/xml",
    )


@never_cache
def healthz(request):
    """200 when the app and its database answer, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        # The reason goes to the log, never to whoever asked: it can name hosts and users.
        logger.exception("healthz: the database does not answer")
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@cache.public()
def robots_txt(request):
    lines = [
        "User-agent: *",
        "Disallow: /admin/",
        "Disallow: /preview/",
        "",
        f"Sitemap: {settings.SITE_URL}/sitemap.xml",
        f"Sitemap: {settings.SITE_URL}/news-sitemap.xml",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")


# --- previews ------------------------------------------------------------------------------


def _render_preview(request, article, *, shared=False):
    response = render(
        request,
        "articles/article_preview.html",
        {
            "article": article,
            "object": article,
            "preview": True,
            "shared_preview": shared,
            "state": article.state,
        },
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _preview_article(pk):
    return get_object_or_404(Article.objects.for_listing(), pk=pk)


@never_cache
def preview(request, pk):
    """Staff who may see the article in the desk see it as readers will; others get 404."""
    article = _preview_article(pk)
    if not workflow.can_preview(request.user, article):
        raise Http404("No such article.")
    return _render_preview(request, article)


@never_cache
def shared_preview(request, token):
    """A signed link for someone without an account; expired or revoked links, and links to a
    withdrawn or trashed article, are 404."""
    try:
        link_id = signing.loads(token, salt=SHARE_LINK_SALT)
    except signing.BadSignature:
        raise Http404("No such preview.") from None
    link = ShareLink.objects.select_related("article").filter(pk=link_id).first()
    if link is None or not link.opens_article:
        raise Http404("This preview link has expired or been revoked.")
    ShareLinkOpen.objects.create(link=link, user_agent=request.headers.get("User-Agent", "")[:200])
    return _render_preview(request, _preview_article(link.article_id), shared=True)
