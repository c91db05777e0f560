"""The desk (Django's admin), one module per purpose:

- `articles.py`: the article admin — change list, change form, the one save path;
- `views.py`: the extra pages (trash, revisions, withdrawal, share links, wire import) as view
  classes, and the guarded "view on site" shortcut;
- `taxonomy.py`: authors, sections and topics, with merge;
- `audit.py`: the audit trail;
- `notifications.py`: opening a notice from the desk inbox, and marking all read;
- `apikeys.py`: keys for the read API (shown once when made, revoked, never deleted);
- `users.py`: staff accounts with their author profile inline;
- `webhooks.py`: webhook endpoints and their deliveries, for superusers;
- `forms.py`: the desk's forms; `images.py`: image upload fields and thumbnails.

Who may do what is asked of `articles.workflow`; every change goes through `articles.services`.
"""

from .apikeys import ApiKeyAdmin
from .articles import ArticleAdmin
from .audit import AuditEntryAdmin
from .notifications import NotificationAdmin
from .taxonomy import AuthorAdmin, CategoryAdmin, TagAdmin
from .users import DeskUserAdmin
from .webhooks import WebhookAdmin

__all__ = [
    "ApiKeyAdmin",
    "ArticleAdmin",
    "AuditEntryAdmin",
    "AuthorAdmin",
    "CategoryAdmin",
    "DeskUserAdmin",
    "NotificationAdmin",
    "TagAdmin",
    "WebhookAdmin",
]
