"""`{% page_meta %}` writes what the included template it replaced wrote, byte for byte, with
the same escaping, for every kind of page meta."""

import pytest
from django.template import Context, Template

from articles.seo import PageMeta

# The template `{% page_meta %}` replaced (templates/includes/meta.html), as it was.
INCLUDED = (
    '{% if meta %}<meta name="description" content="{{ meta.short_description }}">\n'
    '  <link rel="canonical" href="{{ meta.canonical }}">\n'
    '  <meta property="og:site_name" content="{{ site_name }}">\n'
    '  <meta property="og:type" content="{{ meta.og_type }}">\n'
    '  <meta property="og:title" content="{{ meta.share_title }}">\n'
    '  <meta property="og:description" content="{{ meta.short_description }}">\n'
    '  <meta property="og:url" content="{{ meta.canonical }}">\n'
    '  <meta property="og:locale" content="{{ meta.locale }}">\n'
    '  {% if meta.image %}<meta property="og:image" content="{{ meta.image }}">\n'
    '  {% if meta.image_alt %}<meta property="og:image:alt" content="{{ meta.share_image_alt }}">\n'
    "  {% endif %}{% endif %}{% for name, value in meta.extra.items %}{% if value %}"
    '<meta property="{{ name }}" content="{{ value }}">\n'
    '  {% endif %}{% endfor %}<meta name="twitter:card" content="{% if meta.image %}'
    'summary_large_image{% else %}summary{% endif %}">\n'
    '  <meta name="twitter:title" content="{{ meta.share_title }}">\n'
    '  <meta name="twitter:description" content="{{ meta.short_description }}">\n'
    '  {% if meta.image %}<meta name="twitter:image" content="{{ meta.image }}">\n'
    '  {% if meta.image_alt %}<meta name="twitter:image:alt" content="{{ meta.share_image_alt }}">\n'
    "  {% endif %}{% endif %}{{ meta.json_ld }}{% endif %}"
)

HOSTILE = "Tom & \"Jerry\" <script>alert(1)</script> 'quoted'"
METAS = [
    None,
    PageMeta(title="Front — Site", path="/"),
    PageMeta(
        title=f"{HOSTILE} — Site",
        name=HOSTILE,
        description=f"<p>{HOSTILE}</p> " * 20,
        path="/articles/a-b/?x=1&y=<2>",
        og_type="article",
        image="https://cdn.example/i.jpg?w=1&h=2",
        image_alt=HOSTILE,
        structured_data=[{"@type": "NewsArticle", "headline": HOSTILE}],
        extra={"article:section": HOSTILE, "article:tag": "", "article:author": "Ann"},
    ),
    PageMeta(title="No alt", image="/media/x.jpg", extra={"og:empty": None}),
]


@pytest.mark.parametrize("meta", METAS)
def test_page_meta_writes_what_the_included_template_wrote(meta, settings):
    context = {"meta": meta, "site_name": 'Site "&" <Name>'}
    before = Template(INCLUDED).render(Context(context))
    after = Template("{% load newsdesk_meta %}{% page_meta %}").render(Context(context))
    assert after == before
    if meta and meta.image_alt:
        assert "<script>" not in after and "&lt;script&gt;" in after
