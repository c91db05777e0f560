from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_search_index(sender, using="default", **kwargs):
    """Put back the SQLite search triggers that a table rebuild in a later migration dropped."""
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    from .search import sqlite_install

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    applied = MigrationRecorder(connection).applied_migrations()
    if ("articles", "0003_search") in applied:
        sqlite_install(connection)


class ArticlesConfig(AppConfig):
    name = "articles"
    verbose_name = "Newsroom"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        import newsdesk.checks  # noqa: F401 - registers the deployment checks

        from . import images, logins
        from .roles import ensure_desk_groups
        from .services import audit_login

        images.connect_signals()
        user_logged_in.connect(audit_login, dispatch_uid="newsdesk-audit-login")
        # After django-axes' receiver (its app comes first), which counts the attempt.
        user_login_failed.connect(logins.login_failed, dispatch_uid="newsdesk-login-failed")
        # After auth's own post_migrate handler has made the permissions.
        post_migrate.connect(ensure_desk_groups, sender=self, dispatch_uid="newsdesk-desk-groups")
        post_migrate.connect(ensure_search_index, sender=self, dispatch_uid="newsdesk-search")
