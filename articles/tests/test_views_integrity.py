"""What readers see of the desk's integrity work: withdrawals, corrections, redirects, dates."""

import datetime as dt

import pytest
from django.utils import timezone

from articles import services
from articles.models import Article

from .factories import make_article, make_author, make_category, make_correction, make_tag

pytestmark = pytest.mark.django_db


def _published(**kwargs):
    when = (timezone.now() - dt.timedelta(days=1)).replace(microsecond=0)
    return make_article(published_at=when, **kwargs)


def test_withdrawn_article_answers_410_with_the_notice(client):
    article = _published(headline="Retracted story")
    article.slug = "retracted-story-renamed"
    article.save()
    services.article_withdraw(article, user=None, reason="The claims could not be verified.")
    for url in ("/articles/retracted-story-renamed/", "/articles/retracted-story/"):
        response = client.get(url)
        assert response.status_code == 410
        html = response.content.decode()
        assert "Retracted story" in html and "The claims could not be verified." in html
        assert timezone.localtime(article.withdrawn_at).strftime("%-d %B %Y") in html
        assert 'name="robots" content="noindex"' in html
        assert not response.cookies


def test_withdrawn_article_leaves_every_list(client):
    category, author, tag = make_category("World"), make_author("Ann"), make_tag("Oil")
    article = _published(
        headline="Vanishing story", category=category, authors=[author], tags=[tag], featured=True
    )
    make_correction(article)
    pages = ["/", "/articles/", category.get_absolute_url(), author.get_absolute_url()]
    pages += [tag.get_absolute_url(), "/corrections/", "/corrections/feed/"]
    for url in pages:
        assert "Vanishing story" in client.get(url).content.decode(), url
    services.article_withdraw(article, user=None, reason="Legal")
    for url in pages:
        assert "Vanishing story" not in client.get(url).content.decode(), url


def test_every_old_slug_redirects_to_the_current_one_after_several_renames(client):
    article = _published(headline="Alpha")
    for slug in ["beta", "gamma", "delta"]:
        article.slug = slug
        article.save()
    for old in ["alpha", "beta", "gamma"]:
        response = client.get(f"/articles/{old}/")
        assert response.status_code == 301 and response["Location"] == "/articles/delta/"
    article.slug = "alpha"  # back to an address it had before
    article.save()
    assert client.get("/articles/alpha/").status_code == 200
    for old in ["beta", "gamma", "delta"]:
        assert client.get(f"/articles/{old}/")["Location"] == "/articles/alpha/"


def test_corrections_show_at_the_foot_or_top_with_their_times(client):
    article = _published(body="The story body.")
    foot = make_correction(article, text="Foot note text.", kind="correction")
    top = make_correction(article, text="Top note text.", kind="editors_note", pinned_top=True)
    html = client.get(article.get_absolute_url()).content.decode()
    assert html.index("Top note text.") < html.index("The story body.") < html.index("Foot note")
    assert "Editor&#x27;s note" in html and f'id="{foot.anchor}"' in html
    assert (
        f'<time datetime="{timezone.localtime(top.created_at).replace(microsecond=0).isoformat()}'
        in html
    )


@pytest.mark.parametrize("n", [1, 6])
def test_article_page_query_count_does_not_grow_with_corrections(
    client, django_assert_num_queries, n
):
    article = _published(authors=[make_author()], tags=[make_tag()])
    for i in range(n):
        make_correction(article, text=f"Note {i}", pinned_top=i % 2 == 0)
    with django_assert_num_queries(5):
        assert client.get(article.get_absolute_url()).status_code == 200


def test_correction_shows_the_updated_line_with_its_time(client):
    article = _published()
    assert "Updated" not in client.get(article.get_absolute_url()).content.decode()
    correction = services.correction_add(article, user=None, kind="update", text="New figures.")
    html = client.get(article.get_absolute_url()).content.decode()
    stamp = timezone.localtime(correction.created_at).replace(microsecond=0).isoformat()
    assert f'Updated</strong> <time datetime="{stamp}">' in html


def test_corrections_page_lists_newest_first_only_for_published_articles(
    client, django_assert_num_queries
):
    old = make_correction(_published(headline="Older story"), text="Older fix.")
    new = make_correction(_published(headline="Newer story"), text="Newer fix.")
    make_correction(make_article("Draft story", status=Article.Status.DRAFT), text="Hidden fix.")
    new.created_at = old.created_at + dt.timedelta(minutes=5)
    new.save()
    with django_assert_num_queries(4):  # count (capped), the page's ids, its rows, the menu
        response = client.get("/corrections/")
    html = response.content.decode()
    assert html.index("Newer fix.") < html.index("Older fix.")
    assert "Hidden fix." not in html and "Draft story" not in html
    assert f'href="{new.get_absolute_url()}"' in html
    assert not response.cookies
    assert client.get("/corrections/?page=999").status_code == 404
    assert client.get("/corrections/?page=abc").status_code == 404


def test_corrections_page_has_its_own_metadata(client):
    html = client.get("/corrections/").content.decode()
    assert "<title>Corrections and updates — " in html
    assert '<link rel="canonical" href="' in html and '/corrections/">' in html
