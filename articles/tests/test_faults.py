"""Faults that must not lose work or resurrect what was withdrawn: imports racing each other,
a cache outage swallowing a purge, a full media disk.

The races run real processes against the test database, the outage a real redis-server the test
stops and restarts from its own snapshot, and the full disk a storage whose writes fail part way.
"""

import errno
import io
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from articles import cache as page_cache
from articles.images import MediaStorage
from articles.models import Article, Author, CachePurgeDebt, Category, Tag

from .factories import change_form_data, image_bytes, make_live_article

ROOT = Path(__file__).resolve().parents[2]


# --- concurrent imports -------------------------------------------------------------------------

# Waits for the go file, then runs `manage.py import_articles` in this process: every process
# starts importing within milliseconds of the others, so their transactions overlap.
LAUNCHER = """
import os, sys, time
go = sys.argv[1]
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsdesk.settings")
django.setup()
from django.core.management import execute_from_command_line
while not os.path.exists(go):
    time.sleep(0.002)
execute_from_command_line(["manage.py", "import_articles", *sys.argv[2:]])
"""

PROCESSES = 6
FILES = 12


def _wire(headline, section, author, topic):
    return (
        f"{headline}\n\nJanuary 04, 2020 - 20:39\nPosted in: {section}, {topic}\n"
        f"Written By: {author}\n\nFirst paragraph of {headline}.\n"
    )


def _write_folders(base):
    """One folder per process. File j of every folder introduces the same new section, author
    and topic, spelt differently by each process (case, punctuation: the same slug), and every
    folder also carries the same shared story j (a re-send arriving at every importer)."""
    folders, headlines = [], set()
    spellings = [
        "Health {j}",
        "health {j}",
        "HEALTH {j}",
        "Health {j}!",
        "Health-{j}",
        "health {j}.",
    ]
    for p in range(PROCESSES):
        folder = base / f"in{p}"
        folder.mkdir()
        for j in range(FILES):
            name = spellings[p % len(spellings)].format(j=j)
            own = f"Story {p} of {j}"
            shared = f"Shared story {j}"
            writer = f"Writer {j}" if p % 2 else f"writer {j}"
            for headline in (own, shared):
                text = _wire(headline, name, writer, f"Topic {j}")
                (folder / f"{j:02d}-{headline.replace(' ', '_')}.txt").write_text(text)
                headlines.add(headline)
        folders.append(folder)
    return folders, headlines


def _database_env(tmp):
    """Environment for subprocesses that use this test's database: the PostgreSQL test database
    itself, or (SQLite's test database lives in memory) a migrated file database."""
    env = {
        **os.environ,
        "DJANGO_DEBUG": "1",
        "DJANGO_HTTPS": "0",
        "DJANGO_DATA_DIR": str(tmp),
        "PYTHONPATH": str(ROOT),
        "NEWSDESK_EDGE_PURGE_URLS": "",
    }
    env.pop("REDIS_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        env["DATABASE_URL"] = (
            f"postgres://{auth}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}?pool=0"
        )
        return env, None
    path = tmp / "imports.sqlite3"
    env["DATABASE_URL"] = f"sqlite:///{path}"
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v0"],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    return env, path


def _stored(sqlite_path):
    """(headline, wire_key) of every stored article, and the section/author/topic rows."""
    if sqlite_path is None:
        articles = list(Article.objects.values_list("headline", "wire_key"))
        names = {
            model.__name__: list(model.objects.values_list("name", "slug"))
            for model in (Category, Author, Tag)
        }
        return articles, names
    db = sqlite3.connect(sqlite_path)
    try:
        articles = db.execute("SELECT headline, wire_key FROM articles_article").fetchall()
        names = {
            model.__name__: db.execute(f"SELECT name, slug FROM {model._meta.db_table}").fetchall()
            for model in (Category, Author, Tag)
        }
    finally:
        db.close()
    return articles, names


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_store_every_story_exactly_once(tmp_path):
    """Six `import_articles` processes started together, their files introducing the same new
    sections, authors and topics and sharing stories: every one exits 0 without a traceback,
    and every story is stored exactly once."""
    env, sqlite_path = _database_env(tmp_path)
    folders, headlines = _write_folders(tmp_path)
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(go), str(folder)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in folders
    ]
    time.sleep(3)  # let every process finish starting Django
    go.touch()
    outputs = [(p.wait(180), *p.communicate()) for p in processes]
    for status, out, err in outputs:
        assert "Traceback" not in err, err
        assert status == 0, out + err
        assert "0 failed" in out
    articles, names = _stored(sqlite_path)
    stored = sorted(headline for headline, _ in articles)
    assert stored == sorted(headlines)  # each once: none lost, none twice
    assert len({key for _, key in articles}) == len(articles)
    # The spellings of one name are one row; names that only share a slug got their own slug.
    assert len(names["Author"]) == FILES
    assert len(names["Tag"]) == FILES
    assert len({slug for _, slug in names["Category"]}) == len(names["Category"])


LATE_NIGHT_IN_YEAR_ONE = _wire("Too early", "World", "Jane Doe", "Old").replace(
    "January 04, 2020 - 20:39", "January 01, 0001 - 00:10"
)


def test_an_unexpected_error_in_one_file_does_not_abort_the_folder(db, tmp_path, settings):
    """A file whose import fails in an unforeseen way (here: a filing time before year 1 in UTC)
    is reported by name and counted; the files after it are still imported; exit status 1."""
    settings.TIME_ZONE = "Europe/Berlin"
    (tmp_path / "a.txt").write_text(_wire("First story", "World", "Jane Doe", "Libya"))
    (tmp_path / "b.txt").write_text(LATE_NIGHT_IN_YEAR_ONE)
    (tmp_path / "c.txt").write_text(_wire("Third story", "World", "Jane Doe", "Libya"))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_articles", str(tmp_path), stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert f"{tmp_path / 'b.txt'}: could not be imported" in err.getvalue()
    assert "2 created, 0 updated, 0 unchanged, 1 failed." in out.getvalue()
    assert sorted(Article.objects.values_list("headline", flat=True)) == [
        "First story",
        "Third story",
    ]


