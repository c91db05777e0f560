"""The desk's workflow: roles, state changes, checklist, previews, share links, bulk actions."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from articles.models import Article, ShareLink, StateChange
from articles.workflow import Action, allowed_actions, checklist, problems

from .factories import make_article, make_author, make_category, make_user
from .test_importers import BASIC

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def form_data(article=None, *, action, **overrides):
    """What the admin change form posts, built from an article (or a new one)."""
    author = overrides.pop("author", None)
    data = {
        "headline": article.headline if article else "New story",
        "slug": article.slug if article else "",
        "standfirst": article.standfirst if article else "A standfirst.",
        "body_format": "markdown",
        "body": article.body if article else "Body text.",
        "category": (article.category_id or "") if article else "",
        "dateline": "",
        "source": "",
        "lead_image_alt": "",
        "lead_image_caption": "",
        "lead_image_credit": "",
        "seo_title": "",
        "seo_description": "",
        "workflow_note": "",
        "_action": action,
        "bylines-TOTAL_FORMS": "0",
        "bylines-INITIAL_FORMS": "0",
    }
    bylines = list(article.bylines.all()) if article else []
    for i, byline in enumerate(bylines):
        data.update(
            {
                f"bylines-{i}-id": byline.pk,
                f"bylines-{i}-article": article.pk,
                f"bylines-{i}-author": byline.author_id,
                f"bylines-{i}-position": byline.position,
            }
        )
    data["bylines-TOTAL_FORMS"] = data["bylines-INITIAL_FORMS"] = str(len(bylines))
    if author is not None:
        i = len(bylines)
        data.update({f"bylines-{i}-author": author.pk, f"bylines-{i}-position": i})
        data["bylines-TOTAL_FORMS"] = str(i + 1)
    data.update(overrides)
    return data


def change_url(article):
    return reverse("admin:articles_article_change", args=[article.pk])


def ready_draft(owner, **kwargs):
    """A draft that passes every pre-publish check."""
    article = make_article(
        "Ready story",
        status=Article.Status.DRAFT,
        authors=[make_author()],
        category=make_category(),
        created_by=owner,
        **kwargs,
    )
    return article


# --- roles -----------------------------------------------------------------------------------


def test_groups_exist_with_the_right_powers(reporter, editor):
    assert not reporter.has_perm("articles.publish_article")
    assert not reporter.has_perm("articles.delete_article")
    assert not reporter.has_perm("articles.edit_any_article")
    assert reporter.has_perm("articles.add_article")
    assert editor.has_perm("articles.publish_article") and editor.has_perm(
        "articles.delete_article"
    )


def test_reporter_writes_a_draft_and_submits_it(client, reporter):
    login(client, reporter)
    response = client.post(reverse("admin:articles_article_add"), form_data(action=Action.SAVE))
    assert response.status_code == 302
    article = Article.objects.get()
    assert article.status == Article.Status.DRAFT and article.created_by == reporter
    assert article.byline_authors[0].user == reporter  # the reporter's own byline by default
    response = client.post(change_url(article), form_data(article, action=Action.SUBMIT))
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.status == Article.Status.REVIEW
    change = StateChange.objects.filter(article=article).first()
    assert (change.user, change.from_state, change.to_state) == (reporter, "draft", "review")


def assert_refused_with_text_kept(response, reason):
    """A refused save answers with the form again: the reason shown, the posted text kept."""
    assert response.status_code == 200
    html = response.content.decode()
    assert "not saved" in html.lower() and reason in html
    form = response.context["adminform"].form
    assert form["headline"].value() == form.data["headline"]


@pytest.mark.parametrize(
    "action", [Action.PUBLISH, Action.SCHEDULE, Action.UNPUBLISH, Action.SEND_BACK]
)
def test_reporter_forging_a_publish_post_is_refused(client, reporter, action):
    article = ready_draft(reporter)
    login(client, reporter)
    future = timezone.localtime() + dt.timedelta(days=1)
    data = form_data(
        article,
        action=action,
        status="published",
        published_at_0=f"{future:%Y-%m-%d}",
        published_at_1=f"{future:%H:%M:%S}",
    )
    response = client.post(change_url(article), data)
    assert_refused_with_text_kept(response, "You may not")
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT
    assert not StateChange.objects.exists()


def test_reporter_cannot_slip_status_through_the_form(client, reporter):
    article = ready_draft(reporter)
    login(client, reporter)
    client.post(
        change_url(article),
        form_data(article, action=Action.SAVE, status="published", featured="on"),
    )
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT and not article.featured


def test_reporter_cannot_edit_others_or_submitted_articles(client, reporter, editor):
    others = ready_draft(editor)
    login(client, reporter)
    assert client.get(change_url(others)).status_code == 302  # not in the reporter's list at all
    response = client.post(
        change_url(others), form_data(others, action=Action.SAVE, headline="Mine now")
    )
    assert response.status_code in (302, 403)
    others.refresh_from_db()
    assert others.headline == "Ready story"
    own = ready_draft(reporter)
    Article.objects.filter(pk=own.pk).update(status=Article.Status.REVIEW)
    response = client.post(change_url(own), form_data(own, action=Action.SAVE, headline="Changed"))
    assert_refused_with_text_kept(response, "It is now in review")
    own.refresh_from_db()
    assert own.headline == "Ready story"


def test_reporter_cannot_delete(client, reporter):
    article = ready_draft(reporter)
    login(client, reporter)
    response = client.post(
        reverse("admin:articles_article_delete", args=[article.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Article.objects.filter(pk=article.pk).exists()


def test_reporter_cannot_run_bulk_publish(client, reporter):
    article = ready_draft(reporter)
    login(client, reporter)
    response = client.post(
        reverse("admin:articles_article_changelist"),
        {"action": "publish_selected", "_selected_action": [article.pk]},
    )
    assert response.status_code in (200, 302)
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT


def test_buttons_shown_only_to_who_may_use_them(client, reporter, editor):
    article = ready_draft(reporter)
    assert allowed_actions(reporter, article) == [Action.SAVE, Action.SUBMIT]
    assert Action.PUBLISH in allowed_actions(editor, article)
    html = login(client, reporter).get(change_url(article)).content.decode()
    assert 'value="submit"' in html and 'value="publish"' not in html
    client.logout()
    Article.objects.filter(pk=article.pk).update(status=Article.Status.REVIEW)
    html = login(client, editor).get(change_url(article)).content.decode()
    for value in ["publish", "schedule", "send_back"]:
        assert f'value="{value}"' in html


# --- editor actions ----------------------------------------------------------------------------


def test_editor_publishes_now(client, editor, reporter):
    article = ready_draft(reporter)
    login(client, editor)
    response = client.post(change_url(article), form_data(article, action=Action.PUBLISH))
    assert response.status_code == 302, response.content.decode()[:3000]
    article.refresh_from_db()
    assert article.is_published and article.first_published_at is not None
    assert client.get(article.get_absolute_url()).status_code == 200
    assert StateChange.objects.filter(article=article, to_state="published", user=editor).exists()


def test_editor_schedules_and_it_appears_by_itself(client, editor, reporter):
    article = ready_draft(reporter)
    login(client, editor)
    when = timezone.localtime() + dt.timedelta(hours=3)
    data = form_data(
        article,
        action=Action.SCHEDULE,
        published_at_0=f"{when:%Y-%m-%d}",
        published_at_1=f"{when:%H:%M:%S}",
    )
    assert client.post(change_url(article), data).status_code == 302
    article.refresh_from_db()
    assert article.state == "scheduled"
    client.logout()
    assert client.get(article.get_absolute_url()).status_code == 404
    later = timezone.now() + dt.timedelta(hours=4)
    assert not Article.objects.published().filter(pk=article.pk).exists()
    assert Article.objects.published(now=later).filter(pk=article.pk).exists()


def test_schedule_needs_a_future_time(client, editor, reporter):
    article = ready_draft(reporter)
    login(client, editor)
    past = timezone.localtime() - dt.timedelta(hours=3)
    data = form_data(
        article,
        action=Action.SCHEDULE,
        published_at_0=f"{past:%Y-%m-%d}",
        published_at_1=f"{past:%H:%M:%S}",
    )
    response = client.post(change_url(article), data)
    assert response.status_code == 200
    assert "set a publication time in the future" in response.content.decode()
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT


def test_unpublish_at_takes_it_down_by_itself(editor):
    article = make_article(unpublish_at=timezone.now() + dt.timedelta(hours=1))
    assert Article.objects.published().filter(pk=article.pk).exists()
    assert (
        not Article.objects.published(now=timezone.now() + dt.timedelta(hours=2))
        .filter(pk=article.pk)
        .exists()
    )
    Article.objects.filter(pk=article.pk).update(
        unpublish_at=timezone.now() - dt.timedelta(seconds=1)
    )
    article.refresh_from_db()
    assert article.state == Article.State.EXPIRED


def test_editor_unpublishes(client, editor):
    article = make_article(authors=[make_author()], category=make_category())
    login(client, editor)
    assert (
        client.post(change_url(article), form_data(article, action=Action.UNPUBLISH)).status_code
        == 302
    )
    article.refresh_from_db()
    assert article.state == Article.State.DRAFT and not article.is_published


def test_send_back_needs_a_note_and_records_it(client, editor, reporter):
    article = ready_draft(reporter)
    Article.objects.filter(pk=article.pk).update(status=Article.Status.REVIEW)
    login(client, editor)
    response = client.post(change_url(article), form_data(article, action=Action.SEND_BACK))
    assert (
        response.status_code == 200
        and "Say what the reporter should change." in response.content.decode()
    )
    response = client.post(
        change_url(article),
        form_data(article, action=Action.SEND_BACK, workflow_note="Needs a second source."),
    )
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT
    change = StateChange.objects.get(article=article)
    assert (change.from_state, change.to_state, change.note) == (
        "review",
        "draft",
        "Needs a second source.",
    )
    html = client.get(change_url(article)).content.decode()
    assert "Needs a second source." in html  # the history is listed on the article


# --- checklist ---------------------------------------------------------------------------------


def test_checklist_names_every_failure(client, editor):
    article = make_article(
        "Headline TK",
        status=Article.Status.DRAFT,
        standfirst="",
        body="Lorem ipsum dolor sit amet.",
        created_by=editor,
    )
    login(client, editor)
    response = client.post(change_url(article), form_data(article, action=Action.PUBLISH))
    html = response.content.decode()
    assert response.status_code == 200
    for message in [
        "Add a standfirst",
        "Add at least one author",
        "Choose a category",
        "Remove the placeholder text",
    ]:
        assert message in html, message
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"headline": ""}, "Add a headline."),
        ({"standfirst": ""}, "Add a standfirst"),
        ({"author_count": 0}, "Add at least one author"),
        ({"has_category": False}, "Choose a category."),
        ({"has_lead_image": True, "lead_image_alt": " "}, "alt text"),
        ({"standfirst": "y" * 301}, "Shorten the standfirst"),
        ({"seo_description": "y" * 161}, "Shorten the SEO description"),
        ({"headline": "Minister resigns TK"}, "placeholder"),
        ({"body": "Figures: XXX"}, "placeholder"),
        ({"standfirst": "Lorem Ipsum text"}, "placeholder"),
    ],
)
def test_each_check(overrides, message):
    base = {
        "headline": "Minister resigns",
        "standfirst": "After a long week.",
        "body": "Talk to a stakeholder.",  # 'tk' inside words is fine
        "author_count": 1,
        "has_category": True,
        "has_lead_image": False,
        "lead_image_alt": "",
        "seo_description": "",
    }
    assert problems(checklist(**base)) == []
    failed = problems(checklist(**{**base, **overrides}))
    assert len(failed) == 1 and message in failed[0]


def test_checklist_state_is_shown_before_publishing(client, editor):
    article = make_article("Headline TK", status=Article.Status.DRAFT, created_by=editor)
    html = login(client, editor).get(change_url(article)).content.decode()
    assert 'id="checklist"' in html
    assert 'class="fail">Byline' in html and 'class="ok">Headline<' in html


def test_lead_image_without_alt_text_blocks_publishing(client, editor, reporter):
    from .factories import image_upload

    article = ready_draft(reporter)
    login(client, editor)
    data = form_data(article, action=Action.PUBLISH, lead_image=image_upload())
    response = client.post(change_url(article), data)
    assert response.status_code == 200
    assert "Describe the lead image in its alt text." in response.content.decode()
    data = form_data(
        article, action=Action.PUBLISH, lead_image=image_upload(), lead_image_alt="A protest"
    )
    assert client.post(change_url(article), data).status_code == 302
    article.refresh_from_db()
    assert article.is_published and article.lead_image


# --- change list -------------------------------------------------------------------------------


def test_change_list_states_filters_and_mine(client, editor, reporter):
    make_article("Live one")
    make_article("Later one", published_at=timezone.now() + dt.timedelta(days=1))
    make_article("Draft one", status=Article.Status.DRAFT, created_by=editor)
    make_article("Review one", status=Article.Status.REVIEW)
    login(client, editor)
    url = reverse("admin:articles_article_changelist")
    html = client.get(url).content.decode()
    assert "Scheduled for" in html and "In review" in html
    cases = {
        "published": "Live one",
        "scheduled": "Later one",
        "draft": "Draft one",
        "review": "Review one",
    }
    for state, headline in cases.items():
        html = client.get(url, {"state": state}).content.decode()
        assert headline in html
        assert all(other not in html for other in cases.values() if other != headline), state
    html = client.get(url, {"mine": "1"}).content.decode()
    assert "Draft one" in html and "Live one" not in html


def test_bulk_actions_for_editors(client, editor, reporter):
    good = ready_draft(reporter)
    bad = make_article("Incomplete", status=Article.Status.DRAFT, standfirst="")
    live = make_article("Live")
    login(client, editor)
    url = reverse("admin:articles_article_changelist")
    response = client.post(
        url, {"action": "publish_selected", "_selected_action": [good.pk, bad.pk]}, follow=True
    )
    html = response.content.decode()
    assert "Published 1 article(s)." in html and "Incomplete" in html and "Add a standfirst" in html
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.is_published and bad.status == Article.Status.DRAFT
    client.post(url, {"action": "feature_selected", "_selected_action": [live.pk]})
    live.refresh_from_db()
    assert live.featured
    version = live.version
    client.post(url, {"action": "unfeature_selected", "_selected_action": [live.pk]})
    client.post(url, {"action": "unpublish_selected", "_selected_action": [live.pk]})
    live.refresh_from_db()
    assert not live.featured and not live.is_published and live.version > version


# --- previews and share links ---------------------------------------------------------------


def test_preview_for_staff_who_may_edit_404_for_everyone_else(client, reporter, editor):
    article = ready_draft(reporter)
    url = reverse("articles:preview", args=[article.pk])
    assert client.get(url).status_code == 404  # anonymous
    login(client, make_user("other-reporter", groups=[Group.objects.get(name="Reporters")]))
    assert client.get(url).status_code == 404
    for user in (reporter, editor):
        login(client, user)
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200
        assert "Preview — not published" in html
        assert '<meta name="robots" content="noindex, nofollow">' in html
        assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
        assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_share_links_valid_expired_revoked_and_logged(client, editor, reporter):
    article = ready_draft(reporter)
    login(client, editor)
    admin_url = reverse("admin:articles_article_share", args=[article.pk])
    assert client.post(admin_url, {"note": "lawyer", "hours": "2"}).status_code == 302
    link = ShareLink.objects.get()
    url = link.get_absolute_url()
    client.logout()
    response = client.get(url)
    assert response.status_code == 200 and "Ready story" in response.content.decode()
    assert link.opens.count() == 1
    # tampered token
    assert client.get(url[:-3] + "abc/").status_code == 404
    # expired
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(url).status_code == 404
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() + dt.timedelta(hours=1))
    assert client.get(url).status_code == 200
    # revoked from the article
    login(client, editor)
    html = client.get(admin_url).content.decode()
    assert "lawyer" in html and "2×" in html
    client.post(admin_url, {"revoke": link.pk})
    client.logout()
    assert client.get(url).status_code == 404


def test_share_link_form_rejects_bad_input(client, editor, reporter):
    article = ready_draft(reporter)
    login(client, editor)
    response = client.post(
        reverse("admin:articles_article_share", args=[article.pk]), {"hours": "-5"}
    )
    assert response.status_code == 400 and not ShareLink.objects.exists()


def test_reporter_cannot_manage_share_links_of_others(client, reporter, editor):
    article = ready_draft(editor)
    login(client, reporter)
    response = client.post(
        reverse("admin:articles_article_share", args=[article.pk]), {"hours": "5"}
    )
    # Another reporter's draft is not in her desk at all.
    assert response.status_code == 404 and not ShareLink.objects.exists()


# --- wire copy in the admin ----------------------------------------------------------------


def test_wire_upload_page_imports_and_reports_errors(client, editor):
    login(client, editor)
    url = reverse("admin:articles_article_import")
    good = SimpleUploadedFile("good.txt", BASIC.encode())
    bad = SimpleUploadedFile("bad.txt", b"Headline\n\nnot a date\n")
    response = client.post(url, {"files": [good, bad], "status": "draft"})
    html = response.content.decode()
    assert "1 created, 0 updated, 0 unchanged, 1 failed" in html
    assert "bad.txt:3: expected the date line" in html
    assert Article.objects.get().status == Article.Status.DRAFT
    again = SimpleUploadedFile("good.txt", BASIC.encode())
    html = client.post(url, {"files": [again], "status": "draft"}).content.decode()
    assert "0 created, 0 updated, 1 unchanged, 0 failed" in html


def test_wire_upload_published_is_for_editors_only(client, reporter):
    login(client, reporter)
    url = reverse("admin:articles_article_import")
    response = client.post(
        url, {"files": [SimpleUploadedFile("a.txt", BASIC.encode())], "status": "published"}
    )
    assert "Only editors may import straight to published" in response.content.decode()
    assert not Article.objects.exists()
    response = client.post(url, {"status": "draft"})
    assert "Choose at least one wire-copy file." in response.content.decode()


# --- dashboard ---------------------------------------------------------------------------------


def test_dashboard_shows_what_needs_attention(client, editor):
    make_article("Waiting story", status=Article.Status.REVIEW)
    make_article("Coming story", published_at=timezone.now() + dt.timedelta(hours=2))
    make_article("My draft story", status=Article.Status.DRAFT, created_by=editor)
    make_article("Fresh story")
    html = login(client, editor).get(reverse("admin:index")).content.decode()
    for key, headline in [
        ("review", "Waiting story"),
        ("scheduled", "Coming story"),
        ("drafts", "My draft story"),
        ("recent", "Fresh story"),
    ]:
        section = html.split(f'id="dash-{key}"')[1].split("</section>")[0]
        assert headline in section, key


def test_reporter_cannot_read_others_drafts_through_desk_side_doors(client, reporter, editor):
    """Revisions, comparisons, share links and previews of another's draft stay closed."""
    secret = ready_draft(editor)
    secret.headline = "Secret merger talks"
    secret.save()
    from articles import services

    services.revision_create(secret, user=editor)
    services.revision_create(secret, user=editor)
    login(client, reporter)
    urls = [
        reverse("admin:articles_article_revisions", args=[secret.pk]),
        reverse("admin:articles_article_revision_compare", args=[secret.pk]) + "?a=1&b=2",
        reverse("admin:articles_article_share", args=[secret.pk]),
        reverse("articles:preview", args=[secret.pk]),
        reverse("admin:articles_article_change", args=[secret.pk]),
    ]
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code in (403, 404) or response.redirect_chain, url
        assert "Secret merger talks" not in response.content.decode(), url


