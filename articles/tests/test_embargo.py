"""Embargoes: a story under embargo is on no public surface until its embargo ends, appears by
itself then, is labelled in the desk and in previews, and cannot be published earlier unless an
editor lifts the embargo (audited)."""

import datetime as dt
from itertools import product

import pytest
from django.urls import reverse
from django.utils import timezone

from articles import cache as page_cache
from articles import services
from articles.models import Article, AuditEntry

from .factories import make_article, make_author, make_category
from .test_surfaces import assert_everywhere, world  # noqa: F401 - `world` is a fixture
from .test_workflow import change_url, form_data, ready_draft

pytestmark = pytest.mark.django_db
State = Article.State


def split(when) -> dict:
    local = timezone.localtime(when)
    return {"_0": f"{local:%Y-%m-%d}", "_1": f"{local:%H:%M:%S}"}


def datetime_fields(name, when) -> dict:
    return {f"{name}{suffix}": value for suffix, value in split(when).items()}


def posted(article, *, action, **overrides) -> dict:
    """The change form as posted with the article's embargo time in it (as the desk shows it)."""
    fields = (
        datetime_fields("embargo_until", article.embargo_until) if article.embargo_until else {}
    )
    return form_data(article, action=action, **{**fields, **overrides})


def embargo(article, until) -> Article:
    Article.objects.filter(pk=article.pk).update(embargo_until=until)
    article.refresh_from_db()
    return article


@pytest.fixture
def clock(monkeypatch):
    """One clock for the database's conditions and the page cache's validity checks."""

    class Clock:
        def __init__(self):
            self.now = timezone.now()

        def advance(self, **kwargs):
            self.now += dt.timedelta(**kwargs)

    c = Clock()
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    monkeypatch.setattr(page_cache.time, "time", lambda: c.now.timestamp())
    return c


# --- readers -----------------------------------------------------------------------------------


def test_embargoed_story_is_on_no_public_surface_until_it_ends(reader, world, clock):  # noqa: F811
    """Front page, archive, section/author/topic pages, search, RSS/Atom and every sitemap leave
    it out and its page is 404; when the embargo ends it is everywhere, with no job run."""
    doomed = embargo(world["doomed"], clock.now + dt.timedelta(minutes=30))
    assert doomed.state == State.SCHEDULED
    assert not Article.objects.published().filter(pk=doomed.pk).exists()
    assert reader.get(doomed.get_absolute_url()).status_code == 404
    assert_everywhere(reader, world, present=False)
    clock.advance(minutes=31)
    assert doomed.state == State.PUBLISHED
    assert reader.get(doomed.get_absolute_url()).status_code == 200
    assert_everywhere(reader, world, present=True)


def test_a_past_embargo_holds_nothing(reader):
    article = make_article("Old embargo", embargo_until=timezone.now() - dt.timedelta(minutes=1))
    assert article.is_published and not article.is_embargoed
    assert reader.get(article.get_absolute_url()).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_cached_front_page_stops_being_served_when_the_embargo_ends(settings, clock):
    from django.test import Client

    settings.CACHE_SECONDS = 300
    make_article("Already out")
    make_article("Harbour deal embargoed", embargo_until=clock.now + dt.timedelta(minutes=3))
    assert "Harbour deal embargoed" not in Client().get("/").content.decode()
    assert Client().get("/")["X-Cache"] == "hit"
    clock.advance(minutes=2)
    assert Client().get("/")["X-Cache"] == "hit"
    clock.advance(seconds=90)  # past the embargo, well within CACHE_SECONDS
    response = Client().get("/")
    assert response["X-Cache"] == "miss"
    assert "Harbour deal embargoed" in response.content.decode()


def test_next_scheduled_change_is_the_end_of_an_embargo():
    now = timezone.now()
    make_article(embargo_until=now + dt.timedelta(minutes=7))
    make_article(published_at=now + dt.timedelta(hours=2))
    assert Article.objects.next_scheduled_change(now=now) == now + dt.timedelta(minutes=7)
    # An embargo that ends before the publication time changes nothing by itself.
    Article.objects.filter(embargo_until__isnull=False).update(
        published_at=now + dt.timedelta(hours=1)
    )
    assert Article.objects.next_scheduled_change(now=now) == now + dt.timedelta(hours=1)


def test_state_conditions_stay_exclusive_with_embargoes():
    """Whatever the times hold, exactly one state matches, in SQL and in Python alike."""
    now = timezone.now()
    past, future = now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)
    article = make_article()
    for status, published_at, unpublish_at, embargo_until in product(
        Article.Status.values, [None, past, future], [None, past, future], [None, past, future]
    ):
        Article.objects.filter(pk=article.pk).update(
            status=status,
            published_at=published_at,
            unpublish_at=unpublish_at,
            embargo_until=embargo_until,
        )
        article.refresh_from_db()
        in_sql = [s for s in State if Article.objects.in_state(s, now=now).filter(pk=article.pk)]
        assert in_sql == [article.state_at(now)], (status, published_at, unpublish_at)
        held = embargo_until == future
        assert not (held and article.state_at(now) == State.PUBLISHED)


# --- the desk ----------------------------------------------------------------------------------


