"""Deployment checks of Newsdesk's own settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def secret_key_is_set(app_configs, **kwargs):
    if getattr(settings, "SECRET_KEY_MISSING", False):
        return [Error(settings.SECRET_KEY_MISSING_MESSAGE, id="newsdesk.E001")]
    return []
