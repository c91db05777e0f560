"""What every desk admin shares: ids read from a request are checked once, here.

A value typed into an address or posted by a script ("abc", 99999999999999999999, a NUL) must
never reach the database as an id: SQLite cannot hold an integer past 64 bits, PostgreSQL no NUL,
and Django's admin looks ids up with `pk__in` (bulk actions, autocomplete widgets), which
checks neither. `desk_id` / `desk_ids` parse them; `DeskAdminMixin` gives a model admin a change
list, bulk actions, many-to-many fields and autocomplete widgets that use them.
"""

from django import forms
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.db import DataError
from django.http import HttpResponseBadRequest

MAX_ID = 2**31 - 1  # past any id the desk will see, within every integer column


def desk_id(value) -> int | None:
    """A posted or queried id, or None when it is not one (never a database error)."""
    value = str(value if value is not None else "")
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def desk_ids(values) -> list[int] | None:
    """Every value as an id, or None when any of them is not one."""
    ids = [desk_id(value) for value in values]
    return None if None in ids else ids


def holds_nul(*values) -> bool:
    """Whether posted text holds a NUL, which PostgreSQL cannot store (Django's form fields
    refuse it; views that read text straight from the request ask this)."""
    return any("\x00" in str(value) for value in values)


NUL_MESSAGE = "The text holds a NUL character, which cannot be stored. Nothing was saved."


class DeskChangeList(ChangeList):
    """Django's change list, which redirects to "?e=1" when a filter names no field: a filter
    value the database cannot take (an id that is a word or past 64 bits, a year past 9999, a
    NUL on PostgreSQL) is answered the same way instead of failing when the rows are read."""

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except OverflowError as exc:  # the date hierarchy's year, past what a date holds
            raise IncorrectLookupParameters(exc) from exc

    def get_results(self, request):
        try:
            return super().get_results(request)
        except (OverflowError, ValueError, DataError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class _ValidIds:
    """Django's autocomplete widgets read the chosen rows with `pk__in`; a form shown again
    with a tampered value shows nothing chosen for it instead of failing."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, [v for v in value if desk_id(v) is not None], attr)


class DeskAutocompleteSelect(_ValidIds, AutocompleteSelect):
    pass


class DeskAutocompleteSelectMultiple(_ValidIds, AutocompleteSelectMultiple):
    pass


class DeskModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Django's field checks each chosen id with `pk__in`, which a number past 64 bits breaks
    on SQLite: an id that is not one is refused as Django refuses a word."""

    def _check_values(self, value):
        if desk_ids(value) is None:
            raise forms.ValidationError(
                self.error_messages["invalid_pk_value"],
                code="invalid_pk_value",
                params={"pk": next(v for v in value if desk_id(v) is None)},
            )
        return super()._check_values(value)


class DeskAdminMixin:
    """For every desk ModelAdmin: the checked change list, bulk actions refused with a 400 when
    a selected id is not one, many-to-many choices checked, and autocomplete widgets that
    tolerate tampered values."""

    def get_changelist(self, request, **kwargs):
        return DeskChangeList

    def response_action(self, request, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if desk_ids(selected) is None:
            return HttpResponseBadRequest(
                "The selection holds something that is not a row of this list. Reload the page "
                "and choose again; nothing was changed.",
                content_type="text/plain; charset=utf-8",
            )
        return super().response_action(request, queryset)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = DeskAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", DeskModelMultipleChoiceField)
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = DeskAutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)
