"""`machine_time`: a datetime for a <time datetime="…"> attribute."""

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def machine_time(value, zone=None):
    """ISO 8601 in the site's time zone (or `zone`), in whole seconds: HTML allows at most three
    digits of a fraction of a second, and `date:'c'` prints six."""
    if not value:
        return ""
    return timezone.localtime(value, zone).replace(microsecond=0).isoformat()
