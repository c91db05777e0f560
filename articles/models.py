"""The newsroom's content: authors, categories, tags and articles."""

import datetime as dt
import operator
import re
from functools import cache, lru_cache, reduce

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import Exists, F, Max, Min, OuterRef, Prefetch, Q, Subquery
from django.db.models.base import ModelState
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import slugify

from .compiled import Compiled, union_column
from .images import validate_image_upload
from .rendering import html_to_text, render_body

SLUG_PLACEHOLDER = "-slug-"


@lru_cache(maxsize=64)
def _slug_pattern(name, urlconf, root_urlconf, prefix):
    return reverse(name, args=[SLUG_PLACEHOLDER], urlconf=urlconf)


def slug_pattern(name) -> str:
    """The address of URL `name` with `SLUG_PLACEHOLDER` where the slug goes: one reverse()
    per URL name, URL configuration and script prefix (reversing was much of a list page)."""
    return _slug_pattern(name, get_urlconf(), settings.ROOT_URLCONF, get_script_prefix())


def slug_url(name, slug):
    """`reverse(name, args=[slug])`, from `slug_pattern`. Slugs need no quoting."""
    if not slug:
        return reverse(name, args=[slug])  # the same error as before
    return slug_pattern(name).replace(SLUG_PLACEHOLDER, slug)


def unique_slug(model, text, *, exclude_pk=None, max_length=200, field="slug"):
    """A slug for `text` that no other row of `model` uses (appends -2, -3, … when taken)."""
    base = slugify(text)[:max_length].strip("-") or "item"
    candidate = base
    n = 2
    qs = model._base_manager.all()
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    while qs.filter(**{field: candidate}).exists():
        suffix = f"-{n}"
        candidate = base[: max_length - len(suffix)] + suffix
        n += 1
    return candidate


class Author(models.Model):
    URL_NAME = "articles:author"  # its public page, by slug (`slug_url`)

    name = models.CharField("display name", max_length=200)
    slug = models.SlugField(max_length=200, unique=True, blank=True)
    bio = models.TextField(blank=True)
    photo = models.ImageField(
        upload_to="authors/%Y/",
        blank=True,
        width_field="photo_width",
        height_field="photo_height",
        validators=[validate_image_upload],
    )
    photo_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    photo_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    photo_alt = models.CharField("photo alt text", max_length=250, blank=True)
    photo_renditions = models.JSONField(default=dict, blank=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="author_profile",
        help_text="The staff account that writes as this author, if any.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["name"])]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = unique_slug(Author, self.name, exclude_pk=self.pk)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return slug_url(self.URL_NAME, self.slug)


class Category(models.Model):
    URL_NAME = "articles:category"  # its public page, by slug (`slug_url`)

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True, blank=True)
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0, help_text="Lower numbers come first in menus.")

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = unique_slug(Category, self.name, exclude_pk=self.pk, max_length=100)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return slug_url(self.URL_NAME, self.slug)


class Tag(models.Model):
    URL_NAME = "articles:tag"  # its public page, by slug (`slug_url`)

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = unique_slug(Tag, self.name, exclude_pk=self.pk, max_length=100)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return slug_url(self.URL_NAME, self.slug)


WORD = re.compile(r"\w+(?:['’-]\w+)*")


def count_words(text: str) -> int:
    """Words as readers count them ("don't" and "well-known" are one); desk.js counts alike."""
    return len(WORD.findall(text or ""))


def state_conditions(now) -> dict:
    """The one definition of an article's state: for each `Article.State`, the condition a row
    must meet at `now`. The conditions are exclusive and cover every row. Querysets filter with
    them (`in_state`, `published`) and `Article.state_at` evaluates the very same conditions in
    Python (`q_matches`), so the desk's label and the readers' lists cannot disagree."""
    State = Article.State
    alive = Q(deleted_at__isnull=True, withdrawn_at__isnull=True)
    going = Q(status=Article.Status.PUBLISHED)
    not_expired = Q(unpublish_at__isnull=True) | Q(unpublish_at__gt=now)
    # An embargoed story is a flavour of scheduled: it waits for the later of its publication
    # time and its embargo's end, and appears by itself then (`next_scheduled_change`).
    return {
        State.DRAFT: alive & Q(status=Article.Status.DRAFT),
        State.REVIEW: alive & Q(status=Article.Status.REVIEW),
        State.SCHEDULED: alive
        & going
        & not_expired
        & (Q(published_at__isnull=True) | Q(published_at__gt=now) | embargo_condition(now)),
        State.PUBLISHED: alive
        & going
        & not_expired
        & Q(published_at__lte=now)
        & (Q(embargo_until__isnull=True) | Q(embargo_until__lte=now)),
        State.EXPIRED: alive & going & Q(unpublish_at__lte=now),
        State.WITHDRAWN: Q(deleted_at__isnull=True, withdrawn_at__isnull=False),
        State.TRASHED: Q(deleted_at__isnull=False),
    }


def embargo_condition(now) -> Q:
    """The one definition of "under embargo at `now`": readers may not see it yet, whatever
    its status and publication time say."""
    return Q(embargo_until__gt=now)


def _soonest(column, state, *extra) -> Compiled:
    """The first time after `now` in `column`'s own index whose row is in state `state` (an
    `Article.State` name), checked by id: an index range read in order that stops at its first
    match. Given the state's conditions on the same rows, SQLite chose the published rule's
    index instead and sorted every published article to find the soonest expiry (40 ms at
    100,000 articles, on every page cache miss). Compiled once: building the conditions cost
    more than running the query."""

    def build(*, now):
        in_state = Article.objects.filter(
            state_conditions(now)[Article.State[state]], *extra, pk=OuterRef("pk")
        )
        return (
            Article.objects.filter(**{f"{column}__gt": now})
            .filter(Exists(in_state))
            .order_by(column)
            .values_list(column, flat=True)[:1]
        )

    return Compiled(build)


