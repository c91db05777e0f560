"""The desk's audit trail: one call records who did what, and when."""

from typing import Any

from .cache import content_changed
from .models import Article, AuditEntry


def audit_record(
    *,
    user,
    action: str,
    article: Article | None = None,
    object_repr: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record one action. `user` may be None for commands and other unattended work."""
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if action not in (AuditEntry.Action.LOGIN, AuditEntry.Action.CONFLICT):
        content_changed()  # whatever was done, readers' cached pages must not hide it
    return AuditEntry.objects.create(
        user=user,
        action=action,
        article=article,
        object_repr=(object_repr or (str(article) if article is not None else ""))[:300],
        detail=detail or {},
    )
