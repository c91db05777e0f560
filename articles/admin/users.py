"""Staff accounts with their author profile: a new reporter gets the byline she writes under in
the same form. The profile is saved through `services.taxonomy_save`, like every author."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .. import services
from ..models import Author
from .base import DeskAdminMixin

User = get_user_model()


class AuthorProfileInline(admin.StackedInline):
    model = Author
    fk_name = "user"
    fields = ["name", "bio"]
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name = "author profile"
    verbose_name_plural = (
        "Author profile: the byline this account writes under (leave empty if none)"
    )


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class DeskUserAdmin(DeskAdminMixin, UserAdmin):
    inlines = [AuthorProfileInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not Author:
            return super().save_formset(request, form, formset, change)
        for author in formset.save(commit=False):
            services.taxonomy_save(author, user=request.user)
        formset.save_m2m()
