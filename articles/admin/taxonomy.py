"""Authors, sections and topics: article counts in one query, no deletion while articles use
them, and *Merge selected into another…*. Saves and deletes go through `services`."""

from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse

from .. import services
from ..models import Author, Category, Tag
from .base import DeskAdminMixin, desk_id
from .images import AuthorImageAdminMixin


class TaxonomyAdmin(DeskAdminMixin, admin.ModelAdmin):
    """Change lists that show how many articles each row has, in one query; saves, deletes and
    merges through `services` (which tell the page cache)."""

    search_fields = ["name"]
    ordering = ["name"]
    merge_template = "admin/articles/merge.html"
    delete_confirmation_template = "admin/articles/in_use_delete_confirmation.html"
    merge_service = None

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(article_count=Count("articles", distinct=True))
        )

    @admin.display(description="Articles", ordering="article_count")
    def article_count(self, obj):
        return obj.article_count

    def save_model(self, request, obj, form, change):
        services.taxonomy_save(obj, user=request.user)

    def delete_model(self, request, obj):
        services.taxonomy_delete(obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.taxonomy_delete(obj, user=request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.has_change_permission(request) and self.has_delete_permission(request):
            actions["merge_selected"] = self.get_action("merge_selected")
        return actions

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        in_use = []
        for obj in objs:
            n = obj.articles.count()
            if n:
                in_use.append(
                    f"{obj} still has {n} article(s): merge it into another "
                    f"{self.model._meta.verbose_name} instead."
                )
        return deleted, counts, perms_needed, (in_use or protected)

    @admin.action(description="Merge selected into another…")
    def merge_selected(self, request, queryset):
        opts = self.model._meta
        choices = self.model.objects.order_by("name")
        error = ""
        if "apply" in request.POST:
            target = choices.filter(pk=desk_id(request.POST.get("target"))).first()
            if target is None:
                error = f"Choose the {opts.verbose_name} to merge into."
            else:
                moved = merged = 0
                for source in queryset.exclude(pk=target.pk):
                    moved += type(self).merge_service(source, target, user=request.user)
                    merged += 1
                self.message_user(
                    request,
                    f"Merged {merged} {opts.verbose_name_plural} into “{target}”; "
                    f"{moved} article(s) moved.",
                    messages.SUCCESS,
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "title": f"Merge {opts.verbose_name_plural}",
            "queryset": queryset,
            "choices": choices,
            "error": error,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, self.merge_template, context, status=400 if error else 200)


@admin.register(Author)
class AuthorAdmin(AuthorImageAdminMixin, TaxonomyAdmin):
    list_display = ["name", "slug", "user", "article_count"]
    list_select_related = ["user"]
    search_fields = ["name", "bio"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["user"]
    fields = ["name", "slug", "bio", "photo", "photo_alt", "user"]
    merge_service = services.author_merge


@admin.register(Category)
class CategoryAdmin(TaxonomyAdmin):
    list_display = ["name", "slug", "order", "article_count"]
    list_editable = ["order"]
    ordering = ["order", "name"]
    prepopulated_fields = {"slug": ["name"]}
    merge_service = services.category_merge


@admin.register(Tag)
class TagAdmin(TaxonomyAdmin):
    list_display = ["name", "slug", "article_count"]
    prepopulated_fields = {"slug": ["name"]}
    merge_service = services.tag_merge
