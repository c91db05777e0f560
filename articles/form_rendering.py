"""How Newsdesk's forms render: Django's form templates, with the two steps every field takes
done in Python. The desk's change form renders about fifty widgets, and for each Django
includes `attrs.html`, a template loop over the widget's attributes; every line and field of
the form also renders its error list through a template, empty or not. Both cost about a
tenth of an article's change form, on the request an editor waits for after every save (and
whose share of the machine readers feel, see the live desk in the README).

`FormRenderer` is Django's own `DjangoTemplates` renderer with one folder of templates put
before Django's: `form_templates/` holds `attrs.html`, the attribute list as the one filter
`html_attrs` writes it, character for character what the template loop writes. An empty error
list renders "" without a template, as its templates would. A label (`label.html`) and every
widget Django renders as one `<input>` (`input.html` and the templates that only include it:
text, hidden, number, checkbox…) are written in Python too, as those templates write them:
with the hidden fields of the inline formsets they are most of the form's forty-odd
templates, at about a tenth of a millisecond each.
"""

from pathlib import Path

import django.forms
from django import template
from django.forms.renderers import DjangoTemplates
from django.utils.functional import cached_property
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter(is_safe=True)
def html_attrs(attrs):
    """` name="value"` for each of a widget's `attrs`, as Django's `attrs.html` writes them: a
    value of True is the bare name, False leaves the attribute out, anything else is written
    as a string and escaped unless it is marked safe."""
    if not hasattr(attrs, "items"):  # None (a label with no attributes) renders nothing
        return ""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        name = conditional_escape(name)
        out.append(f" {name}" if value is True else f' {name}="{conditional_escape(value)}"')
    return mark_safe("".join(out))


class FormRenderer(DjangoTemplates):
    @cached_property
    def engine(self):
        return self.backend(
            {
                "APP_DIRS": True,
                "DIRS": [
                    Path(__file__).parent / "form_templates",
                    Path(django.forms.__file__).parent / "templates",
                ],
                "NAME": "newsdesk-forms",
                "OPTIONS": {"builtins": [__name__]},
            }
        )

    def render(self, template_name, context, request=None):
        if template_name.startswith("django/forms/errors/") and not context.get("errors"):
            return ""  # what each of Django's error templates renders for no errors
        if template_name in INPUT_TEMPLATES:
            return _input(context["widget"])
        if template_name == "django/forms/label.html":
            return _label(context)
        return super().render(template_name, context, request)


# Django's `input.html` and its widgets' templates that are only `{% include %}` of it. The
# renderer looks in Django's own folder before any app's, so these are always Django's.
INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in (
        "input", "text", "hidden", "number", "email", "url", "password", "search", "tel",
        "color", "date", "datetime", "time", "checkbox", "file",
    )
)  # fmt: skip


def _input(widget):
    """What `django/forms/widgets/input.html` writes for `widget` (`conditional_escape` is
    `{{ value }}` in an autoescaping template, and `|stringformat:'s'` escaped unless the value
    is marked safe)."""
    value = widget["value"]
    shown = "" if value is None else f' value="{conditional_escape(value)}"'
    return (
        f'<input type="{conditional_escape(widget["type"])}" '
        f'name="{conditional_escape(widget["name"])}"{shown}{html_attrs(widget["attrs"])}>'
    )


def _label(context):
    """What `django/forms/label.html` writes."""
    label = conditional_escape(context["label"])
    if not context.get("use_tag"):
        return label
    tag = conditional_escape(context["tag"])
    return f"<{tag}{html_attrs(context['attrs'])}>{label}</{tag}>"
