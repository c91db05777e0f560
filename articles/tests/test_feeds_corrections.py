"""The corrections feed."""

import datetime as dt

import feedparser
import pytest
from django.utils import timezone

from articles.models import Article

from .factories import make_article, make_correction

pytestmark = pytest.mark.django_db


def test_corrections_feed_is_valid_rss_with_times(client):
    article = make_article("Fed story", published_at=timezone.now() - dt.timedelta(hours=1))
    correction = make_correction(article, text="Fixed a name.", kind="clarification")
    make_correction(make_article(status=Article.Status.DRAFT), text="Secret.")
    response = client.get("/corrections/feed/")
    assert response.status_code == 200 and "rss" in response["Content-Type"]
    feed = feedparser.parse(response.content)
    assert not feed.bozo
    [entry] = feed.entries
    assert entry.title == "Clarification: Fed story"
    assert entry.summary == "Fixed a name."
    assert entry.link.endswith(f"/articles/{article.slug}/#correction-{correction.pk}")
    published = dt.datetime(*entry.published_parsed[:6], tzinfo=dt.UTC)
    assert abs(published - correction.created_at) < dt.timedelta(seconds=1)