def test_a_live_story_is_not_published_again(client, editor):
    """Pressing "Publish now" on a live story would re-date it: the button is not offered, and a
    forged press is refused."""
    article = make_article(authors=[make_author()], category=make_category())
    first = article.published_at
    assert Action.PUBLISH not in allowed_actions(editor, article)
    login(client, editor)
    response = client.post(change_url(article), form_data(article, action=Action.PUBLISH))
    assert_refused_with_text_kept(response, "You may not “Publish now”")
    article.refresh_from_db()
    assert article.published_at == first


# --- ownership: one definition, asked by every desk surface ---------------------------------

# What a reporter may do with a colleague's story, by its state: she reads what is in review or
# published (view-only form, no workflow buttons), never edits; drafts and stories scheduled for
# later stay private.
COLLEAGUE = {
    #                          view   edit
    Article.State.DRAFT: (False, False),
    Article.State.REVIEW: (True, False),
    Article.State.SCHEDULED: (False, False),
    Article.State.PUBLISHED: (True, False),
}
# The draft a colleague may not see: "other reporter" below.
OWNERSHIP = {
    #                view   edit   preview share  submit delete
    "creator": (True, True, True, True, True, False),
    "co-bylined": (True, True, True, True, True, False),
    "other reporter": (False, False, False, False, False, False),
    "editor": (True, True, True, True, True, True),
    "plain staff": (False, False, False, False, False, False),
}
DESK_ACTIONS = ["view", "edit", "preview", "share", "submit", "delete"]


