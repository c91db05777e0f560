"""The audit trail, read-only: who did what, and when, filterable by user, action, date and
article. Entries are written by `services.audit_record` only."""

from django.contrib import admin
from django.utils.html import format_html

from ..models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "action", "article_link", "object_repr", "detail"]
    list_filter = ["action", ("user", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["object_repr", "article__headline", "user__username"]
    list_select_related = ["user", "article"]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Article", ordering="article")
    def article_link(self, obj):
        if obj.article_id is None:
            return "—"
        return format_html(
            '<a href="?article__id__exact={}">{}</a>', obj.article_id, obj.article.headline
        )
