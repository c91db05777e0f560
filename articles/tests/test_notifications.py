"""Send back, recall, the revision history's notes, and notifications (desk inbox and email),
through the admin views."""

import datetime as dt
import logging

import html5lib
import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from articles import notifications
from articles.models import Article, Notification, Revision, StateChange
from articles.workflow import Action, allowed_actions

from .factories import make_editor, make_reporter
from .test_workflow import change_url, form_data, login, ready_draft

pytestmark = pytest.mark.django_db
Kind = Notification.Kind


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    """Run what the services leave for after COMMIT (the notices), as a real commit would."""

    def post(client, url, data):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data)

    return post


@pytest.fixture
def people(reporter, editor):
    reporter.email, editor.email = "rita@example.org", "ed@example.org"
    reporter.save()
    editor.save()
    return reporter, editor


def dashboard(client, user, section):
    html = login(client, user).get(reverse("admin:index")).content.decode()
    return (
        html.split(f'id="dash-{section}"')[1].split("</section>")[0]
        if (f'id="dash-{section}"' in html)
        else ""
    )


def submitted(client, committing, reporter):
    article = ready_draft(reporter)
    login(client, reporter)
    response = committing(client, change_url(article), form_data(article, action=Action.SUBMIT))
    assert response.status_code == 302
    article.refresh_from_db()
    return article


def sent_back(client, committing, reporter, editor, note="Needs a second source."):
    article = submitted(client, committing, reporter)
    login(client, editor)
    data = form_data(article, action=Action.SEND_BACK, workflow_note=note)
    assert committing(client, change_url(article), data).status_code == 302
    article.refresh_from_db()
    return article


# --- submit, send back, recall ---------------------------------------------------------------


def test_submit_tells_the_editors_in_their_inbox_and_by_email(client, committing, people):
    reporter, editor = people
    article = submitted(client, committing, reporter)
    inbox = dashboard(client, editor, "inbox")
    assert "(1 unread)" in inbox and "submitted “Ready story” for review" in inbox
    assert [m.to for m in mail.outbox] == [["ed@example.org"]]
    assert "Ready story" in mail.outbox[0].subject
    assert reverse("admin:articles_article_change", args=[article.pk]) in mail.outbox[0].body
    # The actor is never told of her own action.
    assert not Notification.objects.filter(recipient=reporter).exists()
    assert "No notifications." in dashboard(client, reporter, "inbox")


def test_send_back_shows_the_note_on_the_dashboard_and_the_form_until_resubmitted(
    client, committing, people
):
    reporter, editor = people
    article = sent_back(client, committing, reporter, editor)
    panel = dashboard(client, reporter, "sent-back")
    assert "Sent back" in panel and "Needs a second source." in panel and "ed" in panel
    assert "Ready story" in panel
    form = client.get(change_url(article)).content.decode()
    assert 'id="sent-back"' in form and "Needs a second source." in form
    notice = Notification.objects.get(recipient=reporter)
    assert notice.kind == Kind.SENT_BACK and "Needs a second source." in notice.text
    assert "rita@example.org" in [m.to[0] for m in mail.outbox]
    # Resubmitting clears it from both surfaces.
    article.refresh_from_db()
    data = form_data(article, action=Action.SUBMIT)
    assert committing(client, change_url(article), data).status_code == 302
    assert dashboard(client, reporter, "sent-back") == ""
    assert 'id="sent-back"' not in client.get(change_url(article)).content.decode()


def test_reporter_recalls_her_submitted_story(client, committing, people):
    reporter, editor = people
    article = submitted(client, committing, reporter)
    assert allowed_actions(reporter, article) == [Action.RECALL]
    assert Action.RECALL not in allowed_actions(editor, article)  # not hers to recall
    html = client.get(change_url(article)).content.decode()
    assert 'value="recall"' in html and "Recall from review" in html
    response = committing(client, change_url(article), {"_action": Action.RECALL})
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.state == Article.State.DRAFT
    step = StateChange.objects.filter(article=article).first()
    assert (step.from_state, step.to_state, step.user) == ("review", "draft", reporter)
    assert 'id="sent-back"' not in client.get(change_url(article)).content.decode()
    assert Revision.objects.filter(article=article).first().note == "Recalled"
    # A draft cannot be recalled again.
    assert client.post(change_url(article), {"_action": Action.RECALL}).status_code == 403