# --- a purge lost to a cache outage -------------------------------------------------------------

REDIS = shutil.which("redis-server")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SnapshotRedis:
    """A throwaway redis-server that keeps its snapshot (dump.rdb) in its own folder and only
    writes it when told (SAVE): a restart brings back what the last SAVE held."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="newsdesk-redis-")
        self.port = _free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def command(self, *args):
        import redis

        client = redis.Redis(port=self.port)
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def stop(self):
        self.process.terminate()  # with no save points, shutting down writes no snapshot
        self.process.wait(10)

    def destroy(self):
        if self.process and self.process.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def snapshot_redis(settings):
    if not REDIS:
        pytest.fail("redis-server is not on PATH; this test needs it")
    server = SnapshotRedis()
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "newsdesk.redis_cache.Cache",
            "LOCATION": f"redis://127.0.0.1:{server.port}/0",
            "KEY_PREFIX": "faults",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    settings.CACHE_SECONDS = 300
    yield server
    server.destroy()


@pytest.mark.django_db(transaction=True)
def test_withdrawal_during_a_cache_outage_stays_withdrawn_when_the_cache_comes_back(
    snapshot_redis, reader, editor, client, monkeypatch
):
    """Redis goes down after snapshotting a cached story; the editor withdraws it (410 while
    down); Redis restarts from the snapshot, the old page inside: readers still get 410, and
    cached pages are hits again. The reconnection alone makes the page cache look for the lost
    purge (the periodic look is pushed out of the test's reach)."""
    monkeypatch.setattr(page_cache, "DEBT_CHECK_SECONDS", 3600)
    story = make_live_article(headline="Story to withdraw")
    other = make_live_article(headline="Story that stays")
    url = story.get_absolute_url()
    assert reader.get(url)["X-Cache"] == "miss"
    warm = reader.get(url)
    assert warm.status_code == 200 and warm["X-Cache"] == "hit"
    snapshot_redis.command("SAVE")
    snapshot_redis.stop()

    client.force_login(editor)
    answer = client.post(
        reverse("admin:articles_article_withdraw", args=[story.pk]),
        {"reason": "The interview was fabricated."},
    )
    assert answer.status_code == 302
    assert Article.objects.get(pk=story.pk).withdrawn_at is not None
    assert reader.get(url).status_code == 410  # down: rendered from the database

    snapshot_redis.start()
    assert snapshot_redis.command("DBSIZE") > 0  # the snapshot came back, old page and all
    for _ in range(2):
        gone = reader.get(url)
        assert gone.status_code == 410, gone.content[:200]
        assert b"The interview was fabricated." in gone.content
    assert reader.get(other.get_absolute_url())["X-Cache"] == "miss"
    assert reader.get(other.get_absolute_url())["X-Cache"] == "hit"
    assert not CachePurgeDebt.objects.exists()  # replayed once, then forgotten


# --- a full media disk --------------------------------------------------------------------------


class _DiskFills:
    """A file that takes `room` more bytes, then fails as a full disk does."""

    room = 0

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        if len(data) > type(self).room:
            self.handle.write(data[: type(self).room])
            self.handle.flush()
            type(self).room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        type(self).room -= len(data)
        return self.handle.write(data)


class FullDiskStorage(MediaStorage):
    """Newsdesk's media storage on a disk with `_DiskFills.room` bytes left: files are really
    created and partly written before the write fails (a small disk cannot be mounted here)."""

    def _save(self, name, content):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "xb") as handle:
            out = _DiskFills(handle)
            for chunk in content.chunks():
                out.write(chunk)
        return name


@pytest.fixture
def full_disk(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.FullDiskStorage"},
    }
    return _DiskFills


def _files_under(root):
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root)
        for name in names
    )


@pytest.mark.parametrize(
    "room",
    [pytest.param(1000, id="upload"), pytest.param(None, id="renditions")],
)
def test_a_full_media_disk_gives_the_form_back_with_the_edit_kept(
    room, full_disk, admin_client, settings
):
    """An upload (or its renditions, made after it is stored) that meets a full disk: the form
    comes back (200) with the error on the image field and the editor's headline and body in
    it; the article is unchanged; no truncated, empty or orphaned file is left."""
    article = make_live_article(headline="Original headline", body="Original body.")
    before = Article.objects.values().get(pk=article.pk)
    url = reverse("admin:articles_article_change", args=[article.pk])
    picture = image_bytes("JPEG", size=(1600, 900))
    # Room for the original but not for its renditions, or not even for the original.
    full_disk.room = room if room is not None else len(picture) + 2000
    data = change_form_data(
        article,
        headline="Headline typed during the outage",
        body="A body the editor must not lose.",
        _action="save",
        lead_image=SimpleUploadedFile("pic.jpg", picture, content_type="image/jpeg"),
    )
    response = admin_client.post(url, data)
    assert response.status_code == 200, response.content.decode()[:2000]
    html = response.content.decode()
    form = response.context["adminform"].form
    assert "The image could not be stored: the media disk is full." in " ".join(
        form.errors["lead_image"]
    )
    assert "Headline typed during the outage" in html
    assert "A body the editor must not lose." in html
    assert Article.objects.values().get(pk=article.pk) == before
    assert _files_under(settings.MEDIA_ROOT) == []
