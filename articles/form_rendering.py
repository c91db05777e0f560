"""How Newsdesk's forms render: Django's form templates, with the two steps every field takes
done in Python. The desk's change form renders about fifty widgets, and for each Django
includes `attrs.html`, a template loop over the widget's attributes; every line and field of
the form also renders its error list through a template, empty or not. Both cost about a
tenth of an article's change form, on the request an editor waits for after every save (and
whose share of the machine readers feel, see the live desk in the README).

`FormRenderer` is Django's own `DjangoTemplates` renderer with one folder of templates put
before Django's: `form_templates/` holds `attrs.html`, the attribute list as the one filter
`html_attrs` writes it, character for character what the template loop writes. An empty error
list renders "" without a template, as its templates would.
"""

from pathlib import Path

import django.forms
from django import template
from django.forms.renderers import DjangoTemplates
from django.utils.functional import cached_property
from django.utils.html import escape
from django.utils.safestring import SafeData, mark_safe

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
        name = name if isinstance(name, SafeData) else escape(name)
        if value is True:
            out.append(f" {name}")
        else:
            text = str(value)
            out.append(f' {name}="{text if isinstance(value, SafeData) else escape(text)}"')
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
        return super().render(template_name, context, request)