def test_a_colleague_cannot_recall_someone_elses_story(client, committing, people):
    reporter, _ = people
    article = submitted(client, committing, reporter)
    colleague = make_reporter("carla")
    login(client, colleague)
    assert 'value="recall"' not in client.get(change_url(article)).content.decode()
    assert client.post(change_url(article), {"_action": Action.RECALL}).status_code == 403
    article.refresh_from_db()
    assert article.state == Article.State.REVIEW


def test_editor_cannot_recall_once_published(client, committing, people):
    reporter, editor = people
    article = submitted(client, committing, reporter)
    login(client, editor)
    committing(client, change_url(article), form_data(article, action=Action.PUBLISH))
    login(client, reporter)
    assert client.post(change_url(article), {"_action": Action.RECALL}).status_code == 403
    article.refresh_from_db()
    assert article.state == Article.State.PUBLISHED


# --- the revision history reads as what happened ---------------------------------------------


def test_revisions_page_reads_as_a_history(client, committing, people):
    reporter, editor = people
    article = sent_back(client, committing, reporter, editor, note="Check the figures.")
    login(client, reporter)
    committing(client, change_url(article), form_data(article, action=Action.SUBMIT))
    login(client, editor)
    article.refresh_from_db()
    when = timezone.localtime() + dt.timedelta(days=2)
    when = when.replace(hour=9, minute=0, second=0, microsecond=0)
    data = form_data(
        article,
        action=Action.SCHEDULE,
        published_at_0=f"{when:%Y-%m-%d}",
        published_at_1="09:00:00",
    )
    assert committing(client, change_url(article), data).status_code == 302
    article.refresh_from_db()
    committing(client, change_url(article), form_data(article, action=Action.UNPUBLISH))
    article.refresh_from_db()
    committing(client, change_url(article), form_data(article, action=Action.PUBLISH))
    notes = list(
        Revision.objects.filter(article=article).order_by("number").values_list("note", flat=True)
    )
    assert notes[1:] == [
        "Submitted for review",
        "Sent back: Check the figures.",
        "Submitted for review",
        f"Scheduled for {when.day} {when:%b} 09:00",
        "Unpublished",
        "Published",
    ]
    page = client.get(reverse("admin:articles_article_revisions", args=[article.pk]))
    html = page.content.decode()
    for note in notes[1:]:
        assert note in html


# --- publish, schedule, correct, withdraw ------------------------------------------------------


def test_publish_tells_the_reporter_not_the_editor(client, committing, people):
    reporter, editor = people
    article = ready_draft(reporter)
    login(client, editor)
    mail.outbox.clear()
    committing(client, change_url(article), form_data(article, action=Action.PUBLISH))
    assert list(Notification.objects.values_list("recipient", "kind")) == [
        (reporter.pk, Kind.PUBLISHED)
    ]
    assert [m.to for m in mail.outbox] == [["rita@example.org"]]
    assert "published “Ready story”" in dashboard(client, reporter, "inbox")


def test_byline_users_are_told_too(client, committing, people):
    reporter, editor = people
    colleague = make_reporter("bea")
    article = ready_draft(reporter)
    article.bylines.create(author=colleague.author_profile, position=1)
    login(client, editor)
    committing(client, change_url(article), form_data(article, action=Action.PUBLISH))
    assert set(Notification.objects.values_list("recipient", flat=True)) == {
        reporter.pk,
        colleague.pk,
    }


