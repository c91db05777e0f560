"""The read API (`/api/v1/`) and its ninjs documents."""

import json
from pathlib import Path

import jsonschema
import pytest

from articles import services
from articles.models import Article
from articles.ninjs import to_ninjs

from .factories import (
    image_upload,
    make_editor,
    make_live_article,
    make_tag,
)

SCHEMAS = Path(__file__).parent / "data" / "ninjs"


def _validator(version):
    schema = json.loads(
        (SCHEMAS / f"ninjs-schema_{'3.1' if version == 3 else '2.2'}.json").read_text()
    )
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


VALIDATORS = {3: _validator(3), 2: _validator(2)}


def validate(document, version=3):
    """Fail with every error when `document` is not valid ninjs of `version`."""
    errors = sorted(VALIDATORS[version].iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def get_json(client, url, status=200, **headers):
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.content[:300]
    if status >= 400:
        assert response["Content-Type"] == PROBLEM
        body = response.json()
        assert body["status"] == status and body["title"] and body["detail"]
        assert body["type"] == "about:blank"
    return response


def full_story():
    """A story with everything ninjs carries: byline, section, topics, SEO texts, dateline,
    source, lead image, a correction and an old slug."""
    editor = make_editor()
    story = make_live_article(
        headline="Grid fails in the north",
        tags=[make_tag("Energy"), make_tag("Weather")],
        seo_title="Northern grid failure",
        seo_description="Power out for 40,000 homes.",
        dateline="TROMSØ",
        source="Wire service",
        lead_image=image_upload(size=(1600, 900)),
        lead_image_caption="Linesmen at work",
        lead_image_alt="Two linesmen on a pylon",
        lead_image_credit="A. Photographer",
        body="The **grid** failed at dawn. Crews worked on.",
    )
    services.correction_add(story, user=editor, kind="correction", text="It was at 5 am.")
    story.refresh_from_db()
    story.slug = "grid-fails"
    story.save()
    return story


# --- the serializer -----------------------------------------------------------------------------


def test_validator_refuses_a_broken_document():
    """The schema copies really validate: a wrong type, an unknown property, a bad status fail."""
    for broken in ({"uri": "urn:x:1", "type": "story"}, {"uri": "urn:x:1", "unknown": 1},
                   {"uri": "urn:x:1", "pubStatus": "gone"}, {"type": "text"}):  # fmt: skip
        with pytest.raises(AssertionError):
            validate(broken)


@pytest.mark.parametrize("version", [3, 2])
def test_full_story_is_valid_ninjs(version):
    """Every property the article fills is valid ninjs of that version."""
    story = full_story()
    document = to_ninjs(story, version=version)
    validate(document, version)
    names = set(document)
    if version == 3:
        assert {"uri", "type", "version", "firstCreated", "versionCreated", "contentCreated",
                "pubStatus", "language", "headlines", "descriptions", "bodies", "by", "people",
                "subjects", "located", "copyrightHolder", "associations", "altIds",
                "trustIndicators", "infoSources"} <= names  # fmt: skip
    else:
        assert {"firstcreated", "pubstatus", "altids", "trustindicators"} <= names


def test_full_story_document_says_what_the_page_says():
    """Headlines, standfirst, body, byline, subjects, dateline, image, slugs and corrections."""
    story = full_story()
    doc = to_ninjs(story)
    assert doc["uri"] == f"urn:newsdesk:127.0.0.1:8000:article:{story.pk}"
    assert doc["type"] == "text" and doc["pubStatus"] == "usable"
    assert [(h["role"], h["value"]) for h in doc["headlines"]] == [
        ("main", "Grid fails in the north"), ("seo", "Northern grid failure")]  # fmt: skip
    assert doc["descriptions"][0]["value"] == story.standfirst
    body = doc["bodies"][0]
    assert body["value"] == story.body_html and "<strong>grid</strong>" in body["value"]
    assert body["wordCount"] == 8 and body["charCount"] == len(
        "The grid failed at dawn. Crews worked on."
    )
    assert doc["by"] == story.byline_authors[0].name
    assert [s["rel"] for s in doc["subjects"]] == ["section", "topic", "topic"]
    assert doc["located"] == "TROMSØ"
    assert {"role": "oldSlug", "value": "grid-fails-in-the-north"} in doc["altIds"]
    assert {"role": "slug", "value": "grid-fails"} in doc["altIds"]
    correction = story.corrections.get()
    assert doc["trustIndicators"][1]["href"].endswith(
        f"/articles/grid-fails/#correction-{correction.pk}"
    )
    picture = doc["associations"][0]
    assert picture["name"] == "picture" and picture["type"] == "picture"
    widths = {(r["width"], r["contentType"]) for r in picture["renditions"]}
    assert (1600, "image/jpeg") in widths and any(c == "image/webp" for _, c in widths)
    assert all(r["href"].startswith("http") and r["height"] for r in picture["renditions"])


def test_a_correction_and_an_edit_bump_the_version():
    """`version` grows with every published change, corrections included."""
    story = make_live_article()
    editor = make_editor()
    first = int(to_ninjs(story)["version"])
    services.correction_add(story, user=editor, kind="update", text="Added a quote.")
    second = int(to_ninjs(Article.objects.get(pk=story.pk))["version"])
    story.refresh_from_db()
    services.article_save(story, expected_version=story.version, user=editor, action="save")
    third = int(to_ninjs(Article.objects.get(pk=story.pk))["version"])
    assert first < second < third


def test_withdrawn_story_is_canceled_with_its_reason():
    story = make_live_article()
    services.article_withdraw(story, user=make_editor(perms=["articles.withdraw_article"]),
                              reason="Legal advice")  # fmt: skip
    doc = to_ninjs(Article.objects.get(pk=story.pk))
    validate(doc)
    assert doc["pubStatus"] == "canceled" and doc["edNote"] == "Legal advice"
