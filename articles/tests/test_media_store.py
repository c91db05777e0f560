"""Media in an S3-compatible object store (MEDIA_STORAGE_URL=s3://…), proved against a real
SeaweedFS started by the tests: uploads through the desk land in the bucket with their
renditions, readers get URLs at the store or the CDN, replaced and deleted images leave no
objects behind, a page render never asks the store anything, and a store that is down gives the
editor a clear form error with nothing half-saved."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from articles.admin.views import desk_url
from articles.media_store import MediaStoreError, S3MediaStorage
from articles.models import Article, Author
from newsdesk.env import media_store_from_url

from .factories import change_form_data, image_bytes, make_live_article
from .objectstore import new_bucket, start_seaweedfs, stop_seaweedfs, use_store
from .test_settings import run_manage


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """Run what waits for COMMIT (removing replaced files) as a real commit would."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


def picture(size=(1200, 800), color=(20, 90, 200), name="harbour.jpg"):
    return SimpleUploadedFile(name, image_bytes("JPEG", size=size, color=color), "image/jpeg")


def upload_lead_image(admin_client, article, **fields):
    article.refresh_from_db()  # the form posts the version it shows
    url = reverse("admin:articles_article_change", args=[article.pk])
    data = change_form_data(article, _action="save", lead_image=picture(), **fields)
    return admin_client.post(url, data)


def keys_of(article):
    article.refresh_from_db()
    return {article.lead_image.name, *(r["name"] for r in article.lead_image_renditions["items"])}


# --- the setting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "s3://media?endpoint=http://127.0.0.1:8333&region=eu-west-1",
            {
                "bucket": "media",
                "location": "",
                "endpoint_url": "http://127.0.0.1:8333",
                "region_name": "eu-west-1",
                "addressing_style": "path",
                "public_url": "http://127.0.0.1:8333/media/",
            },
        ),
        (
            "s3://news-pics/site-a?endpoint=https://s3.example.net/&addressing=virtual",
            {
                "location": "site-a",
                "addressing_style": "virtual",
                "public_url": "https://news-pics.s3.example.net/site-a/",
            },
        ),
        (
            "s3://news-pics",
            {
                "endpoint_url": None,
                "region_name": "us-east-1",
                "public_url": "https://news-pics.s3.us-east-1.amazonaws.com/",
            },
        ),
    ],
)
def test_media_storage_url_names_the_bucket_endpoint_region_and_public_address(url, expected):
    """An s3:// MEDIA_STORAGE_URL is read into the bucket, its endpoint and where readers fetch it."""
    store = media_store_from_url(url)
    for key, value in expected.items():
        assert store[key] == value


@pytest.mark.parametrize("url", [None, "", "  ", "file://", "file:"])
def test_unset_or_file_media_storage_url_means_the_local_disk(url):
    """Unset, empty or file:// keeps uploads on the local disk."""
    assert media_store_from_url(url) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://media", "must start with s3://"),
        ("s3://?endpoint=http://x", "names no bucket"),
        ("s3://key:secret@media", "must not hold credentials"),
        ("s3://media?endpoint=127.0.0.1:8333", "endpoint must be an http:// or https://"),
        ("s3://media?bucket=x", "unknown option(s) bucket"),
        ("s3://media?addressing=sideways", "addressing must be path or virtual"),
        ("file:///srv/media", "DJANGO_MEDIA_ROOT chooses the folder"),
    ],
)
def test_bad_media_storage_url_is_refused_with_a_clear_message(url, message):
    """A malformed MEDIA_STORAGE_URL stops the site at start-up, saying what is wrong."""
    with pytest.raises(ImproperlyConfigured, match="MEDIA_STORAGE_URL") as caught:
        media_store_from_url(url)
    assert message in str(caught.value)


def test_bad_media_storage_url_stops_manage_py_with_the_message():
    """`manage.py check` with a bad MEDIA_STORAGE_URL exits non-zero naming the variable."""
    result = run_manage("check", DJANGO_DEBUG="1", MEDIA_STORAGE_URL="gopher://media")
    assert result.returncode != 0
    assert "MEDIA_STORAGE_URL must start with s3://" in result.stderr


