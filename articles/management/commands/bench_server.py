"""`make bench`, the real server: gunicorn + wrk at each size, one table, issue 10's targets.

Environment: BENCH_SIZES (default 1000,100000), BENCH_DB (sqlite or postgres), BENCH_SECONDS (5
per measurement), BENCH_CONNECTIONS (16). Targets are reported PASS/FAIL, never asserted: the
command exits 0 unless the benchmark could not run.
"""

import datetime as dt
import json
import os
import platform
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from articles.bench import report, server
from articles.models import Article, Author, Category, Tag
from articles.paging import last_page_query

PUBLIC_PAGES = (
    "article",
    "front page",
    "archive first page",
    "archive last page",
    "section",
    "author",
    "topic",
    "sitemap index",
    "sitemap page",
    "rss feed",
    "search",
)
EDGE_PAGES = ("front page", "article")  # the 304, live-desk, busy-desk and Varnish runs


def describe():
    """The pages to measure in this database, and the desk's user and articles."""
    published = Article.objects.published()
    last_page = last_page_query(published, settings.ARTICLES_PER_PAGE)
    newest = published.order_by("-published_at", "-pk").first()
    oldest = published.order_by("published_at", "pk").first()
    drafts = Article.objects.in_state(Article.State.DRAFT).order_by("pk")[:4]
    User = get_user_model()
    user = User.objects.filter(username=server.DESK_USER).first() or User(
        username=server.DESK_USER, is_staff=True, is_superuser=True
    )
    user.set_password(server.DESK_PASSWORD)
    user.save()
    pages = {
        "bare view": "/__bench__/minimal/",
        "article": newest.get_absolute_url(),
        "front page": "/",
        "archive first page": "/articles/",
        "archive last page": f"/articles/?{last_page}",
        "section": Category.objects.order_by("pk").first().get_absolute_url(),
        "author": Author.objects.order_by("pk").first().get_absolute_url(),
        "topic": Tag.objects.order_by("pk").first().get_absolute_url(),
        "sitemap index": "/sitemap.xml",
        "rss feed": "/feeds/rss/",
        "search": "/search/?q=budget+rules",
    }
    return {
        "articles": Article.objects.count(),
        "pages": pages,
        "drafts": [draft.pk for draft in drafts],
        "old_published": oldest.pk,
    }


ALONE_SECONDS, ALONE_ROUNDS = 1, 3  # the one-connection latency runs of each uncached page
DESK_ROUNDS = 3  # alternating quiet and desk runs of each page (`desk_run`)
# At the largest size each page's rate is compared with a run of the bare view right before it,
# on the uncached server (its own seconds): rates drift by up to a third over the minutes of a
# run on a shared machine, and one bare run at the start skewed the pages read last.
BARE_SECONDS = 2


