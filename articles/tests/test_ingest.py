"""ninjs and NewsML-G2 ingest: through `import_articles` and the desk's import page, with the
wire format's contract (idempotent by uri and version, atomic per file, located errors, dry run)."""

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from jsonschema import validators

from articles.models import Article, AuditEntry

from .test_importers import BASIC

pytestmark = pytest.mark.django_db
DATA = Path(__file__).resolve().parent / "data"
INGEST = DATA / "ingest"
BROKEN = INGEST / "broken"

# fixture file -> (headline, authors, category, topics, dateline, version)
GOOD = {
    "ninjs1_superdesk.json": (
        "Harbour reopens after storm repairs",
        ["Ana Lima", "Tom Berg"],
        "Transport",
        ["Weather"],
        "Valletta",
        2,
    ),
    "ninjs1_6.json": (
        "Council passes budget by one vote",
        ["Mira Sand"],
        "Politics",
        [],
        "Leeds",
        1,
    ),
    "ninjs2.json": (
        "Rail strike called off at the last minute",
        ["Kofi Mensah"],
        "Economy",
        ["Labour"],
        "Manchester",
        3,
    ),
    "ninjs3.json": (
        "New bridge opens to cyclists first",
        ["Lena Park"],
        "Transport",
        [],
        "Rotterdam",
        2,
    ),
    "newsml.xml": (
        "Flood warning issued for the Ouse",
        ["Sam Okafor"],
        "Environment",
        ["Weather"],
        "York",
        4,
    ),
}
BROKEN_ERRORS = {
    "not_json.json": "not_json.json:4:3: not valid JSON (Expecting ',' delimiter)",
    "ninjs_no_headline.json": "ninjs_no_headline.json: /headlines: required",
    "newsml_no_headline.xml": "newsml_no_headline.xml: /newsItem/contentMeta/headline: missing",
    "newsml_not_xml.xml": "newsml_not_xml.xml:5:5: not well-formed XML (mismatched tag)",
    "newsml_entities.xml": (
        "newsml_entities.xml:2:1: a DOCTYPE or entity declaration is not accepted"
    ),
}


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_articles", *map(str, args), stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def run_failing(*args):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_articles", *map(str, args), stdout=out, stderr=err)
    return caught.value, out.getvalue().strip(), err.getvalue()


def snapshot():
    return sorted(
        Article.objects.values_list(
            "headline", "body", "body_html", "status", "published_at", "ingest_version"
        )
    )


def variant(tmp_path, name, **changes):
    """A copy of the ninjs 3.x fixture with some properties changed, written to `name`."""
    doc = json.loads((INGEST / "ninjs3.json").read_text())
    doc.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(("schema", "fixture"), [
    ("1.6", "ninjs1_6.json"), ("2.2", "ninjs2.json"), ("3.1", "ninjs3.json"),
])  # fmt: skip
def test_good_ninjs_fixtures_are_valid_against_the_iptc_schema(schema, fixture):
    """Our ninjs fixtures are real ninjs: the IPTC's own schema files accept them."""
    spec = json.loads((DATA / "ninjs" / f"ninjs-schema_{schema}.json").read_text())
    validator = validators.validator_for(spec)(spec)
    assert list(validator.iter_errors(json.loads((INGEST / fixture).read_text()))) == []


def test_superdesk_fixture_is_the_1x_dialect_the_schema_rejects():
    """The Superdesk-style fixture (guid, no uri) is imported although ninjs 1.6 rejects it."""
    spec = json.loads((DATA / "ninjs" / "ninjs-schema_1.6.json").read_text())
    doc = json.loads((INGEST / "ninjs1_superdesk.json").read_text())
    assert list(validators.validator_for(spec)(spec).iter_errors(doc))


@pytest.mark.parametrize("name", sorted(GOOD))
def test_each_format_imports_through_the_command(tmp_path, name):
    """Each format becomes one article with its headline, byline, section, topics, dateline,
    filing time and version; the HTML body is sanitised; a second run changes nothing."""
    shutil.copy(INGEST / name, tmp_path / name)
    out, _ = run(tmp_path, "--status", "draft")
    assert out == "1 created, 0 updated, 0 unchanged, 0 failed."
    headline, authors, category, topics, dateline, version = GOOD[name]
    article = Article.objects.get()
    assert article.headline == headline
    assert [a.name for a in article.authors.order_by("bylines__position")] == authors
    assert article.category.name == category
    assert sorted(t.name for t in article.tags.all()) == topics
    assert article.dateline == dateline
    assert article.ingest_version == version and article.ingest_uri
    assert article.status == Article.Status.DRAFT
    assert article.body_format == Article.BodyFormat.HTML
    assert "<p>" in article.body_html
    for hostile in ("<script", "alert(", "onerror", "javascript:"):
        assert hostile not in article.body_html
    assert AuditEntry.objects.filter(action=AuditEntry.Action.IMPORT).count() == 1
    before = snapshot()
    assert run(tmp_path)[0] == "0 created, 0 updated, 1 unchanged, 0 failed."
    assert snapshot() == before


