"""The desk's everyday use, through the admin views: honest import messages, links shown only to
those who may follow them, the desk's words, the change list and the edit form."""

import pytest
from django.contrib.messages import constants
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from articles.models import Article

pytestmark = pytest.mark.django_db
WIRE = (
    "Harbour reopens\n\nJanuary 04, 2020 - 20:39\nPosted in: World\nWritten By: Ann Lee\n\nText.\n"
)


def test_wire_import_dry_run_says_nothing_was_saved(client, editor):
    """A dry run reports what would happen, as information, and saves nothing."""
    client.force_login(editor)
    upload = SimpleUploadedFile("a.txt", WIRE.encode())
    response = client.post(
        reverse("admin:articles_article_import"),
        {"files": [upload], "status": "draft", "dry_run": "on"},
    )
    html = response.content.decode()
    assert not Article.objects.exists()
    expected = "Dry run — nothing was saved: 1 would be created, 0 would be updated"
    assert expected in html and "1 created" not in html
    [message] = response.context["messages"]
    assert message.level == constants.INFO and expected in message.message


def _changelist(client, user):
    client.force_login(user)
    response = client.get(reverse("admin:articles_article_changelist"))
    assert response.status_code == 200
    return response.content.decode()


def test_trash_and_audit_links_only_for_those_who_may_open_them(client, reporter, editor):
    """A reporter is not offered the trash or the audit trail (both answer her 403)."""
    trash, audit = reverse("admin:articles_article_trash"), "/admin/articles/auditentry/"
    html = _changelist(client, reporter)
    assert f'href="{trash}"' not in html and f'href="{audit}"' not in html
    assert client.get(trash).status_code == 403 and client.get(audit).status_code == 403
    html = _changelist(client, editor)
    assert f'href="{trash}"' in html and f'href="{audit}"' in html
    assert client.get(trash).status_code == 200 and client.get(audit).status_code == 200


def test_revisions_page_links_the_audit_trail_only_for_those_who_may_open_it(
    client, reporter, editor
):
    from articles import services

    article = Article(headline="Draft story", body="Text.")
    services.article_save(article, user=reporter, action="save")
    url = reverse("admin:articles_article_revisions", args=[article.pk])
    client.force_login(reporter)
    assert "Audit trail of this article" not in client.get(url).content.decode()
    client.force_login(editor)
    assert "Audit trail of this article" in client.get(url).content.decode()


@pytest.mark.parametrize(
    "status, offered",
    [(Article.Status.DRAFT, False), (Article.Status.REVIEW, False), ("published", True)],
)
def test_view_on_site_only_when_readers_can_see_the_article(client, editor, status, offered):
    from .factories import make_article

    article = make_article("A story", status=status)
    client.force_login(editor)
    response = client.get(reverse("admin:articles_article_change", args=[article.pk]))
    assert ("View on site" in response.content.decode()) is offered


def test_read_only_article_shows_the_note_written_not_none(client, reporter):
    """After submitting with a note, the reporter's read-only form shows that note."""
    from articles import services

    from .factories import change_form_data, make_category

    article = Article(headline="Story", standfirst="S", body="B", category=make_category("W"))
    services.article_save(article, user=reporter, action="save")
    client.force_login(reporter)
    url = reverse("admin:articles_article_change", args=[article.pk])
    data = change_form_data(article, _action="submit", workflow_note="Please check the names")
    assert client.post(url, data).status_code == 302
    html = client.get(url).content.decode()
    assert '<div class="readonly">None</div>' not in html
    assert "Latest note for the desk" in html
    assert '<div class="readonly">Please check the names</div>' in html


def test_admin_titles_name_the_site_once(client, editor):
    client.force_login(editor)
    html = client.get(reverse("admin:index")).content.decode()
    assert "Newsdesk desk" not in html
    assert '<div id="site-name"><a href="/admin/">Newsdesk</a></div>' in html
    assert "<title>Desk | Newsdesk</title>" in html


def test_presence_notice_says_just_now_under_a_minute(client, editor):
    """Someone who opened the article seconds ago "opened this article just now"."""
    import datetime as dt

    from django.utils import timezone

    from articles.models import EditSession

    from .factories import make_article, make_editor

    article = make_article("Open story")
    ann = make_editor("ann")
    EditSession.objects.create(article=article, user=ann, opened_at=timezone.now())
    client.force_login(editor)
    url = reverse("admin:articles_article_change", args=[article.pk])
    html = client.get(url).content.decode()
    assert "ann opened this article just now" in html and "0 minutes" not in html
    EditSession.objects.filter(user=ann).update(opened_at=timezone.now() - dt.timedelta(minutes=3))
    assert "ann opened this article 3\xa0minutes ago" in client.get(url).content.decode()


# --- the change list ---------------------------------------------------------------------------