def _people():
    from .factories import make_editor, make_reporter

    creator = make_reporter("creator")
    colleague = make_reporter("colleague")
    draft = ready_draft(creator)
    draft.bylines.create(author=colleague.author_profile, position=1)
    return draft, {
        "creator": creator,
        "co-bylined": colleague,
        "other reporter": make_reporter("other"),
        "editor": make_editor("chief"),
        "plain staff": make_user("staffer"),
    }


@pytest.mark.parametrize("who", list(OWNERSHIP))
@pytest.mark.parametrize("what", DESK_ACTIONS)
def test_who_may_do_what_to_a_draft(client, who, what):
    draft, people = _people()
    expected = OWNERSHIP[who][DESK_ACTIONS.index(what)]
    login(client, people[who])
    if what == "view":
        response = client.get(change_url(draft))
        done = response.status_code == 200 and "Ready story" in response.content.decode()
    elif what == "edit":
        client.post(change_url(draft), form_data(draft, action=Action.SAVE, headline="Edited"))
        done = Article.objects.get(pk=draft.pk).headline == "Edited"
    elif what == "preview":
        done = client.get(reverse("articles:preview", args=[draft.pk])).status_code == 200
    elif what == "share":
        client.post(reverse("admin:articles_article_share", args=[draft.pk]), {"hours": "5"})
        done = ShareLink.objects.filter(article=draft).exists()
    elif what == "submit":
        client.post(change_url(draft), form_data(draft, action=Action.SUBMIT))
        done = Article.objects.get(pk=draft.pk).state == Article.State.REVIEW
    else:
        client.post(reverse("admin:articles_article_delete", args=[draft.pk]), {"post": "yes"})
        done = Article.objects.get(pk=draft.pk).state == Article.State.TRASHED
    assert done == expected
    changelist = client.get(reverse("admin:articles_article_changelist")).content.decode()
    # The change list asks the same rule (a trashed draft leaves it).
    assert (change_url(draft) in changelist) == (
        OWNERSHIP[who][0] and not (what == "delete" and done)
    )


