"""The desk never loses a word: draft revisions published over later live edits, saves refused
because the story moved on, restores that load into the form, and conflicts that merge by field.
All through the admin views, as editors and reporters use them."""

import html as htmllib

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from articles import services
from articles.models import Article, AuditEntry, Byline, Revision
from articles.workflow import Action

from .factories import (
    change_form_data,
    form_resubmit,
    image_upload,
    make_article,
    make_category,
    make_correction,
    make_editor,
    make_live_article,
    make_tag,
)

pytestmark = pytest.mark.django_db


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _change(article, query=""):
    return reverse("admin:articles_article_change", args=[article.pk]) + query


def _text(response) -> str:
    """The page as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(htmllib.unescape(strip_tags(response.content.decode())).split())


# --- 1. a draft revision published over later live edits -------------------------------------


def test_publishing_an_old_draft_revision_keeps_the_live_edits_made_after_it(reader):
    article = make_live_article(standfirst="Old standfirst.", body="First paragraph.")
    desk = _signed_in(make_editor("chief"))
    response = desk.post(
        _change(article),
        change_form_data(article, standfirst="New standfirst.", _save_draft_revision="1"),
    )
    assert response.status_code == 302
    revision = article.revisions.get(pending=True)
    # Reopened, the form shows the live text and says a draft revision is waiting.
    form = desk.get(_change(article))
    assert "A draft revision is waiting" in _text(form)
    assert f"Draft revision {revision.number}" in _text(form)
    assert form.context["adminform"].form["standfirst"].value() == "Old standfirst."
    response = desk.post(
        _change(article),
        form_resubmit(form, body="First paragraph.\n\nA paragraph added live.", _action="save"),
    )
    assert response.status_code == 302
    publish = reverse("admin:articles_article_revision_publish", args=[article.pk, revision.number])
    response = desk.post(publish, follow=True)
    assert "Live edits made after it was written were kept: body" in _text(response)
    page = _text(reader.get(article.get_absolute_url()))
    assert "New standfirst." in page and "A paragraph added live." in page


def test_a_draft_revision_that_clashes_with_live_edits_is_not_published_but_opened(reader):
    article = make_live_article(body="Original body.")
    desk = _signed_in(make_editor("chief"))
    desk.post(
        _change(article), change_form_data(article, body="Draft body.", _save_draft_revision="1")
    )
    revision = article.revisions.get(pending=True)
    article.refresh_from_db()
    desk.post(_change(article), change_form_data(article, body="Live body, edited since."))
    publish = reverse("admin:articles_article_revision_publish", args=[article.pk, revision.number])
    response = desk.post(publish)
    assert response.status_code == 302 and response["Location"].endswith(
        f"?revision={revision.number}"
    )
    assert "Live body, edited since." in _text(reader.get(article.get_absolute_url()))
    form = desk.get(response["Location"])
    text = _text(form)
    assert "was not published" in text and "both changed body" in text
    assert "Changed both in this draft and on the live article since: Body" in text
    assert form.context["adminform"].form["body"].value() == "Draft body."
    # Saving the form after reviewing it publishes the draft revision.
    response = desk.post(_change(article), form_resubmit(form, _action="save"))
    assert response.status_code == 302
    revision.refresh_from_db()
    assert not revision.pending and revision.applied_at is not None
    assert "Draft body." in _text(reader.get(article.get_absolute_url()))
    assert AuditEntry.objects.filter(action="publish_revision", article=article).exists()


# --- 2. a save refused because the story moved on ---------------------------------------------


def test_a_reporters_save_after_an_editor_published_comes_back_with_her_text(reporter, editor):
    editor.first_name, editor.last_name = "Erin", "Editor"
    editor.save()
    draft = make_article("Council vote", status=Article.Status.DRAFT, category=make_category())
    draft.created_by = reporter
    draft.save()
    Byline.objects.create(article=draft, author=reporter.author_profile, position=0)
    rita = _signed_in(reporter)
    loaded = change_form_data(draft)
    assert rita.get(_change(draft)).status_code == 200
    services.article_save(draft, user=editor, action=Action.PUBLISH)  # while she types
    mine = "She typed this paragraph for twenty minutes."
    response = rita.post(_change(draft), {**loaded, "body": mine, "_action": "save"})
    assert response.status_code == 200
    text = _text(response)
    assert "Your changes were not saved. It is now published (Erin Editor" in text
    assert "Only editors change a story once it has been submitted" in text
    assert response.context["adminform"].form["body"].value() == mine
    assert mine not in Article.objects.get(pk=draft.pk).body
    assert 'name="_action"' not in response.content.decode()  # no button offers to save it


def test_submitting_in_one_tab_then_saving_in_another_keeps_the_text(reporter):
    draft = make_article("Tabs", status=Article.Status.DRAFT, category=make_category())
    draft.created_by = reporter
    draft.save()
    rita = _signed_in(reporter)
    loaded = change_form_data(draft)
    assert rita.post(_change(draft), {**loaded, "_action": "submit"}).status_code == 302
    response = rita.post(_change(draft), {**loaded, "body": "Second tab words.", "_action": "save"})
    assert response.status_code == 200
    assert "It is now in review" in _text(response)
    assert response.context["adminform"].form["body"].value() == "Second tab words."
    assert Article.objects.get(pk=draft.pk).status == Article.Status.REVIEW


def test_a_button_she_may_not_press_is_refused_with_her_text_kept(reporter):
    draft = make_article("Forged", status=Article.Status.DRAFT, category=make_category())
    draft.created_by = reporter
    draft.save()
    response = _signed_in(reporter).post(
        _change(draft), change_form_data(draft, body="Kept words.", _action="publish")
    )
    assert response.status_code == 200
    assert "You may not “Publish now” on this article." in _text(response)
    assert response.context["adminform"].form["body"].value() == "Kept words."
    assert Article.objects.get(pk=draft.pk).status == Article.Status.DRAFT


# --- restore loads into the form --------------------------------------------------------------


def test_restore_loads_the_revision_into_the_form_and_saves_only_when_saved(reader):
    old_tag, new_tag = make_tag("Old"), make_tag("New")
    article = make_live_article(headline="First words", tags=[old_tag])
    desk = _signed_in(make_editor("chief"))
    desk.post(_change(article), change_form_data(article, headline="Second words"))
    article.refresh_from_db()
    article.tags.set([new_tag])
    restore = reverse("admin:articles_article_revision_restore", args=[article.pk, 1])
    form = desk.get(desk.get(restore)["Location"])
    assert "Revision 1 is loaded into the form — nothing is saved yet" in _text(form)
    assert form.context["adminform"].form["headline"].value() == "First words"
    assert Article.objects.get(pk=article.pk).headline == "Second words"  # nothing saved yet
    assert desk.post(_change(article), form_resubmit(form)).status_code == 302
    article.refresh_from_db()
    assert article.headline == "First words" and list(article.tags.all()) == [old_tag]
    latest = article.revisions.order_by("-number").first()
    assert latest.note == "Restored revision 1"
    assert AuditEntry.objects.filter(action="restore_revision", article=article).count() == 1
    assert "First words" in _text(reader.get(article.get_absolute_url()))


def test_restore_keeps_a_later_rename_and_shows_corrections_made_since():
    article = make_live_article(headline="Renamed story")
    first_slug = article.slug
    desk = _signed_in(make_editor("chief"))
    desk.post(_change(article), change_form_data(article, slug="renamed-story-2"))
    make_correction(article, text="The vote was 7 to 2, not 9 to 0.")
    form = desk.get(_change(article, "?revision=1"))
    text = _text(form)
    assert form.context["adminform"].form["slug"].value() == "renamed-story-2"
    assert f"not {first_slug}" in text
    assert "The vote was 7 to 2, not 9 to 0." in text


def test_restore_brings_back_the_lead_image_with_its_size():
    article = make_live_article()
    article.lead_image = image_upload("first.jpg", size=(80, 60))
    services.article_save(article, expected_version=1, user=None)
    first = article.revisions.get(article_version=2)
    article.lead_image = image_upload("second.jpg", size=(40, 30))
    services.article_save(article, expected_version=2, user=None)
    desk = _signed_in(make_editor("chief"))
    form = desk.get(_change(article, f"?revision={first.number}"))
    assert desk.post(_change(article), form_resubmit(form)).status_code == 302
    article.refresh_from_db()
    assert article.lead_image.name == first.data["lead_image"]
    assert (article.lead_image_width, article.lead_image_height) == (80, 60)


# --- conflicts merge by field ------------------------------------------------------------------


def test_a_refused_save_takes_in_the_fields_only_the_other_editor_changed():
    article = make_live_article(headline="Original headline", body="Original body.")
    ann_user = make_editor("ann")
    ann_user.first_name, ann_user.last_name = "Ann", "Editor"
    ann_user.save()
    ann, bob = _signed_in(ann_user), _signed_in(make_editor("bob"))
    bob_form = bob.get(_change(article))
    assert ann.post(_change(article), change_form_data(article, headline="Ann's headline"))[
        "Location"
    ]
    response = bob.post(_change(article), form_resubmit(bob_form, body="Bob's body."))
    assert response.status_code == 200
    text = _text(response)
    assert "Ann Editor changed this article" in text
    assert "because you had not changed it: Headline" in text
    form = response.context["adminform"].form
    assert form["headline"].value() == "Ann's headline" and form["body"].value() == "Bob's body."
    assert bob.post(_change(article), form_resubmit(response)).status_code == 302
    article.refresh_from_db()
    assert (article.headline, article.body) == ("Ann's headline", "Bob's body.")


def test_a_conflict_with_your_own_other_tab_says_so():
    article = make_live_article(body="One.")
    desk = _signed_in(make_editor("chief"))
    loaded = change_form_data(article)
    assert desk.post(_change(article), {**loaded, "body": "Tab one."}).status_code == 302
    response = desk.post(_change(article), {**loaded, "body": "Tab two."})
    text = _text(response)
    assert "You (in another tab or window) changed this article" in text
    assert "Changed by both of you — your version is in the form: Body" in text
    assert Revision.objects.filter(article=article, pending=False).count() == 2


def test_the_withdrawn_notice_in_the_desk_does_not_double_the_full_stop():
    article = make_live_article()
    services.article_withdraw(article, user=None, reason="Taken down for 24 hours.")
    html = _text(_signed_in(make_editor("chief")).get(_change(article)))
    assert "Taken down for 24 hours." in html and "hours.." not in html
