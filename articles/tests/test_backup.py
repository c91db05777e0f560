"""Backups round-trip: a `backup` restored into an empty database holds every article, revision,
correction, audit entry and image; `make dump-data` loads into a fresh database; a bad archive or
a database with content is refused and nothing changes.

The content is made the desk's way (services, the image form); restores and dumps run as
separate `manage.py` processes against a new database of the configured engine (a SQLite file,
or a throwaway PostgreSQL database `nd_restore_<random>` dropped afterwards)."""

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils.dateparse import parse_datetime

from articles import services
from articles.forms import ArticleImageForm
from articles.models import Article, AuditEntry, Category, Correction, Revision
from articles.workflow import Action

from .factories import image_upload, make_article, make_editor, make_reporter

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
DUMPED = ["auth.group", "auth.user", "articles"]
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def manage(env, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def site_env(tmp_path, database_url, media):
    """What a deployer's shell holds: its own database, media folder and data folder. No Redis:
    a restore's cache purge must not reach a shared cache."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "PYTEST_XDIST_WORKER"}}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_MEDIA_ROOT=str(media),
        DJANGO_DATA_DIR=str(tmp_path / "var"),
        DJANGO_DEBUG="1",
        DJANGO_HTTPS="0",
    )
    return env


def postgres_url(name):
    s = connection.settings_dict
    auth = quote(s["USER"] or "postgres") + (f":{quote(s['PASSWORD'])}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}?pool=0"


@pytest.fixture
def new_database(tmp_path):
    """Returns a function making URLs of new, empty databases of the configured engine."""
    made = []

    def make():
        name = f"nd_restore_{uuid.uuid4().hex[:12]}"
        if connection.vendor == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite3"
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return postgres_url(name)

    yield make
    for name in made:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def newsroom():
    """A reporter's published story with a lead image (and its renditions), a pending draft
    revision, a correction, a second draft, and the audit entries all of that writes."""
    reporter, editor = make_reporter("rita"), make_editor("ed")
    section = Category.objects.create(name="Harbour")
    story = services.article_save(
        Article(
            headline="Harbour reopens after the storm",
            standfirst="Ships sail again.",
            body="The harbour **reopened** on Monday.",
            category=section,
        ),
        user=reporter,
    )
    form = ArticleImageForm(
        {"lead_image_alt": "Boats in the harbour"},
        {"lead_image": image_upload("harbour.jpg", size=(1800, 1000))},
        instance=story,
    )
    assert form.is_valid(), form.errors
    story = form.save()
    services.article_save(story, user=reporter, action=Action.SUBMIT)
    story = services.article_save(
        Article.objects.get(pk=story.pk), user=editor, action=Action.PUBLISH
    )
    data = services.article_snapshot(story)
    data.update(headline="Harbour reopens fully", body="Every berth is open.")
    services.revision_save_draft(story, user=editor, data=data)
    services.correction_add(story, user=editor, kind="correction", text="It reopened on Tuesday.")
    services.article_save(
        Article(headline="Storm damage counted", standfirst="A first estimate."), user=reporter
    )
    story.refresh_from_db()
    assert story.lead_image_renditions["items"], "the upload made renditions"
    return story


def dump(env=None):
    """Every row of the content (users, groups, articles app) as the dump-data JSON, parsed."""
    args = ["dumpdata", *DUMPED, "--natural-foreign", "--natural-primary"]
    if env is None:
        out = io.StringIO()
        call_command(*args, stdout=out)
        return json.loads(out.getvalue())
    result = manage(env, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def by_model(rows):
    counts = {}
    for row in rows:
        counts[row["model"]] = counts.get(row["model"], 0) + 1
    return counts


def image_files(story):
    """The lead image and every rendition, by storage name."""
    return [story.lead_image.name, *(r["name"] for r in story.lead_image_renditions["items"])]


def test_backup_restores_into_an_empty_database_with_every_row_and_image(
    tmp_path, settings, new_database
):
    """Everything comes back: each article, revision, correction, audit entry, user and byline,
    field for field, and the lead image and its renditions byte for byte."""
    story = newsroom()
    before = dump()
    assert by_model(before)["articles.revision"] >= 3
    assert by_model(before)["articles.auditentry"] >= 4
    assert by_model(before)["articles.correction"] == 1

    call_command("backup", output=str(tmp_path / "backups") + "/", stdout=io.StringIO())
    (archive,) = (tmp_path / "backups").glob("newsdesk-*.tar.gz")

    restored_media = tmp_path / "restored-media"
    env = site_env(tmp_path, new_database(), restored_media)
    result = manage(env, "restore", str(archive))
    assert result.returncode == 0, result.stderr
    assert "row counts match the manifest" in result.stdout

    after = dump(env)
    assert after == before
    assert by_model(after)["articles.article"] == Article.objects.count() == 2
    assert by_model(after)["articles.revision"] == Revision.objects.count()
    assert by_model(after)["articles.correction"] == Correction.objects.count()
    assert by_model(after)["articles.auditentry"] == AuditEntry.objects.count()
    names = image_files(story)
    assert len(names) >= 4
    for name in names:
        original = Path(settings.MEDIA_ROOT) / name
        assert (restored_media / name).read_bytes() == original.read_bytes(), name


def test_restored_site_serves_and_searches_the_story(tmp_path, new_database):
    """A restored database is a working site: the story's page, and search finds its words
    (SQLite's index triggers and PostgreSQL's generated column came back with it)."""
    story = newsroom()
    call_command("backup", output=str(tmp_path / "site.tar.gz"), stdout=io.StringIO())
    env = site_env(tmp_path, new_database(), tmp_path / "media")
    assert manage(env, "restore", str(tmp_path / "site.tar.gz")).returncode == 0
    script = (
        "from django.test import Client; c = Client(); "
        f"print(c.get({story.get_absolute_url()!r}).status_code); "
        f"print({story.get_absolute_url()!r} in c.get('/search/?q=monday').content.decode())"
    )
    result = manage(env, "shell", "-v", "0", "-c", script)
    assert result.stdout.split() == ["200", "True"], result.stderr


def test_manifest_counts_every_table_of_the_copy(tmp_path):
    """The manifest says what the archive holds: engine, migrations, row counts, media files."""
    newsroom()
    path = tmp_path / "one.tar.gz"
    call_command("backup", output=str(path), stdout=io.StringIO())
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        media = [m for m in tar.getmembers() if m.name.startswith("media/") and m.isfile()]
    assert manifest["engine"] == connection.vendor
    assert "0001_initial" in manifest["migrations"]["articles"]
    assert manifest["counts"]["articles_article"] == Article.objects.count()
    assert manifest["counts"]["articles_revision"] == Revision.objects.count()
    assert manifest["counts"]["auth_user"] == 2
    assert manifest["media"]["files"] == len(media) >= 4


def test_backup_never_overwrites(tmp_path):
    """A second backup in the same second gets its own name; a named file that exists is
    refused with exit status 1 and left as it was."""
    folder = str(tmp_path / "b") + "/"
    call_command("backup", output=folder, stdout=io.StringIO())
    call_command("backup", output=folder, stdout=io.StringIO())
    assert len(list((tmp_path / "b").glob("newsdesk-*.tar.gz"))) == 2
    existing = tmp_path / "keep.tar.gz"
    existing.write_bytes(b"precious")
    with pytest.raises(CommandError, match="never overwrites") as refused:
        call_command("backup", output=str(existing), stdout=io.StringIO())
    assert refused.value.returncode == 1
    assert existing.read_bytes() == b"precious"


def test_backup_without_pg_dump_says_so(tmp_path, monkeypatch):
    """On PostgreSQL a machine without pg_dump gets a clear message and exit status 1."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump is PostgreSQL's tool; SQLite backups need none")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CommandError, match="pg_dump was not found on PATH") as refused:
        call_command("backup", output=str(tmp_path / "x.tar.gz"), stdout=io.StringIO())
    assert refused.value.returncode == 1
    assert not (tmp_path / "x.tar.gz").exists()


