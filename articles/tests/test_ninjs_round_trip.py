"""The round trip of issue 12: an article exported as ninjs through the API, imported into an
empty database through the real import paths, and exported again gives the same document (all
but `versionCreated`)."""

import datetime as dt
import io
import json
import shutil
import tempfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from articles import services
from articles.models import (
    Article,
    AuditEntry,
    Author,
    Category,
    Correction,
    SlugRedirect,
    Tag,
)

from .factories import image_upload, make_author, make_category, make_editor, make_tag
from .test_api import get_json, validate

pytestmark = pytest.mark.django_db


def full_story():
    """Everything ninjs carries: two authors, a section and two topics, dateline, SEO title and
    description, standfirst, source, an embargo (lifted by now), a lead image with caption, alt
    text and credit, a correction and an old slug."""
    editor = make_editor()
    now = timezone.now().replace(microsecond=0)
    story = Article.objects.create(
        headline="Grid fails in the north",
        standfirst="Power is out for 40,000 homes after a storm.",
        body="The **grid** failed at dawn.\n\nCrews from [three towns](https://example.org/) "
        "worked on, in the _cold_.",
        status=Article.Status.PUBLISHED,
        published_at=now - dt.timedelta(days=1),
        embargo_until=now - dt.timedelta(hours=20),
        category=make_category("Regions"),
        seo_title="Northern grid failure",
        seo_description="Power out for 40,000 homes.",
        dateline="TROMSØ",
        source="Nordic Wire",
        lead_image=image_upload(size=(1600, 900)),
        lead_image_caption="Linesmen at work",
        lead_image_alt="Two linesmen on a pylon",
        lead_image_credit="A. Photographer",
    )
    for position, name in enumerate(["Ann Lee", "Bo Berg"]):
        story.bylines.create(author=make_author(name), position=position)
    story.tags.set([make_tag("Energy"), make_tag("Weather")])
    services.correction_add(
        story, user=editor, kind="correction", text="The failure began at 5 am, not 6 am."
    )
    services.correction_add(story, user=editor, kind="update", text="Power is back in Alta.")
    story.refresh_from_db()
    story.slug = "grid-fails"
    services.article_save(story, user=editor, expected_version=story.version, action="save")
    return story


def empty_the_database(settings):
    """Another site's empty database and media folder (users stay: someone must import)."""
    Article._base_manager.all().delete()
    for model in (Author, Category, Tag, AuditEntry):
        model.objects.all().delete()
    assert not Correction.objects.exists() and not SlugRedirect.objects.exists()
    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="newsdesk-copy-media-")


def without_version_created(doc):
    return {k: v for k, v in doc.items() if k != "versionCreated"}


def import_by_command(path, client):
    out = io.StringIO()
    call_command("import_articles", str(path), stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def import_in_the_desk(path, client):
    from django.contrib.auth import get_user_model

    client.force_login(
        get_user_model().objects.filter(username="desk").first() or make_editor("desk")
    )
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    response = client.post(
        reverse("admin:articles_article_import"), {"files": [upload], "status": "published"}
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("importer", [import_by_command, import_in_the_desk])
def test_export_import_export_gives_the_same_document(
    importer, media_server, settings, tmp_path, client, reader
):
    """Export through the API, import into an empty database (command or desk), export again:
    equal but for versionCreated; the picture is fetched and its renditions made again."""
    story = full_story()
    first = get_json(reader, f"/api/v1/articles/{story.pk}").json()
    validate(first)
    assert first["pubStatus"] == "usable" and len(first["associations"][0]["renditions"]) > 2
    original_media = settings.MEDIA_ROOT
    path = tmp_path / "story.json"
    path.write_text(json.dumps(first, ensure_ascii=False))

    empty_the_database(settings)
    try:
        assert "1 created" in importer(path, client)
        copy = Article.objects.get()
        second = get_json(reader, f"/api/v1/articles/{copy.pk}").json()
        validate(second)
        assert without_version_created(second) == without_version_created(first)
        assert copy.pk != story.pk and copy.corrections.count() == 2
        assert reader.get("/articles/grid-fails-in-the-north/").status_code == 301
        # Idempotent: the same document again changes nothing.
        assert "1 unchanged" in importer(path, client)
        assert get_json(reader, f"/api/v1/articles/{copy.pk}").json() == second
    finally:
        shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
        settings.MEDIA_ROOT = original_media
