"""The desk's integrity tools: conflicts, history, drafts, trash, withdrawal, merges, audit."""

import re

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from articles import services
from articles.models import Article, AuditEntry, Author, Correction, Tag

from .factories import (
    change_form_data,
    make_article,
    make_author,
    make_category,
    make_editor,
    make_live_article,
    make_tag,
    make_user,
)

pytestmark = pytest.mark.django_db


_published = make_live_article


def _login(client, username, **kwargs):
    user = make_user(username, superuser=True, **kwargs)
    client.force_login(user)
    return user


@pytest.fixture
def editor_client(client):
    """A client signed in as the chief editor (a superuser)."""
    _login(client, "chief")
    return client


def _change_url(article):
    return reverse("admin:articles_article_change", args=[article.pk])


def test_change_form_carries_the_loaded_version(editor_client):
    article = _published()
    html = editor_client.get(_change_url(article)).content.decode()
    assert re.search(r'<input type="hidden" name="loaded_version" value="1"', html)


def test_second_save_of_a_form_opened_before_is_refused_with_who_and_diff(
    client, django_user_model
):
    from django.test import Client

    article = _published(headline="Original headline", authors=[make_author("Ann")])
    ann, bob = Client(), Client()
    ann_user = _login(
        ann,
        "ann",
    )
    ann_user.first_name, ann_user.last_name = "Ann", "Editor"
    ann_user.save()
    _login(bob, "bob")
    ann.get(_change_url(article))
    bob.get(_change_url(article))
    loaded = change_form_data(article)
    response = ann.post(_change_url(article), {**loaded, "headline": "Ann's headline"})
    assert response.status_code == 302
    response = bob.post(_change_url(article), {**loaded, "body": "Bob typed this paragraph."})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ann Editor changed this article at" in html
    assert "<del>Original</del>" in html and "<ins>Ann&#x27;s</ins>" in html
    assert "Bob typed this paragraph." in html  # his text is still in the form
    assert 'name="loaded_version" value="2"' in html
    stored = Article.objects.get(pk=article.pk)
    assert stored.headline == "Ann's headline" and "Bob typed" not in stored.body
    assert AuditEntry.objects.filter(action="conflict", article=article).exists()
    # Saving again after reading the differences is a deliberate replacement.
    response = bob.post(
        _change_url(article),
        {**loaded, "body": "Bob typed this paragraph.", "loaded_version": "2"},
    )
    assert response.status_code == 302
    assert Article.objects.get(pk=article.pk).body == "Bob typed this paragraph."


def test_a_bulk_change_after_opening_the_form_refuses_its_save(editor_client):
    article = _published()
    loaded = change_form_data(article)
    services.articles_feature(Article.objects.filter(pk=article.pk), user=None, featured=True)
    response = editor_client.post(_change_url(article), {**loaded, "headline": "Late edit"})
    assert response.status_code == 200 and "changed this article" in response.content.decode()


def test_someone_else_is_editing_notice(client):
    from django.test import Client

    article = _published()
    ann, bob = Client(), Client()
    ann_user = _login(ann, "ann")
    ann_user.first_name = "Ann"
    ann_user.save()
    _login(bob, "bob")
    assert "may be editing it" not in ann.get(_change_url(article)).content.decode()
    html = bob.get(_change_url(article)).content.decode()
    assert "Ann opened this article" in html and "may be editing it" in html


def test_history_lists_revisions_compares_and_restores(editor_client, client):
    article = _published(headline="First words")
    editor_client.post(_change_url(article), change_form_data(article, headline="Second words"))
    article.refresh_from_db()
    url = reverse("admin:articles_article_revisions", args=[article.pk])
    html = editor_client.get(url).content.decode()
    assert 'id="revision-1"' in html and 'id="revision-2"' in html
    compare = reverse("admin:articles_article_revision_compare", args=[article.pk])
    html = editor_client.get(compare, {"a": 1, "b": 2}).content.decode()
    assert "<del>First</del><ins>Second</ins>" in html
    assert editor_client.get(compare, {"a": "x", "b": 2}).status_code == 400
    assert editor_client.get(compare, {"a": 1, "b": 99}).status_code == 400
    restore = reverse("admin:articles_article_revision_restore", args=[article.pk, 1])
    response = editor_client.get(restore)
    assert response.status_code == 302 and response["Location"].endswith("?revision=1")