@pytest.mark.parametrize("state", list(COLLEAGUE))
def test_what_a_reporter_may_do_with_a_colleagues_story(client, state):
    from .factories import make_reporter

    story = ready_draft(make_reporter("author"))
    status = Article.Status.REVIEW if state == Article.State.REVIEW else story.status
    when = {Article.State.SCHEDULED: timezone.now() + dt.timedelta(hours=2),
            Article.State.PUBLISHED: timezone.now() - dt.timedelta(hours=2)}.get(state)  # fmt: skip
    if when is not None:
        status = Article.Status.PUBLISHED
    Article.objects.filter(pk=story.pk).update(status=status, published_at=when)
    story.refresh_from_db()
    assert story.state == state
    view, edit = COLLEAGUE[state]
    login(client, make_reporter("colleague"))
    response = client.get(change_url(story))
    html = response.content.decode()
    assert (response.status_code == 200 and "Ready story" in html) == view
    if view:
        assert 'name="_action"' not in html and 'name="headline"' not in html  # read-only
    changelist = client.get(reverse("admin:articles_article_changelist")).content.decode()
    assert (change_url(story) in changelist) == view
    client.post(change_url(story), form_data(story, action=Action.SAVE, headline="Edited"))
    assert (Article.objects.get(pk=story.pk).headline == "Edited") == edit
    client.post(reverse("admin:articles_article_share", args=[story.pk]), {"hours": "5"})
    assert not ShareLink.objects.filter(article=story).exists()


