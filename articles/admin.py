"""The desk: Django's admin, declared."""

from django.contrib import admin
from django.db.models import Count, Prefetch

from .admin_integrity import IntegrityArticleAdminMixin, MergeAdminMixin
from .models import Article, Author, Byline, Category, Tag


class BylineInline(admin.TabularInline):
    model = Byline
    extra = 1
    autocomplete_fields = ["author"]
    fields = ["position", "author"]
    ordering = ["position", "pk"]
    verbose_name = "byline author"
    verbose_name_plural = "Byline (lowest position first)"


@admin.register(Article)
class ArticleAdmin(IntegrityArticleAdminMixin, admin.ModelAdmin):
    list_display = ["headline", "status", "category", "byline", "published_at", "featured"]
    list_display_links = ["headline"]
    list_filter = ["status", "category", ("authors", admin.RelatedOnlyFieldListFilter), "featured"]
    list_select_related = ["category"]
    list_per_page = 50
    date_hierarchy = "published_at"
    search_fields = ["headline", "standfirst", "body", "authors__name"]
    autocomplete_fields = ["category", "tags"]
    prepopulated_fields = {"slug": ["headline"]}
    inlines = [BylineInline]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["headline", "slug", "standfirst", "body_format", "body"]}),
        ("Publishing", {"fields": ["status", "published_at", "unpublish_at", "featured"]}),
        ("Filing", {"fields": ["category", "tags", "dateline", "source"]}),
        (
            "Lead image",
            {"fields": ["lead_image", "lead_image_alt", "lead_image_caption", "lead_image_credit"]},
        ),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "bylines",
                    queryset=Byline.objects.select_related("author").order_by("position", "pk"),
                )
            )
        )

    @admin.display(description="Byline")
    def byline(self, obj):
        return ", ".join(author.name for author in obj.byline_authors)

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class _CountedAdmin(admin.ModelAdmin):
    """Change lists that show how many articles each row has, in one query."""

    search_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(article_count=Count("articles", distinct=True))
        )

    @admin.display(description="Articles", ordering="article_count")
    def articles(self, obj):
        return obj.article_count


@admin.register(Author)
class AuthorAdmin(MergeAdminMixin, _CountedAdmin):
    list_display = ["name", "slug", "user", "articles"]
    list_select_related = ["user"]
    search_fields = ["name", "bio"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["user"]
    fields = ["name", "slug", "bio", "photo", "photo_alt", "user"]


@admin.register(Category)
class CategoryAdmin(MergeAdminMixin, _CountedAdmin):
    list_display = ["name", "slug", "order", "articles"]
    list_editable = ["order"]
    ordering = ["order", "name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Tag)
class TagAdmin(MergeAdminMixin, _CountedAdmin):
    list_display = ["name", "slug", "articles"]
    prepopulated_fields = {"slug": ["name"]}
