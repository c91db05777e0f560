"""The wire-copy parser and importer."""

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from articles.importers import (
    WireCopyError,
    decode_wire_bytes,
    import_paths,
    import_wire_copy,
    parse_wire_copy,
)
from articles.models import Article, Author, Category, Tag

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SEED = FIXTURES / "000_79fef3b2f653cd44.txt"

BASIC = """Ministers agree budget

January 04, 2020 - 20:39
Posted in: World, Libya, Security
Written By: Jane Doe

First paragraph.

Second paragraph.
"""


def test_seed_parses_to_the_expected_article():
    """The seed file yields its headline, UTC time, author and seven paragraphs."""
    parsed = parse_wire_copy(decode_wire_bytes(SEED.read_bytes()))
    assert parsed.headline == "US experts, Libyan officials hold security meetings"
    assert parsed.published_at == dt.datetime(2020, 1, 4, 20, 39, tzinfo=dt.UTC)
    assert parsed.categories == []
    assert parsed.authors == ["AbdulkaderAssad"]
    assert len(parsed.paragraphs) == 7
    assert parsed.paragraphs[0].startswith("The US embassy in Libya said Friday")
    assert parsed.paragraphs[-1].endswith("military rule in Libya.")


def test_basic_fields():
    parsed = parse_wire_copy(BASIC)
    assert parsed.category == "World"
    assert parsed.tags == ["Libya", "Security"]
    assert parsed.authors == ["Jane Doe"]
    assert parsed.paragraphs == ["First paragraph.", "Second paragraph."]


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: t.replace("\n", "\r"), id="old-mac-cr"),
        pytest.param(lambda t: "\ufeff" + t, id="bom"),
        pytest.param(lambda t: t.replace("\n", "   \n"), id="trailing-spaces"),
        pytest.param(lambda t: t.replace("\n", " \t\n"), id="trailing-tabs"),
        pytest.param(
            lambda t: "\n\n\n" + t.replace("\n\n", "\n\n\n\n") + "\n\n\n", id="extra-blank-lines"
        ),
        pytest.param(lambda t: t.replace("\n\n", "\n\u00a0\n"), id="nbsp-blank-lines"),
        pytest.param(
            lambda t: t.replace(
                "Ministers agree budget\n", "Ministers agree budget\n\nMinisters agree budget\n", 1
            ),
            id="repeated-headline",
        ),
    ],
)
def test_format_variants_parse_the_same(transform):
    """Line endings, BOM, stray whitespace and a repeated headline do not change the result."""
    assert parse_wire_copy(transform(BASIC)) == parse_wire_copy(BASIC)


def test_bom_in_bytes_is_dropped():
    assert decode_wire_bytes(b"\xef\xbb\xbf" + BASIC.encode()).startswith("Ministers")


def test_empty_posted_in_and_written_by():
    text = BASIC.replace("Posted in: World, Libya, Security", "Posted in:").replace(
        "Written By: Jane Doe", "Written By:"
    )
    parsed = parse_wire_copy(text)
    assert parsed.categories == [] and parsed.authors == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Written By: Ann Lee and Bo Chen", ["Ann Lee", "Bo Chen"]),
        ("Written By: Ann Lee, Bo Chen and Cy Dot", ["Ann Lee", "Bo Chen", "Cy Dot"]),
        ("Written By: Ann Lee, Bo Chen, and Cy Dot", ["Ann Lee", "Bo Chen", "Cy Dot"]),
        ("Written By: Ann Lee,Bo Chen", ["Ann Lee", "Bo Chen"]),
        ("Written By: Ann Lee, ann lee", ["Ann Lee"]),
        ("written by:   Ann\u00a0Lee  ", ["Ann Lee"]),
        ("Written By: Alexandra Sanders", ["Alexandra Sanders"]),
    ],
)
def test_several_authors_in_order(line, expected):
    assert parse_wire_copy(BASIC.replace("Written By: Jane Doe", line)).authors == expected


def test_several_categories_first_is_category_rest_are_tags():
    parsed = parse_wire_copy(BASIC.replace("World, Libya, Security", "Politics ,  Europe,Trade, "))
    assert parsed.category == "Politics"
    assert parsed.tags == ["Europe", "Trade"]


def test_markup_looking_characters_are_kept_literally():
    body = "*not bold* _not em_ # not a heading <b>not html</b> & 1. not a list"
    parsed = parse_wire_copy(BASIC.replace("First paragraph.", body))
    assert parsed.paragraphs[0] == body