def test_the_queryset_and_the_object_agree_on_ownership():
    draft, people = _people()
    for who, user in people.items():
        owned = Article.objects.owned_by(user).filter(pk=draft.pk).exists()
        assert owned == draft.is_owned_by(user) == (who in ("creator", "co-bylined")), who


# --- the import obeys the same rules as the change form ----------------------------------


def _upload(client, text, name="story.txt", status="draft"):
    files = [SimpleUploadedFile(name, text.encode())]
    url = reverse("admin:articles_article_import")
    return client.post(url, {"files": files, "status": status}).content.decode()


def test_a_reporters_import_cannot_rewrite_a_story_she_may_not_edit(client, reporter):
    from articles.importers import import_wire_copy, parse_wire_copy

    live, _ = import_wire_copy(parse_wire_copy(BASIC))  # a live story from the wire
    login(client, reporter)
    html = _upload(client, BASIC.replace("Second paragraph.", "Rewritten by a reporter."))
    assert "0 created, 0 updated, 0 unchanged, 1 failed" in html
    assert "which is published; you may not change it" in html
    stored = Article.objects.get(pk=live.pk)
    assert "Rewritten" not in stored.body and stored.version == live.version


def test_a_reporters_import_updates_her_own_draft(client, reporter):
    login(client, reporter)
    _upload(client, BASIC)
    draft = Article.objects.get()
    assert draft.created_by == reporter and draft.state == Article.State.DRAFT
    html = _upload(client, BASIC.replace("Second paragraph.", "A better ending."))
    assert "0 created, 1 updated" in html
    assert Article.objects.get(pk=draft.pk).body.endswith("A better ending.")


