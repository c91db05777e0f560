"""`manage.py move_media` copies images and renditions between the media folder and a real
SeaweedFS, idempotently; `manage.py backup` archives a bucket's media."""

import io
import os
import tarfile

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import OutputWrapper

from articles.forms import ArticleImageForm
from articles.management.commands import move_media
from newsdesk.stack import free_port

from .factories import image_bytes, image_upload, make_article, make_author
from .objectstore import use_store


def with_picture(article, size=(1000, 600)):
    form = ArticleImageForm(
        {"lead_image_alt": "Alt"},
        {"lead_image": image_upload("pic.jpg", "JPEG", size=size)},
        instance=article,
    )
    assert form.is_valid(), form.errors
    return form.save()


def local_files(root):
    return {
        os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
        for folder, _, names in os.walk(root)
        for name in names
    }


def move(*args, **kwargs):
    out = io.StringIO()
    call_command("move_media", *args, stdout=out, stderr=io.StringIO(), **kwargs)
    return out.getvalue()


@pytest.mark.django_db
def test_move_media_to_s3_copies_everything_once(bucket, settings, _media_root):
    """Images stored on disk are copied with their renditions to the bucket; a second run
    copies nothing; the local files stay."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "articles.images.MediaStorage"},
    }
    first = with_picture(make_article("One"))
    second = with_picture(make_article("Two"), size=(500, 300))
    on_disk = local_files(_media_root)
    assert first.lead_image.name in on_disk and second.lead_image.name in on_disk
    out = move("--to", "s3", "--store", bucket.url)
    assert f"Copied {len(on_disk)}, skipped 0, failed 0" in out
    assert bucket.keys() == on_disk
    assert bucket.read(first.lead_image.name) == open(first.lead_image.path, "rb").read()
    assert f"Copied 0, skipped {len(on_disk)}, failed 0" in move(
        "--to", "s3", "--store", bucket.url
    )
    assert local_files(_media_root) == on_disk


@pytest.mark.django_db
def test_move_media_dry_run_copies_nothing(bucket, settings):
    """--dry-run says what it would copy and leaves the bucket alone."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "articles.images.MediaStorage"},
    }
    with_picture(make_article("One"))
    out = move("--to", "s3", "--store", bucket.url, "--dry-run")
    assert "Would copy 7, skipped 0, failed 0" in out
    assert bucket.keys() == set()


@pytest.mark.django_db
def test_move_media_to_file_brings_the_bucket_back_to_disk(bucket, _media_root):
    """With the site on the bucket, --to file copies every original and rendition to the
    media folder, byte for byte."""
    story = with_picture(make_article("Back home"))
    in_bucket = bucket.keys()
    assert story.lead_image.name in in_bucket and local_files(_media_root) == set()
    out = move("--to", "file")
    assert f"Copied {len(in_bucket)}, skipped 0, failed 0" in out
    assert local_files(_media_root) == in_bucket
    with open(os.path.join(_media_root, story.lead_image.name), "rb") as handle:
        assert handle.read() == bucket.read(story.lead_image.name)
    assert "Copied 0" in move("--to", "file")


@pytest.mark.django_db
def test_move_media_counts_a_missing_file_as_failed_and_exits_1(bucket, settings, _media_root):
    """A row naming a file that is not there: the others are copied, the summary says one
    failed and the command exits with status 1."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "articles.images.MediaStorage"},
    }
    story = with_picture(make_article("Lost"), size=(400, 300))
    os.remove(story.lead_image.path)
    with pytest.raises(CommandError, match=r"Copied 2, skipped 0, failed 1") as caught:
        move("--to", "s3", "--store", bucket.url)
    assert caught.value.returncode == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "ftp"], "--to must be s3 or file"),
        (["--to", "s3", "--store", "s4://x"], "--store must start with s3://"),
        (["--to", "s3"], "No object store is configured"),
    ],
)
def test_move_media_refuses_a_bad_target(args, message):
    """A bad target is refused with a clear message and status 1."""
    with pytest.raises(CommandError, match=message) as caught:
        move(*args)
    assert caught.value.returncode == 1


@pytest.mark.django_db
def test_move_media_says_when_the_store_cannot_be_reached():
    """A store nobody answers at: status 1, the address named, nothing copied."""
    with_picture(make_article("Stuck"))
    url = f"s3://media?endpoint=http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match="cannot be reached.*Nothing was copied") as caught:
        move("--to", "s3", "--store", url)
    assert caught.value.returncode == 1


def test_progress_bar_is_drawn_on_a_terminal_only():
    """On a TTY the bar is redrawn in place; in a pipe there is none."""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    bar = move_media._Progress(
        OutputWrapper(screen), 4, enabled=move_media._is_tty(OutputWrapper(screen))
    )
    for _ in range(4):
        bar.step()
    assert "\r[" + "#" * 30 + "] 4/4" in screen.getvalue()
    pipe = io.StringIO()
    quiet = move_media._Progress(
        OutputWrapper(pipe), 4, enabled=move_media._is_tty(OutputWrapper(pipe))
    )
    quiet.step()
    assert pipe.getvalue() == ""


@pytest.mark.django_db(transaction=True)  # the backup copies the database from outside
def test_backup_archives_the_bucket_media(bucket, tmp_path):
    """With media in a bucket, the backup holds every object under media/ and says where
    they came from."""
    story = with_picture(make_article("Kept safe"))
    author = make_author("Photo Person")
    bucket.put("pending/abc/stray.jpg", image_bytes())
    out = io.StringIO()
    call_command("backup", output=str(tmp_path / "b.tar.gz"), stdout=out)
    assert "from the bucket newsdesk-tests" in out.getvalue()
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        media = {n.removeprefix("media/") for n in tar.getnames() if n.startswith("media/")}
        original = tar.extractfile("media/" + story.lead_image.name).read()
    assert media == bucket.keys() and story.lead_image.name in media
    assert original == bucket.read(story.lead_image.name)
    assert author.pk


@pytest.mark.django_db(transaction=True)
def test_backup_refuses_clearly_when_the_bucket_cannot_be_read(settings, bucket, tmp_path):
    """A store that does not answer: exit 1 with the reason, and no archive file."""
    down = type(bucket)(bucket.weed, bucket.name, bucket.prefix)
    down.store = {**bucket.store, "endpoint_url": f"http://127.0.0.1:{free_port()}"}
    use_store(settings, down)
    with pytest.raises(CommandError, match="media store .* could not be read") as caught:
        call_command("backup", output=str(tmp_path / "b.tar.gz"), stdout=io.StringIO())
    assert caught.value.returncode == 1
    assert list(tmp_path.iterdir()) == []
