"""The desk's everyday use, through the admin views: honest import messages, links shown only to
those who may follow them, the desk's words, the change list and the edit form."""

import pytest
from django.contrib.messages import constants
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from articles.models import Article

pytestmark = pytest.mark.django_db
WIRE = "Harbour reopens\n\nJanuary 04, 2020 - 20:39\nPosted in: World\nWritten By: Ann Lee\n\nText.\n"


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