def test_ninjs_maps_times_standfirst_and_source():
    """firstCreated is the publication time; the summary description is the standfirst."""
    run(INGEST / "ninjs3.json")
    article = Article.objects.get()
    assert article.published_at.isoformat() == "2024-05-04T11:00:00+00:00"
    assert article.status == Article.Status.PUBLISHED
    assert article.standfirst == "Cars follow next week."
    assert article.source == "Example Agency"


def test_a_folder_of_mixed_formats_imports_each_and_reports_the_broken(tmp_path):
    """Wire copy, ninjs and NewsML-G2 in one folder each import; a broken file fails alone,
    is named with its location, and the command exits 1."""
    for name in GOOD:
        shutil.copy(INGEST / name, tmp_path / name)
    (tmp_path / "wire.txt").write_text(BASIC)
    shutil.copy(BROKEN / "not_json.json", tmp_path / "not_json.json")
    error, out, err = run_failing(tmp_path)
    assert error.returncode == 1
    assert out == "6 created, 0 updated, 0 unchanged, 1 failed."
    assert f"{tmp_path / 'not_json.json'}:4:3: not valid JSON" in err
    assert Article.objects.count() == 6


@pytest.mark.parametrize("name", sorted(BROKEN_ERRORS))
def test_each_broken_file_is_refused_with_its_location(tmp_path, name):
    """A broken file: its error names the line and column or the missing path; exit 1;
    nothing saved."""
    shutil.copy(BROKEN / name, tmp_path / name)
    error, out, err = run_failing(tmp_path / name)
    assert error.returncode == 1
    assert out == "0 created, 0 updated, 0 unchanged, 1 failed."
    assert err.strip() == f"{tmp_path}/{BROKEN_ERRORS[name]}"
    assert not Article.objects.exists()


def test_newer_version_updates_and_older_version_is_skipped(tmp_path):
    """Version 3 replaces version 2; version 1 arriving later changes nothing and says so."""
    run(INGEST / "ninjs3.json")
    article = Article.objects.get()
    newer = variant(
        tmp_path,
        "v3.json",
        version="3",
        headlines=[{"role": "main", "value": "New bridge opens to cyclists and walkers"}],
    )
    assert run(newer)[0] == "0 created, 1 updated, 0 unchanged, 0 failed."
    article.refresh_from_db()
    assert article.headline == "New bridge opens to cyclists and walkers"
    assert article.ingest_version == 3
    before = snapshot()
    older = variant(
        tmp_path,
        "v1.json",
        version="1",
        headlines=[{"role": "main", "value": "Bridge to open soon"}],
    )
    out, err = run(older)
    assert out == "0 created, 0 updated, 0 unchanged, 0 failed, 1 skipped."
    assert "version 1 of http://agency.example.org/items/2024/bridge-opens is older" in err
    assert snapshot() == before
    assert Article.objects.count() == 1


def test_dry_run_saves_nothing_and_reports_what_would_happen(tmp_path):
    """--dry-run: the same counts as the real run (skips included), and no row changes."""
    assert run(INGEST / "newsml.xml", "--dry-run")[0] == (
        "Dry run: would have 1 created, 0 updated, 0 unchanged, 0 failed."
    )
    assert not Article.objects.exists()
    run(INGEST / "ninjs3.json")
    before = snapshot()
    older = variant(tmp_path, "v1.json", version="1")
    newer = variant(tmp_path, "v9.json", version="9")
    assert run(older, "--dry-run")[0].endswith("0 failed, 1 skipped.")
    assert run(newer, "--dry-run")[0] == (
        "Dry run: would have 0 created, 1 updated, 0 unchanged, 0 failed."
    )
    assert snapshot() == before


