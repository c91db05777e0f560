"""The archive's filters: each parameter narrows the list; malformed values never give a 500."""

import datetime as dt

import pytest
from django.utils import timezone

from articles.models import Article

from .factories import make_article, make_author, make_category, make_tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    world, sport = make_category("World"), make_category("Sport")
    ann, bo = make_author("Ann Lee"), make_author("Bo Chen")
    climate, energy, tennis = make_tag("Climate"), make_tag("Energy"), make_tag("Tennis")
    day = dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)
    make_article("Solar farm opens", category=world, authors=[ann], tags=[climate, energy],
                 published_at=day, featured=True)  # fmt: skip
    make_article("Wind tariffs cut", category=world, authors=[bo], tags=[energy],
                 published_at=day - dt.timedelta(days=5))  # fmt: skip
    make_article("Open final tonight", category=sport, authors=[ann, bo], tags=[tennis],
                 published_at=day - dt.timedelta(days=30))  # fmt: skip
    make_article("Draft about energy", category=world, authors=[ann], tags=[energy],
                 status=Article.Status.DRAFT)  # fmt: skip
    make_article("Scheduled energy story", category=world, authors=[ann], tags=[energy],
                 published_at=timezone.now() + dt.timedelta(days=1))  # fmt: skip
    return locals()


def listed(client, query):
    response = client.get("/articles/?" + query)
    assert response.status_code == 200, (query, response.status_code)
    return sorted(a.headline for a in response.context["articles"]), response


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["Open final tonight", "Solar farm opens", "Wind tariffs cut"]),
        ("category=world", ["Solar farm opens", "Wind tariffs cut"]),
        ("author=ann-lee", ["Open final tonight", "Solar farm opens"]),
        ("author=bo-chen&category=sport", ["Open final tonight"]),
        ("tag=energy", ["Solar farm opens", "Wind tariffs cut"]),
        ("tag=climate&tag=tennis", ["Open final tonight", "Solar farm opens"]),
        ("tag=climate&tag=energy", ["Solar farm opens", "Wind tariffs cut"]),
        ("published_after=2024-03-05", ["Solar farm opens", "Wind tariffs cut"]),
        ("published_before=2024-03-05", ["Open final tonight", "Wind tariffs cut"]),
        ("published_after=2024-03-06&published_before=2024-03-10", ["Solar farm opens"]),
        ("featured=true", ["Solar farm opens"]),
        ("featured=false", ["Open final tonight", "Wind tariffs cut"]),
        ("q=solar", ["Solar farm opens"]),
        ("q=energy", []),
        ("q=open+-final", ["Solar farm opens"]),
        ("q=tariffs&category=sport", []),
        ("page=1&category=world", ["Solar farm opens", "Wind tariffs cut"]),
    ],
)
def test_filters_narrow_the_archive_to_published_articles(client, desk, query, expected):
    headlines, response = listed(client, query)
    assert headlines == expected
    html = response.content.decode()
    assert f"{len(expected)} article" in html
    assert "Draft about energy" not in html and "Scheduled energy story" not in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("published_after=notadate", "Enter a valid date"),
        ("published_before=2024-02-30", "Enter a valid date"),
        ("published_after=0001-01-01", "Enter a date between"),
        ("published_after=99999-01-01", "Enter a valid date"),
        ("published_after=2024-03-10&published_before=2024-03-01", "is before"),
        ("category=no-such-section", "Select a valid choice"),
        ("author=nobody", "Select a valid choice"),
        ("tag=energy&tag=nope", "Select a valid choice"),
        ("featured=maybe", None),
        ("q=" + "x" * 1001, "at most 1000 characters"),
        ("q=-only", "Enter at least one word"),
        ("category=" + "a" * 10000, "Select a valid choice"),
        ("category=%00", None),
        ("tag=%27%3B--", "Select a valid choice"),
    ],
)
def test_malformed_filters_are_a_clear_400(client, desk, query, message):
    response = client.get("/articles/?" + query)
    html = response.content.decode()
    assert response.status_code in (200, 400), query
    if response.status_code == 400:
        assert 'role="alert"' in html
        assert not response.context["articles"]
    if message:
        assert response.status_code == 400
        assert message in html.replace("&#x27;", "'"), query


@pytest.mark.parametrize("page", ["abc", "999999", "0", "-3", "%00", "1e3"])
def test_malformed_pages_are_404_with_a_message(client, desk, page):
    response = client.get(f"/articles/?category=world&page={page}")
    assert response.status_code == 404
    assert "pages run from 1 to 1" in response.content.decode()


def test_filter_form_active_filters_and_pagination_keep_the_filters(client, desk, settings):
    settings.ARTICLES_PER_PAGE = 1
    response = client.get("/articles/?category=world&tag=energy&tag=climate")
    html = response.content.decode()
    assert '<form class="filters"' in html and 'name="published_after"' in html
    assert "2 articles" in html
    assert 'href="?category=world&amp;tag=energy&amp;tag=climate&amp;page=2"' in html
    assert "Section: World" in html and "Topics: Climate" in html and "Topics: Energy" in html
    for label in ["Text", "Section", "Author", "Topics", "Published from", "Published to"]:
        assert f">{label}</label>" in html, label
    assert "Author: Ann Lee" in client.get("/articles/?author=ann-lee").content.decode()
    # Removing one topic keeps the others and the section.
    assert 'href="?category=world&amp;tag=energy"' in html
    assert 'href="?tag=energy&amp;tag=climate"' in html
    page2 = client.get("/articles/?category=world&tag=energy&tag=climate&page=2")
    assert [a.headline for a in page2.context["articles"]] == ["Wind tariffs cut"]


