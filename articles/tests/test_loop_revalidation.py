"""A revalidation answered by the worker's event loop (`newsdesk.gunicorn_worker`): the real
gunicorn as deployed, with Redis, answers a matching If-None-Match with a 304 from its ETag
copies without handing the request to a thread, and everything else as before."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from .served import ROOT, free_port, prepared_site

# A real gunicorn on its own SQLite file and Redis database, whatever DATABASE_URL says.
pytestmark = pytest.mark.own_stack

REDIS_URL = "redis://127.0.0.1:6379/{}".format(os.environ.get("NEWSDESK_LOOP_TEST_REDIS_DB", "14"))
# The deployed settings, plus a hook that writes down which thread began each request.
CONFIG = """
import threading
exec(open({deployed!r}).read())

def pre_request(worker, req):
    where = "loop" if threading.current_thread() is threading.main_thread() else "thread"
    with open({record!r}, "a") as f:
        f.write(f"{{req.method}} {{req.path}} {{where}}\\n")
"""


@pytest.fixture(scope="module")
def site():
    try:
        store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        store.flushdb()
    except redis.RedisError as error:
        pytest.fail(f"this test needs the machine's Redis at {REDIS_URL}: {error}")
    workdir = Path(tempfile.mkdtemp(prefix="newsdesk-loop-"))
    record = workdir / "threads.log"
    config = workdir / "gunicorn_test.conf.py"
    config.write_text(CONFIG.format(deployed=str(ROOT / "gunicorn.conf.py"), record=str(record)))
    port = free_port()
    env = prepared_site(
        workdir,
        REDIS_URL=REDIS_URL,
        NEWSDESK_CACHE_SECONDS="300",
        # One worker with one thread: each request meets the same copies and the same thread.
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="1",
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "-c", str(config), "newsdesk.wsgi", "-b", f"127.0.0.1:{port}"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no gunicorn"
                time.sleep(0.3)
        yield {"port": port, "record": record, "store": store}
    finally:
        server.terminate()
        server.wait(20)
        store.flushdb()
        shutil.rmtree(workdir, ignore_errors=True)


class Client:
    """One keep-alive connection, raw HTTP/1.1: (status, headers, body) per request."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def send(self, *requests):
        self.sock.sendall(b"".join(requests))

    def request(self, path, method="GET", **headers):
        self.send(raw(path, method, **headers))
        return self.answer(method)

    def answer(self, method="GET"):
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if method == "HEAD" or status == 304 else int(headers["content-length"])
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def _more(self):
        data = self.sock.recv(65536)
        assert data, "the server closed the connection"
        self.buffer += data

    def close(self):
        self.sock.close()


def raw(path, method="GET", **headers):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def where(site, count):
    """The last `count` lines the pre_request hook wrote: (method, path, 'loop' | 'thread')."""
    deadline = time.monotonic() + 5
    while True:
        lines = site["record"].read_text().splitlines() if site["record"].exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return [tuple(line.split()) for line in lines[-count:]]
        time.sleep(0.05)


def stored_etag(site, client, path, method="GET"):
    """Render and store `path`, read it from the store, and revalidate it until the loop
    answers: its ETag. The first revalidations go to the thread, which starts the worker's
    tracked copies of the ETags and keeps this one once Redis tracks them."""
    client.request(path, method)
    status, headers, _ = client.request(path, method)
    assert status == 200 and headers["x-cache"] == "hit"
    for _ in range(20):
        assert client.request(path, method, If_None_Match=headers["etag"])[0] == 304
        if where(site, 1)[0][2] == "loop":
            return headers["etag"]
        time.sleep(0.05)
    raise AssertionError("the loop never answered a revalidation")


def test_a_matching_revalidation_is_answered_by_the_loop_with_the_threads_headers(site):
    client = Client(site["port"])
    try:
        etag = stored_etag(site, client, "/")
        status, headers, body = client.request("/", If_None_Match=etag)
        assert (status, body) == (304, b"")
        assert where(site, 1) == [("GET", "/", "loop")]
        assert headers["etag"] == etag and headers["x-cache"] == "hit"
        assert headers["connection"] == "keep-alive" and headers["server"] == "gunicorn"
        assert "s-maxage=" in headers["cache-control"]
        assert "front" in headers["xkey"].split() and headers["surrogate-key"] == headers["xkey"]
        assert "date" in headers and "content-length" not in headers
        # The same connection goes on: a 200 from a thread, then the loop again.
        status, _, body = client.request("/")
        assert status == 200 and b"</html>" in body
        assert client.request("/", If_None_Match=etag)[0] == 304
        assert [w for _, _, w in where(site, 2)] == ["thread", "loop"]
    finally:
        client.close()


def test_what_the_loop_cannot_answer_goes_to_a_thread(site):
    client = Client(site["port"])
    try:
        etag = stored_etag(site, client, "/")
        status, _, body = client.request("/", If_None_Match='"not-this-one"')
        assert status == 200 and b"</html>" in body
        assert where(site, 1)[0][2] == "thread"
        # A junk parameter is the same page (the key ignores it): the loop answers it too.
        assert client.request("/?utm_source=x", If_None_Match=etag)[0] == 304
        assert where(site, 1)[0][2] == "loop"
        # A signed-in reader's request (Django renders it, and answers the same ETag with its
        # own 304), and the desk, never come from the store.
        status, headers, _ = client.request("/", If_None_Match=etag, Cookie="sessionid=abc")
        assert status == 304 and "x-cache" not in headers and where(site, 1)[0][2] == "thread"
        status, _, _ = client.request("/admin/login/", If_None_Match=etag)
        assert status == 200 and where(site, 1)[0][2] == "thread"
        # Pipelined requests (more than one in hand) go to a thread, and both are answered.
        client.send(raw("/", If_None_Match=etag), raw("/", If_None_Match=etag))
        assert [client.answer()[0], client.answer()[0]] == [304, 304]
    finally:
        client.close()


def test_a_purge_reaches_the_loop_at_once(site):
    """When the stored page goes (a purge deletes its entries; here the whole store), Redis
    tells the worker, and the next revalidation is the thread's: it renders the page again
    (the same page here, so its answer is still a 304, from Django)."""
    client = Client(site["port"])
    try:
        etag = stored_etag(site, client, "/articles/")
        assert client.request("/articles/", If_None_Match=etag)[0] == 304
        assert where(site, 1)[0][2] == "loop"
        site["store"].flushdb()
        deadline = time.monotonic() + 5
        while True:
            status, headers, _ = client.request("/articles/", If_None_Match=etag)
            if where(site, 1)[0][2] == "thread" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert where(site, 1)[0][2] == "thread", "the loop kept answering after the purge"
        assert status == 304 and headers["x-cache"] == "miss"
    finally:
        client.close()


def test_a_head_revalidation_and_a_closing_client(site):
    client = Client(site["port"])
    try:
        etag = stored_etag(site, client, "/sitemap.xml", "HEAD")
        status, _, body = client.request("/sitemap.xml", "HEAD", If_None_Match=etag)
        assert (status, body) == (304, b"") and where(site, 1)[0][2] == "loop"
        status, headers, _ = client.request(
            "/sitemap.xml", "HEAD", If_None_Match=etag, Connection="close"
        )
        assert status == 304 and headers["connection"] == "close"
        client.sock.settimeout(5)
        assert client.sock.recv(1) == b""  # closed after the answer
    finally:
        client.close()
