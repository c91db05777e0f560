"""`make cluster`: Newsdesk as several machines would run it, on loopback ports of this one.

SeaweedFS (media, S3), PostgreSQL (the machine's at 127.0.0.1:5432 with a throwaway database
`newsdesk_cluster`, else a throwaway cluster), Redis (the machine's at 6379 with a key prefix of
its own, else its own redis-server), two gunicorn app servers as deployed (debug off, one secret
key, sessions in the database, the page cache in Redis, media in the bucket) and Varnish in front
of both (round robin, xkey purges from both, /media/ from the bucket). `Cluster` is what
`manage.py cluster` runs and what `make cluster-test` starts.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

from newsdesk.stack import (
    LOOPBACK,
    Gunicorn,
    Postgres,
    Redis,
    SeaweedFS,
    StackError,
    Varnish,
    answers,
    cluster_vcl,
    create_database,
)

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "newsdesk-media"


class Cluster:
    def __init__(self, workdir: Path, *, admin_password: str | None = None, log=print):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)  # varnishd (started as root) reads its VCL as its own user
        self.admin_password = admin_password or secrets.token_urlsafe(12)
        self.log = log
        self.servers: list = []
        self.seaweedfs = self.varnish = None
        self.apps: list[Gunicorn] = []
        self.env: dict = {}

    def _start(self, server, *args):
        self.servers.append(server)
        return server.start(*args)

    def start(self) -> Cluster:
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_all(self):
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(key, "newsdesk")
        self.log("Starting SeaweedFS (S3)…")
        self.seaweedfs = self._start(SeaweedFS(self.workdir / "seaweedfs"))
        self.seaweedfs.create_bucket(BUCKET)
        database_url = self._database()
        redis_url = self._redis()
        self.varnish = Varnish(self.workdir / "varnish")
        edge = self.varnish.url
        self.env = {
            "DJANGO_DEBUG": "0",
            "DJANGO_HTTPS": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": f"{LOOPBACK},localhost",
            "DJANGO_CSRF_TRUSTED_ORIGINS": edge,
            "DJANGO_DATA_DIR": str(self.workdir / "data"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "NEWSDESK_CACHE_PREFIX": f"newsdesk-cluster-{uuid.uuid4().hex[:8]}",
            "MEDIA_STORAGE_URL": self.seaweedfs.storage_url(BUCKET),
            "MEDIA_CDN_URL": f"{edge}/media/",
            "NEWSDESK_EDGE_PURGE_URLS": f"{edge}/",
            "SITE_URL": edge,
            "GUNICORN_WORKERS": "1",
            "DJANGO_SUPERUSER_USERNAME": "admin",
            "DJANGO_SUPERUSER_PASSWORD": self.admin_password,
        }
        self.log("Migrating, collecting static files, preparing the site…")
        for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"],
                        ["prepare_site"]):  # fmt: skip
            self.manage(*command)
        for name in ("app-a", "app-b"):
            self.log(f"Starting gunicorn {name}…")
            self.apps.append(
                self._start(Gunicorn(self.workdir / name, name, {**os.environ, **self.env}, ROOT))
            )
        vcl = cluster_vcl(
            (ROOT / "deploy/varnish/site.vcl").read_text(),
            app_ports=[app.port for app in self.apps],
            s3_port=self.seaweedfs.s3_port,
            bucket=BUCKET,
        )
        self.log("Starting Varnish…")
        self._start(self.varnish, vcl)

    def _database(self) -> str:
        if answers(5432):
            base = os.environ.get("NEWSDESK_CLUSTER_PG", f"postgres://postgres@{LOOPBACK}:5432")
            name = os.environ.get("NEWSDESK_CLUSTER_DB", "newsdesk_cluster")
            self.log(f"PostgreSQL: the machine's at {LOOPBACK}:5432, database {name}")
            return create_database(base, name)
        self.log("PostgreSQL: none answers at 5432; starting a throwaway cluster…")
        server = self._start(Postgres(self.workdir / "postgres"))
        return create_database(f"postgres://postgres@{LOOPBACK}:{server.port}", "newsdesk")

    def _redis(self) -> str:
        if answers(6379):
            self.log(f"Redis: the machine's at {LOOPBACK}:6379 (keys under a prefix of their own)")
            return f"redis://{LOOPBACK}:6379/0"
        server = self._start(Redis(self.workdir / "redis"))
        return f"redis://{LOOPBACK}:{server.port}/0"

    def manage(self, *args) -> str:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env={**os.environ, **self.env}, cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def describe(self) -> str:
        lines = [
            f"Site (Varnish, round robin over both app servers): {self.varnish.url}/",
            f"Desk: {self.varnish.url}/admin/  (admin / {self.admin_password})",
            *(f"App server {a.name}: {a.url}/" for a in self.apps),
            f"Media (S3, bucket {BUCKET}): {self.seaweedfs.endpoint}/  via {self.varnish.url}/media/",
            f"Database: {self.env['DATABASE_URL']}   Redis: {self.env['REDIS_URL']}",
            f"Logs: {self.workdir}/*/*.log",
        ]
        return "\n".join(lines)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