class Command(BaseCommand):
    help = "Serve benchmark databases with gunicorn, drive each page with wrk, print one table."

    def add_arguments(self, parser):
        parser.add_argument("--describe", action="store_true", help=argparse_hidden())

    def handle(self, *args, **options):
        if options["describe"]:
            self.stdout.write(json.dumps(describe()))
            return
        sizes = sorted(int(s) for s in os.environ.get("BENCH_SIZES", "1000,100000").split(","))
        backend = os.environ.get("BENCH_DB", "sqlite").strip() or "sqlite"
        if backend not in ("sqlite", "postgres"):
            raise CommandError("BENCH_DB must be sqlite or postgres")
        self.seconds = int(os.environ.get("BENCH_SECONDS", "5"))
        self.varnish_skipped = "not installed"
        self.connections = int(os.environ.get("BENCH_CONNECTIONS", "16"))
        self.use_wrk = server.ensure_wrk()
        tool = "wrk" if self.use_wrk else "Python load generator (wrk could not be installed)"
        self.stdout.write(f"Load: {tool}, {self.connections} connections, {self.seconds} s each")
        started = time.monotonic()
        cache_url = server.redis_url()
        server.collectstatic()
        results, memory, databases = {}, {}, {}
        for size in sizes:
            url, built = server.database(size, backend)
            info = server.describe(url)
            databases[size] = {"url": url, "built": built, "articles": info["articles"]}
            largest = size == sizes[-1]
            results[size], memory[size] = self.measure(url, info, cache_url, full=largest)
        if len(sizes) > 1:
            self.alone_runs(databases, results, sizes[0], sizes[-1], cache_url)
        inprocess = self.in_process(databases[sizes[-1]]["url"], sizes[-1])
        rows = report.build_rows(results, sizes[-1], sizes[0])
        table = report.render_table(
            rows, small_label=report.size_label(sizes[0]), big_label=report.size_label(sizes[-1])
        )
        targets = report.check_targets(rows)
        machine = f"{os.cpu_count()} cores, {platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
        header = (
            f"Newsdesk real-server benchmark — {backend}, {sizes[-1]:,} articles "
            f"(flat ratio against {sizes[0]:,}), gunicorn {server.WORKERS} workers × "
            f"{server.THREADS} threads ({server.deployed_worker_class()}), cache {'Redis' if cache_url else 'file'}, "
            f"{tool} {self.connections} connections × {self.seconds} s; {machine}"
        )
        self.stdout.write("\n" + inprocess)
        self.stdout.write("\n" + header + "\n\n" + table + "\n")
        for size in sizes:
            self.stdout.write(
                f"worker RSS at {size:,} (MB, before → after): "
                + "; ".join(
                    f"{run}: {m['before']} → {m['after']}" for run, m in memory[size].items()
                )
            )
        desk = results[sizes[-1]].get("desk", {})
        for run, done in desk.items():
            self.stdout.write(
                f"{run}: {done['saves']} desk saves went through, {done['failures']} refused or failed"
                + (f" (last: {done['last_failure']})" if done["last_failure"] else "")
            )
        if not any(r["run"] == "varnish" for r in rows):
            self.stdout.write(f"Varnish: {self.varnish_skipped} — skipped")
        self.stdout.write("\nTargets (reported, not asserted):\n" + report.render_targets(targets))
        out = Path(server.BASE_DIR / "var" / "bench.json")
        out.write_text(
            json.dumps(
                {
                    "taken": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "header": header,
                    "machine": machine,
                    "backend": backend,
                    "sizes": sizes,
                    "databases": databases,
                    "results": {str(k): v for k, v in results.items()},
                    "memory_mb": {str(k): v for k, v in memory.items()},
                    "rows": rows,
                    "table": table,
                    "targets": targets,
                    "in_process": inprocess,
                    "seconds": round(time.monotonic() - started),
                },
                indent=2,
            )
        )
        self.stdout.write(f"\nWrote {out} ({time.monotonic() - started:.0f} s in all)")

    def load(self, base, path, headers=None):
        return server.load(
            base + path,
            seconds=self.seconds,
            connections=self.connections,
            headers=headers,
            use_wrk=self.use_wrk,
        )

    def measure(self, url, info, cache_url, *, full):
        pages = dict(info["pages"])
        bare_path = pages["bare view"]
        figures, memory = {}, {}
        # The uncached server runs to the end: the bare view (which the cached one would answer
        # from its cache) is read on it beside each page when `full`.
        uncached = server.Server(url, cache_seconds=0, cache_url=cache_url)
        try:
            bare = self.bare_runs(uncached.url + bare_path) if full else None
            pages["sitemap page"] = server.sitemap_page(uncached.url) or "/sitemap.xml"
            memory["uncached"] = {"before": uncached.worker_rss_mb()}
            figures["uncached"] = self.run_pages(uncached.url, pages, bare)
            memory["uncached"]["after"] = uncached.worker_rss_mb()
            cached = server.Server(url, cache_seconds=300, cache_url=cache_url)
            try:
                memory["cached"] = {"before": cached.worker_rss_mb()}
                del pages["bare view"]  # it would be a cache hit: the bare view is the uncached one
                figures["cached"] = self.run_pages(cached.url, pages, bare)
                if full:
                    figures.update(self.edge_runs(cached, pages, info, bare))
                memory["cached"]["after"] = cached.worker_rss_mb()
            finally:
                cached.stop()
        finally:
            uncached.stop()
        if bare is not None and bare.runs:
            # The bare view's row: every run of it, each page's ratio its own run's.
            figures["uncached"]["bare view"].update(report.combined(bare.runs))
        return figures, memory

    def bare_runs(self, url):
        """A callable that reads the bare view for BARE_SECONDS and keeps the run."""
        runs = []

        def run():
            found = server.load(
                url, seconds=BARE_SECONDS, connections=self.connections, use_wrk=self.use_wrk
            )
            runs.append(found)
            return found["rps"]

        run.runs = runs
        return run

    def load_beside(self, base, path, bare, headers=None):
        """`load`, after a run of the bare view (its rate as `bare_rps`) when `bare` is given."""
        beside = bare() if bare is not None else None
        found = self.load(base, path, headers)
        if beside is not None:
            found["bare_rps"] = beside
        return found

    def run_pages(self, base, pages, bare=None):
        """Each page under load; with `bare`, after a run of the bare view (`bare_rps`)."""
        figures = {}
        for name, path in pages.items():
            status, _ = server.fetch(base + path)  # warm (and, when cached, stored)
            _, headers = server.fetch(base + path)
            found = self.load_beside(base, path, bare if name != "bare view" else None)
            figures[name] = {"path": path, "status": status, **found}
            figures[name]["x_cache"] = headers.get("X-Cache")
            server.log(f"  {name:<20} {status} {figures[name]['rps']:>8.1f} req/s")
        return figures

    def alone_runs(self, databases, results, small, large, cache_url):
        """Each uncached page's latency with one connection (`p50_alone`, the time one request
        takes, without the queueing of 16 connections on 2 cores that makes the loaded p50 swing
        with the run), at the smallest and the largest size: both served at once and read in
        turn, ALONE_ROUNDS times each, so the flatness ratio compares runs seconds apart rather
        than minutes (a page's time here drifts by a third over minutes)."""
        servers = {}
        try:
            for size in (small, large):
                servers[size] = server.Server(
                    databases[size]["url"], cache_seconds=0, cache_url=cache_url
                )
            server.log("One-connection runs, both sizes in turn…")
            for name in results[large]["uncached"]:
                urls = {s: servers[s].url + results[s]["uncached"][name]["path"] for s in servers}
                for url in urls.values():  # warm: each worker compiles and prepares once
                    for _ in range(4):
                        server.fetch(url)
                p50s = {size: [] for size in urls}
                for _ in range(ALONE_ROUNDS):
                    for size, url in urls.items():
                        one = server.load(
                            url, seconds=ALONE_SECONDS, connections=1, use_wrk=self.use_wrk
                        )
                        p50s[size].append(one["p50"])
                for size, found in p50s.items():
                    results[size]["uncached"][name]["p50_alone"] = report.median(found)
        finally:
            for running in servers.values():
                running.stop()

    def edge_runs(self, cached, pages, info, bare=None):
        figures = {"304": {}, "live desk": {}, "busy desk": {}, "varnish": {}}
        for name in EDGE_PAGES:
            _, headers = server.fetch(cached.url + pages[name])
            etag = headers.get("ETag")
            status = (
                server.fetch(cached.url + pages[name], {"If-None-Match": etag})[0] if etag else None
            )
            if status == 304:
                # The cached 200 it is compared with is measured right before it: rates drift
                # over a run on a shared machine, and the figure from the page sweep is minutes old.
                quiet = self.load(cached.url, pages[name])
                figures["304"][name] = {
                    **self.load(cached.url, pages[name], {"If-None-Match": etag}),
                    "status": 304,
                    "quiet_rps": quiet["rps"],
                }
            else:
                server.log(f"  304: {name} gave {status} with its ETag {etag!r}: skipped")
        figures["live desk"] = self.desk_run(
            cached.url, pages, server.live_desk(cached.url, info), server.LIVE_DESK_SAVES_PER_SECOND
        )
        figures["busy desk"] = self.desk_run(cached.url, pages, server.busy_desk(cached.url, info))
        try:
            edge = server.varnish(cached.port)
        except RuntimeError as exc:
            edge, self.varnish_skipped = None, f"varnishd did not start ({exc})"
        if edge:
            process, base, workdir = edge
            try:
                server.fetch(base + "/")
                figures["varnish"]["front page"] = self.load_beside(base, "/", bare)
            finally:
                process.terminate()
                process.wait()
                shutil.rmtree(workdir, ignore_errors=True)
        figures["desk"] = {run: figures[run].pop("desk") for run in ("live desk", "busy desk")}
        server.log(f"  desk saves: {figures['desk']}")
        return figures

    def desk_run(self, base, pages, desk, schedule=None):
        """Each EDGE_PAGE read with the `desk` (its desks and their work) at work, against the
        same page read alone. A page's cached rate drifts by about a tenth from one run to the
        next on a shared two-core machine, as much as the desk's own effect: the quiet and busy
        runs alternate, DESK_ROUNDS times, and the ratio compares their sums. With `schedule`
        (the saves a second the desk's work asks for), each page also records the saves made
        and due while the desk worked."""
        desks, works = desk
        figures = {}
        for name in EDGE_PAGES:
            quiet, busy = [], []
            saves, seconds = sum(d.saves for d in desks), 0.0
            for _ in range(DESK_ROUNDS):
                quiet.append(self.load(base, pages[name]))
                started = time.monotonic()
                running = [server.in_background(work) for work in works]
                try:
                    busy.append(self.load(base, pages[name]))
                finally:
                    for _thread, stop in running:
                        stop.set()
                    for thread, _stop in running:
                        thread.join()
                    seconds += time.monotonic() - started
            figures[name] = {
                **report.combined(busy),
                "quiet_rps": report.combined(quiet)["rps"],
                "desk_saves": sum(d.saves for d in desks) - saves,
                "desk_seconds": round(seconds, 1),
            }
            if schedule:
                figures[name]["desk_due"] = round(seconds * schedule, 1)
        figures["desk"] = {
            "saves": sum(d.saves for d in desks),
            "failures": sum(d.failures for d in desks),
            "last_failure": next((d.last_failure for d in desks if d.last_failure), ""),
        }
        return figures

    def in_process(self, url, size):
        """run_bench's in-process figures (Django test client) on the largest database."""
        if os.environ.get("BENCH_INPROCESS", "1") == "0":
            return "In-process figures: skipped (BENCH_INPROCESS=0)"
        env = dict(server.base_env(url), DJANGO_DEBUG="1")
        return server.manage(
            "run_bench", "--articles", str(size), "--repeat", "5", env=env, capture=True
        ).strip()


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS
