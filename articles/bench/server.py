"""The real-server parts of `make bench`: databases, gunicorn, wrk (or a Python fallback), and
the desk clients that save through the admin while readers are measured."""

import functools
import hashlib
import http.client
import itertools
import json
import os
import re
import runpy
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path

import django

from .report import parse_wrk, size_label

BASE_DIR = Path(__file__).resolve().parent.parent.parent
BENCH_DIR = BASE_DIR / "var" / "bench"
DESK_USER, DESK_PASSWORD = "bench-desk", "bench-desk-password-1"


@functools.cache
def deployed(name):
    """A setting of gunicorn.conf.py (the worker class, workers, threads): the benchmark and the
    load test measure what is deployed. The file sets defaults in os.environ for gunicorn's
    workers; they are not left in this process's."""
    saved = dict(os.environ)
    try:
        return runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))[name]
    finally:
        os.environ.clear()
        os.environ.update(saved)


def deployed_worker_class() -> str:
    return deployed("worker_class")


# Gunicorn as deployed (gunicorn.conf.py: cores + 1 workers × 3 threads of its gthread worker),
# unless BENCH_WORKERS / BENCH_THREADS say otherwise.
WORKERS = int(os.environ.get("BENCH_WORKERS") or deployed("workers"))
THREADS = int(os.environ.get("BENCH_THREADS") or deployed("threads"))
# gthread keeps each keep-alive connection on the worker that accepted it, and one worker often
# accepts all of wrk's connections at once: the other core then idles and a figure halves from
# one run to the next. A cap per worker spreads them (wrk's connections over the workers, plus
# room for the desk's clients).
WORKER_CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16")) // WORKERS + 4


def log(message):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def schema_key():
    """Changes when the schema or the generated data would: migrations, the generator, Django."""
    digest = hashlib.sha256(django.get_version().encode())
    files = sorted((BASE_DIR / "articles" / "migrations").glob("*.py"))
    files.append(BASE_DIR / "articles" / "management" / "commands" / "generate_demo_content.py")
    for path in files:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def manage(*args, env, capture=False):
    command = [sys.executable, str(BASE_DIR / "manage.py"), *args]
    if capture:
        return subprocess.run(
            command, env=env, cwd=BASE_DIR, check=True, capture_output=True, text=True
        ).stdout
    subprocess.run(command, env=env, cwd=BASE_DIR, check=True, stdout=sys.stderr)
    return None


def base_env(database_url):
    # Never the caller's site cache: only the benchmark's servers get a REDIS_URL (db 13).
    drop = ("DJANGO_SETTINGS_MODULE", "REDIS_URL", "NEWSDESK_CACHE_PREFIX", "DJANGO_DATA_DIR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_HTTPS="0",
        DJANGO_SECRET_KEY="bench-" + "x" * 50,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_STATIC_ROOT=str(BENCH_DIR / "static"),
        DATABASE_URL=database_url,
        NEWSDESK_BENCH="1",
        DJANGO_LOG_LEVEL="ERROR",
        DJANGO_DATA_DIR=str(BENCH_DIR / "data"),
    )
    return env


def _pg_admin():
    import psycopg

    return psycopg.connect(
        os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        autocommit=True,
    )


def database(size, backend):
    """A migrated database of `size` synthetic articles, reused while its key matches."""
    key = f"{schema_key()}-{size}"
    label = size_label(size)
    if backend == "postgres":
        name = f"newsdesk_bench_{label}"
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
        with _pg_admin() as conn:
            row = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                [name],
            ).fetchone()
            if row and row[0] == key:
                return url, False
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        _fill(size, url)
        import psycopg

        # Planner statistics and a vacuumed table, as autovacuum keeps them on a live site: right
        # after a bulk load PostgreSQL has no statistics and picks plans that scan the whole
        # archive (1 s for one page), and autovacuum would then run during the measurements.
        with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        with _pg_admin() as conn:
            conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{key}'")
        return url, True
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"bench-{label}-{key}.sqlite3"
    if path.exists():
        return f"sqlite:///{path}", False
    for old in BENCH_DIR.glob(f"bench-{label}-*.sqlite3*"):
        old.unlink()
    building = BENCH_DIR / f"building-{label}.sqlite3"
    for old in BENCH_DIR.glob(f"building-{label}.sqlite3*"):
        old.unlink()
    _fill(size, f"sqlite:///{building}")
    with sqlite3.connect(building) as conn:  # fold the WAL in, so one file is the database
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    building.rename(path)
    for old in BENCH_DIR.glob(f"building-{label}.sqlite3*"):
        old.unlink()
    return f"sqlite:///{path}", True


