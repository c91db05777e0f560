"""Admin mixins for images: validated uploads in the change form and a thumbnail column.

The change lists read renditions from the row itself, so the thumbnail costs no query. A save
whose media cannot be stored (a full disk) is rolled back, its files removed, and the form shown
again with the error on the image field and everything else the editor typed."""

import contextvars
import logging

from django.conf import settings
from django.contrib import admin
from django.db import models
from django.utils.html import format_html

from ..forms import ValidatedImageField
from ..images import (
    ACCEPTED_LABEL,
    format_megabytes,
    media_error_message,
    renditions_of,
    smallest_rendition_url,
    undone_on_failure,
)

logger = logging.getLogger(__name__)
THUMBNAIL_WIDTH = 64  # `img.desk-thumb` in desk.css caps the width at the same size

# The storage error the form being built must show; set only while the form is shown again.
_media_error: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "media_error", default=None
)


class _ImageAdminMixin:
    image_field = None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            with undone_on_failure():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except OSError as exc:
            if request.method != "POST":
                raise
            logger.error("Storing media failed; the form is shown again", exc_info=True)
            token = _media_error.set(media_error_message(exc))
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            finally:
                _media_error.reset(token)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        message = _media_error.get()
        if message is None:
            return form
        field = self.image_field

        class RefusedForm(form):
            def clean(self):
                cleaned = super().clean()
                self.add_error(field if field in self.fields else None, message)
                return cleaned

        return RefusedForm

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.ImageField):
            kwargs["form_class"] = ValidatedImageField
            kwargs.setdefault(
                "help_text",
                f"{ACCEPTED_LABEL}, at most {format_megabytes(settings.IMAGE_MAX_BYTES)} and "
                f"{settings.IMAGE_MAX_PIXELS / 1_000_000:g} million pixels. It is turned upright "
                "and its metadata (camera, GPS location) is removed.",
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_list_display(self, request):
        list_display = list(super().get_list_display(request))
        if "thumbnail" not in list_display:
            list_display.insert(0, "thumbnail")
        return list_display

    def get_list_display_links(self, request, list_display):
        links = super().get_list_display_links(request, list_display)
        if links and list(links) == ["thumbnail"] and len(list_display) > 1:
            # The default links the first column; keep the link on the name, not the picture.
            return ["thumbnail", list_display[1]]
        return links

    @admin.display(description="Image")
    def thumbnail(self, obj):
        fieldfile = getattr(obj, self.image_field)
        if not fieldfile:
            return self.get_empty_value_display()
        items = renditions_of(fieldfile)
        smallest = min(items, key=lambda r: r["width"]) if items else None
        width = getattr(obj, f"{self.image_field}_width", None)
        height = getattr(obj, f"{self.image_field}_height", None)
        if smallest:
            width, height = smallest["width"], smallest["height"]
        thumb_height = round(THUMBNAIL_WIDTH * height / width) if width and height else None
        return format_html(
            '<img class="desk-thumb" src="{}" alt="" width="{}"{} loading="lazy" decoding="async">',
            smallest_rendition_url(fieldfile),
            THUMBNAIL_WIDTH,
            format_html(' height="{}"', thumb_height) if thumb_height else "",
        )


class ArticleImageAdminMixin(_ImageAdminMixin):
    image_field = "lead_image"


class AuthorImageAdminMixin(_ImageAdminMixin):
    image_field = "photo"
