"""The database or the cache going away: clean 503s or degraded pages, and recovery by itself.

These tests start their own throwaway PostgreSQL (initdb/pg_ctl) and Redis (redis-server on a free
port) and a real gunicorn, so stopping them never touches the machine's services.
"""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .served import free_port

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
REDIS = shutil.which("redis-server")

pytestmark = [
    # Its own throwaway PostgreSQL and Redis, whatever DATABASE_URL says: CI runs it once.
    pytest.mark.own_stack,
    pytest.mark.skipif(
        not PG_BIN or not REDIS or not shutil.which("runuser") and os.geteuid() == 0,
        reason="needs PostgreSQL's initdb/pg_ctl and redis-server installed to start throwaway instances",
    ),
]


def as_postgres(args):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + args, check=True, capture_output=True, text=True, timeout=60)


class ThrowawayPostgres:
    def __init__(self):
        self.bin = PG_BIN[-1]
        self.dir = tempfile.mkdtemp(prefix="newsdesk-pg-")
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        as_postgres(
            [f"{self.bin}/initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "postgres"]
        )
        self.start()

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self):
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        as_postgres(
            [
                f"{self.bin}/pg_ctl",
                "-D",
                f"{self.dir}/data",
                "-o",
                opts,
                "-w",
                "start",
                "-l",
                f"{self.dir}/log",
            ]
        )

    def stop(self):
        as_postgres(
            [f"{self.bin}/pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "-w", "stop"]
        )

    def destroy(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class ThrowawayRedis:
    def __init__(self):
        self.port = free_port()
        self.process = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                REDIS,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def wait_for_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def stack():
    pg = ThrowawayPostgres()
    redis = ThrowawayRedis()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "DJANGO_DEBUG": "0",
        "DJANGO_HTTPS": "0",
        "DJANGO_SECRET_KEY": "reliability-test-key-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["DJANGO_STATIC_ROOT"] = tempfile.mkdtemp(prefix="newsdesk-static-")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run(
        [*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True, cwd=ROOT, timeout=120
    )
    subprocess.run(
        [*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT, timeout=120
    )
    subprocess.run([*manage, "loaddata", "seed", "-v0"], env=env, check=True, cwd=ROOT, timeout=60)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "newsdesk.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--timeout", "30"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port)
        yield {"pg": pg, "redis": redis, "base": f"http://127.0.0.1:{port}", "server": server}
    finally:
        server.terminate()
        server.wait(10)
        redis.stop()
        pg.destroy()
        shutil.rmtree(env["DJANGO_STATIC_ROOT"], ignore_errors=True)


def test_database_outage_gives_503_and_recovers(stack):
    base = stack["base"]
    article = "/articles/us-experts-libyan-officials-hold-security-meetings/"
    assert get(f"{base}/healthz")[0] == 200
    assert get(f"{base}{article}")[0] == 200
    stack["pg"].stop()
    status, body = get(f"{base}/healthz")
    # Nothing of the database's error (hosts, ports, user names) reaches whoever asked.
    assert status == 503 and json.loads(body) == {
        "status": "unavailable",
        "database": "unavailable",
    }
    status, body = get(f"{base}/articles/")
    assert status == 503
    assert "Temporarily unavailable" in body and "Traceback" not in body
    # Readers keep asking through an outage of several seconds: each worker's pool fails one
    # reconnection after another meanwhile.
    down_until = time.time() + 8
    while time.time() < down_until:
        assert get(f"{base}/articles/")[0] == 503
    stack["pg"].start()
    # Every worker is back within seconds of the database, not after a reconnection delay that
    # grew through the outage (psycopg's pool doubles it up to its reconnect_timeout).
    deadline = time.time() + 4
    while get(f"{base}/articles/")[0] != 200 and time.time() < deadline:
        time.sleep(0.2)
    statuses = [get(f"{base}/articles/")[0] for _ in range(16)]
    assert statuses == [200] * 16
    assert get(f"{base}/healthz")[0] == 200


def test_cache_outage_degrades_and_recovers(stack):
    base = stack["base"]
    stack["redis"].stop()
    for _ in range(3):
        status, body = get(f"{base}/")
        assert status == 200 and "US experts" in body
    stack["redis"].start()
    statuses = [get(f"{base}/articles/")[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
