"""The archive's filters: every parameter is validated by the FilterSet's form before use."""

import copy
import datetime as dt
import functools

import django_filters
from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.forms.models import ModelChoiceIterator
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from .models import Article, Author, Byline, Category, Tag
from .search import SearchQueryError, clean_query, matching_ids_sql

# Dates outside this range cannot be turned into aware datetimes on every backend.
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(9998, 12, 31)


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _attrs(attrs):
    """Django's widgets/attrs.html in Python."""
    return "".join(
        format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
        for name, value in attrs.items()
        if value is not False
    )


class QuickSelect(forms.Select):
    """Django's <select>, HTML for HTML, written in Python: a template per option took tens of
    milliseconds for a few hundred authors, and so did Django's option dictionaries, so the
    options are written straight from the choices (model choices read `name` and `slug` only).
    The options' HTML is remembered by the choices themselves (read afresh on every request),
    so a renamed author is a new entry, never a stale one; only the chosen options differ."""

    def render(self, name, value, attrs=None, renderer=None):
        final = self.build_attrs(self.attrs, attrs)
        if self.allow_multiple_selected:
            final["multiple"] = True
        choices = tuple(iter(self.choices))  # not tuple(choices): its len() is a COUNT query
        if any(isinstance(label, list | tuple) for _, label in choices):  # grouped: not used here
            return super().render(name, value, attrs, renderer)
        options = _options_html(choices)
        for chosen in {str(v) for v in self.format_value(value)}:
            start = f'<option value="{escape(chosen)}">'
            options = options.replace(start, f"{start[:-1]} selected>", 1)
        start = format_html('<select name="{}"', name)
        return mark_safe(f"{start}{_attrs(final)}>{options}\n</select>")  # noqa: S308 - escaped


@functools.lru_cache(maxsize=32)
def _options_html(choices) -> str:
    # escape() rather than format_html(): the same escaping, without parsing a format string
    # per option (400 authors).
    return "".join(
        f'\n  <option value="{escape("" if value is None else str(value))}">{escape(label)}</option>\n'
        for value, label in choices
    )


class QuickSelectMultiple(QuickSelect, forms.SelectMultiple):
    """`QuickSelect` for several choices (`multiple`)."""


class QuickInput:
    """Django's <input> widget template, written in Python (as `QuickSelect`): the archive's
    form is on every list page, and its widget templates were a third of the page's time."""

    def render(self, name, value, attrs=None, renderer=None):
        final = self.build_attrs(self.attrs, attrs)
        value = self.format_value(value)
        shown = "" if value is None else format_html(' value="{}"', str(value))
        start = format_html('<input type="{}" name="{}"', self.input_type, name)
        return mark_safe(f"{start}{shown}{_attrs(final)}>")  # noqa: S308 - parts escaped


class QuickTextInput(QuickInput, forms.TextInput):
    pass


class QuickDateInput(QuickInput, forms.DateInput):
    pass


class BoundedDateField(forms.DateField):
    widget = QuickDateInput(attrs={"type": "date"})

    def validate(self, value):
        super().validate(value)
        if value and not EARLIEST <= value <= LATEST:
            raise forms.ValidationError(
                "Enter a date between %(start)s and %(end)s.",
                params={"start": EARLIEST.isoformat(), "end": LATEST.isoformat()},
            )