def _thirty_articles():
    from .factories import image_upload, make_article, make_author, make_category

    world, authors = make_category("World"), [make_author(f"Writer {i}") for i in range(4)]
    articles = []
    for i in range(30):
        status = ["draft", "review", "published"][i % 3]
        articles.append(
            make_article(
                f"Story {i} " + "with a rather long headline " * 3,
                status=status,
                category=world,
                authors=authors[: 1 + i % 4],
                body="One two three four five. " * (i + 1),
            )
        )
    articles[0].lead_image = image_upload()
    articles[0].save()
    return articles


def test_change_list_columns_and_query_count(client, editor, django_assert_max_num_queries):
    """30 articles: thumbnail, word count and one date format, newest activity first, in a fixed
    number of queries."""
    import datetime as dt

    from django.utils import timezone

    articles = _thirty_articles()
    Article.objects.filter(pk=articles[5].pk).update(updated_at=timezone.now() + dt.timedelta(1))
    client.force_login(editor)
    url = reverse("admin:articles_article_changelist")
    client.get(url)
    with django_assert_max_num_queries(12):
        response = client.get(url)
    html = response.content.decode()
    shown = list(response.context["cl"].result_list)
    assert shown[0].pk == articles[5].pk and len(shown) == 30
    assert '<td class="field-words">25</td>' in html  # "One two three four five." five times
    when = timezone.localtime(articles[2].published_at)
    assert f"{when.day} {when:%b %Y %H:%M}" in html
    assert html.count('<td class="field-thumbnail"><img ') == 1
    for column in ("Image", "Words", "Published", "Updated"):
        assert f">{column}</a>" in html or f">{column}</span>" in html, column


def test_needs_attention_lists_drafts_and_review_newest_first(client, editor):
    """The dashboard links to the change list's "needs attention" view (the state filter)."""
    _thirty_articles()
    client.force_login(editor)
    dashboard = client.get(reverse("admin:index")).content.decode()
    url = reverse("admin:articles_article_changelist") + "?state=attention"
    assert f'href="{url}"' in dashboard
    response = client.get(url)
    shown = list(response.context["cl"].result_list)
    expected = list(
        Article.objects.filter(status__in=["draft", "review"])
        .order_by("-updated_at", "-pk")
        .values_list("pk", flat=True)
    )
    assert len(expected) == 20 and {a.status for a in shown} == {"draft", "review"}
    assert [a.pk for a in shown] == expected
    assert "?state=published" in response.content.decode()  # the other states stay reachable


def test_word_count_is_kept_on_save_and_counts_words():
    from .factories import make_article

    article = make_article("Words", body="Don't stop — a well-known *phrase*.\n\nTwo")
    assert article.word_count == 6  # Don't, stop, a, well-known, phrase, Two
    article.body = "Just three words"
    article.save(update_fields=["body"])
    assert Article.objects.get(pk=article.pk).word_count == 3


# --- the edit form -----------------------------------------------------------------------------


def test_edit_form_counts_headline_and_body_and_shows_history_and_image_at_the_top(client, editor):
    """The server renders the counts (desk.js only keeps them live); the state history is a
    collapsed panel above the fields with its latest change; the lead image is shown."""
    from articles import services

    from .factories import change_form_data, image_upload, make_category

    article = Article(
        headline="H" * 62, standfirst="S", body="word " * 460, category=make_category("W")
    )
    article.lead_image = image_upload()
    services.article_save(article, user=editor, action="save")
    client.force_login(editor)
    url = reverse("admin:articles_article_change", args=[article.pk])
    client.post(url, change_form_data(article, _action="submit", workflow_note="Ready to go"))
    html = client.get(url).content.decode()
    assert '<span class="desk-count-n">62</span> / 70 — search engines cut titles near 60' in html
    assert '<span class="desk-count-n">460</span> words · about' in html
    assert '<span class="desk-count-min">2</span> min read' in html
    assert "articles/desk.js" in html
    history = html.index('<details class="desk-panel desk-history" id="state-history">')
    assert history < html.index('id="id_headline"')
    assert "latest: Draft → In review" in html and "“Ready to go”" in html
    thumb = html.index('class="desk-lead-thumb"')
    assert html.index("<img ", thumb) < html.index('id="id_lead_image"') + 2000


# --- setting up from zero ----------------------------------------------------------------------


def test_fresh_install_says_create_a_section_first(client, editor, reporter):
    """With no sections, the dashboard and the new-article form say so, with a link for those
    who may add one; once a section exists the notice is gone."""
    from .factories import make_category

    add_section = reverse("admin:articles_category_add")
    client.force_login(editor)
    for url in (reverse("admin:index"), reverse("admin:articles_article_add")):
        html = client.get(url).content.decode()
        assert "Create a section first." in html and f'href="{add_section}"' in html, url
    client.force_login(reporter)
    html = client.get(reverse("admin:articles_article_add")).content.decode()
    assert "Create a section first." in html and "Ask an editor to add one." in html
    make_category("World")
    assert "Create a section first." not in client.get(reverse("admin:index")).content.decode()