def test_desk_list_labels_and_filters_embargoed_stories(client, editor):
    until = timezone.now() + dt.timedelta(hours=2)
    article = make_article("Embargoed budget leak", embargo_until=until)
    make_article("Ordinary live story")
    client.force_login(editor)
    changelist = reverse("admin:articles_article_changelist")
    html = client.get(changelist).content.decode()
    row = next(r for r in html.split("<tr") if "Embargoed budget leak" in r)
    local = timezone.localtime(until)
    assert f'state--scheduled">Embargoed until {local:%-d %b %Y %H:%M}' in row
    embargoed = client.get(changelist, {"state": "embargoed"}).content.decode()
    assert "Embargoed budget leak" in embargoed and "Ordinary live story" not in embargoed
    published = client.get(changelist, {"state": "published"}).content.decode()
    assert "Embargoed budget leak" not in published
    form = client.get(change_url(article)).content.decode()
    assert "EMBARGOED until" in form and "Lift embargo" in form


def test_preview_shows_the_embargo(client, editor):
    article = make_article(
        "Embargoed preview", embargo_until=timezone.now() + dt.timedelta(hours=1)
    )
    client.force_login(editor)
    html = client.get(reverse("articles:preview", args=[article.pk])).content.decode()
    assert "EMBARGOED until" in html and "not published" in html


def test_publishing_before_the_embargo_is_refused(client, editor, reporter):
    until = timezone.now() + dt.timedelta(hours=3)
    article = ready_draft(reporter, embargo_until=until)
    client.force_login(editor)
    response = client.post(change_url(article), posted(article, action="publish"))
    assert response.status_code == 200
    local = timezone.localtime(until)
    assert f"Embargoed until {local:%-d %b %Y %H:%M}: it cannot be published before then" in (
        response.content.decode()
    )
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT and article.embargo_until == until
    # Scheduling for before the embargo's end is publishing before it too.
    early = posted(
        article, action="schedule", **datetime_fields("published_at", until - dt.timedelta(hours=1))
    )
    assert (
        "cannot be published before then"
        in client.post(change_url(article), early).content.decode()
    )
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT
    # Scheduled for the embargo's end, it goes.
    data = posted(article, action="schedule", **datetime_fields("published_at", until))
    assert client.post(change_url(article), data).status_code == 302
    article.refresh_from_db()
    assert article.state == State.SCHEDULED


def test_bulk_publish_and_services_refuse_an_embargoed_story(client, editor, reporter):
    article = ready_draft(reporter, embargo_until=timezone.now() + dt.timedelta(hours=3))
    client.force_login(editor)
    response = client.post(
        reverse("admin:articles_article_changelist"),
        {"action": "publish_selected", "_selected_action": [article.pk]},
        follow=True,
    )
    assert "cannot be published before then" in response.content.decode()
    article.refresh_from_db()
    assert article.status == Article.Status.DRAFT


def test_embargo_cannot_be_put_on_a_live_story(client, editor):
    article = make_article(category=make_category(), authors=[make_author()])
    client.force_login(editor)
    data = form_data(
        article,
        action="save",
        loaded_version=article.version,
        **datetime_fields("published_at", article.published_at),
        **datetime_fields("embargo_until", timezone.now() + dt.timedelta(hours=1)),
    )
    response = client.post(change_url(article), data)
    assert response.status_code == 200
    assert "already published" in response.content.decode()
    article.refresh_from_db()
    assert article.embargo_until is None and article.is_published


def test_editor_lifts_the_embargo_and_it_is_audited(client, editor, reader):
    article = make_article("Lifted story", embargo_until=timezone.now() + dt.timedelta(hours=5))
    assert reader.get(article.get_absolute_url()).status_code == 404
    client.force_login(editor)
    response = client.post(change_url(article), {"_lift_embargo": "1"})
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.embargo_until is None and article.is_published
    assert reader.get(article.get_absolute_url()).status_code == 200
    entry = AuditEntry.objects.filter(article=article).latest("pk")
    assert entry.user == editor and entry.action == AuditEntry.Action.STATE
    assert entry.detail["embargo"] == "lifted"


def test_editor_clearing_the_field_is_a_lift_and_audited(client, editor, reporter):
    article = ready_draft(reporter, embargo_until=timezone.now() + dt.timedelta(hours=5))
    client.force_login(editor)
    data = form_data(article, action="save", loaded_version=article.version)
    assert client.post(change_url(article), data).status_code == 302
    article.refresh_from_db()
    assert article.embargo_until is None
    entry = AuditEntry.objects.filter(article=article).latest("pk")
    assert entry.user == editor and entry.detail["embargo"] == "lifted"


def test_reporter_cannot_lift_an_embargo(client, reporter):
    until = timezone.now() + dt.timedelta(hours=5)
    article = ready_draft(reporter, embargo_until=until)
    client.force_login(reporter)
    form = client.get(change_url(article)).content.decode()
    assert "EMBARGOED until" in form and "Lift embargo" not in form
    assert client.post(change_url(article), {"_lift_embargo": "1"}).status_code == 403
    # Nor by posting the field empty: it is read-only for her.
    data = form_data(article, action="save", embargo_until_0="", embargo_until_1="")
    assert client.post(change_url(article), data).status_code == 302
    article.refresh_from_db()
    assert article.embargo_until == until
    assert not AuditEntry.objects.filter(article=article, detail__embargo="lifted").exists()
    with pytest.raises(services.PermissionDenied):
        services.article_lift_embargo(article, user=reporter)