class NameChoiceIterator(ModelChoiceIterator):
    """Choices as (value, name) pairs read straight from two columns: a model instance per
    option (each running its image field's signal handlers) was most of a list page's cost with
    400 authors. Validation still looks the chosen value up as a model choice field does."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        yield from self.queryset.values_list(self.field.to_field_name or "pk", "name")


class NameChoiceField(forms.ModelChoiceField):
    iterator = NameChoiceIterator


class NameMultipleChoiceField(forms.ModelMultipleChoiceField):
    iterator = NameChoiceIterator


class NameChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = NameChoiceField


class NameMultipleChoiceFilter(django_filters.ModelMultipleChoiceFilter):
    field_class = NameMultipleChoiceField


class BoundedDateFilter(django_filters.DateFilter):
    field_class = BoundedDateField


class ArchiveFilterForm(forms.Form):
    parsed_q = None

    def full_clean(self):
        """Point each refused field at its message (the template gives it the `-error` id)."""
        super().full_clean()
        for name in self.errors:
            if name not in self.fields:
                continue
            bound = self[name]
            ids = [f"{bound.auto_id}-error"]
            if bound.help_text:
                ids.append(f"{bound.auto_id}_helptext")
            widget = self.fields[name].widget
            widget.attrs["aria-describedby"] = " ".join(ids)
            if isinstance(widget, forms.DateInput):
                # A date input cannot hold what was typed; a text input shows it to correct.
                widget.input_type = "text"

    def clean(self):
        cleaned = super().clean()
        text = (cleaned.get("q") or "").strip()
        if text:
            try:
                self.parsed_q = clean_query(text)
            except SearchQueryError as exc:
                self.add_error("q", str(exc))
        start, end = cleaned.get("published_after"), cleaned.get("published_before")
        if start and end and start > end:
            self.add_error("published_before", "“Published to” is before “Published from”.")
        return cleaned


class ArticleFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Text",
        method="filter_q",
        max_length=settings.SEARCH_MAX_LENGTH,
        widget=QuickTextInput(attrs={"type": "search"}),
    )
    category = NameChoiceFilter(
        queryset=Category.objects.only("name", "slug"),
        to_field_name="slug",
        empty_label="Any section",
        label="Section",
        widget=QuickSelect,
    )
    author = NameChoiceFilter(
        queryset=Author.objects.only("name", "slug"),
        to_field_name="slug",
        empty_label="Any author",
        label="Author",
        widget=QuickSelect,
        method="filter_author",
    )
    tag = NameMultipleChoiceFilter(
        queryset=Tag.objects.only("name", "slug"),
        to_field_name="slug",
        label="Topics",
        widget=QuickSelectMultiple,
        method="filter_tag",
        help_text="Articles on any of the chosen topics.",
    )
    published_after = BoundedDateFilter(label="Published from", method="filter_published_after")
    published_before = BoundedDateFilter(label="Published to", method="filter_published_before")
    featured = django_filters.BooleanFilter(
        label="Featured only",
        widget=QuickSelect(
            choices=[("", "All articles"), ("true", "Featured"), ("false", "Not featured")]
        ),
    )

    class Meta:
        model = Article
        form = ArchiveFilterForm
        fields = [
            "q",
            "category",
            "author",
            "tag",
            "published_after",
            "published_before",
            "featured",
        ]

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        """django-filter's set-up without its deep copies, which were a tenth of an archive page
        (every filter's querysets copied per request): each filter is copied shallowly with its
        own options, model and parent (a method filter is bound to its own copy), and the form
        class is made once; a form still deep-copies its fields, so each request has its own."""
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = Article.objects.all() if queryset is None else queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {}
        for name, base in self.base_filters.items():
            own = copy.copy(base)
            own.extra = dict(base.extra)
            own.method = base.method  # a FilterMethod that asks this copy for its parent
            own.model, own.parent = self.queryset.model, self
            self.filters[name] = own

    def get_form_class(self):
        form_class = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            type(self)._form_class = form_class
        return form_class

    def narrowing(self):
        """The names of the filters given a value (the form is valid): none means the whole
        archive, which the view reads with its compiled queries."""
        return [
            name
            for name, value in self.form.cleaned_data.items()
            if value not in (None, "", []) and not (isinstance(value, QuerySet) and not value)
        ]

    def filter_q(self, queryset, name, value):
        if not value.strip():
            return queryset
        sql, params = matching_ids_sql(self.form.parsed_q)
        return queryset.filter(pk__in=RawSQL(sql, params))

    # Whole days in the site's time zone, as bounds on the column so its index is used.
    def filter_published_after(self, queryset, name, value):
        return queryset.filter(published_at__gte=_start_of(value))

    def filter_published_before(self, queryset, name, value):
        return queryset.filter(published_at__lt=_start_of(value + dt.timedelta(days=1)))

    def filter_author(self, queryset, name, value):
        # A subquery rather than a join: no duplicates, no DISTINCT over the listing.
        return queryset.filter(pk__in=Byline.objects.filter(author=value).values("article_id"))

    def filter_tag(self, queryset, name, value):
        if not value:
            return queryset
        through = Article.tags.through.objects.filter(tag__in=value).values("article_id")
        return queryset.filter(pk__in=through)
