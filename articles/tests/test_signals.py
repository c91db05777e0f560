"""Signing in to the desk is audited."""

import pytest

from articles.models import AuditEntry

from .factories import make_user

pytestmark = pytest.mark.django_db


def test_login_is_recorded_in_the_audit_trail(client):
    user = make_user("ann")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "ann", "password": "pw-Newsdesk-1"}
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=AuditEntry.Action.LOGIN)
    assert entry.user == user and entry.object_repr == "ann"


def test_failed_login_is_not_recorded_as_a_sign_in(client):
    make_user("ann")
    client.post("/admin/login/", {"username": "ann", "password": "wrong"})
    # It is recorded as a failure instead (test_logins.py).
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.LOGIN).exists()
