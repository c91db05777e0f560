"""Page metadata for machines: titles, descriptions, canonical URLs, Open Graph and JSON-LD.

Views put a `PageMeta` in the context as `meta`; `{% page_meta %}` (templatetags/newsdesk_meta.py)
renders it.
JSON-LD is built as Python data and serialised with `json_ld()`, which escapes it for a
<script> element, so user text can never close the element or open markup. Every field in it,
and in the meta tags, is plain text with its markup stripped (`rendering.field_text`): link
previews and structured-data readers may render what they read as HTML.
"""

import json
from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import to_locale

from .images import og_image_url
from .rendering import field_text, plain_text

LOGO = "articles/logo.png"
LOGO_SIZE = (600, 60)
_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def absolute(url: str) -> str:
    """An absolute URL on the canonical site (`SITE_URL`) for a path or an absolute URL."""
    if not url or url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL + ("" if url.startswith("/") else "/") + url


def json_ld(data) -> SafeString:
    """`data` as a JSON-LD <script> element, with <, > and & escaped as in `json_script`."""
    text = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False).translate(_SCRIPT_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(text))  # noqa: S308


def lead_image_url(article) -> str:
    """The lead image for link previews and JSON-LD: a ~1200 px rendition when there is one."""
    return og_image_url(article)


# The usual territory of a language whose LANGUAGE_CODE names none, where it is not the
# language code itself in capitals (de → de_DE).
_TERRITORIES = {"en": "US", "ja": "JP", "ko": "KR", "zh": "CN", "sv": "SE", "da": "DK",
                "cs": "CZ", "el": "GR", "uk": "UA", "he": "IL", "nb": "NO", "ar": "AR"}  # fmt: skip


def og_locale() -> str:
    """Open Graph's `language_TERRITORY` locale from LANGUAGE_CODE (en-gb → en_GB)."""
    locale = to_locale(settings.LANGUAGE_CODE)
    if "_" in locale:
        return locale
    return f"{locale}_{_TERRITORIES.get(locale, locale.upper())}"


@dataclass
class PageMeta:
    """`title` is the document title (with the site name); `name` is the bare page or article
    title that link previews show next to `og:site_name`."""

    title: str
    name: str = ""
    description: str = ""
    path: str = "/"
    og_type: str = "website"
    image: str = ""
    image_alt: str = ""
    structured_data: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @cached_property  # the meta tags read it two or three times
    def share_title(self) -> str:
        return plain_text(self.name or self.title)

    @cached_property  # the meta tags read it two or three times
    def share_image_alt(self) -> str:
        return plain_text(self.image_alt)

    @property
    def locale(self) -> str:
        return og_locale()

    @cached_property  # the meta tags read it two or three times
    def canonical(self) -> str:
        return absolute(self.path)

    @cached_property  # the meta tags read it two or three times
    def short_description(self) -> str:
        return Truncator(" ".join(plain_text(self.description).split())).chars(160)

    @property
    def json_ld(self) -> SafeString:
        return mark_safe("".join(json_ld(item) for item in self.structured_data))  # noqa: S308


def site_title(*parts: str) -> str:
    return " — ".join([*[p for p in parts if p], settings.SITE_NAME])


def publisher() -> dict:
    return {
        "@type": "Organization",
        "name": settings.SITE_NAME,
        "url": settings.SITE_URL + "/",
        "logo": {
            "@type": "ImageObject",
            "url": absolute(static(LOGO)),
            "width": LOGO_SIZE[0],
            "height": LOGO_SIZE[1],
        },
    }


def person(author) -> dict:
    data = {
        "@type": "Person",
        "name": field_text(author, "name"),
        "url": absolute(author.get_absolute_url()),
    }
    if author.photo:
        data["image"] = absolute(author.photo.url)
    return data


def breadcrumbs(items: list[tuple[str, str]]) -> dict:
    """`BreadcrumbList` for (name, path) pairs, home first."""
    return {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": i, "name": plain_text(name), "item": absolute(path)}
            for i, (name, path) in enumerate(items, start=1)
        ],
    }


def news_article(article) -> dict:
    url = absolute(article.get_absolute_url())
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": Truncator(plain_text(article.seo_headline)).chars(110),
        "description": plain_text(article.description),
        "datePublished": article.published_at,
        "dateModified": article.modified_at,
        "author": [person(a) for a in article.byline_authors],
        "publisher": publisher(),
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "url": url,
        "inLanguage": settings.SITE_LANGUAGE,
    }
    if article.lead_image:
        data["image"] = [lead_image_url(article)]
    if article.category:
        data["articleSection"] = field_text(article.category, "name")
    return data


def profile_page(author) -> dict:
    entity = person(author)
    if author.bio:
        entity["description"] = field_text(author, "bio")
    return {
        "@context": "https://schema.org",
        "@type": "ProfilePage",
        "mainEntity": entity,
        "url": absolute(author.get_absolute_url()),
    }


def article_meta(article, crumbs) -> PageMeta:
    return PageMeta(
        title=site_title(article.seo_headline),
        name=article.seo_headline,
        description=article.description,
        path=article.get_absolute_url(),
        og_type="article",
        image=lead_image_url(article),
        image_alt=article.lead_image_alt,
        structured_data=[news_article(article), breadcrumbs(crumbs)],
        extra={
            "article:published_time": article.published_at.isoformat(),
            "article:modified_time": article.modified_at.isoformat(),
            "article:section": field_text(article.category, "name") if article.category else "",
        },
    )
