import functools

from django.conf import settings
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse

from .models import load_sections


@functools.lru_cache(maxsize=16)
def _links(prefix, urlconf):
    """The addresses every public page links to: they change only with the URL configuration
    and the script prefix, so they are worked out once per process for each."""
    return {
        "home": reverse("articles:home", urlconf),
        "latest": reverse("articles:list", urlconf),
        "search": reverse("articles:search", urlconf),
        "feed_rss": reverse("articles:feed-rss", urlconf),
        "feed_atom": reverse("articles:feed-atom", urlconf),
        "site_css": static("articles/site.css"),
        "print_css": static("articles/print.css"),
    }


def site(request):
    """Site name, the addresses every page links to, and the section menu (one query, run
    only by a template that shows the menu: templates call a callable they are given)."""
    return {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "site_language": settings.SITE_LANGUAGE,
        "site_links": _links(get_script_prefix(), get_urlconf()),
        "nav_categories": load_sections,
    }
