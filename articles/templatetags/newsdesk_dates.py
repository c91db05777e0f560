"""`machine_time`: a datetime for a <time datetime="…"> attribute; `long_date`: one for readers."""

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone

register = template.Library()


@register.filter
def machine_time(value, zone=None):
    """ISO 8601 in the site's time zone (or `zone`), in whole seconds: HTML allows at most three
    digits of a fraction of a second, and `date:'c'` prints six."""
    if not value:
        return ""
    return timezone.localtime(value, zone).replace(microsecond=0).isoformat()


def long_date(value, zone=None) -> str:
    """`j F Y, H:i T` in the site's time zone (or `zone`), as templates write it with the `date`
    filter: for the parts of pages and feeds written in Python."""
    return date_filter(timezone.localtime(value, zone), "j F Y, H:i T")
