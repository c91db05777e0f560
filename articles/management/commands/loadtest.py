"""`make loadtest`: gunicorn as deployed (`gunicorn.conf.py`'s worker, the page cache on) under a
mix of readers driven by wrk — front page, articles, archive filters, search, feeds, sections —
while desk editors log in and open the change list. Exits 1 on any 5xx, error or failed desk
request, or when a worker's memory grows by more than a fifth after the warm-up.

The database is the benchmark's (`articles/bench/server.py`: built once per size and reused;
BENCH_DB=postgres for PostgreSQL), the cache Redis db 13 when it answers.
"""

import json
import os
import subprocess
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from articles.bench import loadtest, server
from articles.management.commands.bench_server import describe as describe_bench
from articles.models import Article, Author, Category, Tag

LUA = server.BASE_DIR / "articles" / "bench" / "loadtest.lua"
SEARCH_TERMS = ("budget", "budget rules", "election", "minister", "storm", "health", "report")


def describe():
    """The paths of each kind in this database (and the desk user, made by the benchmark's)."""
    bench = describe_bench()
    published = Article.objects.published().order_by("-published_at", "-pk")
    categories = list(Category.objects.order_by("pk")[:4])
    authors = list(Author.objects.order_by("pk")[:4])
    tags = list(Tag.objects.order_by("pk")[:4])
    archive = ["/articles/", "/articles/?featured=true"]
    archive += [f"/articles/?category={c.slug}" for c in categories]
    archive += [f"/articles/?author={a.slug}" for a in authors]
    archive += [f"/articles/?tag={t.slug}" for t in tags]
    archive += [
        f"/articles/?category={c.slug}&author={a.slug}" for c in categories for a in authors
    ]
    return {
        "drafts": bench["drafts"],
        "groups": {
            "front": ["/"],
            "article": [a.get_absolute_url() for a in published[:40]]
            + [a.get_absolute_url() for a in published.reverse()[:10]],
            "archive": archive,
            "search": [f"/search/?q={term.replace(' ', '+')}" for term in SEARCH_TERMS],
            "feed": ["/feeds/rss/", "/feeds/atom/"]
            + [f"{c.get_absolute_url()}feed/" for c in categories[:2]],
            "section": [c.get_absolute_url() for c in categories]
            + [a.get_absolute_url() for a in authors]
            + [t.get_absolute_url() for t in tags],
        },
    }


class DeskTraffic:
    """Editors in threads: log in (with the login form's CSRF token), open the change list."""

    def __init__(self, base, clients):
        self.base, self.clients = base, clients
        self.logins = self.lists = self.failures = 0
        self.last = ""
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.work, daemon=True) for _ in range(clients)]

    def work(self):
        while not self.stop.is_set():
            desk = server.Desk(self.base)
            for step, count in ((desk.login, "logins"), (desk.change_list, "lists")):
                try:
                    step()
                except (OSError, RuntimeError) as error:  # HTTPError included
                    code = getattr(error, "code", None)
                    self.failed(f"{step.__name__}: {code or error}")
                    break
                with self.lock:
                    setattr(self, count, getattr(self, count) + 1)

    def failed(self, reason):
        with self.lock:
            self.failures += 1
            self.last = reason

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def summary(self):
        return {
            "logins": self.logins,
            "lists": self.lists,
            "failures": self.failures,
            "last": self.last,
        }


class Command(BaseCommand):
    help = "Drive gunicorn with a mix of readers and desk logins; exit 1 on any 5xx or error."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=int, default=60, help="length of the measured run")
        parser.add_argument("--articles", type=int, default=100_000, help="database size")
        parser.add_argument(
            "--connections", type=int, default=16, help="wrk's connections (16 saturate 2 cores)"
        )
        parser.add_argument("--desk", type=int, default=2, help="desk editors logging in")
        parser.add_argument("--describe", action="store_true", help=argparse_hidden())

    def handle(self, *args, seconds, articles, connections, desk, **options):
        if options["describe"]:
            self.stdout.write(json.dumps(describe()))
            return
        if seconds < 1 or articles < 1 or connections < 1 or desk < 1:
            raise CommandError("--seconds, --articles, --connections and --desk must be positive")
        backend = os.environ.get("BENCH_DB", "sqlite").strip() or "sqlite"
        if backend not in ("sqlite", "postgres"):
            raise CommandError("BENCH_DB must be sqlite or postgres")
        if not server.ensure_wrk():
            raise CommandError("the load test needs wrk (apt-get install wrk)")
        started = time.monotonic()
        cache_url = server.redis_url()
        server.collectstatic()
        url, _built = server.database(articles, backend)
        info = json.loads(
            server.manage("loadtest", "--describe", env=server.base_env(url), capture=True)
            .strip()
            .splitlines()[-1]
        )
        paths_file = server.BENCH_DIR / "loadtest-paths.txt"
        paths_file.write_text("\n".join(loadtest.weighted_paths(info["groups"])) + "\n")
        worker_class = server.deployed_worker_class()
        site = server.Server(
            url,
            cache_seconds=300,
            cache_url=cache_url,
            worker_class=worker_class,
            worker_connections=(connections + desk) // server.WORKERS + 8,
        )
        try:
            warmup = min(10, max(3, seconds // 6))
            self.stderr.write(f"Warming up for {warmup} s…")
            for group in info["groups"].values():
                for path in group:
                    server.fetch(site.url + path)
            self.wrk(site.url, paths_file, warmup, connections)
            before = site.worker_rss_by_pid()
            self.stderr.write(
                f"Measuring for {seconds} s ({connections} connections, {desk} desk)…"
            )
            with DeskTraffic(site.url, desk) as traffic:
                output = self.wrk(site.url, paths_file, seconds, connections)
            after = site.worker_rss_by_pid()
        finally:
            site.stop()
        statuses = loadtest.parse_statuses(output)
        socket_errors = loadtest.parse_socket_errors(output)
        growth = loadtest.rss_growth(before, after)
        figures = server.parse_wrk(output)
        self.stdout.write(
            f"Newsdesk load test — {backend}, {articles:,} articles, gunicorn {server.WORKERS} "
            f"workers × {server.THREADS} threads ({worker_class}), cache "
            f"{'Redis' if cache_url else 'file'}, wrk {connections} connections × {seconds} s"
        )
        self.stdout.write(
            loadtest.render(
                statuses=statuses,
                figures=figures,
                socket_errors=socket_errors,
                desk=traffic.summary(),
                before=before,
                after=after,
                growth=growth,
            )
        )
        failures = loadtest.verdict(
            statuses=statuses, socket_errors=socket_errors, desk=traffic.summary(), growth=growth
        )
        self.stdout.write(f"({time.monotonic() - started:.0f} s in all)")
        if failures:
            raise CommandError("load test failed: " + "; ".join(failures))
        self.stdout.write("PASS: no errors, no 5xx, worker memory flat after the warm-up")

    def wrk(self, base, paths_file, seconds, connections):
        command = [
            "wrk", f"-c{connections}", f"-t{min(2, connections)}", f"-d{seconds}s", "--latency",
            "--timeout=30s", "-s", str(LUA), base, "--", str(paths_file),
        ]  # fmt: skip
        try:
            return subprocess.run(command, check=True, capture_output=True, text=True).stdout
        except subprocess.CalledProcessError as error:
            raise CommandError(f"wrk failed: {error.stderr.strip()}") from error


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS
