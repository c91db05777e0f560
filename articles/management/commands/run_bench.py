"""`make bench`: measure Newsdesk's performance targets as ratios within one run.

- pages do a constant number of queries whatever the data size;
- a cached page costs close to a minimal Django view;
- list pages, search and the admin change list stay fast at the given number of articles.
"""

import statistics
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from articles.models import Article, Author, Category, Tag
from articles.paging import last_page_query


def timed(client, url, repeat, clock=time.perf_counter, before=None):
    """The median time of `url` in ms and its status; `before` runs untimed before each call."""
    samples = []
    status = None
    for _ in range(repeat):
        if before is not None:
            before()
        start = clock()
        response = client.get(url)
        samples.append(clock() - start)
        status = response.status_code
    return statistics.median(samples) * 1000, status


class Command(BaseCommand):
    help = "Benchmark public pages, the cache, search and the admin; prints times and ratios."

    def add_arguments(self, parser):
        parser.add_argument(
            "--articles", type=int, default=20000, help="make sure at least N exist"
        )
        parser.add_argument("--repeat", type=int, default=20)
        parser.add_argument(
            "--uncached-only",
            action="store_true",
            help="only the uncached figures of every public page, feed and sitemap",
        )
        parser.add_argument(
            "--cpu",
            action="store_true",
            help="time by this process's CPU time (steadier on a busy machine)",
        )

    def handle(self, *args, articles, repeat, uncached_only=False, cpu=False, **options):
        clock = time.process_time if cpu else time.perf_counter
        existing = Article.objects.count()
        if existing < articles:
            self.stdout.write(f"Generating {articles - existing} articles…")
            call_command(
                "generate_demo_content", articles=articles - existing, seed=1, stdout=self.stdout
            )
        total = Article.objects.count()
        published = Article.objects.published()
        article = published.order_by("-published_at").first()
        category = Category.objects.order_by("pk").first()
        author = Author.objects.order_by("pk").first()
        tag = Tag.objects.order_by("pk").first()
        last_page = last_page_query(published, settings.ARTICLES_PER_PAGE)
        pages = {
            "front page": "/",
            "archive p1": "/articles/",
            "archive last": f"/articles/?{last_page}",
            "article": article.get_absolute_url(),
            "category": category.get_absolute_url(),
            "author": author.get_absolute_url(),
            "tag": tag.get_absolute_url(),
            "search": "/search/?q=budget+rules",
            "archive filtered": f"/articles/?category={category.slug}",
            "rss feed": "/feeds/rss/",
            "sitemap": "/sitemap.xml",
        }
        if uncached_only:
            in_category = last_page_query(
                published.filter(category=category), settings.ARTICLES_PER_PAGE
            )
            pages.update(
                {
                    "category last": f"{category.get_absolute_url()}?{in_category}",
                    "atom feed": "/feeds/atom/",
                    "category feed": f"{category.get_absolute_url()}feed/",
                    "author feed": f"{author.get_absolute_url()}feed/",
                    "corrections": "/corrections/",
                    "corrections feed": "/corrections/feed/",
                    "sitemap articles": "/sitemap-articles.xml",
                    "sitemap tags": "/sitemap-tags.xml",
                    "news sitemap": "/news-sitemap.xml",
                    "robots.txt": "/robots.txt",
                }
            )
        rows = []
        with override_settings(
            ROOT_URLCONF="articles.bench_urls", ALLOWED_HOSTS=["*"], DEBUG=False
        ):
            client = Client()
            minimal_ms, _ = timed(client, "/__bench__/minimal/", repeat * 5, clock)
            for name, url in pages.items():
                with override_settings(CACHE_SECONDS=0):
                    client.get(url)
                    reset_queries()  # request_started clears the log; start from empty
                    with CaptureQueriesContext(connection) as queries:
                        response = client.get(url)
                    nqueries = len(queries)  # read now: the next request clears the log
                    if response.status_code == 404:
                        continue  # a surface this build does not have
                    uncached_ms, status = timed(client, url, repeat, clock)
                if uncached_only:
                    rows.append((name, status, nqueries, uncached_ms, None, None))
                    continue
                # Served through the page cache when it is not there: the first reader after a
                # change waits for the render, when the next scheduled change is due, the store.
                miss_ms, _ = timed(client, url, repeat, clock, before=cache.clear)
                client.get(url)
                cached_ms, _ = timed(client, url, repeat * 2)
                rows.append((name, status, nqueries, uncached_ms, cached_ms, miss_ms))
            User = get_user_model()
            if uncached_only:
                return self.report(total, minimal_ms, rows, uncached=True)
            admin_user = User.objects.filter(
                is_superuser=True
            ).first() or User.objects.create_superuser("bench-admin", password=None)
            client.force_login(admin_user)
            for name, url in {
                "admin change list": "/admin/articles/article/",
                "admin search": "/admin/articles/article/?q=budget",
                "admin state filter": "/admin/articles/article/?state=published",
            }.items():
                client.get(url)
                reset_queries()
                with CaptureQueriesContext(connection) as queries:
                    client.get(url)
                nqueries = len(queries)
                ms, status = timed(client, url, max(3, repeat // 4))
                rows.append((name, status, nqueries, ms, None, None))
        self.report(total, minimal_ms, rows)

    def report(self, total, minimal_ms, rows, uncached=False):
        if uncached:
            self.stdout.write(f"\n{total} articles, {connection.vendor}")
            self.stdout.write(f"minimal Django view: {minimal_ms:.2f} ms (median)")
            self.stdout.write(
                f"{'page':<22}{'status':>7}{'queries':>9}{'uncached ms':>13}{'minimal/page':>14}"
            )
            for name, status, nqueries, ms, _, _ in rows:
                self.stdout.write(
                    f"{name:<22}{status:>7}{nqueries:>9}{ms:>13.2f}{minimal_ms / ms:>14.3f}"
                )
            return
        self.stdout.write(
            f"\nNewsdesk benchmark — {total} articles, {connection.vendor}, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
        )
        self.stdout.write(f"minimal Django view: {minimal_ms:.2f} ms (median)\n")
        self.stdout.write(
            f"{'page':<22}{'status':>7}{'queries':>9}{'render ms':>11}{'miss ms':>9}"
            f"{'cached ms':>11}{'cached/minimal':>16}"
        )
        for name, status, nqueries, ms, cached, miss in rows:
            ratio = f"{cached / minimal_ms:>15.1f}x" if cached else f"{'':>16}"
            cached_text = f"{cached:>11.2f}" if cached else f"{'':>11}"
            miss_text = f"{miss:>9.2f}" if miss else f"{'':>9}"
            self.stdout.write(
                f"{name:<22}{status:>7}{nqueries:>9}{ms:>11.2f}{miss_text}{cached_text}{ratio}"
            )