def test_store_and_cdn_settings_reach_media_url_and_the_csp_img_src():
    """With a bucket and a CDN base, MEDIA_URL is the CDN and CSP lets images load from it."""
    code = (
        "from django.conf import settings as s;"
        "print(s.MEDIA_URL); print(s.STORAGES['default']['BACKEND']); print(s.SERVE_MEDIA);"
        "print(' '.join(s.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']))"
    )
    result = run_manage(
        "shell",
        "-c",
        code,
        DJANGO_DEBUG="1",
        MEDIA_STORAGE_URL="s3://pics?endpoint=http://127.0.0.1:8333",
        MEDIA_CDN_URL="https://img.news.example/pics",
    )
    assert result.returncode == 0, result.stderr
    media_url, backend, serve, img_src = result.stdout.splitlines()[-4:]
    assert media_url == "https://img.news.example/pics/"
    assert backend == "articles.media_store.S3MediaStorage"
    assert serve == "False"
    assert "https://img.news.example" in img_src.split()
    result = run_manage(
        "shell",
        "-c",
        code,
        DJANGO_DEBUG="1",
        MEDIA_STORAGE_URL="s3://pics?endpoint=http://127.0.0.1:8333",
    )
    assert result.stdout.splitlines()[-4] == "http://127.0.0.1:8333/pics/"
    assert "http://127.0.0.1:8333" in result.stdout.splitlines()[-1].split()


def test_bad_media_cdn_url_is_refused():
    """MEDIA_CDN_URL must be an http(s) address."""
    result = run_manage("check", DJANGO_DEBUG="1", MEDIA_CDN_URL="img.example.org")
    assert result.returncode != 0 and "MEDIA_CDN_URL must be an http" in result.stderr


# --- against a real SeaweedFS --------------------------------------------------------------------


def test_desk_upload_stores_the_original_and_renditions_in_the_bucket(admin_client, client, bucket):
    """An editor's upload lands in the bucket (read back with boto3); the page and the feed
    point at the store, and the objects there are the real images."""
    article = make_live_article(headline="Harbour at dawn")
    response = upload_lead_image(admin_client, article, lead_image_alt="Boats in the harbour")
    assert response.status_code == 302, response.content.decode()[:2000]
    keys = keys_of(article)
    assert (
        article.lead_image.name.startswith("articles/") and len(keys) == 7
    )  # 480, 960, 1200 in WebP and JPEG
    assert bucket.keys() == keys
    assert bucket.read(article.lead_image.name)[:3] == b"\xff\xd8\xff"  # a JPEG
    base = bucket.store["public_url"]
    html = client.get(article.get_absolute_url()).content.decode()
    assert f"{base}{article.lead_image_renditions['items'][0]['name']}" in html
    assert 'src="/media/' not in html
    feed = client.get(reverse("articles:feed-rss")).content.decode()
    assert f'url="{base}{article.lead_image.name}"' in feed
    assert f'length="{len(bucket.read(article.lead_image.name))}"' in feed


def test_media_cdn_url_is_what_readers_get(admin_client, client, seaweedfs, settings):
    """With MEDIA_CDN_URL the page, the feed and the og:image point at the CDN base."""
    made = new_bucket(seaweedfs)
    use_store(settings, made, cdn="https://img.news.example/")
    article = make_live_article(headline="Lighthouse")
    assert upload_lead_image(admin_client, article).status_code == 302
    keys_of(article)
    html = client.get(article.get_absolute_url()).content.decode()
    assert "https://img.news.example/renditions/" in html
    assert f'content="https://img.news.example/{article.lead_image.name}"' in html or (
        'property="og:image" content="https://img.news.example/renditions/' in html
    )
    feed = client.get(reverse("articles:feed-rss")).content.decode()
    assert f"https://img.news.example/{article.lead_image.name}" in feed


def test_replacing_a_lead_image_removes_the_old_renditions_and_keeps_history_originals(
    admin_client, bucket, commits
):
    """A new lead image: the old renditions leave the bucket; the old original stays only
    because a revision names it (restoring it must find the file)."""
    article = make_live_article(headline="Two pictures")
    assert commits(upload_lead_image, admin_client, article).status_code == 302
    first = keys_of(article)
    first_original = article.lead_image.name
    assert commits(upload_lead_image, admin_client, article).status_code == 302
    second = keys_of(article)
    assert first.isdisjoint(second)
    assert bucket.keys() == second | {first_original}