def test_filtered_archive_query_count_is_fixed(client, desk, django_assert_num_queries):
    for _ in range(10):
        make_article(category=desk["world"], authors=[desk["ann"]], tags=[desk["energy"]])
    # filter choices validated (3) + count + page + bylines + menu + choices rendered (3)
    with django_assert_num_queries(11):
        response = client.get("/articles/?category=world&author=ann-lee&tag=energy&q=headline")
    assert response.status_code == 200


def test_date_range_uses_whole_days_in_the_site_time_zone(client, settings):
    settings.TIME_ZONE = "Africa/Tripoli"  # UTC+2
    make_article(
        "Late UTC, next day locally", published_at=dt.datetime(2024, 3, 4, 23, 30, tzinfo=dt.UTC)
    )
    make_article(
        "Early on the 6th locally", published_at=dt.datetime(2024, 3, 5, 22, 30, tzinfo=dt.UTC)
    )
    assert listed(client, "published_after=2024-03-05&published_before=2024-03-05")[0] == [
        "Late UTC, next day locally"
    ]
    assert listed(client, "published_after=2024-03-06")[0] == ["Early on the 6th locally"]


def test_quick_select_writes_the_same_html_as_djangos_select():
    from django import forms

    from articles.filters import QuickSelect

    choices = [("", "Any author"), ("ann-lee", "Ann <Lee> & co"), ("bo", "Bo")]
    attrs = {"id": "id_author", "aria-describedby": "id_author-error", "required": True}
    for value in ["", "ann-lee", "nope"]:
        ours = QuickSelect(choices=choices).render("author", value, attrs=attrs)
        django = forms.Select(choices=choices).render("author", value, attrs=attrs)
        assert ours == django, value
    assert "Ann &lt;Lee&gt; &amp; co" in ours


def test_quick_inputs_and_multiple_select_write_the_same_html_as_djangos():
    from django import forms

    from articles.filters import QuickDateInput, QuickSelectMultiple, QuickTextInput

    attrs = {"id": "id_q", "aria-describedby": "id_q-error", "maxlength": "200"}
    for value in [None, "", 'rain " <b>&amp;', "x" * 5]:
        for ours, django in [
            (QuickTextInput(attrs={"type": "search"}), forms.TextInput(attrs={"type": "search"})),
            (QuickDateInput(attrs={"type": "date"}), forms.DateInput(attrs={"type": "date"})),
        ]:
            assert ours.render("q", value, attrs=attrs) == django.render("q", value, attrs=attrs)
    day = dt.date(2024, 3, 5)
    assert QuickDateInput().render("d", day) == forms.DateInput().render("d", day)
    choices = [("red", "Red <hot>"), ("blue", "Blue & co"), ("green", "Green")]
    for value in [[], ["red"], ["red", "green", "nope"]]:
        ours = QuickSelectMultiple(choices=choices).render("tag", value, attrs={"id": "id_tag"})
        django = forms.SelectMultiple(choices=choices).render("tag", value, attrs={"id": "id_tag"})
        assert ours == django, value


def test_the_archive_form_renders_as_django_would(client):
    """The whole filter form, bound to hostile and valid values, with the Quick widgets and with
    Django's own widget templates: the same HTML."""
    from django import forms

    from articles.filters import ArticleFilter, QuickInput, QuickSelect

    make_article("Anything", tags=[make_tag("Red")])
    data = {"q": '"<script>', "tag": ["red", "nope"], "featured": "true", "published_after": "x"}
    quick = ArticleFilter(data)
    quick.is_valid()
    slow = ArticleFilter(data)
    slow.is_valid()
    for field in slow.form.fields.values():
        widget = field.widget
        if isinstance(widget, QuickSelect | QuickInput):
            plain = next(k for k in type(widget).__mro__ if k.__module__ == forms.widgets.__name__)
            widget.__class__ = plain
    assert str(quick.form) != "" and [str(f) for f in quick.form] == [str(f) for f in slow.form]


def test_each_filterset_filters_by_its_own_values_and_keeps_its_own_form(desk):
    """Filters are copied per filter set, not shared: a method filter asks its own filter set
    (the text filter reads that set's parsed query), and a refused field's widget changes stay
    on that request's form."""
    from articles.filters import ArticleFilter

    published = Article.objects.published()
    solar = ArticleFilter({"q": "solar"}, queryset=published)
    wind = ArticleFilter({"q": "wind", "author": "bo-chen"}, queryset=published)
    bad = ArticleFilter({"published_after": "2024-13-45"}, queryset=published)
    assert not bad.is_valid()
    assert [a.headline for a in wind.qs] == ["Wind tariffs cut"]
    assert [a.headline for a in solar.qs] == ["Solar farm opens"]
    assert bad.form["published_after"].field.widget.input_type == "text"
    assert "aria-describedby" in str(bad.form["published_after"])
    fresh = ArticleFilter({"published_after": "2024-03-01"}, queryset=published)
    assert fresh.is_valid()
    assert fresh.form["published_after"].field.widget.input_type == "date"
    assert "aria-describedby" not in str(fresh.form["published_after"])
    assert fresh.filters["q"].parent is fresh and solar.filters["q"].parent is solar
    assert ArticleFilter.base_filters["q"].field_name == "q"  # the class's own are untouched
    assert not hasattr(ArticleFilter.base_filters["q"], "parent")
