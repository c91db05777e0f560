"""Lead images and author photos: only real images within limits are stored, upright and without
metadata; renditions are made once and served with srcset; the desk shows thumbnails."""

import io
import os
import re
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.template import Context, Template
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st
from PIL import ExifTags, Image

from articles.forms import ArticleImageForm, AuthorPhotoForm
from articles.images import generate_renditions, normalise_image, og_image_url, validate_image
from articles.models import Article, Author

from .factories import image_bytes, make_article, make_author, make_category, make_user

pytestmark = pytest.mark.django_db

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSION = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


def upload(data, name="photo.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def picture_of(fmt="JPEG", size=(1000, 500), **kwargs):
    return upload(image_bytes(fmt, size=size, **kwargs), f"pic.{EXTENSION[fmt]}", MIME[fmt])


def attach(article, file, **data):
    """Upload through the desk's form, as the admin does."""
    form = ArticleImageForm(
        {"lead_image_alt": "Alt text", **data}, {"lead_image": file}, instance=article
    )
    assert form.is_valid(), form.errors
    return form.save()


def form_errors(file):
    article = make_article()
    form = ArticleImageForm({}, {"lead_image": file}, instance=article)
    assert not form.is_valid()
    return " ".join(form.errors["lead_image"])


def exif_jpeg(size=(60, 40), orientation=6):
    """A JPEG as a phone writes it: sideways pixels, an Orientation tag, camera and GPS data."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "PhoneCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 0.0)
    image = Image.new("RGB", size, (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, size[0] // 2, size[1]))  # left half blue
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def png_header_only(width, height):
    """A PNG that claims huge dimensions but is a few dozen bytes: a decompression bomb's shape."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def animated_gif(frames=3, size=(200, 100), fmt="GIF"):
    images = [Image.new("RGB", size, (40 * i, 100, 200)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def stored(fieldfile):
    with default_storage.open(fieldfile.name, "rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


# Accepted uploads ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_each_accepted_format_is_stored_in_its_own_format(fmt):
    """Real JPEG, PNG, WebP and GIF images are accepted and kept in their format."""
    article = attach(make_article(), picture_of(fmt, size=(700, 350)))
    article.refresh_from_db()
    image = stored(article.lead_image)
    assert image.format == fmt
    assert image.size == (700, 350)
    assert (article.lead_image_width, article.lead_image_height) == (700, 350)
    assert article.lead_image.name.endswith("." + EXTENSION[fmt])


def test_image_is_recognised_by_content_not_by_name():
    """A PNG named .jpg is a PNG: it is accepted, and stored under a name that says so."""
    article = attach(make_article(), upload(image_bytes("PNG"), "misnamed.jpg", "image/jpeg"))
    assert stored(article.lead_image).format == "PNG"
    assert article.lead_image.name.endswith(".png")


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_is_accepted_and_its_first_frame_makes_the_renditions(fmt):
    """Animated GIF, WebP and PNG stay animated; renditions are stills of the first frame."""
    data = animated_gif(fmt=fmt)
    article = attach(make_article(), upload(data, f"loop.{EXTENSION[fmt]}", MIME[fmt]))
    article.refresh_from_db()
    with default_storage.open(article.lead_image.name, "rb") as handle:
        assert Image.open(handle).n_frames == 3
    items = article.lead_image_renditions["items"]
    assert {r["format"] for r in items} == {"webp", fmt.lower()}
    for item in items:
        with default_storage.open(item["name"], "rb") as handle:
            still = Image.open(handle)
            assert getattr(still, "n_frames", 1) == 1
            assert still.convert("RGB").getpixel((5, 5))[:2] == pytest.approx((0, 100), abs=8)


def test_palette_png_renditions_are_smoothly_resized():
    """Palette images are converted before resizing, so renditions are not nearest-neighbour."""
    image = Image.new("P", (1000, 100))
    image.putpalette([0, 0, 0, 255, 255, 255] * 128)
    for x in range(0, 1000, 2):
        image.paste(1, (x, 0, x + 1, 100))  # one-pixel stripes: averaging gives grey
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    article = attach(make_article(), upload(buffer.getvalue(), "stripes.png", "image/png"))
    small = next(r for r in article.lead_image_renditions["items"] if r["format"] == "png")
    with default_storage.open(small["name"], "rb") as handle:
        grey = Image.open(handle).convert("L").getpixel((100, 20))
    assert 60 < grey < 200


# Refused uploads ----------------------------------------------------------------------------

NOT_IMAGES = {
    "text named .jpg": b"Just some words, not a picture.\n" * 10,
    "pdf named .jpg": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n",
    "svg named .jpg": (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<script>alert(1)</script><rect width="10" height="10"/></svg>'
    ),
    "html named .jpg": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
}


@pytest.mark.parametrize("label", list(NOT_IMAGES))
def test_files_that_are_not_images_are_refused_whatever_their_name(label):
    """Text, PDF, SVG and HTML are refused with a message naming the accepted formats."""
    message = form_errors(upload(NOT_IMAGES[label], "photo.jpg"))
    assert "not an image" in message and "JPEG, PNG, WebP or GIF" in message


def test_other_real_image_formats_are_refused():
    """A real BMP or TIFF is an image, but not one the site serves."""
    for fmt in ("BMP", "TIFF"):
        buffer = io.BytesIO()
        Image.new("RGB", (20, 20)).save(buffer, fmt)
        message = form_errors(upload(buffer.getvalue(), "photo.jpg"))
        assert "JPEG, PNG, WebP or GIF" in message


def test_truncated_jpeg_is_refused_as_damaged():
    """A JPEG cut off mid-way is refused: the pixels are decoded, not just the header."""
    data = image_bytes("JPEG", size=(400, 300))
    message = form_errors(upload(data[: len(data) // 2]))
    assert "damaged or incomplete" in message


def test_zero_byte_file_is_refused():
    """An empty file is refused with a message."""
    assert "empty" in form_errors(upload(b"", "photo.jpg"))
    with pytest.raises(ValidationError, match="empty"):
        validate_image(io.BytesIO(b""))


def test_too_large_file_is_refused_naming_the_limit(settings):
    """Files over IMAGE_MAX_BYTES are refused, and the message says the limit in MB."""
    settings.IMAGE_MAX_BYTES = 2 * 1024 * 1024
    noisy = Image.frombytes("RGB", (1200, 1000), os.urandom(1200 * 1000 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG")
    assert buffer.tell() > settings.IMAGE_MAX_BYTES
    message = form_errors(upload(buffer.getvalue(), "big.png", "image/png"))
    assert "at most 2 MB" in message


def test_too_many_pixels_is_refused(settings):
    """Images over IMAGE_MAX_PIXELS are refused before their pixels are decoded."""
    settings.IMAGE_MAX_PIXELS = 100_000
    message = form_errors(picture_of("JPEG", size=(400, 300)))
    assert "too many pixels" in message and "0.1 million" in message


@pytest.mark.parametrize("side", [8_000, 30_000])
def test_decompression_bomb_is_refused_not_crashed(side):
    """A tiny PNG claiming 64 or 900 megapixels (Pillow's warning and error zones) is refused."""
    data = png_header_only(side, side)
    assert len(data) < 200
    message = form_errors(upload(data, "bomb.png", "image/png"))
    assert "too many pixels" in message


def test_animation_with_too_many_frames_is_refused(settings):
    """Frames add up: a long animation counts all the pixels it makes the browser decode."""
    settings.IMAGE_MAX_PIXELS = 40_000
    message = form_errors(upload(animated_gif(frames=5, size=(100, 100)), "a.gif", "image/gif"))
    assert "too many frames" in message


_SEEDS = None


def _seed_images():
    global _SEEDS
    if _SEEDS is None:
        _SEEDS = [image_bytes(fmt, size=(40, 30)) for fmt in ("JPEG", "PNG", "WEBP", "GIF")]
        _SEEDS.append(animated_gif(size=(30, 20)))
        _SEEDS.append(animated_gif(size=(30, 20), fmt="WEBP"))
    return _SEEDS


@settings_hypothesis(max_examples=300, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=5),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["set", "cut", "insert"]),
            st.integers(0, 10_000),
            st.binary(min_size=1, max_size=12),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_damaged_images_are_refused_never_crash(seed, edits):
    """Any corruption of a real image is either refused with a ValidationError or gives a
    file that re-encodes cleanly: Pillow's own exceptions never escape."""
    data = bytearray(_seed_images()[seed])
    for op, position, chunk in edits:
        position %= len(data)
        if op == "set":
            data[position : position + len(chunk)] = chunk
        elif op == "cut":
            del data[position : position + len(chunk)]
        else:
            data[position:position] = chunk
    file = io.BytesIO(bytes(data))
    try:
        validate_image(file)
        cleaned = normalise_image(file)  # the form field runs both; either may refuse
    except ValidationError:
        return
    Image.open(io.BytesIO(cleaned.read())).load()


def test_refused_upload_saves_nothing():
    """When the image is refused the form is invalid and the article is left as it was."""
    article = make_article("Untouched")
    form = ArticleImageForm(
        {"lead_image_alt": "changed"},
        {"lead_image": upload(NOT_IMAGES["pdf named .jpg"])},
        instance=article,
    )
    assert not form.is_valid()
    article = Article.objects.get(pk=article.pk)
    assert not article.lead_image and article.lead_image_alt == ""
    assert not os.listdir(default_storage.location)


def test_model_field_refuses_bad_files_that_bypass_the_form():
    """Defence in depth: full_clean() on the model refuses a non-image too."""
    article = make_article()
    article.lead_image = upload(NOT_IMAGES["svg named .jpg"], "x.jpg")
    with pytest.raises(ValidationError) as excinfo:
        article.full_clean()
    assert "lead_image" in excinfo.value.message_dict


# Clean-up -----------------------------------------------------------------------------------


def test_exif_orientation_is_applied_and_metadata_stripped():
    """A sideways phone photo is stored upright, and camera and GPS data are gone."""
    source = Image.open(io.BytesIO(exif_jpeg()))
    assert source.getexif()[ExifTags.Base.Orientation] == 6
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    article = attach(make_article(), upload(exif_jpeg(), "sideways.jpg"))
    article.refresh_from_db()
    image = stored(article.lead_image)
    assert image.size == (40, 60)
    assert (article.lead_image_width, article.lead_image_height) == (40, 60)
    exif = image.getexif()
    assert ExifTags.Base.Orientation not in exif and ExifTags.Base.Make not in exif
    assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert "exif" not in image.info
    # Orientation 6 turns the picture clockwise: the blue left half ends up on top.
    assert image.getpixel((20, 5))[2] > 200 and image.getpixel((20, 55))[0] > 200


def test_png_text_metadata_is_stripped():
    """PNG text chunks (where XMP and software notes live) are not kept."""
    from PIL import PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("Author", "Secret Name")
    meta.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>gps</x:xmpmeta>")
    buffer = io.BytesIO()
    Image.new("RGB", (30, 30)).save(buffer, "PNG", pnginfo=meta)
    article = attach(make_article(), upload(buffer.getvalue(), "t.png", "image/png"))
    with default_storage.open(article.lead_image.name, "rb") as handle:
        raw = handle.read()
    assert b"Secret Name" not in raw and b"xmpmeta" not in raw


# Renditions ---------------------------------------------------------------------------------


def _rendition_files(article):
    return {r["name"] for r in article.lead_image_renditions["items"]}


def test_renditions_are_real_images_in_webp_and_the_original_format():
    """Each width exists as WebP and as the original's format, at the recorded size."""
    article = attach(make_article(), picture_of("PNG", size=(1000, 500)))
    article.refresh_from_db()
    items = article.lead_image_renditions["items"]
    assert sorted({r["width"] for r in items}) == [480, 960, 1000]
    assert sorted(r["format"] for r in items if r["width"] == 480) == ["png", "webp"]
    for item in items:
        with default_storage.open(item["name"], "rb") as handle:
            image = Image.open(handle)
            assert image.format == item["format"].upper()
            assert image.size == (item["width"], item["height"])
            assert item["height"] == item["width"] // 2


def test_renditions_never_upscale():
    """A small image gets one rendition at its own width, nothing wider."""
    article = attach(make_article(), picture_of("JPEG", size=(300, 200)))
    widths = {r["width"] for r in article.lead_image_renditions["items"]}
    assert widths == {300}
    big = attach(make_article(), picture_of("JPEG", size=(2400, 1200)))
    assert {r["width"] for r in big.lead_image_renditions["items"]} == {480, 960, 1600}


def test_renditions_are_made_once_and_reused():
    """Saving the article again, or running make_renditions, rewrites no rendition file."""
    article = attach(make_article(), picture_of("JPEG"))
    files = _rendition_files(article)
    stamps = {name: os.stat(default_storage.path(name)).st_mtime_ns for name in files}
    article = Article.objects.get(pk=article.pk)
    article.headline = "Edited"
    article.save()
    call_command("make_renditions", "--force", stdout=io.StringIO())
    assert generate_renditions(article.lead_image) == article.lead_image_renditions["items"]
    article.refresh_from_db()
    assert _rendition_files(article) == files
    assert {n: os.stat(default_storage.path(n)).st_mtime_ns for n in files} == stamps
    folder = os.path.dirname(default_storage.path(next(iter(files))))
    assert len(os.listdir(folder)) == len(files)


def test_saves_that_leave_the_image_alone_do_no_image_work():
    """Partial saves, saves of rows loaded without the image, and plain edits neither read the
    image nor write renditions."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    article = attach(make_article(), picture_of("JPEG"))
    partial = Article.objects.only("pk", "headline").get(pk=article.pk)
    partial.headline = "Quick fix"
    fresh = Article.objects.get(pk=article.pk)
    fresh.standfirst = "New standfirst"
    for instance, kwargs in (
        (partial, {"update_fields": ["headline"]}),
        (partial, {}),
        (fresh, {}),
    ):
        with CaptureQueriesContext(connection) as queries:
            instance.save(**kwargs)
        sql = [q["sql"] for q in queries]
        assert sum(s.startswith("UPDATE") for s in sql) == 1, sql
        assert not any("lead_image" in s for s in sql if not s.startswith("UPDATE")), sql


def test_make_renditions_builds_missing_renditions_idempotently():
    """Images stored before renditions existed get them from the command; a rerun does nothing."""
    author = make_author()
    Author.objects.filter(pk=author.pk).update(
        photo=default_storage.save(
            "authors/old.jpg", io.BytesIO(image_bytes("JPEG", size=(600, 600)))
        )
    )
    article = make_article()
    name = default_storage.save("articles/old.png", io.BytesIO(image_bytes("PNG", size=(500, 250))))
    Article.objects.filter(pk=article.pk).update(lead_image=name)
    out = io.StringIO()
    call_command("make_renditions", stdout=out)
    assert "2 images checked, 2 updated" in out.getvalue()
    article.refresh_from_db()
    author.refresh_from_db()
    assert {r["width"] for r in article.lead_image_renditions["items"]} == {480, 500}
    assert {r["width"] for r in author.photo_renditions["items"]} == {480, 600}
    for item in article.lead_image_renditions["items"] + author.photo_renditions["items"]:
        assert default_storage.exists(item["name"])
    out = io.StringIO()
    call_command("make_renditions", stdout=out)
    assert "2 images checked, 0 updated" in out.getvalue()


def test_replacing_the_image_replaces_the_renditions_and_clearing_removes_them():
    """A new upload gets its own renditions; clearing the image clears the list."""
    article = attach(make_article(), picture_of("JPEG"))
    first = _rendition_files(article)
    article = attach(Article.objects.get(pk=article.pk), picture_of("PNG", size=(800, 400)))
    assert _rendition_files(article).isdisjoint(first)
    article.lead_image = None
    article.save()
    article.refresh_from_db()
    assert article.lead_image_renditions == {}


def test_missing_original_gives_no_renditions_not_an_error():
    """A stored name whose file is gone makes no renditions, and the command carries on."""
    article = make_article()
    Article.objects.filter(pk=article.pk).update(
        lead_image="articles/gone.jpg", lead_image_width=10, lead_image_height=10
    )
    article = Article.objects.get(pk=article.pk)
    assert generate_renditions(article.lead_image) == []
    call_command("make_renditions", stdout=io.StringIO())


# The picture tag and link previews ----------------------------------------------------------


def render_picture(article, **options):
    args = " ".join(f"{k}={v}" for k, v in options.items())
    template = Template(
        "{% load newsdesk_images %}{% picture article.lead_image alt=article.lead_image_alt "
        + args
        + " %}"
    )
    return template.render(Context({"article": article}))


def test_picture_tag_renders_srcset_sizes_dimensions_and_lazy_loading():
    """The tag gives a WebP source and a fallback img with srcset, sizes, width, height, lazy."""
    article = attach(
        make_article(),
        picture_of("JPEG", size=(2000, 1000)),
        lead_image_alt='Fire & "smoke" <here>',
    )
    html = render_picture(article, sizes='"(min-width: 40rem) 40rem, 100vw"')
    source = re.search(r'<source type="image/webp" srcset="([^"]+)" sizes="([^"]+)">', html)
    assert source and source.group(2) == "(min-width: 40rem) 40rem, 100vw"
    assert [c.split()[1] for c in source.group(1).split(", ")] == ["480w", "960w", "1600w"]
    assert all(c.split()[0].endswith(".webp") for c in source.group(1).split(", "))
    img = re.search(r"<img [^>]+>", html).group(0)
    assert re.search(r'srcset="[^"]+\.jpg 480w, [^"]+\.jpg 960w, [^"]+\.jpg 1600w"', img)
    assert 'width="1600" height="800"' in img
    assert 'loading="lazy"' in img and 'decoding="async"' in img
    assert 'alt="Fire &amp; &quot;smoke&quot; &lt;here&gt;"' in img
    eager = render_picture(article, lazy=False)
    assert 'loading="eager"' in eager and 'fetchpriority="high"' in eager


def test_picture_tag_falls_back_to_the_original_and_to_nothing():
    """Without renditions the original shows with its size; without an image nothing renders."""
    article = make_article()
    assert render_picture(article).strip() == ""
    name = default_storage.save(
        "articles/plain.jpg", io.BytesIO(image_bytes("JPEG", size=(320, 200)))
    )
    Article.objects.filter(pk=article.pk).update(
        lead_image=name, lead_image_width=320, lead_image_height=200
    )
    article.refresh_from_db()
    html = render_picture(article)
    assert f'src="/media/{name}"' in html and 'width="320" height="200"' in html
    assert "<source" not in html


def test_webp_original_has_a_single_source_list():
    """A WebP original needs no second format."""
    article = attach(make_article(), picture_of("WEBP", size=(1000, 500)))
    html = render_picture(article)
    assert "<source" not in html and ".webp 480w" in html


def test_og_image_url_is_absolute_and_about_1200_wide(settings):
    """Link previews get an absolute URL of a rendition at least 1200 px wide, not WebP."""
    settings.SITE_URL = "https://news.example"
    article = attach(make_article(), picture_of("JPEG", size=(2400, 1200)))
    url = og_image_url(article)
    assert url.startswith("https://news.example/media/renditions/") and url.endswith("/1600.jpg")
    small = attach(make_article(), picture_of("PNG", size=(800, 400)))
    assert og_image_url(small).endswith("/800.png")
    assert og_image_url(make_article()) == ""


# Public pages -------------------------------------------------------------------------------


def test_article_page_uses_the_picture_with_eager_loading_and_fixed_queries(
    client, django_assert_num_queries, settings
):
    """The article page shows the lead image responsively, with no query per image."""
    settings.CACHE_SECONDS = 0
    plain = make_article(authors=[make_author()])
    with_image = attach(
        make_article(authors=[make_author()]),
        picture_of("JPEG", size=(2000, 1000)),
        lead_image_caption="A caption",
        lead_image_credit="Photographer",
    )
    counts = []
    for article in (plain, with_image):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            response = client.get(article.get_absolute_url())
        counts.append(len(queries))
    assert counts[0] == counts[1]
    with django_assert_num_queries(counts[1]):
        html = client.get(with_image.get_absolute_url()).content.decode()
    assert '<source type="image/webp"' in html
    assert 'sizes="(min-width: 46rem) 42rem, 100vw"' in html and 'loading="eager"' in html
    assert "A caption" in html and "Photographer" in html
    assert response.status_code == 200


def test_author_page_shows_the_photo_renditions(client):
    """The author's photo uses its renditions, small."""
    author = make_author("Ann Lee")
    form = AuthorPhotoForm(
        {"photo_alt": "Ann smiling"},
        {"photo": picture_of("JPEG", size=(800, 800))},
        instance=author,
    )
    assert form.is_valid(), form.errors
    form.save()
    html = client.get(author.get_absolute_url()).content.decode()
    assert 'class="author__photo"' in html and 'sizes="96px"' in html
    assert 'alt="Ann smiling"' in html and "480.webp 480w" in html


def test_front_page_lead_card_shows_its_image(client):
    """The lead story on the front page carries its picture."""
    article = attach(make_article(featured=True), picture_of("JPEG", size=(1200, 600)))
    html = client.get("/").content.decode()
    assert "card__picture" in html and article.lead_image_renditions["items"][0]["name"] in html


# The desk -----------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client):
    client.force_login(make_user("picture-editor", superuser=True))
    return client


def _change_data(article, **extra):
    data = {
        "headline": article.headline,
        "slug": article.slug,
        "standfirst": article.standfirst,
        "body_format": "markdown",
        "body": article.body,
        "category": article.category_id or "",
        "published_at_0": article.published_at.strftime("%Y-%m-%d"),
        "published_at_1": article.published_at.strftime("%H:%M:%S"),
        "_action": "save",
        "bylines-TOTAL_FORMS": "0",
        "bylines-INITIAL_FORMS": "0",
        **extra,
    }
    for i, byline in enumerate(article.bylines.all()):
        data.update(
            {
                f"bylines-{i}-id": byline.pk,
                f"bylines-{i}-article": article.pk,
                f"bylines-{i}-author": byline.author_id,
                f"bylines-{i}-position": byline.position,
            }
        )
        data["bylines-TOTAL_FORMS"] = data["bylines-INITIAL_FORMS"] = str(i + 1)
    return data


def test_admin_upload_is_saved_and_shown_to_readers(admin_client, client):
    """An editor uploads a sideways photo in the admin; readers see it upright, with srcset."""
    article = make_article(
        "Story with a picture", authors=[make_author()], category=make_category()
    )
    url = reverse("admin:articles_article_change", args=[article.pk])
    form_html = admin_client.get(url).content.decode()
    assert "JPEG, PNG, WebP or GIF, at most 10 MB" in form_html
    assert 'accept="image/gif,image/jpeg,image/png,image/webp"' in form_html
    data = _change_data(
        article,
        lead_image=upload(exif_jpeg(size=(1200, 900)), "phone.jpg"),
        lead_image_alt="Crowd in the square",
        lead_image_caption="The crowd at noon.",
        lead_image_credit="Staff photographer",
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    article.refresh_from_db()
    assert (article.lead_image_width, article.lead_image_height) == (900, 1200)
    assert {r["width"] for r in article.lead_image_renditions["items"]} == {480, 900}
    html = client.get(article.get_absolute_url()).content.decode()
    assert 'alt="Crowd in the square"' in html and "The crowd at noon." in html
    assert 'width="900" height="1200"' in html and "480.webp 480w" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (NOT_IMAGES["pdf named .jpg"], "not an image Newsdesk accepts"),
        (NOT_IMAGES["text named .jpg"], "not an image Newsdesk accepts"),
        (png_header_only(30_000, 30_000), "too many pixels"),
        (b"", "empty"),
    ],
)
def test_admin_refuses_a_bad_upload_and_changes_nothing(admin_client, data, message):
    """A bad file gives the form back with a clear error; no field of the article changes."""
    article = make_article("Original headline")
    url = reverse("admin:articles_article_change", args=[article.pk])
    response = admin_client.post(
        url,
        _change_data(article, headline="Changed headline", lead_image=upload(data, "photo.jpg")),
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    article.refresh_from_db()
    assert article.headline == "Original headline" and not article.lead_image
    assert not os.listdir(default_storage.location)


def test_admin_refuses_a_too_large_upload(admin_client, settings):
    """The size limit holds in the admin, and the message names it."""
    settings.IMAGE_MAX_BYTES = 1024
    article = make_article()
    url = reverse("admin:articles_article_change", args=[article.pk])
    response = admin_client.post(
        url, _change_data(article, lead_image=picture_of("PNG", size=(300, 300)))
    )
    assert response.status_code == 200
    assert "images may be at most 1 KB" in response.content.decode()
    article.refresh_from_db()
    assert not article.lead_image


def test_author_admin_upload_and_thumbnail(admin_client):
    """Author photos go through the same checks and show as thumbnails in the list."""
    author = make_author("Bo Chen")
    url = reverse("admin:articles_author_change", args=[author.pk])
    data = {"name": "Bo Chen", "slug": author.slug, "bio": "", "photo_alt": "Bo"}
    response = admin_client.post(url, {**data, "photo": upload(NOT_IMAGES["svg named .jpg"])})
    assert response.status_code == 200 and "not an image" in response.content.decode()
    response = admin_client.post(url, {**data, "photo": picture_of("WEBP", size=(600, 600))})
    assert response.status_code == 302
    author.refresh_from_db()
    html = admin_client.get(reverse("admin:articles_author_changelist")).content.decode()
    smallest = author.photo_renditions["items"][0]["name"]
    assert f'src="/media/{smallest}"' in html
    assert '<a href="/admin/articles/author/' in html and ">Bo Chen</a>" in html


def test_change_list_thumbnails_cost_no_queries(admin_client, django_assert_num_queries):
    """The thumbnail column shows the smallest rendition, with no query per row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    first = attach(make_article(), picture_of("JPEG", size=(1000, 500)))
    url = reverse("admin:articles_article_changelist")
    admin_client.get(url)
    with CaptureQueriesContext(connection) as one:
        html = admin_client.get(url).content.decode()
    smallest = first.lead_image_renditions["items"][0]
    assert smallest["width"] == 480 and smallest["format"] == "webp"
    assert f'src="/media/{smallest["name"]}"' in html and 'width="64" height="32"' in html
    assert "column-thumbnail" in html
    for _ in range(4):
        attach(make_article(), picture_of("PNG", size=(600, 300)))
    with django_assert_num_queries(len(one)):
        html = admin_client.get(url).content.decode()
    assert html.count("/media/renditions/") == 5