def _fill(size, url):
    env = base_env(url)
    started = time.monotonic()
    log(f"Building a database of {size:,} articles…")
    manage("migrate", "--noinput", "-v0", env=env)
    manage("generate_demo_content", "--articles", str(size), "--seed", "1", env=env)
    log(f"  built in {time.monotonic() - started:.0f} s")


def describe(database_url):
    """The URLs to measure and the desk's articles, read from the database by `bench_server
    --describe` (which also makes the desk user)."""
    out = manage("bench_server", "--describe", env=base_env(database_url), capture=True)
    return json.loads(out.strip().splitlines()[-1])


def collectstatic():
    env = base_env("sqlite:///" + str(BENCH_DIR / "static-build.sqlite3"))
    manage("collectstatic", "--noinput", "-v0", env=env)


def redis_url():
    """Redis db 13 when Redis answers (flushed: it is the benchmark's own), else None."""
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    try:
        flush(url)
    except Exception:  # noqa: BLE001 - no Redis: the file cache
        return None
    return url


def flush(url):
    import redis

    redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()


class Server:
    """gunicorn serving Newsdesk on a free loopback port, with the deployed worker class (and
    gunicorn.conf.py's other settings, which gunicorn reads from the project folder)."""

    def __init__(
        self,
        database_url,
        *,
        cache_seconds,
        cache_url,
        worker_class=None,
        worker_connections=WORKER_CONNECTIONS,
    ):
        self.worker_class = worker_class or deployed_worker_class()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = base_env(database_url)
        env["NEWSDESK_CACHE_SECONDS"] = str(cache_seconds)
        env["SITE_URL"] = self.url
        if cache_url:
            env["REDIS_URL"] = cache_url
            flush(cache_url)  # no page of another size or run is served from it
        else:
            shutil.rmtree(BENCH_DIR / "data" / "cache", ignore_errors=True)
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                "newsdesk.wsgi:application",
                f"--bind=127.0.0.1:{self.port}",
                f"--workers={WORKERS}",
                f"--worker-class={self.worker_class}",
                f"--threads={THREADS}",
                "--timeout=120",
                f"--worker-connections={worker_connections}",
                "--log-level=warning",
            ],
            env=env,
            cwd=BASE_DIR,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if fetch(self.url + "/__bench__/minimal/")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited at start")
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("gunicorn did not answer within 60 s")

    def worker_rss_mb(self):
        """Resident memory of each gunicorn worker (children of the master), from /proc."""
        return sorted(self.worker_rss_by_pid().values())

    def worker_rss_by_pid(self):
        """{pid: resident MB} of each gunicorn worker."""
        sizes = {}
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            ppid = re.search(r"^PPid:\s+(\d+)", text, re.M)
            rss = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
            if ppid and rss and int(ppid[1]) == self.process.pid:
                sizes[int(status.parent.name)] = round(int(rss[1]) / 1024, 1)
        return sizes

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def fetch(url, headers=None, *, body=False):
    """(status, headers[, text]) of a GET; 4xx/5xx answers are returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            result = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        result = error.code, dict(error.headers), b""
    return (*result[:2], result[2].decode(errors="replace")) if body else result[:2]


def sitemap_page(base):
    """The path of the first articles sitemap page listed in /sitemap.xml (else the first)."""
    _, _, text = fetch(base + "/sitemap.xml", body=True)
    locs = re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", text)
    chosen = next((loc for loc in locs if "article" in loc), locs[0] if locs else None)
    if not chosen:
        return None
    parts = urllib.parse.urlsplit(chosen.replace("&amp;", "&"))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def ensure_wrk():
    """wrk from Debian (installed when missing, like chromium for the browser tests)."""
    if shutil.which("wrk"):
        return True
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    log("Installing Debian's wrk for the benchmark")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            [*sudo, "apt-get", "install", "-y", "-qq", "wrk"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return bool(shutil.which("wrk"))


def load(url, *, seconds, connections, headers=None, use_wrk=True):
    """Drive `url` for `seconds` with `connections` keep-alive connections."""
    if use_wrk:
        threads = min(2, connections)
        command = [
            "wrk", f"-c{connections}", f"-t{threads}", f"-d{seconds}s", "--latency", "--timeout=60s"
        ]  # fmt: skip
        for name, value in (headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
        return parse_wrk(output)
    return python_load(url, seconds=seconds, connections=connections, headers=headers)


def python_load(url, *, seconds, connections, headers=None):
    """A small stand-in for wrk: threads with keep-alive connections (it measures less)."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies, errors = [], [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        mine = []
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                conn.request("GET", target, headers=headers or {})
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors[0] += 1
            except OSError:
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                continue
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else None

    return {
        "rps": len(latencies) / seconds,
        "p50": pct(0.5),
        "p99": pct(0.99),
        "requests": len(latencies),
        "errors": errors[0],
    }