def test_single_line_breaks_stay_inside_a_paragraph():
    parsed = parse_wire_copy(BASIC.replace("First paragraph.", "Line one\nline two"))
    assert parsed.paragraphs[0] == "Line one\nline two"


def test_naive_time_is_in_the_site_time_zone(settings):
    settings.TIME_ZONE = "Africa/Tripoli"
    parsed = parse_wire_copy(BASIC)
    assert parsed.published_at == dt.datetime(
        2020, 1, 4, 20, 39, tzinfo=zoneinfo.ZoneInfo("Africa/Tripoli")
    )
    assert parsed.published_at.astimezone(dt.UTC).hour == 18


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "empty"),
        ("   \n\n \u00a0 \n", 1, "empty"),
        ("Headline only\n", 2, "expected the date line"),
        ("Headline\n\nNot a date\nPosted in:\nWritten By:\n\nBody", 3, "expected the date line"),
        (
            "Headline\n\nFebruary 30, 2020 - 10:00\nPosted in:\nWritten By:\n\nBody",
            3,
            "impossible date",
        ),
        (
            "Headline\n\nJanuary 04, 2020 - 25:00\nPosted in:\nWritten By:\n\nBody",
            3,
            "impossible date",
        ),
        (
            "Headline\n\nJanuary 04, 2020 - 10:61\nPosted in:\nWritten By:\n\nBody",
            3,
            "impossible date",
        ),
        (
            "Headline\n\nSmarch 04, 2020 - 10:00\nPosted in:\nWritten By:\n\nBody",
            3,
            "unknown month",
        ),
        ("Headline\n\nJanuary 04, 2020 - 10:00\nWritten By: X\n\nBody", 4, "Posted in"),
        ("Headline\n\nJanuary 04, 2020 - 10:00\nPosted in: A\n\nBody", 5, "Written By"),
        ("Headline\n\nJanuary 04, 2020 - 10:00\nPosted in: A", 4, "Posted in: A" and "Written By"),
        ("Headline\n\nJanuary 04, 2020 - 10:00\nPosted in: A\nWritten By: B\n\n\n", 8, "no body"),
        (
            "H" * 300 + "\n\nJanuary 04, 2020 - 10:00\nPosted in:\nWritten By:\n\nBody",
            1,
            "longer than",
        ),
    ],
)
def test_errors_name_the_line(text, line, fragment):
    with pytest.raises(WireCopyError) as info:
        parse_wire_copy(text)
    assert info.value.line == line
    assert fragment in info.value.message


def test_undecodable_bytes_name_their_line():
    data = BASIC.encode().replace(b"Second paragraph.", b"Second \xff paragraph.")
    with pytest.raises(WireCopyError) as info:
        decode_wire_bytes(data)
    assert info.value.line == 9
    assert "UTF-8" in info.value.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_gives_an_article_or_a_wire_copy_error(text):
    """Whatever the text, the parser returns an article or raises its own error — nothing else."""
    try:
        parsed = parse_wire_copy(text)
    except WireCopyError as exc:
        assert exc.line >= 1
    else:
        assert parsed.headline and parsed.paragraphs


@settings(max_examples=150, deadline=None)
@given(
    headline=st.text(
        st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1, max_size=80
    ).filter(lambda s: s.strip()),
    paragraphs=st.lists(
        st.text(
            st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1, max_size=60
        ).filter(lambda s: s.strip()),
        min_size=1,
        max_size=4,
    ),
)
def test_well_formed_copy_round_trips(headline, paragraphs):
    """Any headline and body in the format come back as written (whitespace normalised)."""
    text = (
        f"{headline}\n\nMarch 3, 2021 - 07:05\nPosted in: News\nWritten By: A B\n\n"
        + "\n\n".join(paragraphs)
    )
    try:
        parsed = parse_wire_copy(text)
    except WireCopyError:
        # Only a headline that itself looks like a date or header line may be refused.
        return
    assert parsed.headline == " ".join(headline.split())
    assert parsed.paragraphs == [" ".join(p.split()) for p in paragraphs]


