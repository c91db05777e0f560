"""Management commands: import_articles, loaddata seed, prepare_site, generate_demo_content."""

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Q
from django.utils import timezone

from articles.importers import decode_wire_bytes, import_wire_copy, parse_wire_copy
from articles.models import Article, Author, Byline, Category, Tag
from articles.search import search_articles

from .test_importers import BASIC, SEED

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def run(*args, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def snapshot():
    """Everything a reader could see of the articles, without ids or timestamps."""
    return [
        {
            "headline": a.headline,
            "slug": a.slug,
            "standfirst": a.standfirst,
            "body": a.body,
            "body_format": a.body_format,
            "body_html": a.body_html,
            "status": a.status,
            "published_at": a.published_at.isoformat(),
            "category": a.category.name if a.category else None,
            "tags": sorted(t.name for t in a.tags.all()),
            "authors": [(b.author.name, b.author.slug) for b in a.bylines.all()],
            "wire_key": a.wire_key,
            "wire_checksum": a.wire_checksum,
        }
        for a in Article.objects.order_by("slug")
    ]


def test_seed_fixture_equals_what_the_importer_makes_of_the_seed_file():
    run("loaddata", "seed")
    loaded = snapshot()
    assert loaded and loaded[0]["headline"] == "US experts, Libyan officials hold security meetings"
    Byline.objects.all().delete()
    Article.objects.all().delete()
    Author.objects.all().delete()
    Category.objects.all().delete()
    Tag.objects.all().delete()
    import_wire_copy(parse_wire_copy(decode_wire_bytes(SEED.read_bytes())))
    assert snapshot() == loaded


def test_seed_fixture_holds_only_the_seed_and_its_people():
    data = json.loads((FIXTURES / "seed.json").read_text())
    models = sorted({row["model"] for row in data})
    assert models == ["articles.article", "articles.author", "articles.byline"]


def test_import_command_summary_and_idempotency(tmp_path):
    (tmp_path / "one.txt").write_text(BASIC)
    out, err = run("import_articles", str(tmp_path))
    assert out.strip() == "1 created, 0 updated, 0 unchanged, 0 failed."
    out, err = run("import_articles", str(tmp_path / "one.txt"))
    assert out.strip() == "0 created, 0 updated, 1 unchanged, 0 failed."
    assert Article.objects.count() == 1


def test_import_command_bad_file_exits_1_and_keeps_the_rest(tmp_path):
    (tmp_path / "good.txt").write_text(BASIC)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Headline\n\nJanuary 04, 2020 - 20:39\nPosted in:\nWritten By:\n\nBody \xff\n")
    with pytest.raises(CommandError) as info:
        run("import_articles", str(tmp_path))
    assert info.value.returncode == 1
    assert Article.objects.count() == 1


def test_import_command_prints_file_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("Headline\n\nJanuary 32, 2020 - 20:39\nPosted in:\nWritten By:\n\nBody\n")
    err = io.StringIO()
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_articles", str(bad), stdout=out, stderr=err)
    assert err.getvalue().startswith(f"{bad}:3: impossible date")
    assert out.getvalue().strip() == "0 created, 0 updated, 0 unchanged, 1 failed."


def test_import_command_dry_run_saves_nothing(tmp_path):
    (tmp_path / "one.txt").write_text(BASIC)
    out, _ = run("import_articles", str(tmp_path), "--dry-run")
    assert "1 created" in out and Article.objects.count() == 0


def test_import_command_status_draft(tmp_path):
    (tmp_path / "one.txt").write_text(BASIC)
    run("import_articles", str(tmp_path), "--status", "draft")
    assert Article.objects.get().status == "draft"


def test_import_command_missing_path_fails_cleanly(tmp_path):
    with pytest.raises(CommandError):
        run("import_articles", str(tmp_path / "nope.txt"))
    assert Article.objects.count() == 0


def test_prepare_site_loads_the_seed_once_and_creates_an_admin(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    out, _ = run("prepare_site")
    assert Article.objects.count() == 1
    assert "username: admin" in out and "password: " in out
    password = out.split("password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    # An editor deletes the seed; running again must not bring it back nor reprint the password.
    Byline.objects.all().delete()
    Article.objects.all().delete()
    out, _ = run("prepare_site")
    assert Article.objects.count() == 0
    assert "password: " not in out


def test_prepare_site_keeps_edits(monkeypatch):
    run("prepare_site")
    Article.objects.update(headline="Edited by the desk")
    run("prepare_site")
    assert Article.objects.get().headline == "Edited by the desk"


def test_prepare_site_honours_the_password_variable(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct-horse-battery")
    out, _ = run("prepare_site")
    assert "correct-horse-battery" in out
    assert get_user_model().objects.get(username="admin").check_password("correct-horse-battery")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "another-long-secret")
    run("prepare_site")
    assert get_user_model().objects.get(username="admin").check_password("another-long-secret")


def test_generate_demo_content_makes_realistic_linked_content():
    out, _ = run("generate_demo_content", "--articles", "120", "--seed", "7")
    assert "120/120" in out
    assert Article.objects.count() == 120
    assert Article.objects.published().count() > 90
    assert Byline.objects.count() >= 120
    assert Category.objects.count() == 8 and Tag.objects.exists()
    years = {d.year for d in Article.objects.values_list("published_at", flat=True)}
    assert len(years) >= 3
    article = Article.objects.published().first()
    assert article.body_html.startswith("<p>")
    run("generate_demo_content", "--articles", "10")
    assert Article.objects.count() == 130  # a second run adds, never collides on slugs
    # Bulk-inserted articles are in the search index, and later inserts still are.
    word = Article.objects.published().first().headline.split()[-1]
    expected = Article.objects.published().filter(
        Q(headline__icontains=word) | Q(standfirst__icontains=word) | Q(body__icontains=word)
    )
    assert search_articles(word).count() == expected.count() > 0
    fresh = Article.objects.create(
        headline="Zyzzogeton survey", status="published", published_at=timezone.now()
    )
    assert [a.pk for a in search_articles("zyzzogeton")[:5]] == [fresh.pk]


def test_generate_demo_content_rejects_negative_counts():
    with pytest.raises(CommandError):
        run("generate_demo_content", "--articles", "-1")
