from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ArticlesConfig(AppConfig):
    name = "articles"
    verbose_name = "Newsroom"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import images, signals  # noqa: F401 - signals connects its receivers on import
        from .cache import connect_signals
        from .roles import ensure_desk_groups

        connect_signals()
        images.connect_signals()
        # After auth's own post_migrate handler has made the permissions.
        post_migrate.connect(ensure_desk_groups, sender=self, dispatch_uid="newsdesk-desk-groups")
