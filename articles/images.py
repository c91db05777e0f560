"""Lead images and author photos: validation, clean-up and renditions, with Pillow.

Uploads are checked by their content (never their name), turned upright and stripped of
metadata before they are stored. Renditions are made once, after the upload is stored, under
deterministic names, and listed on the row itself (`<field>_renditions`, JSON) so public
pages render `srcset` without a single extra query.
"""

from __future__ import annotations

import contextvars
import errno
import hashlib
import io
import logging
import posixpath
import warnings
from contextlib import contextmanager
from typing import TypedDict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage
from django.core.files.utils import validate_file_name
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils.deconstruct import deconstructible
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's format name -> (format to save in, file extension). MPO is what cameras and phones
# often write for JPEG; it is stored as a plain JPEG.
ACCEPTED_FORMATS = {
    "JPEG": ("JPEG", "jpg"),
    "MPO": ("JPEG", "jpg"),
    "PNG": ("PNG", "png"),
    "WEBP": ("WEBP", "webp"),
    "GIF": ("GIF", "gif"),
}
ACCEPTED_LABEL = "JPEG, PNG, WebP or GIF"
# Image.info keys that are pixels' meaning, not metadata: everything else is dropped.
_KEPT_INFO = {"transparency", "duration", "loop", "background", "disposal", "icc_profile"}
logger = logging.getLogger(__name__)
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class Rendition(TypedDict):
    name: str
    width: int
    height: int
    format: str  # "webp", "jpeg", "png" or "gif"


def format_megabytes(n: int) -> str:
    """A byte count as people say it: "10 MB", "2.5 MB", "300 KB"."""
    if n >= 1024 * 1024:
        return f"{round(n / (1024 * 1024), 1):g} MB"
    return f"{max(1, round(n / 1024))} KB"


def _rewind(file) -> None:
    if hasattr(file, "seek"):
        file.seek(0)


