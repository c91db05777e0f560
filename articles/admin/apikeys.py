"""API keys for the read API: made here (the key is shown once, on the page that follows the
save), revoked by a bulk action, never deleted (their uses stay in the audit). Making and revoking
one are `services.api_key_create` and `services.api_keys_revoke`: each leaves an audit entry. Only superusers,
or staff given the model's permissions, see this page."""

from django.contrib import admin, messages
from django.db.models import Max
from django.template.response import TemplateResponse

from .. import services
from ..models import ApiKey
from .base import DeskAdminMixin


@admin.register(ApiKey)
class ApiKeyAdmin(DeskAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        "scope",
        "created_by",
        "created_at",
        "last_used",
        "revoked_at",
    )
    list_filter = ("scope",)
    fields = ("name", "scope")
    actions = ["revoke_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(last_use=Max("uses__used_at"))

    @admin.display(description="last used", ordering="last_use")
    def last_used(self, obj):
        return obj.last_use

    def get_readonly_fields(self, request, obj=None):
        # A key's scope is what its holder was given: revoke it and make another.
        return ("scope",) if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # Kept on the instance Django hands to `response_add` next, and nowhere else.
        obj.raw_key = services.api_key_create(obj, user=request.user)

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(obj, "raw_key", None)
        context = {**self.admin_site.each_context(request), "key": obj, "raw": raw,
                   "title": "API key made", "opts": self.opts}  # fmt: skip
        response = TemplateResponse(request, "admin/articles/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected API keys")
    def revoke_selected(self, request, queryset):
        count = services.api_keys_revoke(queryset, user=request.user)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
