"""Signal receivers: the audit trail records every sign-in to the desk."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .audit import audit_record


@receiver(user_logged_in, dispatch_uid="articles.audit_login")
def audit_login(sender, request, user, **kwargs):
    from .models import AuditEntry

    audit_record(user=user, action=AuditEntry.Action.LOGIN, object_repr=user.get_username())