class FormParser(HTMLParser):
    """What a browser would post back from the admin change form (inputs, selects, textareas)."""

    def __init__(self):
        super().__init__()
        self.fields, self._select, self._textarea, self._in_form = [], None, None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("method", "").lower() == "post":
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append([name, a.get("value", "on" if kind == "checkbox" else "")])
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append([self._select, a.get("value", "")])
        elif tag == "textarea" and name:
            self._textarea = [name, ""]
            self.fields.append(self._textarea)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in_form = False

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data


def form_fields(page):
    """What a browser would post back from the form on `page` (`FormParser`)."""
    parser = FormParser()
    parser.feed(page)
    return parser.fields


class Desk:
    """One editor in the admin: logs in, opens change forms and saves them over HTTP. Like a
    browser tab, the editor goes on from the form a save returns (the admin redirects back to
    the change form): a form is opened once, then each save's answer is the next one's form."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.saves = self.failures = 0
        self.last_failure = ""
        self.forms = {}

    def _open(self, path, data=None):
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        with self.opener.open(self.base + path, body, timeout=120) as response:
            return response.read().decode()

    def _form(self, path):
        return form_fields(self._open(path))

    def failed(self, reason):
        self.failures += 1
        self.last_failure = reason

    def login(self):
        self.forms.clear()  # signing in rotates the CSRF token the open forms carry
        fields = dict(self._form("/admin/login/"))
        fields.update(username=DESK_USER, password=DESK_PASSWORD, next="/admin/")
        page = self._open("/admin/login/?next=/admin/", fields)
        if "errornote" in page:
            raise RuntimeError("the desk user could not log in")

    def open(self, pk):
        """Open the change form of article `pk`, as the next save's form."""
        self.forms[pk] = self._form(f"/admin/articles/article/{pk}/change/")

    def change_list(self):
        self._open("/admin/articles/article/")

    def save(self, pk, *, tick):
        """Add a line to the body of the open form of `pk` (opened first if none is) and press
        Save; the form the save returns is the next save's."""
        path = f"/admin/articles/article/{pk}/change/"
        try:
            fields = self.forms.pop(pk, None) or self._form(path)
            for field in fields:
                if field[0] == "body":
                    field[1] = field[1].split("\n\nDesk note ")[0] + f"\n\nDesk note {tick}."
            page = self._open(path, [*map(tuple, fields), ("_action", "save")])
        except OSError as error:  # HTTPError included
            self.failed(f"{pk}: {error}")
            return
        if "errornote" in page or "errorlist" in page:
            found = re.search(r'class="errorlist[^>]*>(.{0,200})', page, re.S)
            self.failed(f"{pk}: refused: {found[1] if found else 'errornote'}")
            return
        self.saves += 1
        fields = form_fields(page)
        if any(name == "loaded_version" for name, _ in fields):
            self.forms[pk] = fields