@contextmanager
def _bomb_guard():
    """Pillow's decompression-bomb warning and error, anywhere in the block, become our refusal."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels() from exc


def _open(file) -> Image.Image:
    _rewind(file)
    return Image.open(file)


def _too_many_pixels(width: int | None = None, height: int | None = None) -> ValidationError:
    limit = settings.IMAGE_MAX_PIXELS
    size = f" ({width} × {height})" if width else ""
    return ValidationError(
        "This image has too many pixels%(size)s; at most %(limit)s million pixels are accepted.",
        code="too_many_pixels",
        params={"size": size, "limit": f"{limit / 1_000_000:g}"},
    )


def validate_image(file) -> None:
    """Refuse anything but a whole, real JPEG, PNG, WebP or GIF within the size and pixel limits."""
    size = getattr(file, "size", None)
    if size is None:
        _rewind(file)
        size = len(file.read())
    if size == 0:
        raise ValidationError("The file is empty.", code="empty")
    if size > settings.IMAGE_MAX_BYTES:
        raise ValidationError(
            "This file is %(size)s; images may be at most %(limit)s.",
            code="too_large",
            params={
                "size": format_megabytes(size),
                "limit": format_megabytes(settings.IMAGE_MAX_BYTES),
            },
        )
    not_an_image = ValidationError(
        "This file is not an image Newsdesk accepts: upload a %(accepted)s file.",
        code="invalid_image",
        params={"accepted": ACCEPTED_LABEL},
    )
    try:
        with _bomb_guard():
            with _open(file) as image:
                if image.format not in ACCEPTED_FORMATS:
                    raise not_an_image
                width, height = image.size
                if width * height > settings.IMAGE_MAX_PIXELS:
                    raise _too_many_pixels(width, height)
                image.verify()
            # verify() leaves the image unusable; decoding every frame afresh catches truncated
            # or inconsistent pixel data, and frames that grow past the limits.
            with _open(file) as image:
                _decode_all_frames(image)
    except ValidationError:
        raise
    except UnidentifiedImageError as exc:
        raise not_an_image from exc
    except Exception as exc:  # Pillow reports malformed data with many exception types
        raise _damaged(exc) from exc
    finally:
        _rewind(file)


def _decode_all_frames(image: Image.Image) -> None:
    limit = settings.IMAGE_MAX_PIXELS
    frames = getattr(image, "n_frames", 1)
    total = 0
    for index in range(frames):
        image.seek(index)
        width, height = image.size
        if width * height > limit:
            raise _too_many_pixels(width, height)
        # An animation is decoded frame by frame: its pixels add up.
        total += width * height
        if total > limit:
            raise ValidationError(
                "This animation has too many frames for its size (%(frames)s frames).",
                code="too_many_pixels",
                params={"frames": frames},
            )
        image.load()


def _damaged(exc: Exception) -> ValidationError:
    return ValidationError(
        "This image is damaged or incomplete (%(reason)s); export it again and re-upload.",
        code="corrupt_image",
        params={"reason": str(exc)[:120] or exc.__class__.__name__},
    )


def normalise_image(file) -> ContentFile:
    """The upload turned upright (EXIF orientation applied) and re-encoded without metadata
    (EXIF, GPS, XMP, comments), in its own format. Call `validate_image` first; anything it
    let through that still fails to re-encode is refused the same way."""
    try:
        with _bomb_guard():
            return _normalise(file)
    except ValidationError:
        raise
    except Exception as exc:  # as in validate_image: any decoding failure is the file's fault
        raise _damaged(exc) from exc
    finally:
        _rewind(file)


def _normalise(file) -> ContentFile:
    with _open(file) as image:
        source_format = image.format
        save_format, extension = ACCEPTED_FORMATS[source_format]
        # Multi-picture JPEGs (MPO) keep their main picture only.
        animated = getattr(image, "is_animated", False) and save_format != "JPEG"
        info = {k: v for k, v in image.info.items() if k in _KEPT_INFO}
        buffer = io.BytesIO()
        if animated:
            # Frames of an animation carry no orientation worth applying; keep them as they are.
            image.info = dict(info)
            image.save(buffer, format=save_format, save_all=True, **info)
        else:
            image.load()
            upright = ImageOps.exif_transpose(image)
            upright.info = {}
            _save(upright, buffer, save_format, info)
    stem = posixpath.splitext(posixpath.basename(getattr(file, "name", "") or "image"))[0]
    content = ContentFile(buffer.getvalue(), name=f"{stem or 'image'}.{extension}")
    content.content_type = MIME_TYPES[save_format]
    content.newsdesk_normalised = True
    return content


def _save(image: Image.Image, buffer, fmt: str, info: dict) -> None:
    options: dict = {}
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        options = {"icc_profile": info.get("icc_profile"), "quality": 88, "optimize": True}
        options = {k: v for k, v in options.items() if v is not None}
    elif fmt == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        options = {"quality": 85, "method": 4}
        if info.get("icc_profile"):
            options["icc_profile"] = info["icc_profile"]
    elif fmt == "PNG":
        if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        options = {k: v for k, v in info.items() if k in ("transparency", "icc_profile")}
        options["optimize"] = True
    elif fmt == "GIF":
        options = {k: v for k, v in info.items() if k in ("transparency", "background", "loop")}
    image.save(buffer, format=fmt, **options)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


@deconstructible
class ImageUploadValidator:
    """Model-field validator: the same checks for any new upload that did not come through the
    desk's forms (those have already validated and normalised it)."""

    def __call__(self, value) -> None:
        file = getattr(value, "file", None) if isinstance(value, FieldFile) else value
        if isinstance(value, FieldFile) and getattr(value, "_committed", True):
            return  # already stored: it was checked when it arrived
        if file is None or getattr(file, "newsdesk_normalised", False):
            return
        validate_image(file)

    def __eq__(self, other):
        return isinstance(other, ImageUploadValidator)


validate_image_upload = ImageUploadValidator()


# Renditions ---------------------------------------------------------------------------------


def rendition_widths(original_width: int) -> list[int]:
    """The configured widths that do not upscale, plus the original's when it is smaller than
    the largest, so a small image still gets a full set."""
    configured = sorted(settings.IMAGE_RENDITION_WIDTHS)
    widths = [w for w in configured if w < original_width]
    widths.append(min(original_width, configured[-1]))
    return sorted(set(widths))