def test_canceled_item_is_skipped_with_a_message(tmp_path):
    """pubStatus canceled creates and changes nothing: withdrawing stays the desk's decision."""
    run(INGEST / "ninjs3.json")
    before = snapshot()
    canceled = variant(tmp_path, "cancel.json", version="5", pubStatus="canceled")
    out, err = run(canceled)
    assert out == "0 created, 0 updated, 0 unchanged, 0 failed, 1 skipped."
    assert "pubStatus is canceled; not imported" in err
    assert snapshot() == before


def test_embargoed_copy_is_scheduled_for_the_end_of_its_embargo(tmp_path):
    """Copy under a future embargo carries it and is scheduled for its end."""
    embargoed = variant(tmp_path, "embargo.json", embargoedUntil="2099-01-01T06:00:00Z")
    run(embargoed)
    article = Article.objects.get()
    assert article.published_at.isoformat() == "2099-01-01T06:00:00+00:00"
    assert article.embargo_until.isoformat() == "2099-01-01T06:00:00+00:00"
    assert article.is_embargoed
    assert article.state == Article.State.SCHEDULED
    assert not Article.objects.published().exists()


def test_desk_import_page_reads_each_format(client, editor):
    """The desk's Import wire copy page imports ninjs and NewsML-G2 uploads beside wire copy and
    reports a broken one with its location."""
    client.force_login(editor)
    url = reverse("admin:articles_article_import")
    uploads = [SimpleUploadedFile(name, (INGEST / name).read_bytes()) for name in sorted(GOOD)] + [
        SimpleUploadedFile(n, (BROKEN / n).read_bytes()) for n in sorted(BROKEN_ERRORS)
    ]
    response = client.post(url, {"files": uploads, "status": "draft"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "5 created, 0 updated, 0 unchanged, 5 failed." in html
    assert "ninjs_no_headline.json: /headlines: required" in html
    assert "newsml_no_headline.xml: /newsItem/contentMeta/headline: missing" in html
    assert Article.objects.filter(status=Article.Status.DRAFT).count() == 5
    assert all("<script" not in a.body_html for a in Article.objects.all())
    again = [SimpleUploadedFile(n, (INGEST / n).read_bytes()) for n in sorted(GOOD)]
    html = client.post(url, {"files": again, "status": "draft", "dry_run": "on"}).content.decode()
    assert "0 would be created, 0 would be updated, 5 unchanged, 0 failed." in html


def test_desk_import_page_skips_an_older_version(client, editor):
    """An older version uploaded in the desk is skipped, said in the summary and the notes."""
    client.force_login(editor)
    call_command("import_articles", str(INGEST / "newsml.xml"), stdout=io.StringIO())
    older = (INGEST / "newsml.xml").read_text().replace('version="4"', 'version="2"')
    older = older.replace("Flood warning issued", "Flood watch issued")
    url = reverse("admin:articles_article_import")
    upload = SimpleUploadedFile("old.xml", older.encode())
    html = client.post(url, {"files": [upload], "status": "draft"}).content.decode()
    assert "0 created, 0 updated, 0 unchanged, 0 failed, 1 skipped." in html
    assert "is older than version 4 already imported" in html
    assert Article.objects.get().headline == "Flood warning issued for the Ouse"


@pytest.mark.parametrize("headline", ["{Braces} in a headline", "<b>Bold</b> claims", "<?xml hi"])
def test_wire_copy_starting_like_json_or_xml_is_still_wire_copy(tmp_path, headline):
    """Detection by content never takes a readable wire file for ninjs or NewsML-G2."""
    (tmp_path / "odd.txt").write_text(BASIC.replace(BASIC.split("\n", 1)[0], headline, 1))
    assert run(tmp_path)[0] == "1 created, 0 updated, 0 unchanged, 0 failed."
    assert Article.objects.get().body_format == Article.BodyFormat.PLAIN


def test_an_html_body_counts_the_words_readers_see(tmp_path):
    from articles.models import count_words
    from articles.rendering import html_to_text

    run(INGEST / "ninjs3.json")
    article = Article.objects.get()
    assert article.body_format == Article.BodyFormat.HTML
    assert article.word_count == count_words(html_to_text(article.body_html))
    assert article.word_count < count_words(article.body)  # tags and attributes are not words


# --- pictures, slugs, corrections in ninjs ------------------------------------------------------


def with_picture(tmp_path, href, name="pictured.json"):
    return variant(
        tmp_path,
        name,
        associations=[
            {
                "name": "picture",
                "type": "picture",
                "renditions": [{"name": "original", "href": href}],
                "descriptions": [{"role": "caption", "value": "The bridge at dawn"}],
            }
        ],
    )


def test_picture_from_an_allowed_host_becomes_the_lead_image(tmp_path, media_server, settings):
    """The picture is fetched, stored with its file name and given renditions like an upload."""
    from .factories import image_bytes

    (Path(settings.MEDIA_ROOT) / "wire").mkdir()
    (Path(settings.MEDIA_ROOT) / "wire" / "bridge.png").write_bytes(image_bytes("PNG", (800, 600)))
    settings.MEDIA_ROOT = str(tmp_path / "our-media")  # the server serves the agency's folder
    run(with_picture(tmp_path, f"http://{media_server}/media/wire/bridge.png"))
    article = Article.objects.get()
    assert article.lead_image.name == "wire/bridge.png"
    assert (article.lead_image_width, article.lead_image_height) == (800, 600)
    assert article.lead_image_caption == "The bridge at dawn"
    assert article.lead_image_renditions["items"]


def test_picture_from_a_host_not_allowed_is_left_out_with_a_note(tmp_path, settings):
    """The story is imported; the server fetched nothing it was pointed at."""
    settings.NEWSDESK_INGEST_IMAGE_HOSTS = []
    out, err = run(with_picture(tmp_path, "http://169.254.169.254/latest/meta-data/x.jpg"))
    assert out == "1 created, 0 updated, 0 unchanged, 0 failed."
    assert "/associations/0/renditions/0/href: the picture was not fetched" in err
    assert not Article.objects.get().lead_image


@pytest.mark.parametrize(
    ("path", "message"),
    [("missing.jpg", "could not fetch the picture (HTTP 404 File not found)"),
     ("not-an-image.jpg", "This file is not an image Newsdesk accepts"),
     ("moved", "could not fetch the picture (HTTP 301 redirect to")],
)  # fmt: skip
def test_picture_that_cannot_be_had_fails_the_file(tmp_path, media_server, settings, path, message):
    """A missing picture, a file that is no image, or a redirect (which could lead off the
    allowed hosts) fail the file with the href's pointer, and nothing is saved."""
    (Path(settings.MEDIA_ROOT) / "not-an-image.jpg").write_text("<html>nope</html>")
    (Path(settings.MEDIA_ROOT) / "moved").mkdir()  # the server redirects to moved/
    error, out, err = run_failing(with_picture(tmp_path, f"http://{media_server}/media/{path}"))
    assert out == "0 created, 0 updated, 0 unchanged, 1 failed."
    assert "pictured.json: /associations/0/renditions/0/href: " + message in err
    assert not Article.objects.exists()


def test_slug_old_slugs_and_corrections_come_with_the_document(tmp_path, reader):
    """A free slug is taken, old slugs redirect, corrections are added with their kind and time
    once (a second run adds none)."""
    href = "https://agency.example/items/bridge/#correction-20240504T130000000000Z"
    path = variant(
        tmp_path,
        "slugged.json",
        altIds=[{"role": "slug", "value": "bridge-opens"},
                {"role": "oldSlug", "value": "bridge-to-open"}],
        trustIndicators=[{"role": "https://schema.org/correction",
                          "title": "Clarification: The bridge is 2 km long.", "href": href}],
    )  # fmt: skip
    run(path)
    article = Article.objects.get()
    assert article.slug == "bridge-opens"
    assert reader.get("/articles/bridge-to-open/")["Location"].endswith("/articles/bridge-opens/")
    [correction] = article.corrections.all()
    assert (correction.kind, correction.text) == ("clarification", "The bridge is 2 km long.")
    assert correction.created_at.isoformat() == "2024-05-04T13:00:00+00:00"
    assert run(path)[0] == "0 created, 0 updated, 1 unchanged, 0 failed."
    assert article.corrections.count() == 1


def test_a_bad_slug_is_refused_with_its_pointer(tmp_path):
    path = variant(tmp_path, "bad.json", altIds=[{"role": "slug", "value": "../etc"}])
    _, _, err = run_failing(path)
    assert "bad.json: /altIds/0/value: not a slug: '../etc'" in err
    assert not Article.objects.exists()


def test_an_embargo_already_over_keeps_the_publication_time(tmp_path):
    """Only copy still under its embargo waits for it; an old embargo is kept as a record."""
    run(variant(tmp_path, "old.json", embargoedUntil="2024-05-04T12:00:00Z"))
    article = Article.objects.get()
    assert article.published_at.isoformat() == "2024-05-04T11:00:00+00:00"
    assert article.embargo_until.isoformat() == "2024-05-04T12:00:00+00:00"
    assert article.state == Article.State.PUBLISHED