# `next_scheduled_change`: a publication, an expiry, and an embargo ending after the publication
# time (when its story appears), asked in one statement.
_NEXT_CHANGES = (
    _soonest("published_at", "SCHEDULED"),
    _soonest("unpublish_at", "PUBLISHED"),
    _soonest("embargo_until", "SCHEDULED", Q(published_at__lte=F("embargo_until"))),
)


NOW = object()  # the moment `q_matches` is asked about, in conditions built once


@cache
def _state_conditions_for_python() -> dict:
    """`state_conditions` built once with `NOW` for the moment: an instance's state is asked
    dozens of times per desk request, and building the conditions cost more than testing them."""
    return state_conditions(NOW)


_COMPARE = {
    "exact": lambda a, b: a == b,
    "lte": lambda a, b: a is not None and a <= b,
    "lt": lambda a, b: a is not None and a < b,
    "gte": lambda a, b: a is not None and a >= b,
    "gt": lambda a, b: a is not None and a > b,
    "isnull": lambda a, b: (a is None) == b,
}


def q_matches(q: Q, obj, now=None) -> bool:
    """Evaluate a Q of plain field lookups (exact, lt/lte/gt/gte, isnull) against an instance,
    with SQL's meaning (a comparison with NULL is false), `NOW` standing for `now`. Used for the
    state conditions only."""
    results = []
    for child in q.children:
        if isinstance(child, Q):
            results.append(q_matches(child, obj, now))
            continue
        lookup, expected = child
        if expected is NOW:
            expected = now
        field, _, op = lookup.partition("__")
        results.append(_COMPARE[op or "exact"](getattr(obj, field), expected))
    matched = all(results) if q.connector == Q.AND else any(results)
    return not matched if q.negated else matched


def _of_published_at(aggregate) -> bool:
    """`Min("published_at")` or `Max("published_at")`, unfiltered."""
    if not isinstance(aggregate, Min | Max) or aggregate.filter is not None:
        return False
    sources = aggregate.source_expressions
    return len(sources) == 1 and isinstance(sources[0], F) and sources[0].name == "published_at"