def test_restore_refuses_a_database_with_content_unless_yes(tmp_path):
    """Restoring over articles or users needs --yes; with it, the backup's rows replace them."""
    newsroom()
    archive = tmp_path / "a.tar.gz"
    call_command("backup", output=str(archive), stdout=io.StringIO())
    make_article("Written after the backup")
    before = dump()
    with pytest.raises(CommandError, match="not empty.*--yes") as refused:
        call_command("restore", str(archive), stdout=io.StringIO())
    assert refused.value.returncode == 1
    assert dump() == before

    call_command("restore", str(archive), yes=True, stdout=io.StringIO())
    assert not Article.objects.filter(headline="Written after the backup").exists()
    assert Article.objects.count() == 2


def _rewrite(archive: Path, target: Path, change) -> Path:
    """A copy of `archive` with its members passed through `change(name, data) -> data|None`."""
    with tarfile.open(archive) as source, tarfile.open(target, "w:gz") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            data = change(member.name, data)
            if data is None:
                continue
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


def test_bad_archives_are_refused_and_change_nothing(tmp_path, new_database):
    """Missing, damaged, foreign, other-engine and newer-code archives: exit status 1, one clear
    line, no traceback, and even with --yes the database and media stay as they were."""
    newsroom()
    good = tmp_path / "good.tar.gz"
    call_command("backup", output=str(good), stdout=io.StringIO())
    media = tmp_path / "site-media"
    env = site_env(tmp_path, new_database(), media)
    assert manage(env, "restore", str(good)).returncode == 0
    before = dump(env)
    media_before = sorted(p.relative_to(media) for p in media.rglob("*"))

    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive at all" * 100)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    other_engine = "postgresql" if connection.vendor == "sqlite" else "sqlite"

    def manifest_with(**changes):
        def change(name, data):
            if name != "manifest.json":
                return data
            return json.dumps({**json.loads(data), **changes}).encode()

        return change

    def damaged_database(name, data):
        return b"\0garbage" * 4096 if name.startswith("database.") else data

    cases = {
        tmp_path / "missing.tar.gz": "no such backup file",
        junk: "not a readable Newsdesk backup",
        truncated: "damaged or incomplete",
        _rewrite(
            good, tmp_path / "no-manifest.tar.gz", lambda n, d: None if n == "manifest.json" else d
        ): "not a Newsdesk backup",
        _rewrite(
            good, tmp_path / "engine.tar.gz", manifest_with(engine=other_engine)
        ): f"backup of a {other_engine} database",
        _rewrite(
            good,
            tmp_path / "newer.tar.gz",
            manifest_with(migrations={"articles": ["0001_initial", "9999_from_the_future"]}),
        ): "made by a newer Newsdesk",
        _rewrite(good, tmp_path / "damaged-db.tar.gz", damaged_database): "damaged",
    }
    for archive, message in cases.items():
        result = manage(env, "restore", str(archive), "--yes")
        assert result.returncode == 1, (archive.name, result.stdout, result.stderr)
        assert message in result.stderr, (archive.name, result.stderr)
        assert "Traceback" not in result.stderr, archive.name
        assert sorted(p.relative_to(media) for p in media.rglob("*")) == media_before
    assert dump(env) == before


