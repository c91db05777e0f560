"""Every reader- and machine-facing surface tells the same story: withdrawn and trashed articles
vanish everywhere, and only substantive updates re-date a story wherever a date is shown."""

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import feedparser
import pytest
from django.urls import reverse
from django.utils import timezone

from articles import services
from articles.models import Article

from .factories import (
    make_article,
    make_author,
    make_category,
    make_correction,
    make_editor,
    make_tag,
    make_user,
)

pytestmark = pytest.mark.django_db(transaction=False)

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def sitemap_locs(client):
    """Every URL listed by the sitemap index, the section sitemaps and the news sitemap."""
    locs = []
    index = ET.fromstring(client.get("/sitemap.xml").content)
    for sitemap in index.iter(f"{SM}loc"):
        parts = urlsplit(sitemap.text)
        page = client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
        locs += [loc.text for loc in ET.fromstring(page.content).iter(f"{SM}loc")]
    news = ET.fromstring(client.get("/news-sitemap.xml").content)
    locs += [loc.text for loc in news.iter(f"{SM}loc")]
    return locs


def feed_links(client, url):
    parsed = feedparser.parse(client.get(url).content)
    assert not parsed.bozo, (url, parsed.get("bozo_exception"))
    return [entry.link for entry in parsed.entries]


@pytest.fixture
def world():
    category = make_category("World")
    author = make_author("Ann Lee")
    tag = make_tag("Harbours")
    common = {"category": category, "authors": [author], "tags": [tag]}
    kept = make_article("Quayside market thrives", ago=dt.timedelta(hours=2), **common)
    doomed = make_article("Zanzibar ferry contract scandal", ago=dt.timedelta(hours=1), **common)
    return {"category": category, "author": author, "tag": tag, "kept": kept, "doomed": doomed}


def surfaces(world):
    c, a, t = world["category"], world["author"], world["tag"]
    return {
        "pages": [
            "/",
            "/articles/",
            c.get_absolute_url(),
            a.get_absolute_url(),
            t.get_absolute_url(),
        ],
        "search": ["/search/?q=zanzibar", "/articles/?q=zanzibar"],
        "feeds": [
            "/feeds/rss/",
            "/feeds/atom/",
            f"/categories/{c.slug}/feed/",
            f"/authors/{a.slug}/feed/",
        ],
    }


def assert_everywhere(client, world, *, present):
    doomed = world["doomed"]
    path = doomed.get_absolute_url()
    found = {}
    for url in surfaces(world)["pages"] + surfaces(world)["search"]:
        response = client.get(url)
        assert response.status_code == 200, url
        found[url] = f'href="{path}"' in response.content.decode()
    for url in surfaces(world)["feeds"]:
        found[url] = any(link.endswith(path) for link in feed_links(client, url))
    found["sitemaps"] = any(loc.endswith(path) for loc in sitemap_locs(client))
    assert found == dict.fromkeys(found, present)


@pytest.mark.parametrize("how", ["withdraw", "trash"])
def test_withdrawn_and_trashed_articles_vanish_from_every_surface(client, world, how):
    assert_everywhere(client, world, present=True)
    editor = make_user(superuser=True)
    doomed = world["doomed"]
    if how == "withdraw":
        services.article_withdraw(doomed, user=editor, reason="Legal takedown.")
        response = client.get(doomed.get_absolute_url())
        assert response.status_code == 410
        assert "Legal takedown." in response.content.decode()
    else:
        services.article_trash(doomed, user=editor)
        assert client.get(doomed.get_absolute_url()).status_code == 404
    assert_everywhere(client, world, present=False)
    assert "Quayside market thrives" in client.get("/").content.decode()


def dates_shown(client, article):
    """Where each surface says the story last changed."""
    html = client.get(article.get_absolute_url()).content.decode()
    ld = [
        json.loads(block)
        for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    ]
    news = next(d for d in ld if d.get("@type") == "NewsArticle")
    entry = next(
        e
        for e in feedparser.parse(client.get("/feeds/atom/").content).entries
        if e.link.endswith(article.get_absolute_url())
    )
    lastmod = None
    index = ET.fromstring(client.get("/sitemap.xml").content)
    for sitemap in index.iter(f"{SM}loc"):
        parts = urlsplit(sitemap.text)
        page = ET.fromstring(
            client.get(parts.path + (f"?{parts.query}" if parts.query else "")).content
        )
        for url in page.iter(f"{SM}url"):
            if url.find(f"{SM}loc").text.endswith(article.get_absolute_url()):
                lastmod = url.find(f"{SM}lastmod").text
    return {
        "updated_line": "Updated</strong>" in html,
        "jsonld": dt.datetime.fromisoformat(news["dateModified"]),
        "feed": dt.datetime(*entry.updated_parsed[:6], tzinfo=dt.UTC),
        "sitemap": dt.datetime.fromisoformat(lastmod),
    }


def same_minute(a, b):
    return abs((a - b).total_seconds()) < 60


