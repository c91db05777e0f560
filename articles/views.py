"""Public pages. Thin: every list starts from `Article.objects.published()`."""

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, ListView, TemplateView

from .models import Article, Author, Category, Correction, SlugRedirect, Tag

FRONT_PAGE_LATEST = 12
SECTION_SIZE = 4


class HomeView(TemplateView):
    template_name = "articles/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        published = Article.objects.published()
        featured = list(published.filter(featured=True).for_listing().newest_first()[:5])
        latest = list(
            published.exclude(pk__in=[a.pk for a in featured[:1]])
            .for_listing()
            .newest_first()[:FRONT_PAGE_LATEST]
        )
        lead = featured[0] if featured else (latest.pop(0) if latest else None)
        sections = {}
        ranked = (
            published.latest_per_category(SECTION_SIZE)
            .for_listing()
            .order_by("category__order", "category__name", "-published_at", "-pk")
        )
        for article in ranked:
            articles = sections.setdefault(article.category, [])
            if len(articles) < SECTION_SIZE:
                articles.append(article)
        context.update(
            lead=lead,
            featured=[a for a in featured if a != lead][:4],
            latest=latest,
            sections=list(sections.items()),
        )
        return context


class ArticleListView(ListView):
    template_name = "articles/article_list.html"
    context_object_name = "articles"

    def get_paginate_by(self, queryset):
        return settings.ARTICLES_PER_PAGE

    def get_queryset(self):
        return Article.objects.published().for_listing().newest_first()


class _ArticlesOfView(ArticleListView):
    """A paginated list of the published articles belonging to one object."""

    model = None
    template_name = None
    relation = None

    def get_queryset(self):
        self.object = get_object_or_404(self.model, slug=self.kwargs["slug"])
        return (
            getattr(Article.objects.published(), self.relation)(self.object)
            .for_listing()
            .newest_first()
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object"] = self.object
        context[self.model._meta.model_name] = self.object
        return context


class CategoryView(_ArticlesOfView):
    model = Category
    template_name = "articles/category_detail.html"
    relation = "in_category"


class AuthorView(_ArticlesOfView):
    model = Author
    template_name = "articles/author_detail.html"
    relation = "by_author"


class TagView(_ArticlesOfView):
    model = Tag
    template_name = "articles/tag_detail.html"
    relation = "tagged"


class ArticleDetailView(DetailView):
    template_name = "articles/article_detail.html"
    context_object_name = "article"

    def get_queryset(self):
        return Article.objects.published().for_listing().prefetch_related("corrections")

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
        """A withdrawn article at this address (current or old): readers get 410 Gone."""
        return (
            Article.objects.filter(withdrawn_at__isnull=False)
            .filter(Q(slug=slug) | Q(old_slugs__old_slug=slug))
            .only("headline", "withdrawn_at", "withdrawal_reason")
            .first()
        )

    def redirect_target(self, slug):
        old = SlugRedirect.objects.filter(old_slug=slug).select_related("article").first()
        if old and Article.objects.published().filter(pk=old.article_id).exists():
            return old.article.get_absolute_url()
        return None


class CorrectionListView(ListView):
    """Every correction, clarification, update and editor's note on a published article."""

    template_name = "articles/correction_list.html"
    context_object_name = "corrections"

    def get_paginate_by(self, queryset):
        return settings.ARTICLES_PER_PAGE

    def get_queryset(self):
        return (
            Correction.objects.filter(article__in=Article.objects.published().values("pk"))
            .select_related("article")
            .order_by("-created_at", "-pk")
        )


@never_cache
def healthz(request):
    """200 when the app and its database answer, 503 otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return JsonResponse({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


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