class ArticleQuerySet(models.QuerySet):
    def in_state(self, *states, now=None):
        """Articles in any of `states` at `now` (default: this moment)."""
        conditions = state_conditions(now or timezone.now())
        return self.filter(reduce(operator.or_, (conditions[state] for state in states)))

    def published(self, *, now=None):
        """What a reader may see: the published state, nothing else."""
        return self.in_state(Article.State.PUBLISHED, now=now)

    def in_desk(self):
        """Everything the desk lists: all but the trash."""
        return self.exclude(state_conditions(timezone.now())[Article.State.TRASHED])

    def in_trash(self):
        return self.in_state(Article.State.TRASHED)

    def owned_by(self, user):
        """The one definition of "her own article": she created it or she is on its byline."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        on_byline = Byline.objects.filter(author__user=user).values("article_id")
        return self.filter(Q(created_by=user) | Q(pk__in=on_byline))

    def next_scheduled_change(self, *, now=None):
        """When the next scheduled publication or expiry happens (None if none is due): pages
        that list articles stay true until then. A question about the whole site, in one
        statement (`_NEXT_CHANGES`), whatever this queryset holds."""
        now = now or timezone.now()
        found = union_column([(query, {"now": now}) for query in _NEXT_CHANGES])
        times = [t for t in found if t is not None]
        return min(times) if times else None

    def embargoed(self, *, now=None):
        """Articles under an embargo at `now`, whatever their state."""
        return self.filter(embargo_condition(now or timezone.now()))

    def scheduled_soonest(self, *, now=None):
        """Scheduled articles, soonest first. Those with a time are read as a range of the
        publication-time index: the state's "no time yet, or later" is an OR no index serves,
        and with nothing scheduled the database walked every published article to find none."""
        now = now or timezone.now()
        scheduled = self.in_state(Article.State.SCHEDULED, now=now).order_by()
        timed = scheduled.filter(published_at__gt=now)
        untimed = scheduled.filter(published_at__isnull=True)
        # Due already but held by an embargo (they go live when it ends).
        held = scheduled.filter(published_at__lte=now)
        return timed.union(untimed, held, all=True).order_by("published_at")

    def for_listing(self):
        """Everything a list or card shows, fetched in a fixed number of queries."""
        return self.select_related("category").prefetch_related(
            Prefetch(
                "bylines",
                queryset=Byline.objects.select_related("author").order_by("position", "pk"),
            ),
            "tags",
        )

    def for_cards(self):
        """What an article card shows (section and byline): `for_listing()` without topics, and
        without the bodies, which cards never show (on a large archive they are most of the
        bytes each list query would read)."""
        return (
            self.defer("body", "body_html")
            .select_related("category")
            .prefetch_related(
                Prefetch(
                    "bylines",
                    queryset=Byline.objects.select_related("author").order_by("position", "pk"),
                )
            )
        )

    def published_bounds(self):
        """(first, last) `published_at` of these articles, None when there is none: one query
        reading both ends of the `published_at` index (an ordered LIMIT 1 each) instead of
        MIN/MAX over every row that matches. Kept on this queryset: the date hierarchy asks twice
        (`aggregate`, then `datetimes`)."""
        if "_published_bounds" in self.__dict__:
            return self.__dict__["_published_bounds"]
        dated = self.filter(published_at__isnull=False).values("published_at")
        ends = (
            self.model._base_manager.annotate(
                first=Subquery(dated.order_by("published_at")[:1]),
                last=Subquery(dated.order_by("-published_at")[:1]),
            )
            .values_list("first", "last")
            .first()
        )
        self.__dict__["_published_bounds"] = ends if ends and ends[0] is not None else (None, None)
        return self.__dict__["_published_bounds"]

    def in_category(self, category):
        return self.filter(category=category)

    def by_author(self, author):
        return self.filter(authors=author)

    def tagged(self, tag):
        return self.filter(tags=tag)

    def newest_first(self):
        return self.order_by("-published_at", "-pk")

    def update_versioned(self, **changes) -> int:
        """`update()` that also bumps `version`, so forms opened before a bulk change are
        refused on save instead of silently undoing it."""
        return self.update(version=models.F("version") + 1, **changes)


class DeskQuerySet(ArticleQuerySet):
    """The desk's change list (`ArticleAdmin.get_queryset`). Its date hierarchy asks for the
    MIN and MAX of `published_at`, then the years that have articles: here both are read from
    the ends of the `published_at` index (`published_bounds`) instead of every row, so the
    list stays fast on a large archive. Only the desk gets these answers; every other query
    aggregates as Django does."""

    def aggregate(self, *args, **kwargs):
        """MIN and MAX of `published_at` alone (what the desk's date hierarchy asks first) are
        read from the ends of the index by `published_bounds`; everything else as usual."""
        wanted = {type(v): k for k, v in kwargs.items() if _of_published_at(v)}
        plain = not (args or self.query.is_sliced or self.query.combinator)
        if plain and len(kwargs) == 2 and set(wanted) == {Min, Max}:
            first, last = self.published_bounds()
            return {wanted[Min]: first, wanted[Max]: last}
        return super().aggregate(*args, **kwargs)

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        """Years of `published_at` from the index (both ends, then one EXISTS per year between
        them) instead of truncating every row: the desk's date hierarchy stays fast on a large
        archive."""
        if field_name != "published_at" or kind != "year" or self._fields:
            return super().datetimes(field_name, kind, order, tzinfo)
        zone = tzinfo or timezone.get_current_timezone()
        first, last = self.published_bounds()
        if first is None:
            return []
        first, last = (timezone.localtime(end, zone).year for end in (first, last))
        years = []
        for year in range(first, last + 1):
            start = dt.datetime(year, 1, 1, tzinfo=zone)
            end = dt.datetime(year + 1, 1, 1, tzinfo=zone)
            if year in (first, last) or (
                self.filter(published_at__gte=start, published_at__lt=end).exists()
            ):
                years.append(start)
        return years if order == "ASC" else years[::-1]


# Every column the published state reads (`state_conditions`), in the order the readers' list
# indexes hold them after their leading column: a list and its count are read from the index.
PUBLISHED_RULE_COLUMNS = (
    "status",
    "published_at",
    "unpublish_at",
    "deleted_at",
    "withdrawn_at",
    "embargo_until",
)


class Article(models.Model):
    URL_NAME = "articles:detail"  # its public page, by slug (`slug_url`)

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        REVIEW = "review", "In review"
        PUBLISHED = "published", "Published"

    class State(models.TextChoices):
        """What an article is, for readers and the desk: see `state_conditions`."""

        DRAFT = "draft", "Draft"
        REVIEW = "review", "In review"
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHED = "published", "Published"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"
        TRASHED = "trashed", "In the trash"

    # States in which a change to the article can alter what readers see (a scheduled story
    # moves the time cached lists expire; a withdrawn one answers 410).
    PUBLIC_STATES = (State.SCHEDULED, State.PUBLISHED, State.WITHDRAWN)
    # States kept as they are: nobody edits them, share links never open them.
    READ_ONLY_STATES = (State.WITHDRAWN, State.TRASHED)

    class BodyFormat(models.TextChoices):
        MARKDOWN = "markdown", "Markdown (CommonMark)"
        PLAIN = "plain", "Plain text (wire copy)"
        HTML = "html", "HTML (ninjs / NewsML-G2 import; sanitised)"

    headline = models.CharField(max_length=255)
    slug = models.SlugField(
        max_length=200,
        unique=True,
        blank=True,
        help_text="The address of the article. Filled from the headline; editors may change it.",
    )
    standfirst = models.TextField(
        blank=True, help_text="The summary shown under the headline, in lists and in previews."
    )
    body = models.TextField(blank=True)
    body_format = models.CharField(
        max_length=10, choices=BodyFormat.choices, default=BodyFormat.MARKDOWN
    )
    body_html = models.TextField(editable=False, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When readers may see it; a future time schedules it.",
    )
    unpublish_at = models.DateTimeField(
        null=True, blank=True, help_text="Optional: the article is taken down at this time."
    )
    embargo_until = models.DateTimeField(
        "embargo until",
        null=True,
        blank=True,
        help_text="Optional: readers see nothing of it before this time, whatever else is set; "
        "it cannot be published before then unless an editor lifts the embargo.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    word_count = models.PositiveIntegerField(default=0, editable=False)
    authors = models.ManyToManyField(Author, through="Byline", related_name="articles", blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="articles"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="articles")
    featured = models.BooleanField(default=False)
    lead_image = models.ImageField(
        upload_to="articles/%Y/%m/",
        blank=True,
        width_field="lead_image_width",
        height_field="lead_image_height",
        validators=[validate_image_upload],
    )
    lead_image_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    lead_image_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    lead_image_caption = models.CharField(max_length=500, blank=True)
    lead_image_credit = models.CharField(max_length=200, blank=True)
    lead_image_alt = models.CharField("lead image alt text", max_length=250, blank=True)
    # Made once after upload by articles.images; read by the picture tag with no extra query.
    lead_image_renditions = models.JSONField(default=dict, blank=True, editable=False)
    dateline = models.CharField(max_length=100, blank=True, help_text="e.g. TRIPOLI")
    source = models.CharField(max_length=200, blank=True, help_text="Wire service or origin.")
    seo_title = models.CharField(
        "SEO title",
        max_length=70,
        blank=True,
        help_text="Overrides the headline in search results.",
    )
    seo_description = models.CharField(
        "SEO description",
        max_length=160,
        blank=True,
        help_text="Overrides the standfirst in search results and link previews (160 characters).",
    )
    first_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    revised_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Time of the last substantive update readers are told about.",
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True, editable=False)
    withdrawal_reason = models.TextField(blank=True, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    wire_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    wire_checksum = models.CharField(max_length=64, blank=True, editable=False)
    # An ingested ninjs / NewsML-G2 item's own identity (its `uri` or guid) and version: an
    # older version never overwrites a newer one (articles.importers).
    ingest_uri = models.CharField(max_length=500, blank=True, editable=False)
    ingest_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    objects = ArticleQuerySet.as_manager()
    desk_list = DeskQuerySet.as_manager()  # the desk's change list (its date hierarchy)

    class Meta:
        ordering = ["-published_at", "-pk"]
        indexes = [
            models.Index(fields=["-published_at", "-id"]),
            models.Index(fields=["featured", "-published_at"]),
            models.Index(fields=["-updated_at"]),
            # Expiry times: the next scheduled change, asked on every page cache miss.
            models.Index(fields=["unpublish_at"], name="article_expiry_idx"),
            # Embargo ends: the same question (a story appears when its embargo ends).
            models.Index(fields=["embargo_until"], name="article_embargo_idx"),
            # Covering indexes for `published()` lists: ordering, filtering and COUNT(*) read
            # the index alone, so lists and their counts stay fast at 100,000+ articles. The id
            # follows the date, as in NEWEST_FIRST: a walk newest first (a topic's page asks
            # each article whether it is on the topic) reads ids in order from the index alone;
            # without it PostgreSQL read every row walked for its id (1.9 → 0.8 ms at 100k).
            models.Index(
                fields=[
                    "status",
                    "published_at",
                    "id",
                    *(c for c in PUBLISHED_RULE_COLUMNS if c not in ("status", "published_at")),
                ],
                name="article_public_idx",
            ),
            # Lists reached through bylines or topics (author and topic pages, their counts)
            # check the published rule here, by id, instead of in the wide rows: a fifth of the
            # time at 100,000 articles.
            models.Index(
                fields=["id", *PUBLISHED_RULE_COLUMNS],
                name="article_public_by_id_idx",
            ),
            # Every column of the published rule, so a section's count (up to COUNT_LIMIT) is
            # read from the index alone: without `withdrawn_at` PostgreSQL read the rows.
            models.Index(
                fields=["category", *PUBLISHED_RULE_COLUMNS],
                name="article_public_category_idx",
            ),
            # The desk's change list by state, newest activity first: read in order and filtered
            # in the index alone, so a rare state (none expired) scans index entries only.
            models.Index(
                fields=[
                    "status",
                    "-updated_at",
                    "-id",
                    "published_at",
                    "unpublish_at",
                    "deleted_at",
                    "withdrawn_at",
                    "embargo_until",
                ],  # fmt: skip
                name="article_desk_state_idx",
            ),
            models.Index(fields=["headline", "id"], name="article_desk_headline_idx"),
            models.Index(
                fields=["category", "-updated_at", "-id"], name="article_desk_category_idx"
            ),
        ]
        permissions = [
            ("preview_article", "Can preview unpublished articles"),
            ("publish_article", "Can publish, schedule, unpublish and send back articles"),
            ("edit_any_article", "Can edit articles written by others"),
            ("empty_trash", "Can empty the trash (deletes articles for good)"),
            ("withdraw_article", "Can withdraw a published article"),
        ]

    def __str__(self):
        return self.headline

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = unique_slug(Article, self.headline, exclude_pk=self.pk)
        old_slug = None
        if self.pk:
            old_slug = (
                Article._base_manager.filter(pk=self.pk).values_list("slug", flat=True).first()
            )
        if self.status == self.Status.PUBLISHED and self.first_published_at is None:
            self.first_published_at = self.published_at or timezone.now()
        self.body_html = render_body(self.body, self.body_format)
        # An HTML body (ingested copy) counts the words readers see, not its tags.
        shown = (
            self.body if self.body_format != self.BodyFormat.HTML else html_to_text(self.body_html)
        )
        self.word_count = count_words(shown)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "body" in update_fields:
            kwargs["update_fields"] = {*update_fields, "body_html", "word_count"}
        super().save(*args, **kwargs)
        if old_slug and old_slug != self.slug:
            # Every address the article ever had keeps answering, with a 301 to the current one.
            SlugRedirect.objects.filter(old_slug=self.slug).delete()
            SlugRedirect.objects.update_or_create(old_slug=old_slug, defaults={"article": self})

    def get_absolute_url(self):
        return slug_url(self.URL_NAME, self.slug)

    def state_at(self, now) -> "Article.State":
        for state, condition in _state_conditions_for_python().items():
            if q_matches(condition, self, now):
                return state
        raise AssertionError("state_conditions must cover every article")  # pragma: no cover

    @property
    def state(self) -> "Article.State":
        return self.state_at(timezone.now())

    @property
    def is_published(self):
        return self.state == Article.State.PUBLISHED

    @property
    def is_scheduled(self):
        return self.state == Article.State.SCHEDULED

    def is_embargoed_at(self, now) -> bool:
        return q_matches(embargo_condition(NOW), self, now)

    @property
    def is_embargoed(self):
        """Under embargo now (`embargo_condition`): on no public surface, whatever its state."""
        return self.is_embargoed_at(timezone.now())

    def embargo_blocks_publication(self, *, now=None) -> bool:
        """Publishing it as it stands would put it out before its embargo ends: it is going
        out (status published) at a time before the embargo's end."""
        now = now or timezone.now()
        return (
            self.status == Article.Status.PUBLISHED
            and self.is_embargoed_at(now)
            and (self.published_at is None or self.published_at < self.embargo_until)
        )

    @property
    def was_published(self):
        """Readers have seen it at some time (it may be down now)."""
        return self.first_published_at is not None

    def is_owned_by(self, user) -> bool:
        """`ArticleQuerySet.owned_by` for this one article (asked once per user and instance)."""
        if self.pk is None or not getattr(user, "is_authenticated", False):
            return False
        cache = self.__dict__.setdefault("_owned_by", {})
        if user.pk not in cache:
            cache[user.pk] = Article.objects.owned_by(user).filter(pk=self.pk).exists()
        return cache[user.pk]

    @property
    def modified_at(self):
        """When readers were last told the story changed: `dateModified`, sitemap `lastmod`,
        feed update times. Silent fixes do not move it; substantive updates set `revised_at`."""
        if self.revised_at and (self.published_at is None or self.revised_at > self.published_at):
            return self.revised_at
        return self.published_at

    @property
    def is_revised(self):
        return self.modified_at != self.published_at

    @property
    def seo_headline(self):
        return self.seo_title or self.headline

    @property
    def description(self):
        return self.seo_description or self.standfirst

    @property
    def rendered_body(self):
        """The body as HTML. Safe to output: `body_html` is only ever written by `render_body`,
        whose last step is the sanitiser."""
        return mark_safe(self.body_html)  # noqa: S308

    @property
    def topics(self):
        """Topics by name (as `load_cards(..., topics=True)` read them, or `tags.all()`)."""
        if "_topics" in self.__dict__:
            return self.__dict__["_topics"]
        return list(self.tags.all())

    @property
    def byline_authors(self):
        """Authors in byline order (as `load_cards` read them, or from the prefetch of
        `for_listing()` when present)."""
        if "_byline_authors" in self.__dict__:
            return self.__dict__["_byline_authors"]
        return [b.author for b in self.bylines.all()]


class Byline(models.Model):
    """An author's place in an article's byline."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="bylines")
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="bylines")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["article", "author"], name="unique_author_per_article")
        ]
        # An author's articles from the index alone (the author page and its count).
        indexes = [models.Index(fields=["author", "article"], name="byline_author_article_idx")]

    def __str__(self):
        return f"{self.author} on {self.article}"


CARD_DEFERRED = ("body", "body_html")  # cards never show bodies: most of a row's bytes


@cache
def columns(model, skip=()) -> tuple:
    """`model`'s column attributes but `skip`, in field order (the order `Model.from_db` reads
    values in): what the compiled loaders below select."""
    return tuple(f.attname for f in model._meta.concrete_fields if f.name not in skip)


def _related(prefix, model):
    return tuple(f"{prefix}__{name}" for name in columns(model))


def _loaded(model, names, row):
    """`model.from_db()` for the compiled loaders: the instance the ORM would give, without
    `Model.__init__` (its argument handling and pre/post_init signals were a fifth of a list
    page: 20 µs for each of ~150 objects). The values go where `__init__` would put them; a
    column not in `names` is deferred as with `only()` (read from the database on access)."""
    instance = model.__new__(model)
    state = instance._state = ModelState()
    state.adding, state.db = False, DEFAULT_DB_ALIAS
    instance.__dict__.update(zip(names, row, strict=True))
    return instance


def as_card_rows(articles, skip=CARD_DEFERRED):
    """The queryset `articles` as the rows a card is loaded from (`cards_from`): the article's
    columns but `skip`, then its section's. A compiled query that chooses articles can so load
    them too, in the same statement."""
    return articles.values_list(*columns(Article, skip), *_related("category", Category))


def _card_rows(*, ids, skip=CARD_DEFERRED):
    return as_card_rows(Article.objects.filter(pk__in=ids), skip)


def _card_rows_with_html(*, ids):
    return _card_rows(ids=ids, skip=("body",))


def _byline_rows(*, ids):
    return (
        Byline.objects.filter(article_id__in=ids)
        .order_by("position", "pk")
        .values_list(*columns(Byline), *_related("author", Author))
    )


def _topic_rows(*, ids):
    return (
        Article.tags.through.objects.filter(article_id__in=ids)
        .order_by("tag__name", "tag_id")
        .values_list("article_id", *_related("tag", Tag))
    )


def _article_rows(*, now, slug):
    """The article's row, its section's, whether it has corrections (most have none: the page
    then reads none), then one of its topics: a row per topic by name (one row with NULLs when
    it has none), so the topics cost no statement of their own."""
    corrected = Exists(Correction.objects.filter(article_id=OuterRef("pk")))
    return (
        Article.objects.published(now=now)
        .filter(slug=slug)
        .annotate(corrected=corrected)
        .order_by("tags__name", "tags__id")
        .values_list(
            *columns(Article), *_related("category", Category), "corrected", *_related("tags", Tag)
        )
    )


def _correction_rows(*, article):
    return Correction.objects.filter(article_id=article).values_list(*columns(Correction))


def _section_rows():
    return Category.objects.values_list(*columns(Category))


CARD_ROWS = Compiled(_card_rows)
CARD_ROWS_WITH_HTML = Compiled(_card_rows_with_html)
BYLINE_ROWS = Compiled(_byline_rows)
TOPIC_ROWS = Compiled(_topic_rows)
ARTICLE_ROWS = Compiled(_article_rows)
CORRECTION_ROWS = Compiled(_correction_rows)
SECTION_ROWS = Compiled(_section_rows)
SITEMAP_COLUMNS = ("id", "slug", "published_at", "revised_at")  # `modified_at` needs the times


def _sitemap_rows(*, now, low, high):
    return (
        Article.objects.published(now=now)
        .filter(pk__gt=low, pk__lte=high)
        .order_by("pk")
        .values_list(*SITEMAP_COLUMNS)
    )


SITEMAP_ROWS = Compiled(_sitemap_rows)


def _articles_from(rows, names) -> dict:
    """{id: article} from rows of `names` followed by the section's columns (or NULLs)."""
    cut, categories, articles = len(names), {}, {}
    set_category = Article._meta.get_field("category").set_cached_value
    for row in rows:
        article = _loaded(Article, names, row[:cut])
        category = None
        if row[cut] is not None:
            category = categories.get(row[cut])
            if category is None:
                category = categories[row[cut]] = _loaded(Category, columns(Category), row[cut:])
        set_category(article, category)
        articles[article.pk] = article
    return articles


