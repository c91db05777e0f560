"""Slow and broken clients against the real gunicorn (`gunicorn.conf.py`): readers keep getting
their pages, and every hostile request ends in a 4xx or a closed connection, never a 500."""

import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from .served import ROOT, free_port, prepared_site

# A real gunicorn on its own SQLite file, whatever DATABASE_URL says: CI runs it once.
pytestmark = pytest.mark.own_stack

WORKERS, THREADS = 2, 4
ARTICLE = "/articles/us-experts-libyan-officials-hold-security-meetings/"
# A form post Django reads the body of: the CSRF cookie is there, so it looks for the token in
# the body.
SLOW_BODY_HEAD = (
    b"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Cookie: csrftoken=abcdefghijklmnopqrstuvwxyzABCDEF\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
)


@pytest.fixture(scope="module")
def site():
    """gunicorn as deployed (read from gunicorn.conf.py) on a seeded SQLite database."""
    workdir = Path(tempfile.mkdtemp(prefix="newsdesk-hostile-"))
    port = free_port()
    env = prepared_site(workdir, GUNICORN_WORKERS=str(WORKERS), GUNICORN_THREADS=str(THREADS))
    log = open(workdir / "server.log", "w+b")  # noqa: SIM115 - read after the server stops
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "newsdesk.wsgi", "-b", f"127.0.0.1:{port}"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while get(port, "/")[0] != 200:
            assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
            time.sleep(0.3)
        yield {"port": port, "log": log}
    finally:
        server.terminate()
        server.wait(20)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def server_log(site):
    site["log"].flush()
    site["log"].seek(0)
    return site["log"].read().decode(errors="replace")


def get(port, path, timeout=10):
    """(status, seconds) of a GET; (None, seconds) when it did not answer in time."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            r.read()
            return r.status, time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started
    except OSError:
        return None, time.monotonic() - started


def status_line(sock, timeout):
    """The first line the server sends, 'closed' when it closes first, None when it says
    nothing within `timeout`."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return None
    except OSError:
        return "closed"
    return data.split(b"\r\n")[0].decode() if data else "closed"


def trickle(port, head, piece, seconds, outcomes):
    """Send `head`, then `piece` once a second, until the server answers or `seconds` pass."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        stop_at = time.monotonic() + seconds
        tick = 0
        while time.monotonic() < stop_at:
            answer = status_line(sock, 1)
            if answer:
                outcomes.append(answer)
                return
            try:
                sock.sendall(piece(tick))
            except OSError:
                outcomes.append("closed")
                return
            tick += 1
        outcomes.append("still waiting")


def test_slow_clients_hold_no_thread_and_readers_keep_getting_pages(site):
    """2 × (workers × threads) slow-body and as many slow-header connections: readers still get
    200s within a couple of seconds, and the slow ones end in a 4xx or a closed connection."""
    port, crowd = site["port"], 2 * WORKERS * THREADS
    outcomes = []
    clients = [
        threading.Thread(
            target=trickle, args=(port, SLOW_BODY_HEAD, lambda tick: b"a", 16, outcomes)
        )
        for _ in range(crowd)
    ] + [
        threading.Thread(
            target=trickle,
            args=(
                port,
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                lambda tick: b"X-Slow-%d: 1\r\n" % tick,
                16,
                outcomes,
            ),
        )
        for _ in range(crowd)
    ]
    for client in clients:
        client.start()
    time.sleep(1)  # every slow connection is open and has started its request
    readings = []
    stop_at = time.monotonic() + 12
    while time.monotonic() < stop_at:
        for path in ("/", ARTICLE):
            readings.append((path, *get(port, path, timeout=5)))
        time.sleep(0.2)
    for client in clients:
        client.join()
    late = [r for r in readings if r[1] != 200 or r[2] > 3]
    assert len(readings) > 20 and not late, (
        f"{len(late)} of {len(readings)} reads failed: {late[:5]}"
    )
    assert len(outcomes) == 2 * crowd
    assert all(o == "closed" or o.startswith("HTTP/1.1 4") for o in outcomes), sorted(set(outcomes))
    assert outcomes.count("HTTP/1.1 408 Request Timeout") == 2 * crowd
    assert "Internal Server Error" not in server_log(site)
    assert "Traceback" not in server_log(site)


def raw(port, payload, *, then_close=False, timeout=15):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(payload)
        if then_close:
            sock.shutdown(socket.SHUT_WR)
        return status_line(sock, timeout)


@pytest.mark.parametrize(
    ("name", "payload", "then_close", "expected"),
    [
        ("truncated body", SLOW_BODY_HEAD + b"abc", True, "HTTP/1.1 400 Bad Request"),
        (
            "body over the limit",
            SLOW_BODY_HEAD.replace(b"100000", b"50000000"),
            False,
            "HTTP/1.1 413 Content Too Large",
        ),
        (
            "chunked body",
            SLOW_BODY_HEAD.replace(b"Content-Length: 100000", b"Transfer-Encoding: chunked")
            + b"3\r\nabc\r\n",
            False,
            "HTTP/1.1 411 Length Required",
        ),
        (
            "two lengths",
            SLOW_BODY_HEAD.replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n") + b"abc",
            False,
            "HTTP/1.1 400 Bad Request",
        ),
    ],
)
def test_broken_bodies_get_a_4xx_at_once(site, name, payload, then_close, expected):
    """A body cut short, too large, chunked or of two lengths is answered without waiting."""
    started = time.monotonic()
    assert raw(site["port"], payload, then_close=then_close) == expected, name
    assert time.monotonic() - started < 3
    assert "Internal Server Error" not in server_log(site)


def test_a_whole_post_still_reaches_django(site):
    """A complete form post with `Expect: 100-continue` gets its 100, then Django's answer."""
    body = b"username=x&password=y"
    head = SLOW_BODY_HEAD.replace(b"100000", str(len(body)).encode()).replace(
        b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", site["port"])) as sock:
        sock.sendall(head)
        assert status_line(sock, 5) == "HTTP/1.1 100 Continue"
        sock.sendall(body)
        # Django's CSRF check read the body (no token in it): its 403, not the loop's answer.
        answer = status_line(sock, 10)
    assert answer == "HTTP/1.1 403 Forbidden"