# --- the importer -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_creates_article_with_byline_category_and_tags():
    article, outcome = import_wire_copy(parse_wire_copy(BASIC))
    assert outcome == "created"
    assert article.status == Article.Status.PUBLISHED
    assert article.slug == "ministers-agree-budget"
    assert article.category.name == "World"
    assert sorted(article.tags.values_list("name", flat=True)) == ["Libya", "Security"]
    assert article.byline_authors[0].name == "Jane Doe"
    assert article.body_format == Article.BodyFormat.PLAIN
    assert article.body_html == "<p>First paragraph.</p>\n<p>Second paragraph.</p>"


@pytest.mark.django_db
def test_import_matches_existing_names_case_insensitively():
    author = Author.objects.create(name="jane doe")
    category = Category.objects.create(name="WORLD")
    tag = Tag.objects.create(name="libya")
    article, _ = import_wire_copy(parse_wire_copy(BASIC))
    assert article.byline_authors == [author]
    assert article.category == category
    assert tag in article.tags.all()
    assert Author.objects.count() == 1 and Category.objects.count() == 1


@pytest.mark.django_db
def test_import_twice_is_unchanged_and_edits_update():
    first, _ = import_wire_copy(parse_wire_copy(BASIC))
    again, outcome = import_wire_copy(parse_wire_copy(BASIC))
    assert outcome == "unchanged" and again.pk == first.pk
    edited, outcome = import_wire_copy(
        parse_wire_copy(BASIC.replace("Second paragraph.", "A new ending."))
    )
    assert outcome == "updated" and edited.pk == first.pk
    assert "A new ending." in Article.objects.get(pk=first.pk).body
    assert Article.objects.count() == 1


@pytest.mark.django_db
def test_wire_markup_is_shown_literally():
    text = BASIC.replace("First paragraph.", "*stars* <script>alert(1)</script> & 1. one")
    article, _ = import_wire_copy(parse_wire_copy(text))
    assert "<p>*stars* &lt;script&gt;alert(1)&lt;/script&gt; &amp; 1. one</p>" in article.body_html


@pytest.mark.django_db
def test_import_paths_reports_bad_files_and_imports_the_rest(tmp_path):
    (tmp_path / "good.txt").write_text(BASIC)
    (tmp_path / "bad.txt").write_text("Headline\n\nnot a date\n")
    result = import_paths([tmp_path])
    assert (result.created, result.failed) == (1, 1)
    assert result.errors == [f"{tmp_path / 'bad.txt'}:3: " + result.errors[0].split(":3: ", 1)[1]]
    assert Article.objects.count() == 1


@pytest.mark.django_db
def test_draft_status_and_dry_run(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(BASIC)
    result = import_paths([path], dry_run=True)
    assert result.created == 1 and Article.objects.count() == 0
    import_paths([path], status=Article.Status.DRAFT)
    assert Article.objects.get().status == Article.Status.DRAFT
    assert not Article.objects.published().exists()


@pytest.mark.django_db
def test_scheduled_import_is_not_public_until_its_time():
    future = (timezone.localtime() + dt.timedelta(days=2)).strftime("%B %d, %Y - %H:%M")
    article, _ = import_wire_copy(
        parse_wire_copy(BASIC.replace("January 04, 2020 - 20:39", future))
    )
    assert article.is_scheduled
    assert not Article.objects.published().filter(pk=article.pk).exists()


@pytest.mark.django_db
def test_import_update_bumps_the_version_and_keeps_revisions_and_audit():
    """An import refuses forms opened before it, like any save, and leaves a trail."""
    from articles.models import AuditEntry
    from articles.services import StaleVersionError, article_save

    article, _ = import_wire_copy(parse_wire_copy(BASIC))
    assert article.version == 1 and article.revisions.count() == 1
    opened = Article.objects.get(pk=article.pk)
    import_wire_copy(parse_wire_copy(BASIC))  # unchanged: nothing moves
    assert Article.objects.get(pk=article.pk).version == 1
    import_wire_copy(parse_wire_copy(BASIC.replace("Second paragraph.", "A new ending.")))
    stored = Article.objects.get(pk=article.pk)
    assert stored.version == 2
    assert stored.revisions.get(article_version=2).data["body"].endswith("A new ending.")
    opened.headline = "Edited in an old form"
    with pytest.raises(StaleVersionError):
        article_save(opened, expected_version=1, user=None)
    outcomes = list(
        AuditEntry.objects.filter(action="import", article=article)
        .order_by("pk")
        .values_list("detail__outcome", flat=True)
    )
    assert outcomes == ["created", "updated"]
