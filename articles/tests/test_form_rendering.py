"""Newsdesk's form renderer writes what Django's own writes, with a widget's attributes and
empty error lists done in Python (`articles.form_rendering`)."""

import re

import pytest
from django.forms import (
    BooleanField,
    CharField,
    DateField,
    DateInput,
    EmailField,
    EmailInput,
    FileField,
    Form,
    HiddenInput,
    IntegerField,
    PasswordInput,
    TextInput,
    URLField,
)
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.test.signals import template_rendered
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from articles.form_rendering import FormRenderer

from .factories import make_article, make_author, make_category, make_tag

pytestmark = pytest.mark.django_db

ODD_ATTRS = {
    "required": True,
    "disabled": False,
    "maxlength": 0,
    "data-quote": 'say "hi" & <go>',
    "data-safe": mark_safe("<b>kept</b>"),
    "placeholder": gettext_lazy("Headline"),
    "data-number": 3.5,
    "data-none": None,
}


class OddForm(Form):
    title = CharField(widget=TextInput(attrs=ODD_ATTRS), label='Title "of" <it>')
    other = CharField(required=True)
    # Each widget the renderer writes as one <input> in Python, with odd values.
    secret = CharField(widget=HiddenInput, initial='a "quoted" & <tagged> value')
    safe = CharField(widget=HiddenInput, initial=mark_safe("<b>safe</b>"))
    count = IntegerField(initial=0, label=gettext_lazy("Count & <more>"))
    agree = BooleanField(required=False, initial=True)
    mail = EmailField(required=False, widget=EmailInput(attrs={"placeholder": "a@b"}))
    link = URLField(required=False, assume_scheme="https")
    key = CharField(required=False, widget=PasswordInput(render_value=True), initial="p<w>")
    day = DateField(required=False, widget=DateInput(attrs={"type": "date"}))
    upload = FileField(required=False)


def test_attributes_and_error_lists_render_as_djangos_templates_do():
    bound = {"title": "x", "count": "7", "key": 'p"w', "mail": "x<y"}
    for data in (None, bound):  # unbound, then bound with errors on `other` and `mail`
        for auto_id in ("id_%s", False):  # labels with and without their tag
            ours = OddForm(data, auto_id=auto_id, renderer=FormRenderer()).as_div()
            django = OddForm(data, auto_id=auto_id, renderer=DjangoTemplates()).as_div()
            assert ours == django
    assert "This field is required." in ours and 'data-quote="say &quot;hi&quot;' in ours
    # Labels, with and without attributes of their own.
    for renderer in (FormRenderer(), DjangoTemplates()):
        form = OddForm(renderer=renderer)
        labels = [form["other"].label_tag(), form["other"].label_tag(attrs={"class": "x"})]
        assert labels == [
            '<label for="id_other">Other:</label>',
            '<label class="x" for="id_other">Other:</label>',
        ]


@pytest.fixture
def rendered_with(settings):
    """The HTML of a GET of `url` by `client` with form renderer `renderer`, CSRF tokens and
    the times of day in fields masked (they differ from one request to the next)."""

    def render(client, url, renderer):
        settings.FORM_RENDERER = renderer
        get_default_renderer.cache_clear()
        html = client.get(url).content.decode()
        get_default_renderer.cache_clear()
        html = re.sub(r'(csrfmiddlewaretoken" value="|csrfToken: ")[^"]+', r"\1…", html)
        # An empty inline form's "now" (the correction's time) moves between the two GETs.
        return re.sub(r'value="\d\d:\d\d:\d\d"', 'value="…"', html)

    return render


def test_the_desks_forms_are_what_djangos_renderer_writes(
    client, editor, admin_client, admin_user, rendered_with
):
    author, section = make_author("Ann Lee"), make_category("World")
    article = make_article("Harbour reopens", authors=[author], tags=[make_tag("Ports")])
    article.category = section
    article.save()
    client.force_login(editor)
    for url, shows in (
        (reverse("admin:articles_article_change", args=[article.pk]), 'value="Harbour reopens"'),
        (reverse("admin:articles_article_add"), 'name="headline"'),
        (reverse("admin:articles_article_changelist"), 'name="action"'),
    ):
        ours = rendered_with(client, url, "articles.form_rendering.FormRenderer")
        django = rendered_with(client, url, "django.forms.renderers.DjangoTemplates")
        assert ours == django, url
        assert shows in ours, url
    # A form whose widgets include the attributes template with no attributes at all (None).
    url = reverse("admin:auth_user_password_change", args=[admin_user.pk])
    ours = rendered_with(admin_client, url, "articles.form_rendering.FormRenderer")
    assert ours == rendered_with(admin_client, url, "django.forms.renderers.DjangoTemplates")
    assert 'name="password1"' in ours


def test_a_change_form_renders_no_template_for_an_empty_error_list(client, editor):
    article = make_article("Harbour reopens")
    client.force_login(editor)
    names = []

    def seen(sender, template, **kwargs):
        names.append(template.name)

    template_rendered.connect(seen)
    try:
        response = client.get(reverse("admin:articles_article_change", args=[article.pk]))
    finally:
        template_rendered.disconnect(seen)
    assert response.status_code == 200 and "django/forms/widgets/attrs.html" in names
    assert not [name for name in names if name.startswith("django/forms/errors/")]