@pytest.mark.parametrize("how", ["withdraw", "trash"])
def test_no_import_rewrites_a_withdrawn_or_trashed_story(tmp_path, editor, how):
    from django.core.management import call_command

    from articles import services
    from articles.importers import import_wire_copy, parse_wire_copy

    article, _ = import_wire_copy(parse_wire_copy(BASIC))
    if how == "withdraw":
        services.article_withdraw(article, user=editor, reason="Retracted.")
    else:
        services.article_trash(article, user=editor)
    path = tmp_path / "again.txt"
    path.write_text(BASIC.replace("Second paragraph.", "Quietly back."))
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as refused:
        call_command("import_articles", str(path))
    assert refused.value.returncode == 1
    assert "Quietly back" not in Article.objects.get(pk=article.pk).body


def test_view_on_site_shortcut_does_not_reveal_a_drafts_address(client):
    from django.contrib.contenttypes.models import ContentType

    draft = make_article("Secret merger talks", status=Article.Status.DRAFT)
    live = make_article("Open story")
    kind = ContentType.objects.get_for_model(Article).pk
    login(client, make_user("staffer"))  # staff, no permissions
    response = client.get(f"/admin/r/{kind}/{draft.pk}/")
    assert response.status_code == 404 and "secret" not in response.get("Location", "")
    assert client.get(f"/admin/r/{kind}/{live.pk}/").status_code == 302
    assert client.get(f"/admin/r/{kind}/abc/").status_code == 404