def test_dump_data_loads_into_a_fresh_database(tmp_path, new_database):
    """`make dump-data`'s JSON loads into a new, migrated database (users, groups and natural
    keys travel with the articles) and dumps back to the same JSON."""
    newsroom()
    if connection.vendor == "sqlite":
        # The test database lives in memory: give make a file copy of it.
        source_file = tmp_path / "source.sqlite3"
        copy = sqlite3.connect(source_file)
        connection.connection.backup(copy)
        copy.close()
        source = f"sqlite:///{source_file}"
    else:
        source = postgres_url(connection.settings_dict["NAME"])
    stamp = tmp_path / "stamp"
    stamp.touch()  # newer than pyproject.toml: make installs nothing
    out = tmp_path / "dump.json"
    env = site_env(tmp_path, source, tmp_path / "media")
    made = subprocess.run(
        ["make", "-s", "dump-data", f"PY={sys.executable}", f"STAMP={stamp}", f"DUMP={out}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr
    dumped = json.loads(out.read_text())
    assert by_model(dumped)["articles.article"] == 2

    fresh = site_env(tmp_path, new_database(), tmp_path / "media")
    assert manage(fresh, "migrate", "--noinput", "-v0").returncode == 0
    loaded = manage(fresh, "loaddata", str(out))
    assert loaded.returncode == 0, loaded.stderr
    assert as_loaded(dump(fresh)) == as_loaded(dumped)


def as_loaded(rows):
    """JSON rows with times as values: dumpdata writes milliseconds, so a time at .000xyz
    seconds dumps as "…:05.000Z" and, once loaded, dumps again as "…:05Z"."""
    return [
        {
            **row,
            "fields": {
                k: parse_datetime(v) if isinstance(v, str) and TIME.match(v) else v
                for k, v in row["fields"].items()
            },
        }
        for row in rows
    ]


def test_restore_replaces_the_media_folder_and_leaves_no_work_folders(tmp_path, new_database):
    """After a restore the media folder holds the backup's files: what was there before and the
    restore's own work folders are gone."""
    story = newsroom()
    archive = tmp_path / "m.tar.gz"
    call_command("backup", output=str(archive), stdout=io.StringIO())
    media = tmp_path / "media-here"
    (media / "stale").mkdir(parents=True)
    (media / "stale" / "old.txt").write_text("from before")
    env = site_env(tmp_path, new_database(), media)
    assert manage(env, "restore", str(archive)).returncode == 0
    top = sorted(p.name for p in media.iterdir())
    assert top == sorted({name.split("/")[0] for name in image_files(story)})
    shutil.rmtree(media)