def test_user_form_creates_the_author_profile(admin_client):
    """Adding a staff account can give it its byline in the same form."""
    from django.contrib.auth import get_user_model

    from articles.models import Author

    user = get_user_model().objects.create_user("maria", password="pw-Newsdesk-1", is_staff=True)
    url = reverse("admin:auth_user_change", args=[user.pk])
    html = admin_client.get(url).content.decode()
    assert "Author profile" in html and 'name="author_profile-0-name"' in html
    form = admin_client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        {
            "username": "maria",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "author_profile-TOTAL_FORMS": "1",
            "author_profile-INITIAL_FORMS": "0",
            "author_profile-0-name": "Maria Lopez",
            "author_profile-0-bio": "Covers the harbour.",
        }
    )
    data.pop("last_login", None)
    data["groups"], data["user_permissions"] = [], []
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Author.objects.get(user=user).name == "Maria Lopez"


def test_audit_trail_reads_as_sentences(client, editor):
    from articles import services

    from .factories import change_form_data, make_author, make_category

    editor.first_name, editor.last_name = "Maria", "Lopez"
    editor.save()
    article = Article(headline="Harbour reopens", standfirst="S", body="B")
    article.category = make_category("World")
    services.article_save(article, user=editor, action="save", authors=[make_author("Ann")])
    client.force_login(editor)
    change = reverse("admin:articles_article_change", args=[article.pk])
    client.post(change, change_form_data(article, _action="submit", workflow_note="Names checked"))
    html = client.get("/admin/articles/auditentry/").content.decode()
    assert "Maria Lopez created “Harbour reopens” — " in html
    assert "Maria Lopez submitted “Harbour reopens” for review: “Names checked” — " in html
    assert "&quot;version&quot;" not in html and '"version"' not in html


@pytest.mark.parametrize("count, wording", [(1, "Delete this article"), (3, "Delete 3 articles")])
def test_trash_names_how_many_will_be_deleted(client, editor, count, wording):
    from articles import services

    from .factories import make_article

    for i in range(count):
        services.article_trash(make_article(f"Old story {i}"), user=None)
    editor.is_superuser = True  # emptying the trash is an administrator's step
    editor.save()
    client.force_login(editor)
    html = client.get(reverse("admin:articles_article_trash")).content.decode()
    assert f">{wording}</button>" in html
    assert "article(s)" not in html and "these 1 article" not in html


def test_a_chosen_lead_image_is_kept_across_a_form_error(
    client, editor, settings, django_capture_on_commit_callbacks
):
    """The form comes back with an error: the chosen image waits under pending/, the form says
    "Kept: …", and the next submit without a new file saves it. A forged token keeps nothing."""
    import os
    import re

    from articles import services

    from .factories import change_form_data, image_upload

    article = Article(headline="Harbour reopens", standfirst="S", body="B")
    services.article_save(article, user=editor, action="save")
    client.force_login(editor)
    url = reverse("admin:articles_article_change", args=[article.pk])
    data = change_form_data(article, headline="", lead_image=image_upload("harbour.jpg"))
    response = client.post(url, data)
    html = response.content.decode()
    assert response.status_code == 200 and "This field is required." in html
    assert "Kept: harbour.jpg (choose another to replace)" in html
    token = re.search(r'name="pending_lead_image" value="([^"]+)"', html).group(1)
    article.refresh_from_db()
    assert not article.lead_image

    forged = change_form_data(article, pending_lead_image="pending/x/harbour.jpg")
    assert client.post(url, forged).status_code == 302
    article.refresh_from_db()
    assert not article.lead_image

    data = change_form_data(article, pending_lead_image=token, lead_image_alt="Boats")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, data).status_code == 302
    article.refresh_from_db()
    assert article.lead_image and article.lead_image.name.endswith(".jpg")
    assert not article.lead_image.name.startswith("pending/")
    assert article.lead_image_width == 64
    waiting = [
        f for _, _, files in os.walk(os.path.join(settings.MEDIA_ROOT, "pending")) for f in files
    ]
    assert waiting == []  # the waiting copy is gone once the article has the image


def test_dashboard_lists_scheduled_stories_soonest_first(client, editor):
    """Read as index ranges (`scheduled_soonest`); the next scheduled change the page cache
    waits for is the soonest publication or expiry."""
    import datetime as dt

    from django.utils import timezone

    from .factories import make_article

    now = timezone.now()
    later = make_article("Later story", published_at=now + dt.timedelta(days=2))
    soon = make_article("Soon story", published_at=now + dt.timedelta(hours=1))
    make_article("Already out", published_at=now - dt.timedelta(hours=1))
    expiring = make_article("Expiring story", published_at=now - dt.timedelta(days=1))
    expiring.unpublish_at = now + dt.timedelta(minutes=30)
    expiring.save()
    client.force_login(editor)
    dashboard = client.get(reverse("admin:index")).content.decode()
    panel = dashboard[dashboard.index("Scheduled next") :]
    assert panel.index("Soon story") < panel.index("Later story")
    assert "Already out" not in panel[: panel.index("Later story")]
    assert list(Article.objects.scheduled_soonest()) == [soon, later]
    assert Article.objects.next_scheduled_change(now=now) == expiring.unpublish_at
    expiring.delete()
    assert Article.objects.next_scheduled_change(now=now) == soon.published_at