def test_replacing_and_deleting_an_author_photo_removes_every_old_object(
    admin_client, bucket, commits
):
    """Author photos have no history: a replaced photo's original and renditions go, and
    deleting the author empties the bucket."""
    add = reverse("admin:articles_author_add")
    data = {"name": "Ines Okafor", "slug": "ines-okafor", "bio": "", "photo_alt": "Ines"}
    response = commits(
        admin_client.post, add, {**data, "photo": picture(size=(800, 800), name="ines.jpg")}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    author = Author.objects.get(slug="ines-okafor")
    first = {author.photo.name, *(r["name"] for r in author.photo_renditions["items"])}
    assert bucket.keys() == first
    change = reverse("admin:articles_author_change", args=[author.pk])
    response = commits(
        admin_client.post, change, {**data, "photo": picture(size=(600, 600), color=(1, 2, 3))}
    )
    assert response.status_code == 302
    author.refresh_from_db()
    second = {author.photo.name, *(r["name"] for r in author.photo_renditions["items"])}
    assert first.isdisjoint(second) and bucket.keys() == second
    delete = reverse("admin:articles_author_delete", args=[author.pk])
    assert commits(admin_client.post, delete, {"post": "yes"}).status_code == 302
    assert not Author.objects.filter(pk=author.pk).exists()
    assert bucket.keys() == set()


def test_deleting_an_article_for_good_removes_all_its_objects(admin_client, bucket, commits):
    """Trash, then empty the trash: the current image, its renditions and the originals its
    history kept all leave the bucket."""
    article = make_live_article(headline="Going away")
    assert commits(upload_lead_image, admin_client, article).status_code == 302
    assert commits(upload_lead_image, admin_client, article).status_code == 302
    assert len(bucket.keys()) == 8  # two originals, six renditions of the second
    delete = reverse("admin:articles_article_delete", args=[article.pk])
    assert commits(admin_client.post, delete, {"post": "yes"}).status_code == 302
    assert len(bucket.keys()) == 8  # in the trash: still restorable
    response = commits(admin_client.post, desk_url("trash"), {"empty": "1", "confirm": "yes"})
    assert response.status_code == 302
    assert not Article.objects.filter(pk=article.pk).exists()
    assert bucket.keys() == set()


class _AskingStorage(S3MediaStorage):
    """Fails the test if anything asks the store about an object."""

    def _refuse(self, *args, **kwargs):
        raise AssertionError("a read path asked the object store")

    exists = size = listdir = _open = get_modified_time = _refuse


def test_reading_pages_never_asks_the_store(admin_client, client, bucket, settings):
    """Article page, front page, feeds, author page and the desk's list are built from the keys
    on the rows: a storage that raises on exists/size/listdir/open changes nothing."""
    article = make_live_article(headline="Quiet reads")
    assert upload_lead_image(admin_client, article).status_code == 302
    author = article.bylines.first().author
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}._AskingStorage", "OPTIONS": {"store": bucket.store}},
    }
    pages = [
        article.get_absolute_url(),
        reverse("articles:home"),
        reverse("articles:feed-rss"),
        reverse("articles:feed-atom"),
        author.get_absolute_url(),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
    assert bucket.store["public_url"] in client.get(article.get_absolute_url()).content.decode()
    desk = admin_client.get(reverse("admin:articles_article_changelist"))
    assert desk.status_code == 200 and bucket.store["public_url"] in desk.content.decode()


@pytest.fixture
def doomed_store(settings):
    """A SeaweedFS of the test's own, to be stopped while the desk uses it."""
    weed, folder = start_seaweedfs()
    made = new_bucket(weed)
    use_store(settings, made)
    yield made
    stop_seaweedfs(weed, folder)


def test_a_store_that_is_down_gives_the_form_back_with_nothing_saved(admin_client, doomed_store):
    """The store stops: the upload fails with a clear error on the image field (200), the
    editor's typed text is in the form, the row is unchanged and, once the store is back, no
    object was left behind."""
    article = make_live_article(headline="Before the outage", body="Old body.")
    before = Article.objects.values().get(pk=article.pk)
    doomed_store.weed.stop()
    response = upload_lead_image(
        admin_client, article, headline="Typed during the outage", body="Body worth keeping."
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    errors = " ".join(response.context["adminform"].form.errors["lead_image"])
    assert "The image could not be stored: the media store cannot be written" in errors
    assert "Nothing was saved; your other changes are still in the form." in errors
    html = response.content.decode()
    assert "Typed during the outage" in html and "Body worth keeping." in html
    assert Article.objects.values().get(pk=article.pk) == before
    doomed_store.weed.start()
    assert doomed_store.keys() == set()


class _RenditionsFail(S3MediaStorage):
    """A real bucket that takes the original and then refuses the renditions."""

    def _save(self, name, content):
        if name.startswith("renditions/"):
            raise MediaStoreError(None, "it answered InternalError")
        return super()._save(name, content)


def test_a_store_failing_part_way_leaves_no_orphan_original(admin_client, bucket, settings):
    """The original was stored but its renditions were refused: the save is undone and the
    original is deleted from the bucket again."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}._RenditionsFail", "OPTIONS": {"store": bucket.store}},
    }
    article = make_live_article(headline="Half way")
    before = Article.objects.values().get(pk=article.pk)
    response = upload_lead_image(admin_client, article, headline="Typed text")
    assert response.status_code == 200
    assert "it answered InternalError" in response.content.decode()
    assert Article.objects.values().get(pk=article.pk) == before
    assert bucket.keys() == set()