def _attach_bylines(articles):
    """Each article's byline authors, in order (`byline_authors`), in one compiled query."""
    names = columns(Byline)
    cut, article_at, author_at, authors = (
        len(names),
        names.index("article_id"),
        names.index("author_id"),
        {},
    )
    for article in articles.values():
        article.__dict__["_byline_authors"] = []
    for row in BYLINE_ROWS.rows(ids=list(articles)):
        author = authors.get(row[author_at])
        if author is None:
            author = authors[row[author_at]] = _loaded(Author, columns(Author), row[cut:])
        articles[row[article_at]].__dict__["_byline_authors"].append(author)


def _topics_of(articles) -> dict:
    """{article id: its topics by name}, in one compiled query."""
    found, topics = {}, {pk: [] for pk in articles}
    for row in TOPIC_ROWS.rows(ids=list(articles)):
        tag = found.get(row[1])
        if tag is None:
            tag = found[row[1]] = _loaded(Tag, columns(Tag), row[1:])
        topics[row[0]].append(tag)
    return topics


def load_id_block(low: int, high: int) -> list:
    """The published articles with ids in (`low`, `high`], in id order, with what a sitemap
    entry shows (address and `modified_at`): one compiled query, no `Model.__init__` (a
    thousand of them were half of a sitemap page)."""
    rows = SITEMAP_ROWS.rows(now=timezone.now(), low=low, high=high)
    return [_loaded(Article, SITEMAP_COLUMNS, row) for row in rows]