def test_history_checks_permissions(client):
    draft = make_article("Secret draft", status=Article.Status.DRAFT)
    services.article_save(draft, expected_version=1, user=None)
    url = reverse("admin:articles_article_revisions", args=[draft.pk])
    client.force_login(make_user("intern"))
    assert client.get(url).status_code == 403  # no desk permission at all
    compare = reverse("admin:articles_article_revision_compare", args=[draft.pk])
    assert client.get(compare, {"a": 1, "b": 2}).status_code == 403
    client.force_login(make_user("viewer", perms=["articles.view_article"]))
    assert client.get(url).status_code == 404  # someone else's draft is not in her desk
    client.force_login(
        make_user("reader", perms=["articles.view_article", "articles.edit_any_article"])
    )
    assert client.get(url).status_code == 200
    restore = reverse("admin:articles_article_revision_restore", args=[draft.pk, 1])
    client.force_login(make_user("intern2"))
    assert client.get(restore).status_code == 403


def test_save_as_draft_revision_then_publish_it(editor_client, client):
    article = _published(headline="Live", body="Live body")
    response = editor_client.post(
        _change_url(article),
        change_form_data(article, body="Pending body", _save_draft_revision="1"),
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/{article.pk}/revisions/")
    assert "Pending body" not in client.get(article.get_absolute_url()).content.decode()
    revision = article.revisions.get(pending=True)
    assert revision.data["body"] == "Pending body"
    assert Article.objects.get(pk=article.pk).version == 1
    html = editor_client.get(response["Location"]).content.decode()
    assert "Publish this revision" in html
    publish = reverse("admin:articles_article_revision_publish", args=[article.pk, revision.number])
    assert editor_client.post(publish).status_code == 302
    assert "Pending body" in client.get(article.get_absolute_url()).content.decode()


def test_substantive_tick_redates_and_a_silent_save_does_not(editor_client, client):
    article = _published()
    url = article.get_absolute_url()
    editor_client.post(_change_url(article), change_form_data(article, body="Typo fixed."))
    article.refresh_from_db()
    assert article.revised_at is None
    assert "Updated" not in client.get(url).content.decode()
    editor_client.post(
        _change_url(article), change_form_data(article, body="New facts.", substantive_update="on")
    )
    article.refresh_from_db()
    assert article.is_revised
    html = client.get(url).content.decode()
    assert (
        f'Updated</strong> <time datetime="{timezone.localtime(article.modified_at).replace(microsecond=0).isoformat()}'
        in html
    )


def test_correction_added_in_the_change_form_shows_on_the_article(editor_client, client):
    article = _published()
    data = change_form_data(
        article,
        **{
            "corrections-TOTAL_FORMS": "1",
            "corrections-0-kind": "clarification",
            "corrections-0-text": "The minister spoke on Tuesday.",
            "corrections-0-created_at_0": timezone.localdate().isoformat(),
            "corrections-0-created_at_1": "00:00:01",
        },
    )
    assert editor_client.post(_change_url(article), data).status_code == 302
    correction = Correction.objects.get(article=article)
    assert correction.created_by.username == "chief"
    html = client.get(article.get_absolute_url()).content.decode()
    assert "Clarification" in html and "The minister spoke on Tuesday." in html
    assert AuditEntry.objects.filter(action="correction", article=article).exists()


def test_delete_moves_to_trash_and_editors_restore_and_empty(client):
    article = _published(headline="Trashable")
    reporter = make_user(
        "deskhand",
        perms=["articles.view_article", "articles.delete_article", "articles.edit_any_article"],
    )
    client.force_login(reporter)
    delete = reverse("admin:articles_article_delete", args=[article.pk])
    assert "Move the article “Trashable” to the trash?" in client.get(delete).content.decode()
    assert client.post(delete, {"post": "yes"}).status_code == 302
    article.refresh_from_db()
    assert article.deleted_at is not None
    assert client.get(article.get_absolute_url()).status_code == 404
    trash = reverse("admin:articles_article_trash")
    html = client.get(trash).content.decode()
    assert "Trashable" in html and "Empty the trash" not in html
    assert client.post(trash, {"empty": "1", "confirm": "yes"}).status_code == 403
    client.post(trash, {"restore": str(article.pk)})
    article.refresh_from_db()
    assert article.deleted_at is None
    assert client.post(trash, {"restore": "nonsense"}).status_code == 302
    services.article_trash(article, user=None)
    _login(client, "chief")
    assert "Empty the trash" in client.get(trash).content.decode()
    client.post(trash, {"empty": "1"})  # not confirmed: nothing happens
    assert Article.objects.filter(pk=article.pk).exists()
    client.post(trash, {"empty": "1", "confirm": "yes"})
    assert not Article.objects.filter(pk=article.pk).exists()


def test_trashed_articles_leave_the_change_list(editor_client):
    article = _published(headline="Gone from list")
    services.article_trash(article, user=None)
    html = editor_client.get(reverse("admin:articles_article_changelist")).content.decode()
    assert "Gone from list" not in html
    assert editor_client.get(_change_url(article)).status_code == 302  # "doesn't exist" redirect


def test_trash_needs_delete_permission(client):
    client.force_login(make_user("viewer", perms=["articles.view_article"]))
    assert client.get(reverse("admin:articles_article_trash")).status_code == 403


def test_withdraw_from_the_admin(editor_client, client):
    article = _published(headline="Libel story")
    url = reverse("admin:articles_article_withdraw", args=[article.pk])
    assert "Withdraw this article" in editor_client.get(url).content.decode()
    assert editor_client.post(url, {"reason": ""}).status_code == 400
    assert editor_client.post(url, {"reason": "Withdrawn after a court order."}).status_code == 302
    response = client.get(article.get_absolute_url())
    assert response.status_code == 410
    assert "Withdrawn after a court order." in response.content.decode()
    html = editor_client.get(_change_url(article)).content.decode()
    assert "kept read-only" in html and 'name="_save"' not in html
    refused = editor_client.post(_change_url(article), change_form_data(article, body="Late."))
    assert refused.status_code == 200
    assert "Your changes were not saved. It is now withdrawn" in refused.content.decode()
    assert "Late." not in Article.objects.get(pk=article.pk).body
    assert (
        editor_client.get(
            reverse("admin:articles_article_revisions", args=[article.pk])
        ).status_code
        == 200
    )


def test_withdraw_needs_its_permission(client):
    article = _published()
    client.force_login(
        make_user(
            "editor",
            perms=["articles.view_article", "articles.change_article", "articles.edit_any_article"],
        )
    )
    url = reverse("admin:articles_article_withdraw", args=[article.pk])
    assert client.post(url, {"reason": "x"}).status_code == 403


@pytest.mark.parametrize(
    ("name", "build", "attach"),
    [
        ("author", make_author, lambda obj: _published(authors=[obj])),
        ("category", make_category, lambda obj: _published(category=obj)),
        ("tag", make_tag, lambda obj: _published(tags=[obj])),
    ],
)
def test_in_use_items_cannot_be_deleted_but_can_be_merged(editor_client, name, build, attach):
    source, target = build("Source"), build("Target")
    article = attach(source)
    delete = reverse(f"admin:articles_{name}_delete", args=[source.pk])
    response = editor_client.post(delete, {"post": "yes"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f"The {name} “Source” cannot be deleted while articles use it." in html
    assert "Source still has 1 article(s): merge it into another" in html
    assert type(source).objects.filter(pk=source.pk).exists()
    changelist = reverse(f"admin:articles_{name}_changelist")
    page = editor_client.post(
        changelist, {"action": "merge_selected", "_selected_action": [source.pk]}
    )
    assert "Merge into" in page.content.decode()
    bad = editor_client.post(
        changelist, {"action": "merge_selected", "_selected_action": [source.pk], "apply": "1"}
    )
    assert bad.status_code == 400
    done = editor_client.post(
        changelist,
        {
            "action": "merge_selected",
            "_selected_action": [source.pk],
            "apply": "1",
            "target": target.pk,
        },
    )
    assert done.status_code == 302
    assert not type(source).objects.filter(pk=source.pk).exists()
    assert article in target.articles.all()
    entry = AuditEntry.objects.get(action="merge")
    assert entry.user.username == "chief" and entry.detail["articles"] == 1


def test_a_save_that_loses_the_race_after_validation_is_refused_not_500(editor_client, monkeypatch):
    """Another save lands between this form's validation and its write: the write is refused."""
    from articles.admin.forms import ArticleAdminForm as IntegrityArticleForm

    article = _published(headline="Raced")
    data = change_form_data(article, body="Lost the race but kept.")
    Article.objects.filter(pk=article.pk).update_versioned(headline="Won the race")
    original_clean, calls = IntegrityArticleForm.clean, []

    def clean_before_the_other_save(self):
        if not calls:  # the first validation ran before the other save landed
            calls.append(1)
            self.expected_version = 1
            return self.cleaned_data
        return original_clean(self)

    monkeypatch.setattr(IntegrityArticleForm, "clean", clean_before_the_other_save)
    response = editor_client.post(_change_url(article), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "changed this article" in html and "Lost the race but kept." in html
    stored = Article.objects.get(pk=article.pk)
    assert stored.headline == "Won the race" and stored.body != "Lost the race but kept."


def test_unused_tag_can_be_deleted(editor_client):
    tag = make_tag("Lonely")
    editor_client.post(reverse("admin:articles_tag_delete", args=[tag.pk]), {"post": "yes"})
    assert not Tag.objects.filter(pk=tag.pk).exists()
    assert Author.objects.count() == 0


def test_audit_page_lists_and_filters(client, editor_client):
    ann = make_editor("ann", password="pw-Newsdesk-1")
    assert client.login(
        request=RequestFactory().post("/admin/login/"), username="ann", password="pw-Newsdesk-1"
    )
    _login(client, "auditor")
    article = _published(headline="Audited story")
    other = _published(headline="Other story")
    editor_client.post(_change_url(article), change_form_data(article, headline="Audited story 2"))
    services.article_trash(other, user=ann)
    url = reverse("admin:articles_auditentry_changelist")
    html = client.get(url).content.decode()
    assert "Logged in" in html and "Audited story 2" in html and "Moved to trash" in html
    html = client.get(url, {"action__exact": "trash"}).content.decode()
    assert "Other story" in html and "Audited story 2" not in html
    html = client.get(url, {"user__id__exact": ann.pk}).content.decode()
    assert "Other story" in html and "Audited story 2" not in html
    html = client.get(url, {"article__id__exact": article.pk}).content.decode()
    assert "Audited story 2" in html and "Other story" not in html
    html = client.get(url, {"q": "Other"}).content.decode()
    assert "Other story" in html
    assert client.get(url, {"created_at__gte": "not-a-date"}).status_code in (200, 302, 400)


def test_audit_is_read_only(editor_client):
    entry = AuditEntry.objects.create(action="login")
    assert editor_client.get(reverse("admin:articles_auditentry_add")).status_code == 403
    url = reverse("admin:articles_auditentry_delete", args=[entry.pk])
    assert editor_client.post(url, {"post": "yes"}).status_code == 403


def test_revisions_page_query_count_is_fixed(editor_client, django_assert_max_num_queries):
    article = _published()
    for version in range(1, 8):
        services.article_save(article, expected_version=version, user=None)
    url = reverse("admin:articles_article_revisions", args=[article.pk])
    editor_client.get(url)
    with django_assert_max_num_queries(8):
        assert editor_client.get(url).status_code == 200
