"""The desk's everyday use, through the admin views: honest import messages, links shown only to
those who may follow them, the desk's words, the change list and the edit form."""

import pytest
from django.contrib.messages import constants
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from articles.models import Article

pytestmark = pytest.mark.django_db
WIRE = (
    "Harbour reopens\n\nJanuary 04, 2020 - 20:39\nPosted in: World\nWritten By: Ann Lee\n\nText.\n"
)


def test_wire_import_dry_run_says_nothing_was_saved(client, editor):
    """A dry run reports what would happen, as information, and saves nothing."""
    client.force_login(editor)
    upload = SimpleUploadedFile("a.txt", WIRE.encode())
    response = client.post(
        reverse("admin:articles_article_import"),
        {"files": [upload], "status": "draft", "dry_run": "on"},
    )
    html = response.content.decode()
    assert not Article.objects.exists()
    expected = "Dry run — nothing was saved: 1 would be created, 0 would be updated"
    assert expected in html and "1 created" not in html
    [message] = response.context["messages"]
    assert message.level == constants.INFO and expected in message.message


def _changelist(client, user):
    client.force_login(user)
    response = client.get(reverse("admin:articles_article_changelist"))
    assert response.status_code == 200
    return response.content.decode()


def test_trash_and_audit_links_only_for_those_who_may_open_them(client, reporter, editor):
    """A reporter is not offered the trash or the audit trail (both answer her 403)."""
    trash, audit = reverse("admin:articles_article_trash"), "/admin/articles/auditentry/"
    html = _changelist(client, reporter)
    assert f'href="{trash}"' not in html and f'href="{audit}"' not in html
    assert client.get(trash).status_code == 403 and client.get(audit).status_code == 403
    html = _changelist(client, editor)
    assert f'href="{trash}"' in html and f'href="{audit}"' in html
    assert client.get(trash).status_code == 200 and client.get(audit).status_code == 200


def test_revisions_page_links_the_audit_trail_only_for_those_who_may_open_it(
    client, reporter, editor
):
    from articles import services

    article = Article(headline="Draft story", body="Text.")
    services.article_save(article, user=reporter, action="save")
    url = reverse("admin:articles_article_revisions", args=[article.pk])
    client.force_login(reporter)
    assert "Audit trail of this article" not in client.get(url).content.decode()
    client.force_login(editor)
    assert "Audit trail of this article" in client.get(url).content.decode()


@pytest.mark.parametrize(
    "status, offered",
    [(Article.Status.DRAFT, False), (Article.Status.REVIEW, False), ("published", True)],
)
def test_view_on_site_only_when_readers_can_see_the_article(client, editor, status, offered):
    from .factories import make_article

    article = make_article("A story", status=status)
    client.force_login(editor)
    response = client.get(reverse("admin:articles_article_change", args=[article.pk]))
    assert ("View on site" in response.content.decode()) is offered
