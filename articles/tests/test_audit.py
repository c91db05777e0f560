"""The audit trail records who did what."""

import pytest
from django.contrib.auth.models import AnonymousUser

from articles.models import AuditEntry
from articles.services import audit_record

from .factories import make_article, make_user

pytestmark = pytest.mark.django_db


def test_audit_record_names_user_article_and_detail():
    user, article = make_user("ann"), make_article("Story")
    entry = audit_record(user=user, action=AuditEntry.Action.SAVE, article=article, detail={"v": 2})
    assert (entry.user, entry.article, entry.object_repr, entry.detail) == (
        user,
        article,
        "Story",
        {"v": 2},
    )


def test_audit_keeps_the_name_after_the_article_is_deleted():
    article = make_article("Doomed")
    entry = audit_record(user=AnonymousUser(), action=AuditEntry.Action.TRASH, article=article)
    article.delete()
    entry.refresh_from_db()
    assert entry.article is None and entry.user is None and entry.object_repr == "Doomed"
