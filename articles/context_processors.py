from django.conf import settings

from .models import Category


def site(request):
    """Site name and the section menu (one query, evaluated lazily by the template)."""
    return {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "site_language": settings.SITE_LANGUAGE,
        "nav_categories": Category.objects.only("name", "slug"),
    }
