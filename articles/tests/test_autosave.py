"""Autosave and recovery in the change form: the editor's text is kept privately while she types
(no version, revision, audit entry or cache change), offered back when she reopens the article,
and restoring it over a since-changed article shows the conflict instead of overwriting."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from articles import services
from articles.models import Article, AuditEntry, Autosave, Byline, Revision

from .factories import (
    change_form_data,
    make_article,
    make_author,
    make_category,
    make_editor,
)

pytestmark = pytest.mark.django_db


def _draft(**kwargs):
    article = make_article(
        "Harbour reopens",
        status=Article.Status.DRAFT,
        category=make_category(),
        body="Ships returned on Monday.",
        **kwargs,
    )
    Byline.objects.create(article=article, author=make_author(), position=0)
    return article


def _client(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def _change(article):
    return reverse("admin:articles_article_change", args=[article.pk])


def _autosave(client, article, version=None, **fields):
    url = reverse("admin:articles_article_autosave", args=[article.pk])
    return client.post(url, {"loaded_version": version or article.version, **fields})


@pytest.fixture
def ed(editor):
    return _client(editor)


def test_autosave_keeps_the_text_privately_without_version_revision_audit_or_cache(
    ed, editor, monkeypatch
):
    article = _draft()
    forgotten = []
    monkeypatch.setattr(services, "pages_changed", lambda *a, **k: forgotten.append(a))
    revisions, audits = Revision.objects.count(), AuditEntry.objects.count()
    response = _autosave(ed, article, body="Ships returned on Tuesday.", file="x.jpg")
    assert response.status_code == 200
    assert "saved_at" in response.json()
    autosave = Autosave.objects.get(article=article, user=editor)
    assert autosave.data == {"body": "Ships returned on Tuesday."}
    assert autosave.base_version == article.version
    stored = Article.objects.get(pk=article.pk)
    assert (stored.version, stored.body) == (article.version, "Ships returned on Monday.")
    assert (Revision.objects.count(), AuditEntry.objects.count()) == (revisions, audits)
    assert forgotten == []
    # Another tick replaces it: still one per editor and article.
    assert _autosave(ed, article, body="Ships returned at last.").status_code == 200
    assert Autosave.objects.get().data == {"body": "Ships returned at last."}


def test_reporter_may_not_autosave_someone_elses_story(reporter):
    article = _draft()  # nobody's byline of hers
    response = _autosave(_client(reporter), article, body="Mine now.")
    assert response.status_code == 403
    assert response.json() == {"error": "You may not edit this article."}
    assert not Autosave.objects.exists()


def test_reporter_autosaves_her_own_draft(reporter):
    article = _draft(created_by=reporter)
    assert _autosave(_client(reporter), article, body="My draft.").status_code == 200


@pytest.mark.parametrize(
    ("post", "status", "message"),
    [
        ({"body": "text"}, 400, "loaded_version"),
        ({"loaded_version": "one", "body": "text"}, 400, "loaded_version"),
        ({"loaded_version": "99", "body": "text"}, 400, "loaded_version"),
        ({"loaded_version": "1"}, 400, "Nothing to autosave"),
        ({"loaded_version": "1", "status": "published"}, 400, "Nothing to autosave"),
        ({"loaded_version": "1", "body": "x" * (1024 * 1024 + 1)}, 413, "1 MB"),
    ],
)
def test_junk_is_refused_with_a_message(ed, post, status, message):
    article = _draft()
    url = reverse("admin:articles_article_autosave", args=[article.pk])
    response = ed.post(url, post)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert not Autosave.objects.exists()


def test_autosave_of_a_missing_article_or_by_get_answers_json(ed):
    article = _draft()
    missing = reverse("admin:articles_article_autosave", args=[article.pk + 100])
    assert ed.post(missing, {"loaded_version": 1, "body": "x"}).status_code == 404
    url = reverse("admin:articles_article_autosave", args=[article.pk])
    assert ed.get(url).status_code == 405


def test_autosave_needs_the_forms_csrf_token(editor):
    article = _draft()
    client = _client(editor, enforce_csrf_checks=True)
    html = client.get(_change(article)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    assert _autosave(client, article, body="No token.").status_code == 403
    assert not Autosave.objects.exists()
    response = _autosave(client, article, body="With token.", csrfmiddlewaretoken=token)
    assert response.status_code == 200
    assert Autosave.objects.get().data == {"body": "With token."}


def test_change_form_loads_the_script_and_its_settings(ed, editor):
    article = _draft()
    html = ed.get(_change(article)).content.decode()
    assert "articles/autosave.js" in html
    assert f'data-key="{article.pk}" data-user="{editor.pk}"' in html
    assert 'id="autosave-status" role="status" aria-live="polite"' in html
    assert "Restore your unsaved changes" not in html
    add = ed.get(reverse("admin:articles_article_add")).content.decode()
    assert 'data-key="new"' in add and "data-url" not in add


def test_reopening_offers_the_autosave_with_a_word_diff(ed):
    article = _draft()
    _autosave(ed, article, body="Ships returned on Tuesday.", headline="Harbour reopens")
    html = ed.get(_change(article)).content.decode()
    assert "Restore your unsaved changes from" in html
    assert "<del>Monday</del><ins>Tuesday</ins>" in html
    assert 'href="?restore_autosave=1">Restore</a>' in html
    assert 'id="autosave-discard">Discard</button>' in html
    assert "changed by" not in html  # nobody saved since


def test_an_autosave_like_the_article_is_not_offered(ed):
    article = _draft()
    _autosave(ed, article, body="Ships returned on Monday.\r\n", headline="Harbour reopens")
    assert "Restore your unsaved changes" not in ed.get(_change(article)).content.decode()


def test_another_editors_autosave_stays_private(ed, editor):
    article = _draft()
    _autosave(ed, article, body="Ed's private draft.")
    other = _client(make_editor("ann"))
    html = other.get(_change(article)).content.decode()
    assert "Restore your unsaved changes" not in html and "private draft" not in html
    assert (
        "private draft" not in other.get(f"{_change(article)}?restore_autosave=1").content.decode()
    )


def test_restore_fills_the_form_and_saving_it_keeps_the_text(ed, editor):
    article = _draft()
    _autosave(ed, article, body="Ships returned on Tuesday.", dateline="DOVER")
    html = ed.get(f"{_change(article)}?restore_autosave=1").content.decode()
    assert "Ships returned on Tuesday.</textarea>" in html
    assert 'name="dateline" value="DOVER"' in html
    assert "Restored your unsaved changes from" in html
    assert 'name="loaded_version" value="1"' in html
    data = change_form_data(article, body="Ships returned on Tuesday.", dateline="DOVER")
    response = ed.post(_change(article), data)
    assert response.status_code == 302
    stored = Article.objects.get(pk=article.pk)
    assert (stored.body, stored.dateline, stored.version) == (
        "Ships returned on Tuesday.",
        "DOVER",
        2,
    )
    assert not Autosave.objects.exists()  # the real save discarded it
    assert "Restore your unsaved changes" not in ed.get(_change(article)).content.decode()


def test_restore_over_a_since_changed_article_shows_the_conflict(ed, editor):
    article = _draft()
    _autosave(ed, article, body="Ed's paragraph.")
    ann = make_editor("ann")
    ann.first_name, ann.last_name = "Ann", "Editor"
    ann.save()
    loaded = change_form_data(article)
    assert (
        _client(ann).post(_change(article), {**loaded, "headline": "Ann's headline"}).status_code
        == 302
    )

    html = ed.get(_change(article)).content.decode()
    assert (
        "The article was changed by Ann Editor since; saving will show you both versions." in html
    )
    html = ed.get(f"{_change(article)}?restore_autosave=1").content.decode()
    assert 'name="loaded_version" value="1"' in html  # the version the autosave was typed over
    response = ed.post(_change(article), {**loaded, "body": "Ed's paragraph."})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ann Editor changed this article" in html
    assert "Ed&#x27;s paragraph.</textarea>" in html  # his text is still in the form
    stored = Article.objects.get(pk=article.pk)
    assert (stored.headline, stored.body) == ("Ann's headline", "Ships returned on Monday.")
    assert Autosave.objects.filter(user=editor).exists()  # nothing saved, nothing discarded


def test_a_real_save_discards_the_autosave_and_a_late_tick_is_dropped(ed, editor):
    article = _draft()
    _autosave(ed, article, body="Typed before saving.")
    response = ed.post(_change(article), change_form_data(article, body="Typed and saved."))
    assert response.status_code == 302
    assert not Autosave.objects.exists()
    # A tick sent before the save but arriving after it must not bring the old text back.
    late = _autosave(ed, article, version=1, body="Typed before saving.")
    assert late.status_code == 409
    assert not Autosave.objects.exists()


def test_saving_a_draft_revision_discards_the_autosave(ed):
    article = _draft()
    Article.objects.filter(pk=article.pk).update(
        status=Article.Status.PUBLISHED,
        published_at=article.created_at,
        first_published_at=article.created_at,
    )
    article.refresh_from_db()
    _autosave(ed, article, body="A draft revision's text.")
    data = change_form_data(article, body="A draft revision's text.", _save_draft_revision="1")
    assert ed.post(_change(article), data).status_code == 302
    assert not Autosave.objects.exists()


def test_discard_forgets_the_autosave(ed, reporter):
    article = _draft()
    _autosave(ed, article, body="Second thoughts.")
    url = reverse("admin:articles_article_autosave_discard", args=[article.pk])
    assert _client(reporter).post(url).status_code == 403
    assert Autosave.objects.exists()
    response = ed.post(url)
    assert (response.status_code, response.json()) == (200, {"discarded": True})
    assert not Autosave.objects.exists()
    assert "Restore your unsaved changes" not in ed.get(_change(article)).content.decode()