def rendition_folder(name: str, size: int) -> str:
    # The size too: a file later stored under a reused name must not inherit old renditions.
    digest = hashlib.sha256(f"{name}:{size}".encode()).hexdigest()[:20]
    return f"renditions/{digest}"


def generate_renditions(fieldfile: FieldFile) -> list[Rendition]:
    """Make (or reuse) the renditions of a stored image: each width in WebP and in the
    original's format. Files that already exist are not rewritten. An unreadable original
    gives no renditions (pages then fall back to the original)."""
    return _generate(fieldfile)[0]


def _generate(fieldfile: FieldFile) -> tuple[list[Rendition], int]:
    """The renditions and the original's size in bytes (0 when it cannot be read)."""
    if not fieldfile or not fieldfile.name:
        return [], 0
    storage = fieldfile.storage
    try:
        with storage.open(fieldfile.name, "rb") as handle:
            data = handle.read()
        with _bomb_guard(), _open(io.BytesIO(data)) as image:
            if image.format not in ACCEPTED_FORMATS:
                return [], len(data)
            image.seek(0)  # the first frame of an animation
            image.load()
            upright = ImageOps.exif_transpose(image.copy())
            if upright.mode not in ("RGB", "RGBA", "L"):
                # Palette and 1-bit images would resize with nearest-neighbour: smooth them.
                upright = upright.convert("RGBA" if _has_alpha(upright) else "RGB")
    except OSError:
        if _stored.get() is not None:  # a store that failed during the desk's save
            raise
        logger.warning("Cannot make renditions of %s", fieldfile.name, exc_info=True)
        return [], 0
    except Exception:  # noqa: BLE001 - an unreadable original just has no renditions
        logger.warning("Cannot make renditions of %s", fieldfile.name, exc_info=True)
        return [], 0
    original_format = ACCEPTED_FORMATS[image.format][0]
    formats = ["WEBP"] if original_format == "WEBP" else ["WEBP", original_format]
    folder = rendition_folder(fieldfile.name, len(data))
    width, height = upright.size
    renditions: list[Rendition] = []
    for target in rendition_widths(width):
        target_height = max(1, round(height * target / width))
        resized = None
        for fmt in formats:
            extension = ACCEPTED_FORMATS[fmt][1]
            name = f"{folder}/{target}.{extension}"
            if not storage.exists(name):
                if resized is None:
                    resized = upright.resize((target, target_height), Image.Resampling.LANCZOS)
                buffer = io.BytesIO()
                _save(resized, buffer, fmt, {})
                storage.save(name, ContentFile(buffer.getvalue()))
            renditions.append(
                {"name": name, "width": target, "height": target_height, "format": fmt.lower()}
            )
    return renditions, len(data)


def refresh_renditions(instance, field_name: str, *, force: bool = False) -> bool:
    """Bring `<field>_renditions` in line with the stored image; True when it changed.
    Cheap when nothing changed: no file is read and nothing is written. The original's size
    is recorded beside the renditions (`bytes`), so feeds never ask the storage for it."""
    fieldfile = getattr(instance, field_name)
    attr = f"{field_name}_renditions"
    current = getattr(instance, attr) or {}
    source = fieldfile.name if fieldfile else ""
    recorded = "bytes" in current or not source
    if not force and current.get("source", "") == source and recorded and (current or not source):
        return False
    replaced = current.get("source", "")
    if replaced and replaced != source:
        forget_image(instance, field_name, replaced, current.get("items") or [])
    try:
        value = {}
        if source:
            items, size = _generate(fieldfile)
            value = {"source": source, "items": items, "bytes": size}
    except OSError:
        if _stored.get() is not None:  # the desk's form reports it and undoes the whole save
            raise
        logger.exception("Renditions of %s failed; make_renditions will retry", source)
        return False
    except Exception:  # noqa: BLE001 - storage trouble must not undo the editor's save
        logger.exception("Renditions of %s failed; make_renditions will retry", source)
        return False
    if value == current:
        return False
    setattr(instance, attr, value)
    type(instance)._base_manager.filter(pk=instance.pk).update(**{attr: value})
    return True


