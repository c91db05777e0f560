"""Synthetic newsroom content for development and benchmarks, inserted in bulk."""

import datetime as dt
import random
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from articles.cache import EVERY_PAGE, pages_changed
from articles.models import Article, Author, Byline, Category, Tag
from articles.rendering import render_body
from articles.search import FTS_TABLE, SQLITE_TRIGGERS

CATEGORIES = [
    "World",
    "Politics",
    "Business",
    "Technology",
    "Science",
    "Health",
    "Sport",
    "Culture",
]
FIRST = "Amina Ben Carlos Dana Elif Farah Gustav Hana Ivan Jia Kwame Lena Mateo Noor Olga Priya Rui Sara Tomas Yusuf".split()
LAST = "Assad Brennan Costa Dahl Eze Fischer Garcia Haddad Ito Jensen Khan Lopez Mensah Novak Okafor Park Quinn Rossi Silva Tanaka".split()
SUBJECTS = "Ministers|Regulators|Researchers|Farmers|City council|Central bank|Health officials|Engineers|Voters|Union leaders|Astronomers|Coaches".split(
    "|"
)
VERBS = (
    "agree on|warn over|unveil|reject|debate|delay|back|question|launch|review|expand|cut".split(
        "|"
    )
)
OBJECTS = "new budget rules|coastal flood plan|rail upgrade|drug pricing deal|data privacy bill|wheat export quota|school reform|satellite programme|water tariffs|stadium funding|climate targets|housing scheme".split(
    "|"
)
PLACES = "in Tripoli|in Lisbon|in Nairobi|in Oslo|in Lima|in Seoul|in Accra|in Hanoi|across the region|after long talks|amid protests|ahead of vote".split(
    "|"
)
SENTENCES = [
    "Officials said the decision followed months of consultation with local groups.",
    "Critics argued that the measures did not go far enough and called for an independent review.",
    "The announcement was welcomed by business leaders, who said it would bring much-needed certainty.",
    "Figures published on Tuesday showed a sharp rise compared with the same period last year.",
    "A spokesperson declined to comment on the timetable but said further details would follow.",
    "Residents interviewed near the site described the changes as long overdue.",
    "Analysts expect the effects to be felt most strongly in rural areas over the coming months.",
    "The opposition said it would press for a debate when parliament returns next week.",
    "Independent experts cautioned that the data was still incomplete.",
    "The plan will be reviewed again at the end of the year, according to the statement.",
]
TAGS = [
    "Elections", "Climate", "Economy", "Energy", "Education", "Transport", "Housing", "Trade",
    "Courts", "Migration", "Space", "Football", "Tennis", "Film", "Music", "Books", "AI",
    "Cybersecurity", "Agriculture", "Water", "Health care", "Vaccines", "Oil", "Banking",
    "Diplomacy", "Defence", "Protests", "Tourism", "Weather", "Startups",
]  # fmt: skip
BATCH = 2000


@contextmanager
def bulk_search_index():
    """On SQLite, index the new rows in one statement at the end instead of one trigger call
    per row (the search index is then built in large, fast merges)."""
    if connection.vendor != "sqlite":
        yield
        return
    trigger = f"{FTS_TABLE}_ai"
    last = Article.objects.aggregate(last=Max("pk"))["last"] or 0
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {FTS_TABLE}(rowid, headline, standfirst, body) "
                "SELECT id, headline, standfirst, body FROM articles_article WHERE id > %s",
                [last],
            )
            cursor.execute(SQLITE_TRIGGERS[trigger])


class Command(BaseCommand):
    help = "Create realistic synthetic articles, authors, categories and tags (bulk inserts)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--articles", type=int, default=200, help="how many articles (default 200)"
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="random seed for repeatable data"
        )
        parser.add_argument("--years", type=int, default=5, help="spread publication over N years")

    def handle(self, *args, articles, seed, years, **options):
        if articles < 0:
            raise CommandError("--articles must be zero or more")
        if years < 1:
            raise CommandError("--years must be at least 1")
        rng = random.Random(seed)
        with transaction.atomic():
            categories = [self._named(Category, name, order=i) for i, name in enumerate(CATEGORIES)]
            tags = [self._named(Tag, name) for name in TAGS]
            authors = self._authors(rng, max(12, min(400, articles // 250)))
        bodies = self._bodies(rng)
        now = timezone.now()
        span = dt.timedelta(days=365 * years).total_seconds()
        start = Article.objects.filter(source="Demo").count()
        done = 0
        with bulk_search_index():
            while done < articles:
                size = min(BATCH, articles - done)
                with transaction.atomic():
                    rows = []
                    for i in range(start + done, start + done + size):
                        headline = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(PLACES)}"
                        body, body_html = rng.choice(bodies)
                        roll = rng.random()
                        published_at = now - dt.timedelta(seconds=rng.random() * span)
                        status = Article.Status.PUBLISHED
                        if roll < 0.03:
                            status = Article.Status.DRAFT
                        elif roll < 0.05:
                            status = Article.Status.REVIEW
                        elif roll < 0.06:
                            published_at = now + dt.timedelta(hours=rng.randint(1, 240))
                        rows.append(
                            Article(
                                headline=headline,
                                slug=f"{slugify(headline)[:150]}-{i + 1}",
                                standfirst=f"{headline}. {rng.choice(SENTENCES)}",
                                body=body,
                                body_html=body_html,
                                status=status,
                                published_at=published_at,
                                category=rng.choice(categories),
                                featured=rng.random() < 0.02,
                                source="Demo",
                            )
                        )
                    created = Article.objects.bulk_create(rows)
                    bylines, tag_links = [], []
                    TagLink = Article.tags.through
                    for article in created:
                        for position, author in enumerate(
                            rng.sample(authors, rng.choice((1, 1, 1, 2, 3)))
                        ):
                            bylines.append((article.pk, author.pk, position))
                        for tag in rng.sample(tags, rng.randint(0, 4)):
                            tag_links.append((article.pk, tag.pk))
                    # Plain executemany: these link rows are most of the rows and need no model.
                    with connection.cursor() as cursor:
                        cursor.executemany(
                            f"INSERT INTO {Byline._meta.db_table} (article_id, author_id, position) "
                            "VALUES (%s, %s, %s)",
                            bylines,
                        )
                        cursor.executemany(
                            f"INSERT INTO {TagLink._meta.db_table} (article_id, tag_id) VALUES (%s, %s)",
                            tag_links,
                        )
                done += size
                self._progress(done, articles)
        pages_changed(EVERY_PAGE)
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # fresh statistics so lists use their covering indexes
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {articles} articles ({len(authors)} authors, {len(categories)} categories, {len(tags)} tags available)."
            )
        )

    def _named(self, model, name, **defaults):
        obj = model.objects.filter(name__iexact=name).first()
        return obj or model.objects.create(name=name, **defaults)

    def _authors(self, rng, count):
        authors = list(Author.objects.all()[:count])
        while len(authors) < count:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if any(a.name == name for a in authors):
                name = f"{name} {len(authors)}"
            authors.append(
                Author.objects.create(
                    name=name, bio=f"{name} reports for Newsdesk. {rng.choice(SENTENCES)}"
                )
            )
        return authors

    def _bodies(self, rng):
        bodies = []
        for _ in range(40):
            paragraphs = [
                " ".join(rng.sample(SENTENCES, rng.randint(2, 4))) for _ in range(rng.randint(4, 9))
            ]
            if rng.random() < 0.5:
                paragraphs.insert(2, "## What happens next")
            text = "\n\n".join(paragraphs)
            bodies.append((text, render_body(text, "markdown")))
        return bodies

    def _progress(self, done, total):
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total else ""
        self.stdout.write(f"\r[{bar}] {done}/{total} articles", ending=end)
        self.stdout.flush()