def test_schedule_is_told_now_and_the_go_live_appears_at_its_time(client, committing, people):
    reporter, editor = people
    article = ready_draft(reporter)
    login(client, editor)
    when = timezone.localtime() + dt.timedelta(hours=3)
    data = form_data(
        article,
        action=Action.SCHEDULE,
        published_at_0=f"{when:%Y-%m-%d}",
        published_at_1=f"{when:%H:%M:%S}",
    )
    committing(client, change_url(article), data)
    inbox = dashboard(client, reporter, "inbox")
    assert "to go live on" in inbox and "went live" not in inbox and "(1 unread)" in inbox
    assert len(mail.outbox) == 1 and "to go live on" in mail.outbox[0].subject
    later = timezone.now() + dt.timedelta(hours=4)
    kinds = Notification.objects.inbox(reporter, now=later).values_list("kind", flat=True)
    assert list(kinds) == [Kind.LIVE, Kind.SCHEDULED]
    # Unpublished before its time: the go-live notice is gone.
    article.refresh_from_db()
    login(client, editor)
    data.update(_action=Action.UNPUBLISH, loaded_version=article.version)
    response = committing(client, change_url(article), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not Notification.objects.filter(kind=Kind.LIVE).exists()


def test_correction_and_withdrawal_are_told(client, committing, people):
    reporter, editor = people
    other_editor = make_editor("eve")
    article = ready_draft(reporter)
    login(client, editor)
    committing(client, change_url(article), form_data(article, action=Action.PUBLISH))
    Notification.objects.all().delete()
    article.refresh_from_db()
    data = form_data(
        article,
        action=Action.SAVE,
        **{
            "corrections-TOTAL_FORMS": "1",
            "corrections-INITIAL_FORMS": "0",
            "corrections-0-kind": "correction",
            "corrections-0-text": "We misstated the figure.",
            "corrections-0-created_at_0": f"{timezone.localtime():%Y-%m-%d}",
            "corrections-0-created_at_1": f"{timezone.localtime():%H:%M:%S}",
            "loaded_version": article.version,
        },
    )
    response = committing(client, change_url(article), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(Notification.objects.values_list("recipient", "kind")) == [
        (reporter.pk, Kind.CORRECTED)
    ]
    Notification.objects.all().delete()
    withdraw = reverse("admin:articles_article_withdraw", args=[article.pk])
    response = committing(client, withdraw, {"reason": "Legal takedown.", "confirm": "1"})
    article.refresh_from_db()
    assert article.state == Article.State.WITHDRAWN, response.content.decode()[:2000]
    told = set(Notification.objects.filter(kind=Kind.WITHDRAWN).values_list("recipient", flat=True))
    assert told == {reporter.pk, other_editor.pk}  # the acting editor is not told


# --- the inbox -------------------------------------------------------------------------------


def test_unread_count_drops_after_open_and_mark_all_read(client, committing, people):
    reporter, editor = people
    first = submitted(client, committing, reporter)
    submitted(client, committing, reporter)
    assert "(2 unread)" in dashboard(client, editor, "inbox")
    notice = Notification.objects.get(recipient=editor, article=first)
    response = client.get(notice.get_absolute_url())
    assert response.status_code == 302 and response.url == change_url(first)
    assert "(1 unread)" in dashboard(client, editor, "inbox")
    assert client.get(reverse("admin:articles_notification_read_all")).status_code == 405
    response = client.post(reverse("admin:articles_notification_read_all"))
    assert response.status_code == 302
    inbox = dashboard(client, editor, "inbox")
    assert "unread" not in inbox and "Ready story" in inbox


def test_mark_all_read_needs_the_csrf_token(people):
    from django.test import Client

    _, editor = people
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    assert client.post(reverse("admin:articles_notification_read_all")).status_code == 403


def test_nobody_opens_or_marks_someone_elses_notifications(client, committing, people):
    reporter, editor = people
    submitted(client, committing, reporter)
    notice = Notification.objects.get(recipient=editor)
    login(client, reporter)
    assert client.get(notice.get_absolute_url()).status_code == 404
    client.post(reverse("admin:articles_notification_read_all"))
    notice.refresh_from_db()
    assert notice.read_at is None


def test_a_failing_mail_server_never_breaks_the_save(
    client, committing, people, monkeypatch, caplog
):
    reporter, _ = people

    def refuse(*args, **kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr(notifications, "send_mail", refuse)
    with caplog.at_level(logging.ERROR, logger="articles.notifications"):
        article = submitted(client, committing, reporter)
    assert article.state == Article.State.REVIEW
    assert Notification.objects.filter(kind=Kind.SUBMITTED).exists()
    assert "Could not email" in caplog.text


def test_dashboard_query_count_is_pinned(client, committing, people, django_assert_max_num_queries):
    reporter, editor = people
    for _ in range(3):
        sent_back(client, committing, reporter, editor)
    login(client, reporter)
    with django_assert_max_num_queries(13):  # 12, and "are there sections yet?"
        html = client.get(reverse("admin:index")).content.decode()
    assert html.count("Needs a second source.") >= 3
    html5lib.HTMLParser(strict=True).parse(html)
    form = client.get(change_url(Article.objects.first())).content.decode()
    html5lib.HTMLParser(strict=True).parse(form)