def renditions_of(fieldfile: FieldFile) -> list[Rendition]:
    """The recorded renditions of this image, or [] when they are missing or stale."""
    if not fieldfile:
        return []
    recorded = getattr(fieldfile.instance, f"{fieldfile.field.name}_renditions", None) or {}
    if recorded.get("source") != fieldfile.name:
        return []
    return list(recorded.get("items") or [])


def stored_size(fieldfile: FieldFile) -> int:
    """The original's size in bytes as recorded when its renditions were made (0 unknown):
    read from the row, never from the storage."""
    if not fieldfile:
        return 0
    recorded = getattr(fieldfile.instance, f"{fieldfile.field.name}_renditions", None) or {}
    return int(recorded.get("bytes") or 0) if recorded.get("source") == fieldfile.name else 0


def rendition_url(fieldfile: FieldFile, rendition: Rendition) -> str:
    return fieldfile.storage.url(rendition["name"])


def smallest_rendition_url(fieldfile: FieldFile) -> str:
    """For thumbnails: the smallest rendition, or the original when there is none yet."""
    if not fieldfile:
        return ""
    items = renditions_of(fieldfile)
    if items:
        return rendition_url(
            fieldfile, min(items, key=lambda r: (r["width"], r["format"] != "webp"))
        )
    return fieldfile.url


def og_image_url(article, *, target: int = 1200) -> str:
    """Absolute URL of the lead image for link previews: the smallest rendition at least
    `target` wide (else the largest), in the original's format, which every scraper reads."""
    fieldfile = article.lead_image
    if not fieldfile:
        return ""
    items = [r for r in renditions_of(fieldfile) if r["format"] != "webp"] or renditions_of(
        fieldfile
    )
    if items:
        wide = [r for r in items if r["width"] >= target]
        best = min(wide, key=lambda r: r["width"]) if wide else max(items, key=lambda r: r["width"])
        url = rendition_url(fieldfile, best)
    else:
        url = fieldfile.url
    if url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL.rstrip("/") + url


# Removing ---------------------------------------------------------------------------------------
# The one place that removes an image's files: when a save replaced or cleared it (from
# `refresh_renditions`) and when its row is deleted (`pre_delete`). Files go after COMMIT, so a
# save that is rolled back removes nothing; a file another row (or, for an original, the story's
# history) still names is kept.


def _named_elsewhere(instance, field_name: str, name: str) -> bool:
    model = type(instance)
    return model._base_manager.filter(**{field_name: name}).exclude(pk=instance.pk).exists()


def _named_by_history(instance, field_name: str, name: str) -> bool:
    """A revision of the story names this original: restoring it must find the file."""
    if not hasattr(type(instance), "revisions") or instance.pk is None:
        return False
    return instance.revisions.filter(**{f"data__{field_name}": name}).exists()


def forget_image(instance, field_name: str, name: str, renditions: list[Rendition]) -> None:
    """`instance` no longer shows the image `name`: remove its renditions (they are made again
    if the image comes back) and the original unless its history still names it, after COMMIT."""
    if _named_elsewhere(instance, field_name, name):
        return
    names = [r["name"] for r in renditions]
    if not _named_by_history(instance, field_name, name):
        names.append(name)
    remove_later(getattr(instance, field_name).storage, names)


def remove_later(storage, names) -> None:
    """Delete `names` from `storage` once the transaction commits; a failure is logged (the
    files are then orphans, never a broken save)."""
    names = [n for n in dict.fromkeys(names) if n]
    if not names:
        return

    def remove():
        for name in names:
            try:
                storage.delete(name)
            except Exception:  # noqa: BLE001 - an unreachable store must not break the save
                logger.warning("Could not remove the replaced media file %s", name, exc_info=True)

    transaction.on_commit(remove)


