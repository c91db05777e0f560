"""Integrity services: revisions, optimistic locking, trash, withdrawal, merges, corrections."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from articles import services
from articles.models import Article, AuditEntry, Author, Category, EditSession, Revision, Tag

from .factories import (
    image_upload,
    make_article,
    make_author,
    make_category,
    make_editor,
    make_tag,
)

pytestmark = pytest.mark.django_db


def _published(**kwargs):
    when = (timezone.now() - dt.timedelta(days=1)).replace(microsecond=0)
    return make_article(published_at=when, **kwargs)


def test_every_save_stores_a_revision_with_full_content():
    ann, bob = make_author("Ann Lee"), make_author("Bob Roe")
    article = _published(
        authors=[bob, ann], category=make_category("World"), tags=[make_tag("Oil")]
    )
    article.lead_image = image_upload("lead.jpg")
    article.lead_image_alt = "A tanker"
    user = make_editor("writer")
    article.headline = "Changed"
    services.article_save(article, expected_version=1, user=user)
    revision = article.revisions.get(article_version=2)
    assert revision.created_by == user
    data = revision.data
    assert data["headline"] == "Changed"
    assert [a["name"] for a in data["byline"]] == ["Bob Roe", "Ann Lee"]
    assert data["category"]["name"] == "World"
    assert [t["name"] for t in data["tags"]] == ["Oil"]
    assert data["lead_image"].endswith(".jpg") and data["lead_image_alt"] == "A tanker"
    # The state before the first tracked save is kept too, so it can be restored.
    assert article.revisions.get(article_version=1).data["headline"] != "Changed"
    assert AuditEntry.objects.filter(action="save", article=article, user=user).exists()


def test_second_save_from_the_same_version_is_refused_and_nothing_is_lost():
    article = _published(headline="Original", body="Original body")
    ann, bob = make_editor("ann"), make_editor("bob")
    ann.first_name, ann.last_name = "Ann", "Lee"
    ann.save()
    first = Article.objects.get(pk=article.pk)
    second = Article.objects.get(pk=article.pk)
    first.headline = "Ann's headline"
    services.article_save(first, expected_version=1, user=ann)
    second.body = "Bob's new body"
    with pytest.raises(services.StaleVersionError) as caught:
        services.article_save(second, expected_version=1, user=bob)
    error = caught.value
    assert error.changed_by == "Ann Lee" and error.current_version == 2
    assert "Ann Lee changed this article" in str(error)
    assert "<del>Original</del><ins>Ann&#x27;s headline</ins>" in error.diff_html
    stored = Article.objects.get(pk=article.pk)
    assert stored.headline == "Ann's headline" and stored.body == "Original body"
    assert second.body == "Bob's new body"  # the refused edit is still in the caller's hands
    services.article_save(second, expected_version=2, user=bob)
    assert Article.objects.get(pk=article.pk).body == "Bob's new body"


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite's shared in-memory test database reports lock errors instead of waiting",
)
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_saves_cannot_both_pass():
    """Two threads, two database connections, the same loaded version: exactly one wins."""
    article = _published(headline="Start")
    users = [make_editor("one"), make_editor("two")]
    barrier = threading.Barrier(2)
    outcomes = {}

    def save(i):
        try:
            mine = Article.objects.get(pk=article.pk)
            mine.headline = f"Edit {i}"
            barrier.wait(timeout=10)
            services.article_save(mine, expected_version=1, user=users[i])
            outcomes[i] = "saved"
        except services.StaleVersionError:
            outcomes[i] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["refused", "saved"]
    winner = next(i for i, outcome in outcomes.items() if outcome == "saved")
    stored = Article.objects.get(pk=article.pk)
    assert stored.headline == f"Edit {winner}" and stored.version == 2


def test_draft_revision_changes_nothing_readers_see_until_published(client):
    article = _published(headline="Live headline", body="Live body")
    user = make_editor()
    data = services.article_snapshot(article)
    data.update(headline="Draft headline", body="Draft body")
    revision = services.revision_save_draft(article, user=user, data=data)
    html = client.get(article.get_absolute_url()).content.decode()
    assert "Live body" in html and "Draft body" not in html
    assert Article.objects.get(pk=article.pk).version == 1
    services.revision_publish(revision, user=user)
    html = client.get(article.get_absolute_url()).content.decode()
    assert "Draft body" in html and "Draft headline" in html
    revision.refresh_from_db()
    assert not revision.pending and revision.applied_at is not None
    with pytest.raises(ValueError):
        services.revision_publish(revision, user=user)


def test_trash_hides_restore_brings_back_and_empty_deletes_for_good(client):
    article = _published(headline="Binned")
    other = _published(headline="Kept")
    user = make_editor()
    services.article_trash(article, user=user)
    assert client.get(article.get_absolute_url()).status_code == 404
    assert "Binned" not in client.get("/articles/").content.decode()
    services.article_restore_from_trash(article, user=user)
    assert client.get(article.get_absolute_url()).status_code == 200
    services.article_trash(article, user=user)
    assert services.trash_empty(user=user) == 1
    assert not Article.objects.filter(pk=article.pk).exists()
    assert Article.objects.filter(pk=other.pk).exists()
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["trash", "restore", "trash", "empty_trash"]  # one entry per action
    emptied = AuditEntry.objects.get(action="empty_trash").detail["articles"]
    assert emptied == [{"id": article.pk, "headline": "Binned"}]


def test_trashed_article_old_slug_does_not_redirect(client):
    article = _published(headline="Slugged")
    article.slug = "renamed"
    article.save()
    services.article_trash(article, user=None)
    assert client.get("/articles/slugged/").status_code == 404
    assert client.get("/articles/renamed/").status_code == 404


def test_withdraw_needs_a_reason_and_a_published_article():
    draft = make_article(status=Article.Status.DRAFT)
    with pytest.raises(ValueError, match="published"):
        services.article_withdraw(draft, user=None, reason="Legal")
    article = _published()
    with pytest.raises(ValueError, match="reason"):
        services.article_withdraw(article, user=None, reason="  ")
    services.article_withdraw(article, user=None, reason="Court order")
    article.refresh_from_db()
    assert article.withdrawn_at and article.withdrawal_reason == "Court order"
    assert not Article.objects.published().filter(pk=article.pk).exists()
    with pytest.raises(ValueError, match="already"):
        services.article_withdraw(article, user=None, reason="Again")


def test_author_merge_moves_bylines_in_order_and_deletes_the_source():
    ann, bob, cat = make_author("Ann"), make_author("Bob"), make_author("Cat")
    both = _published(authors=[cat, ann, bob])
    only_ann = _published(authors=[ann])
    user = make_editor()
    assert services.author_merge(ann, bob, user=user) == 2
    assert not Author.objects.filter(pk=ann.pk).exists()
    assert Article.objects.get(pk=both.pk).byline_authors == [cat, bob]
    assert Article.objects.get(pk=only_ann.pk).byline_authors == [bob]
    assert Article.objects.get(pk=only_ann.pk).version == 2  # open forms are refused
    entry = AuditEntry.objects.get(action="merge")
    assert entry.detail["articles"] == 2 and entry.object_repr == "Author Ann → Bob"
    with pytest.raises(ValueError):
        services.author_merge(bob, bob, user=user)


def test_category_and_tag_merges_move_articles():
    world, globe = make_category("World"), make_category("Globe")
    oil, petrol = make_tag("Oil"), make_tag("Petrol")
    a = _published(category=world, tags=[oil, petrol])
    b = _published(category=globe, tags=[oil])
    services.category_merge(world, globe, user=None)
    services.tag_merge(oil, petrol, user=None)
    assert not Category.objects.filter(pk=world.pk).exists()
    assert not Tag.objects.filter(pk=oil.pk).exists()
    a.refresh_from_db()
    assert a.category == globe and list(a.tags.all()) == [petrol]
    assert list(b.tags.all()) == [petrol]
    assert AuditEntry.objects.filter(action="merge").count() == 2


def test_correction_redates_the_story_and_a_silent_save_does_not():
    article = _published()
    published_at = article.published_at
    services.article_save(article, expected_version=1, user=None)
    article.refresh_from_db()
    assert article.modified_at == published_at and not article.is_revised
    services.article_save(article, expected_version=2, user=None, substantive=True)
    article.refresh_from_db()
    assert article.modified_at > published_at and article.is_revised
    later = timezone.now() + dt.timedelta(seconds=5)
    services.correction_add(article, user=None, kind="correction", text="Fixed.", created_at=later)
    article.refresh_from_db()
    assert article.modified_at == later
    with pytest.raises(ValueError):
        services.correction_add(article, user=None, kind="correction", text=" ")


def test_bulk_update_bumps_versions_so_open_forms_are_refused():
    article = _published()
    result = services.articles_unpublish(Article.objects.filter(pk=article.pk), user=None)
    article.refresh_from_db()
    assert result.changed == 1 and article.version == 2 and article.status == "draft"
    assert article.revisions.filter(article_version=2).exists()
    stale = Article.objects.get(pk=article.pk)
    with pytest.raises(services.StaleVersionError):
        services.article_save(stale, expected_version=1, user=None)
    assert AuditEntry.objects.filter(action="state", article=article).count() == 1


def test_reopening_a_form_notes_presence_in_one_update(django_assert_num_queries):
    """The desk opens the form again after every save: noting it is one UPDATE, and listing
    the others one SELECT."""
    article = _published()
    ann = make_editor("ann")
    services.edit_session_open(article, user=ann)
    before = article.edit_sessions.get(user=ann).opened_at
    with django_assert_num_queries(2):
        services.edit_session_open(article, user=ann)
    assert article.edit_sessions.get(user=ann).opened_at > before
    assert article.edit_sessions.count() == 1


def test_presence_survives_a_row_created_between_its_update_and_its_insert(monkeypatch):
    """Two requests of the same editor at once: the second's insert meets the first's row and
    updates it instead of failing."""
    article = _published()
    ann = make_editor("ann")
    EditSession.objects.create(article=article, user=ann, opened_at=timezone.now())
    real_update = type(EditSession.objects.all()).update
    calls = []

    def update_missing_once(self, **kwargs):
        calls.append(kwargs)
        return 0 if len(calls) == 1 else real_update(self, **kwargs)  # as if not yet there

    monkeypatch.setattr(type(EditSession.objects.all()), "update", update_missing_once)
    assert services.edit_session_open(article, user=ann) == []
    assert len(calls) == 2 and article.edit_sessions.filter(user=ann).count() == 1


def test_presence_lists_others_who_opened_the_article_recently():
    article = _published()
    ann, bob = make_editor("ann"), make_editor("bob")
    assert services.edit_session_open(article, user=ann) == []
    others = services.edit_session_open(article, user=bob)
    assert [s.user for s in others] == [ann]
    article.edit_sessions.filter(user=ann).update(
        opened_at=timezone.now() - services.PRESENCE_WINDOW - dt.timedelta(seconds=1)
    )
    assert services.edit_session_open(article, user=bob) == []
    services.edit_session_close(article, user=bob)
    assert not article.edit_sessions.filter(user=bob).exists()


def test_revision_numbers_count_up_per_article():
    article = _published()
    for version in (1, 2, 3):
        services.article_save(article, expected_version=version, user=None)
    assert list(Revision.objects.filter(article=article).values_list("number", flat=True)) == [
        4,
        3,
        2,
        1,
    ]