def in_background(work):
    """Run `work(stop_event)` in a thread; returns (thread, stop_event)."""
    stop = threading.Event()
    thread = threading.Thread(target=work, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


# The live desk's schedule: a draft saved every second and an old story every 5 s.
LIVE_DESK_SAVES_PER_SECOND = 1 + 1 / 5


def live_desk(base, info):
    """A draft saved every second, an old published story edited every 5 s: ([the desk], [its
    work]). The editor is signed in with both forms open before the readers are measured. A
    save that takes longer than its second delays the next: the desk then makes fewer saves
    than LIVE_DESK_SAVES_PER_SECOND asks, which the benchmark reports."""
    desk = Desk(base)
    desk.login()
    for pk in (info["drafts"][0], info["old_published"]):
        desk.open(pk)

    ticks = itertools.count()  # one count through every run of the work

    def work(stop):
        while not stop.is_set():
            started, tick = time.monotonic(), next(ticks)
            desk.save(info["drafts"][0], tick=tick)
            if tick % 5 == 0:
                desk.save(info["old_published"], tick=tick)
            stop.wait(max(0.0, 1 - (time.monotonic() - started)))

    return [desk], [work]


def busy_desk(base, info, clients=3):
    """A few editors hammering the desk: change list at full size, logins, draft saves."""
    desks = [Desk(base) for _ in range(clients)]
    for desk in desks:
        desk.login()

    def work_for(desk, draft, first):
        # One count through every run of the work, starting apart: three sign-ins at the same
        # instant would be more than one worker takes at once (a 429, by design).
        ticks = itertools.count(first)

        def work(stop):
            while not stop.is_set():
                tick = next(ticks)
                try:
                    desk.change_list()
                    if tick % 3 == 0:
                        desk.login()
                except (OSError, RuntimeError) as error:
                    desk.failed(str(error))
                desk.save(draft, tick=tick)

        return work

    # Each editor saves a draft of her own (the same draft from two forms would be a conflict).
    drafts = info["drafts"][1:] or info["drafts"]
    return desks, [work_for(desk, drafts[i % len(drafts)], i) for i, desk in enumerate(desks)]


def varnish(backend_port):
    """varnishd in front of the server, when installed and the site ships a VCL: (process,
    base URL, its folder), or None. Raises RuntimeError with varnishd's words when it does not
    start. Its folder is a fresh one anyone may read: varnishd drops its privileges before it
    reads the VCL, and a private umask made `var/bench` unreadable to it."""
    vcl = BASE_DIR / "deploy" / "varnish" / "site.vcl"
    if not shutil.which("varnishd") or not vcl.exists():
        return None
    text = re.sub(r'(\.port\s*=\s*)"\d+"', rf'\1"{backend_port}"', vcl.read_text())
    text = re.sub(r'(\.host\s*=\s*)"[^"]*"', r'\1"127.0.0.1"', text)
    workdir = Path(tempfile.mkdtemp(prefix="newsdesk-bench-varnish-"))
    workdir.chmod(0o755)
    (workdir / "site.vcl").write_text(text)
    (workdir / "site.vcl").chmod(0o644)
    port = free_port()
    process = subprocess.Popen(
        ["varnishd", "-F", "-a", f"127.0.0.1:{port}", "-f", str(workdir / "site.vcl"),
         "-n", str(workdir / "n"), "-s", "malloc,64m"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    for _ in range(50):
        if process.poll() is not None:
            break
        try:
            fetch(f"http://127.0.0.1:{port}/")
            return process, f"http://127.0.0.1:{port}", workdir
        except OSError:
            time.sleep(0.2)
    process.kill()
    reason = process.communicate()[1].decode(errors="replace").strip()
    shutil.rmtree(workdir, ignore_errors=True)
    raise RuntimeError(reason.splitlines()[0] if reason else "no answer within 10 s")