def load_sections() -> list:
    """Every section in menu order (the site's navigation): one compiled query."""
    names = columns(Category)
    return [_loaded(Category, names, row) for row in SECTION_ROWS.rows()]


def load_cards(ids, *, topics=False, html=False) -> dict:
    """{id: article} for the articles `ids`, with what a card shows: the article without its
    body (`CARD_DEFERRED`), its section and its byline's authors (`byline_authors`), and with
    `topics` its topics too (`Article.topics`, for feeds), with `html` its rendered body
    (`body_html`, for search snippets). Two compiled queries (three with
    topics); the same as `for_cards().in_bulk(ids)` without building and compiling three
    querysets per page, which cost more than running them. It reads the rows `ids` name: the
    caller chose them (published, on the list) by the rules above."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    if html:
        cards = _articles_from(CARD_ROWS_WITH_HTML.rows(ids=ids), columns(Article, ("body",)))
    else:
        cards = _articles_from(CARD_ROWS.rows(ids=ids), columns(Article, CARD_DEFERRED))
    _attach_bylines(cards)
    if topics:
        for pk, found in _topics_of(cards).items():
            cards[pk].__dict__["_topics"] = found
    return cards


def _prefetched(instance, name, objects):
    """Give `instance.<name>.all()` the `objects` (as `prefetch_related` leaves them)."""
    queryset = getattr(instance, name).all()
    queryset._result_cache, queryset._prefetch_done = objects, True
    instance.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset


def cards_from(rows, *, bylines=True) -> list:
    """The articles of `rows` (an `as_card_rows` query's), in their order, as `load_cards`
    gives them; with `bylines=False` the caller attaches them (`attach_bylines`), with other
    articles' in the same query."""
    cards = _articles_from(rows, columns(Article, CARD_DEFERRED))
    if bylines:
        _attach_bylines(cards)
    return list(cards.values())


def attach_bylines(*articles) -> None:
    """Each of `articles`' byline authors (`byline_authors`), in one compiled query."""
    _attach_bylines({article.pk: article for article in articles})


def load_article(slug, *, now=None, bylines=True):
    """The article published at `slug` (None if none is), with what its page shows: section,
    byline authors, topics and corrections. Two compiled queries (the article with its section
    and topics, its byline), three when the article has corrections: building the querysets of
    `published().for_listing()` and its prefetches cost more than running them. With
    `bylines=False` the caller attaches the byline (`attach_bylines`), with the related
    articles' in the same query."""
    rows = ARTICLE_ROWS.rows(now=now or timezone.now(), slug=slug)
    if not rows:
        return None
    corrected_at = len(columns(Article)) + len(columns(Category))
    found = _articles_from([rows[0][:corrected_at]], columns(Article))
    if bylines:
        _attach_bylines(found)
    (article,) = found.values()
    topics = [row[corrected_at + 1 :] for row in rows if row[corrected_at + 1] is not None]
    _prefetched(article, "tags", [_loaded(Tag, columns(Tag), row) for row in topics])
    corrections = [
        _loaded(Correction, columns(Correction), row)
        for row in (CORRECTION_ROWS.rows(article=article.pk) if rows[0][corrected_at] else ())
    ]
    set_article = Correction._meta.get_field("article").set_cached_value
    for correction in corrections:
        set_article(correction, article)
    _prefetched(article, "corrections", corrections)
    return article


class SlugRedirect(models.Model):
    """An address an article used to have."""

    old_slug = models.SlugField(max_length=200, unique=True)
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="old_slugs")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.old_slug} → {self.article.slug}"


class SiteFlag(models.Model):
    """One-off facts about this database, e.g. that the seed has been loaded once."""

    name = models.CharField(max_length=100, unique=True)
    set_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class StateChange(models.Model):
    """One step of an article through the desk: who moved it, when, from where to where, why."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="state_changes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_state = models.CharField(max_length=20)
    to_state = models.CharField(max_length=20)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.article}: {self.from_state} → {self.to_state}"

    @property
    def step(self) -> str:
        """The step as people read it: "In review → Draft"."""
        labels = dict(Article.State.choices)
        return " → ".join(labels.get(s, s.capitalize()) for s in (self.from_state, self.to_state))


class ShareLink(models.Model):
    """A signed, expiring, revocable preview link for someone without an account."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="share_links")
    note = models.CharField(max_length=200, blank=True, help_text="Who it is for, e.g. 'legal'.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Share link for {self.article} ({self.note or 'no note'})"

    def get_absolute_url(self):
        from django.core import signing

        token = signing.dumps(self.pk, salt=SHARE_LINK_SALT)
        return reverse("articles:share", args=[token])

    @property
    def is_active(self):
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def opens_article(self):
        """What a share link may show: an active link to an article that is not withdrawn or in
        the trash."""
        return self.is_active and self.article.state not in Article.READ_ONLY_STATES


SHARE_LINK_SALT = "newsdesk.share-link"


class ShareLinkOpen(models.Model):
    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="opens")
    opened_at = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-opened_at"]

    def __str__(self):
        return f"{self.link} opened {self.opened_at:%Y-%m-%d %H:%M}"


class Revision(models.Model):
    """A full snapshot of an article as one save left it (or, when `pending`, as an editor
    proposes it: a draft revision of a published article that readers do not see yet)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    article_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The article's version this snapshot matches."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField()
    substantive = models.BooleanField(default=False)
    note = models.CharField(max_length=255, blank=True)
    pending = models.BooleanField(
        default=False, help_text="A draft revision of a published article, not applied yet."
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    base_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="For a draft revision: the article's version it was written from. Publishing "
        "it merges in what changed since instead of overwriting it.",
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["article", "number"], name="unique_revision_number")
        ]
        indexes = [models.Index(fields=["article", "article_version"])]

    def __str__(self):
        return f"{self.article} — revision {self.number}"


ANCHOR_TIME = "%Y%m%dT%H%M%S%fZ"  # a correction's anchor: `Correction.anchor`


class Correction(models.Model):
    """A correction, clarification, update or editor's note readers see on the article."""

    class Kind(models.TextChoices):
        CORRECTION = "correction", "Correction"
        CLARIFICATION = "clarification", "Clarification"
        UPDATE = "update", "Update"
        EDITORS_NOTE = "editors_note", "Editor's note"

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="corrections")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CORRECTION)
    text = models.TextField()
    created_at = models.DateTimeField("time", default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pinned_top = models.BooleanField(
        "show at the top", default=False, help_text="Show above the story instead of at its foot."
    )

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.article}"

    def get_absolute_url(self):
        return f"{self.article.get_absolute_url()}#{self.anchor}"

    @property
    def anchor(self) -> str:
        """Its id on the article's page: its time (UTC, to the microsecond), not a database id,
        so a copy of the story imported elsewhere (ninjs `trustIndicators`) keeps the address."""
        return "correction-" + self.created_at.astimezone(dt.UTC).strftime(ANCHOR_TIME)


class AuditEntry(models.Model):
    """Who did what, and when, across the desk."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        SAVE = "save", "Saved"
        STATE = "state", "State change"
        DRAFT_REVISION = "draft_revision", "Saved a draft revision"
        PUBLISH_REVISION = "publish_revision", "Published a draft revision"
        RESTORE_REVISION = "restore_revision", "Restored a revision"
        BULK = "bulk", "Bulk change"
        CORRECTION = "correction", "Added a correction"
        WITHDRAW = "withdraw", "Withdrew"
        TRASH = "trash", "Moved to trash"
        RESTORE = "restore", "Restored from trash"
        EMPTY_TRASH = "empty_trash", "Emptied the trash"
        DELETE = "delete", "Deleted"
        MERGE = "merge", "Merged"
        IMPORT = "import", "Imported"
        CONFLICT = "conflict", "Save refused (edit conflict)"
        LOGIN = "login", "Logged in"
        LOGIN_FAILED = "login_failed", "Login failed"
        LOCKOUT = "lockout", "Locked out (too many failed logins)"
        UNLOCK = "unlock", "Unlocked a login"
        API_KEY_CREATE = "api_key_create", "Made an API key"
        API_KEY_REVOKE = "api_key_revoke", "Revoked an API key"

    created_at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    article = models.ForeignKey(
        Article, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    object_repr = models.CharField("object", max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        indexes = [
            models.Index(fields=["-created_at"]),
            models.Index(fields=["action", "-created_at"]),
            models.Index(fields=["user", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.user or 'system'} {self.action}"


class EditSession(models.Model):
    """Who opened which article's change form, and when: the "someone else is editing" notice
    lives in the database so every worker sees it."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="edit_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["article", "user"], name="one_edit_session_per_user")
        ]

    def __str__(self):
        return f"{self.user} editing {self.article}"


class NotificationQuerySet(models.QuerySet):
    def inbox(self, user, *, now=None):
        """What `user`'s inbox shows now, newest first: a notice dated later (a scheduled story's
        go-live) appears when its time comes."""
        return self.filter(recipient=user, created_at__lte=now or timezone.now()).order_by(
            "-created_at", "-pk"
        )

    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """Something that happened to a story, told to one person in the desk's inbox (and by email
    when it was made; see `notifications.py`). `created_at` is when it happens: a go-live notice is
    made when the story is scheduled, dated at its publication time."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", "Submitted for review"
        SENT_BACK = "sent_back", "Sent back"
        PUBLISHED = "published", "Published"
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Went live"
        CORRECTED = "corrected", "Correction added"
        WITHDRAWN = "withdrawn", "Withdrawn"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    article = models.ForeignKey(
        Article, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.CharField(max_length=500)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["recipient", "read_at", "-created_at"], name="notification_inbox_idx"
            )
        ]

    def __str__(self):
        return f"{self.recipient}: {self.text}"

    def get_absolute_url(self):
        return reverse("admin:articles_notification_open", args=[self.pk])


class Autosave(models.Model):
    """One editor's unsaved work on an article, kept privately while she types: never a
    revision, never seen by readers or other editors, gone when she saves or discards it."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="autosaves")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    base_version = models.PositiveIntegerField(help_text="The version the form was loaded at.")
    data = models.JSONField(default=dict, help_text="The form's text fields as typed.")
    saved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["article", "user"], name="one_autosave_per_user")
        ]

    def __str__(self):
        return f"{self.user}'s unsaved changes to {self.article}"