def _files_before_delete(sender, instance, **kwargs):
    """A row with an image is deleted: its original, its renditions and the originals its
    history named go too, once the delete commits."""
    field_name = IMAGE_FIELDS[sender._meta.label]
    fieldfile = getattr(instance, field_name)
    names = []
    if fieldfile and not _named_elsewhere(instance, field_name, fieldfile.name):
        names = [fieldfile.name, *(r["name"] for r in renditions_of(fieldfile))]
    if hasattr(type(instance), "revisions") and instance.pk is not None:
        for old in instance.revisions.values_list(f"data__{field_name}", flat=True):
            if old and old not in names and not _named_elsewhere(instance, field_name, old):
                names.append(old)
    remove_later(fieldfile.storage, names)


# Storing ----------------------------------------------------------------------------------------

MEDIA_ERROR = (
    "The image could not be stored: the media {where} {problem}. Nothing was saved; your other "
    "changes are still in the form. Ask an administrator to {remedy}, then save again."
)

# The files stored inside `undone_on_failure()`, as (storage, name); None outside one.
_stored: contextvars.ContextVar[list | None] = contextvars.ContextVar("stored_media", default=None)


class StoresWholeFiles:
    """A storage mixin: a write that fails part way (a full disk, ENOSPC; a read-only or
    vanished disk; an object store that stopped answering) leaves nothing behind, and each
    stored name is recorded for `undone_on_failure`. Failures must be OSErrors."""

    def save(self, name, content, max_length=None):
        # Storage.save, with the name kept so a failed _save can remove what it began.
        if name is None:
            name = content.name
        if not hasattr(content, "chunks"):
            content = File(content, name)
        validate_file_name(name, allow_relative_path=True)
        name = self.get_available_name(name, max_length=max_length)
        validate_file_name(name, allow_relative_path=True)
        try:
            name = self._save(name, content)
        except OSError:
            _discard(self, name)
            raise
        validate_file_name(name, allow_relative_path=True)
        stored = _stored.get()
        if stored is not None:
            stored.append((self, name))
        return name


class MediaStorage(StoresWholeFiles, FileSystemStorage):
    """The file system storage, but a write that fails part way leaves no truncated or empty
    file behind."""


def _discard(storage, name):
    try:
        storage.delete(name)
    except OSError:
        logger.exception("Could not remove the partly written %s", name)


@contextmanager
def undone_on_failure():
    """Run a save that stores media: if an OSError ends it, the files it stored (the upload,
    renditions) are deleted again (the transaction around it rolls the rows back) and the error
    is raised for the form to report. Inside, renditions that cannot be stored are such errors
    too, instead of a save without renditions."""
    stored = []
    token = _stored.set(stored)
    try:
        yield
    except OSError:
        for storage, name in stored:
            _discard(storage, name)
        raise
    finally:
        _stored.reset(token)


def media_error_message(exc: OSError) -> str:
    """What the editor is told when storing media failed with `exc`."""
    where = getattr(exc, "where", "disk")  # MediaStoreError says "store"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return MEDIA_ERROR.format(where=where, problem="is full", remedy="free space")
    reason = exc.strerror or type(exc).__name__
    return MEDIA_ERROR.format(
        where=where, problem=f"cannot be written ({reason})", remedy="check it"
    )


# Hooks --------------------------------------------------------------------------------------

IMAGE_FIELDS = {"articles.Article": "lead_image", "articles.Author": "photo"}


def _renditions_after_save(sender, instance, raw=False, update_fields=None, **kwargs):
    # After the upload is stored, never on a reader's request; fixtures (raw) are left to
    # `make_renditions`. Saves that cannot have changed the image cost nothing here.
    field_name = IMAGE_FIELDS[sender._meta.label]
    if raw or field_name in instance.get_deferred_fields():
        return
    if update_fields is not None and field_name not in update_fields:
        return
    refresh_renditions(instance, field_name)


def connect_signals() -> None:
    from django.db.models.signals import post_save, pre_delete

    for label in IMAGE_FIELDS:
        post_save.connect(
            _renditions_after_save, sender=label, dispatch_uid=f"newsdesk-renditions-{label}"
        )
        pre_delete.connect(
            _files_before_delete, sender=label, dispatch_uid=f"newsdesk-image-files-{label}"
        )
