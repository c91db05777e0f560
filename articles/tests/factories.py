"""Builders for tests: small functions with sensible defaults."""

import datetime as dt
import io
import itertools

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from articles.models import Article, Author, Byline, Category, Tag

_counter = itertools.count(1)


def make_author(name=None, **kwargs):
    return Author.objects.create(name=name or f"Author {next(_counter)}", **kwargs)


def make_category(name=None, **kwargs):
    return Category.objects.create(name=name or f"Section {next(_counter)}", **kwargs)


def make_tag(name=None, **kwargs):
    return Tag.objects.create(name=name or f"Topic {next(_counter)}", **kwargs)


def make_article(
    headline=None,
    *,
    authors=(),
    tags=(),
    status=Article.Status.PUBLISHED,
    published_at=None,
    ago=None,
    **kwargs,
):
    n = next(_counter)
    if published_at is None and status == Article.Status.PUBLISHED:
        published_at = timezone.now() - (ago if ago is not None else dt.timedelta(hours=n))
    article = Article.objects.create(
        headline=headline or f"Headline number {n}",
        standfirst=kwargs.pop("standfirst", f"Standfirst of story {n}."),
        body=kwargs.pop("body", f"First paragraph of story {n}.\n\nSecond paragraph."),
        status=status,
        published_at=published_at,
        **kwargs,
    )
    for position, author in enumerate(authors):
        Byline.objects.create(article=article, author=author, position=position)
    if tags:
        article.tags.set(tags)
    return article


def make_live_article(**kwargs):
    """A story published yesterday that passes the pre-publish checklist (section, byline), so
    the desk may save it as it is."""
    when = (timezone.now() - dt.timedelta(days=1)).replace(microsecond=0)
    kwargs.setdefault("category", make_category())
    article = make_article(published_at=when, **kwargs)
    if not article.bylines.exists():
        Byline.objects.create(article=article, author=make_author(), position=0)
    return article


def make_user(
    username=None, *, staff=True, superuser=False, groups=(), perms=(), password="pw-Newsdesk-1"
):
    User = get_user_model()
    user = User.objects.create_user(
        username=username or f"user{next(_counter)}",
        password=password,
        is_staff=staff,
        is_superuser=superuser,
    )
    for group in groups:
        user.groups.add(group)
    if perms:
        from django.contrib.auth.models import Permission

        for codename in perms:
            app_label, code = codename.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=code)
            )
    return user


def make_reporter(username=None, *, author_name=None, **kwargs):
    """A member of the Reporters group with an author profile of her own."""
    from django.contrib.auth.models import Group

    user = make_user(username, groups=[Group.objects.get(name="Reporters")], **kwargs)
    make_author(author_name or f"{user.username.title()} Reporter", user=user)
    return user


def make_editor(username=None, **kwargs):
    """A member of the Editors group."""
    from django.contrib.auth.models import Group

    return make_user(username, groups=[Group.objects.get(name="Editors")], **kwargs)


def image_bytes(fmt="JPEG", size=(64, 48), color=(200, 30, 30), **save_kwargs):
    buffer = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" else "RGB"
    Image.new(mode, size, color).save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


def image_upload(name="photo.jpg", fmt="JPEG", **kwargs):
    content_type = {
        "JPEG": "image/jpeg",
        "PNG": "image/png",
        "WEBP": "image/webp",
        "GIF": "image/gif",
    }[fmt]
    return SimpleUploadedFile(name, image_bytes(fmt, **kwargs), content_type=content_type)


def make_correction(article, text="We misstated the figure.", **kwargs):
    from articles.models import Correction

    return Correction.objects.create(article=article, text=text, **kwargs)


def change_form_data(article, **overrides):
    """What the admin change form of `article` posts when nothing is edited."""
    bylines = list(article.bylines.order_by("position", "pk"))
    data = {
        "headline": article.headline,
        "slug": article.slug,
        "standfirst": article.standfirst,
        "body_format": article.body_format,
        "body": article.body,
        "status": article.status,
        "published_at_0": "",
        "published_at_1": "",
        "category": article.category_id or "",
        "tags": [t.pk for t in article.tags.all()],
        "loaded_version": article.version,
        "bylines-TOTAL_FORMS": str(len(bylines)),
        "bylines-INITIAL_FORMS": str(len(bylines)),
        "corrections-TOTAL_FORMS": "0",
        "corrections-INITIAL_FORMS": str(article.corrections.count()),
    }
    if article.published_at:
        local = timezone.localtime(article.published_at)
        data["published_at_0"] = local.strftime("%Y-%m-%d")
        data["published_at_1"] = local.strftime("%H:%M:%S")
    for i, byline in enumerate(bylines):
        data.update(
            {
                f"bylines-{i}-id": byline.pk,
                f"bylines-{i}-article": article.pk,
                f"bylines-{i}-author": byline.author_id,
                f"bylines-{i}-position": byline.position,
            }
        )
    data.update(overrides)
    return data


def form_resubmit(response, **overrides) -> dict:
    """What a browser posts back from a rendered admin change form (as shown: the initial values
    of a fresh form, or the data of a form returned with errors), with `overrides` typed in."""
    from django.forms import FileField, SplitDateTimeWidget

    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    data = {}
    for form in forms:
        for name, field in form.fields.items():
            if isinstance(field, FileField):
                continue
            key, value = form.add_prefix(name), form[name].value()
            if isinstance(field.widget, SplitDateTimeWidget):
                parts = value if isinstance(value, list) else field.widget.decompress(value)
                for i, part in enumerate(parts):
                    data[f"{key}_{i}"] = "" if part is None else str(part)
            elif value is True:
                data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(item) for item in value]
            elif value is not None and value is not False:
                data[key] = str(value)
    data.update(overrides)
    return data