def test_publish_now_is_one_state_entry_in_the_audit_trail(client, editor):
    from articles.models import AuditEntry

    draft = ready_draft(editor)
    login(client, editor)
    response = client.post(change_url(draft), form_data(draft, action=Action.PUBLISH))
    assert response.status_code == 302
    entries = AuditEntry.objects.filter(article=draft).exclude(action="login")
    assert [(e.action, e.detail["from"], e.detail["to"]) for e in entries] == [
        ("state", "draft", "published")
    ]
    assert StateChange.objects.filter(article=draft).count() == 1
    assert draft.revisions.filter(article_version=entries[0].detail["version"]).exists()


def test_publish_now_on_a_new_article_counts_the_default_byline(client):
    """The checklist sees the byline the save will add: the editor's own author profile."""
    from .factories import make_editor

    editor = make_editor("writing-editor")
    profile = make_author("Edie Editor", user=editor)
    login(client, editor)
    data = form_data(action=Action.PUBLISH, category=make_category().pk)
    response = client.post(reverse("admin:articles_article_add"), data)
    assert response.status_code == 302
    article = Article.objects.get()
    assert article.state == Article.State.PUBLISHED and article.byline_authors == [profile]
    first = article.revisions.order_by("number").first()
    assert [a["name"] for a in first.data["byline"]] == ["Edie Editor"]
