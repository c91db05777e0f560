"""Desk forms: uploads are validated and cleaned before anything is saved."""

from django import forms

from .images import MIME_TYPES, normalise_image, validate_image
from .models import Article, Author


class ValidatedImageField(forms.ImageField):
    """An image upload checked by content (format, size, pixels, integrity), turned upright and
    stripped of metadata. Refusals are form errors: the whole form is refused, nothing saved."""

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        if not widget.is_hidden:
            # Lets the file picker offer only what will be accepted; the server still checks.
            attrs["accept"] = ",".join(sorted(set(MIME_TYPES.values())))
        return attrs

    def to_python(self, data):
        # FileField's checks only: Pillow's generic "not an image" message is replaced by ours.
        f = forms.FileField.to_python(self, data)
        if f is None:
            return None
        validate_image(f)
        return normalise_image(f)


class ImageFormMixin:
    """Uses `ValidatedImageField` for every image field of a ModelForm, whatever built it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, forms.ImageField) and not isinstance(field, ValidatedImageField):
                replacement = ValidatedImageField(
                    required=field.required,
                    widget=field.widget,
                    label=field.label,
                    help_text=field.help_text,
                )
                self.fields[name] = replacement


class ArticleImageForm(ImageFormMixin, forms.ModelForm):
    class Meta:
        model = Article
        fields = ["lead_image", "lead_image_alt", "lead_image_caption", "lead_image_credit"]


class AuthorPhotoForm(ImageFormMixin, forms.ModelForm):
    class Meta:
        model = Author
        fields = ["photo", "photo_alt"]