class CachePurgeDebt(models.Model):
    """Page-cache keys whose purge failed because the cache was unreachable. Kept here, where a
    cache restored from an old snapshot cannot roll them back; `cache.settle_purge_debt` replays
    and deletes them once the cache answers again."""

    keys = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"purge of {len(self.keys)} key(s) owed since {self.created_at:%Y-%m-%d %H:%M:%S}"


class ApiKey(models.Model):
    """A key for the read API, made in the desk. Only a SHA-256 of it is kept (it is 32 random
    bytes, so a slow password hash adds nothing); the key itself is shown once, when made. Its
    prefix finds the row, then the hashes are compared in constant time."""

    class Scope(models.TextChoices):
        READ_PUBLISHED = "read-published", "Read published articles"
        READ_DRAFTS = "read-drafts", "Read drafts, scheduled and embargoed copy too"

    name = models.CharField(max_length=100, help_text="Who or what uses it, e.g. 'mobile app'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.READ_PUBLISHED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
        editable=False,
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def digest(raw: str) -> str:
        import hashlib

        return hashlib.sha256(raw.encode()).hexdigest()

    def new_secret(self) -> str:
        """Give this key a fresh secret and return it (`nd_<prefix>_<secret>`): the only time
        it exists outside the caller's hands. The row keeps its hash."""
        import secrets

        self.prefix = secrets.token_hex(6)
        raw = f"nd_{self.prefix}_{secrets.token_urlsafe(32)}"
        self.key_hash = self.digest(raw)
        return raw

    @classmethod
    def active_for(cls, raw: str) -> "ApiKey | None":
        """The unrevoked key `raw` is, or None."""
        import hmac

        parts = raw.split("_")
        if len(parts) < 3 or parts[0] != "nd" or not re.fullmatch(r"[0-9a-f]{12}", parts[1]):
            return None
        key = cls.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
        if key is None or not hmac.compare_digest(key.key_hash, cls.digest(raw)):
            return None
        return key

    @property
    def is_active(self):
        return self.revoked_at is None

    @property
    def sees_drafts(self):
        return self.scope == self.Scope.READ_DRAFTS


class ApiKeyUse(models.Model):
    """One request made with an API key: the audit of every use."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="uses")
    used_at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)

    class Meta:
        ordering = ["-used_at", "-pk"]
        indexes = [models.Index(fields=["key", "-used_at"])]

    def __str__(self):
        return f"{self.key} {self.method} {self.path} at {self.used_at:%Y-%m-%d %H:%M:%S}"


# --- webhooks and WebSub: the outbox (articles/webhooks.py writes and drains it) ---------------


def webhook_secret() -> str:
    import secrets

    return secrets.token_urlsafe(32)


class Webhook(models.Model):
    """An endpoint told about changes readers can see, with a ninjs body signed with `secret`."""

    class Event(models.TextChoices):
        PUBLISHED = "published", "Published"
        UPDATED = "updated", "Updated"
        CORRECTED = "corrected", "Corrected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        UNPUBLISHED = "unpublished", "Unpublished"
        DELETED = "deleted", "Deleted"
        TEST = "test", "Test"

    url = models.URLField("URL", max_length=500, help_text="Receives a signed POST per event.")
    events = models.JSONField(
        default=list, blank=True, help_text="The events sent; none chosen means every event."
    )
    secret = models.CharField(
        max_length=200,
        default=webhook_secret,
        help_text="Shared with the receiver, which checks the Newsdesk-Signature header with it.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.url

    def wants(self, event: str) -> bool:
        return event == Webhook.Event.TEST or not self.events or event in self.events


class OutboxQuerySet(models.QuerySet):
    def pending(self):
        """Neither delivered nor given up."""
        return self.filter(delivered_at__isnull=True, gave_up_at__isnull=True)

    def due(self, *, now=None):
        """What a worker may send at `now`: pending, its time come, not claimed by another
        worker, and first in its channel (an endpoint gets its messages in event order, each
        only after the one before was delivered or given up)."""
        now = now or timezone.now()
        earlier = OutboxMessage.objects.pending().filter(
            Q(occurred_at__lt=models.OuterRef("occurred_at"))
            | Q(occurred_at=models.OuterRef("occurred_at"), pk__lt=models.OuterRef("pk")),
            channel=models.OuterRef("channel"),
        )
        return (
            self.pending()
            .filter(deliver_after__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .exclude(models.Exists(earlier))
            .order_by("occurred_at", "pk")
        )


class OutboxMessage(models.Model):
    """One webhook delivery or WebSub hub ping, written in the transaction of the change it
    tells about (so it exists exactly when the change committed) and sent by
    `deliver_webhooks`. `log` keeps every attempt."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        WEBSUB = "websub", "WebSub ping"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WEBHOOK)
    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    url = models.URLField(max_length=500, help_text="Where it is POSTed.")
    # Messages of one channel (an endpoint, a hub) are sent one at a time, in event order.
    channel = models.CharField(max_length=520)
    event = models.CharField(max_length=20)
    article_id = models.BigIntegerField(null=True, blank=True)  # kept after the article goes
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    occurred_at = models.DateTimeField(
        default=timezone.now, help_text="When the event happens (a scheduled time is ahead)."
    )
    deliver_after = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    log = models.JSONField(default=list, blank=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(
                fields=["channel", "occurred_at", "id"],
                condition=Q(delivered_at__isnull=True, gave_up_at__isnull=True),
                name="outbox_pending_idx",
            ),
        ]

    def __str__(self):
        return f"{self.event} → {self.url}"

    @property
    def status(self) -> str:
        if self.delivered_at:
            return "delivered"
        if self.gave_up_at:
            return "given up"
        return "retrying" if self.attempts else "queued"