def test_only_substantive_changes_redate_the_story_everywhere(client, world):
    article = world["kept"]
    published = article.published_at
    shown = dates_shown(client, article)
    assert not shown["updated_line"]
    assert all(same_minute(shown[k], published) for k in ("jsonld", "feed", "sitemap"))

    # A silent fix (typo) changes nothing readers or machines are told.
    article.body = article.body + " Typo fixed."
    article.save()
    shown = dates_shown(client, article)
    assert not shown["updated_line"]
    assert all(same_minute(shown[k], published) for k in ("jsonld", "feed", "sitemap"))

    # A correction is substantive: every surface moves to its time.
    services.correction_add(
        article,
        user=make_user(superuser=True),
        kind="correction",
        text="The market opens at 6am, not 7am.",
    )
    article.refresh_from_db()
    now = timezone.now()
    assert same_minute(article.modified_at, now) and not same_minute(article.modified_at, published)
    shown = dates_shown(client, article)
    assert shown["updated_line"]
    assert all(same_minute(shown[k], now) for k in ("jsonld", "feed", "sitemap"))
    assert "The market opens at 6am" in client.get("/corrections/").content.decode()


# --- every state × every surface, from one table ------------------------------------------

State = Article.State
HEADLINE = "Zanzibar ferry contract scandal"

# state: (readers see it in lists/feeds/sitemaps/search, its page answers, the desk's label,
#         the dashboard block that lists it)
STATE_TABLE = {
    State.DRAFT: (False, 404, "Draft", "drafts"),
    State.REVIEW: (False, 404, "In review", "review"),
    State.SCHEDULED: (False, 404, "Scheduled for", "scheduled"),
    State.PUBLISHED: (True, 200, "Published", "recent"),
    State.EXPIRED: (False, 404, "Expired", None),
    State.WITHDRAWN: (False, 410, "Withdrawn", None),
    State.TRASHED: (False, 404, None, None),
}


def article_in(state, world, editor):
    now = timezone.now()
    fields = {
        State.DRAFT: {"status": Article.Status.DRAFT},
        State.REVIEW: {"status": Article.Status.REVIEW},
        State.SCHEDULED: {"published_at": now + dt.timedelta(days=1)},
        State.EXPIRED: {"unpublish_at": now - dt.timedelta(minutes=1)},
    }.get(state, {})
    article = world["doomed"]
    Article.objects.filter(pk=article.pk).update(created_by=editor, **fields)
    article.refresh_from_db()
    make_correction(article, text="Ferry figures corrected.")
    if state == State.WITHDRAWN:
        services.article_withdraw(article, user=editor, reason="Legal takedown.")
    elif state == State.TRASHED:
        services.article_trash(article, user=editor)
    article.refresh_from_db()
    return article


@pytest.mark.parametrize("state", list(State))
def test_every_state_on_every_surface(reader, client, world, state):
    public, status, label, block = STATE_TABLE[state]
    editor = make_editor("desk-editor")
    article = article_in(state, world, editor)
    assert article.state == state
    assert Article.objects.in_state(state).filter(pk=article.pk).exists()  # the queryset agrees
    assert Article.objects.published().filter(pk=article.pk).exists() == public

    # Readers and machines.
    assert reader.get(article.get_absolute_url()).status_code == status
    assert_everywhere(reader, world, present=public)
    assert ("Ferry figures corrected." in reader.get("/corrections/").content.decode()) == public
    assert (HEADLINE in reader.get("/corrections/feed/").content.decode()) == public

    # The desk: label, filter and dashboard.
    client.force_login(editor)
    changelist = reverse("admin:articles_article_changelist")
    html = client.get(changelist).content.decode()
    if label is None:
        assert HEADLINE not in html
    else:
        row = next(r for r in html.split("<tr") if HEADLINE in r)
        assert f'state--{state.value}">{label}' in row
    for value in State.values:
        listed = HEADLINE in client.get(changelist, {"state": value}).content.decode()
        assert listed == (value == state and label is not None), value
    dashboard = client.get(reverse("admin:index")).content.decode()
    for key in ("review", "scheduled", "drafts", "recent"):
        section = dashboard.split(f'id="dash-{key}"')[1].split("</section>")[0]
        assert (HEADLINE in section) == (key == block), key


def test_state_conditions_are_exclusive_and_cover_every_combination():
    """Whatever the fields hold, exactly one state matches, in SQL and in Python alike."""
    from itertools import product

    now = timezone.now()
    past, future = now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)
    article = make_article()
    for status, published_at, unpublish_at, withdrawn_at, deleted_at in product(
        Article.Status.values, [None, past, future], [None, past, future], [None, past],
        [None, past],
    ):  # fmt: skip
        Article.objects.filter(pk=article.pk).update(
            status=status,
            published_at=published_at,
            unpublish_at=unpublish_at,
            withdrawn_at=withdrawn_at,
            deleted_at=deleted_at,
        )
        article.refresh_from_db()
        in_sql = [s for s in State if Article.objects.in_state(s, now=now).filter(pk=article.pk)]
        assert in_sql == [article.state_at(now)], (status, published_at, unpublish_at)
