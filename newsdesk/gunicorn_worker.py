"""A gthread worker that reads each request whole before a thread sees it.

Gunicorn's `gthread` worker hands a connection to a thread as soon as its first byte arrives; the
thread then blocks reading the headers and, through Django, the body. A client that trickles its
headers, or declares `Content-Length: 100000` and sends three bytes, holds that thread for as
long as it likes, and eight of them stall a 2 × 4 site. Here the worker's event loop (which
already watches idle keep-alive connections) also collects each request — headers, then the body
its Content-Length declares — without blocking, and only a complete request goes to a thread,
which then parses it from memory. What a client cannot do in time is answered by the loop:

- 408 when the request has not arrived `NEWSDESK_REQUEST_TIMEOUT` seconds (10) after its first
  byte, plus one second per `NEWSDESK_REQUEST_MIN_RATE` bytes (64 KiB) of declared body;
- 400 when the client closes before the body is complete; 400 for a malformed Content-Length;
- 411 for a chunked body (Django reads bodies by Content-Length only);
- 413 when Content-Length exceeds `NEWSDESK_MAX_REQUEST_BYTES` (12 MiB: a 10 MiB lead image and
  its form), before any of the body is read;
- 431 when the headers exceed 64 KiB; 503 when the bodies being collected would hold more than
  `NEWSDESK_BUFFERED_BYTES` (64 MiB) of one worker's memory.

A whole request the application can answer from memory is answered by the loop too, with no
thread: the application says so through `answer_in_loop(environ)` (Newsdesk's front door answers
a revalidation whose ETag matches this worker's copy with a 304, `articles.cache`). The request,
environ and response are gunicorn's own, so the answer is the one a thread would send; a kept-
alive connection's next request is read as soon as the poller reports it, on the registration
its socket already has.

TLS, the PROXY protocol and cleartext HTTP/2 read bytes before the HTTP parser does; with any of
them on, the worker behaves exactly like `gthread` (put a proxy that buffers requests in front).
"""

import os
import re
import selectors
import socket
import time
from datetime import timedelta
from functools import partial

from gunicorn import http, util
from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker

REQUEST_TIMEOUT = float(os.environ.get("NEWSDESK_REQUEST_TIMEOUT", "10"))
REQUEST_MIN_RATE = int(os.environ.get("NEWSDESK_REQUEST_MIN_RATE", str(64 * 1024)))
MAX_REQUEST_BYTES = int(os.environ.get("NEWSDESK_MAX_REQUEST_BYTES", str(12 * 1024 * 1024)))
BUFFERED_BYTES = int(os.environ.get("NEWSDESK_BUFFERED_BYTES", str(64 * 1024 * 1024)))
MAX_HEAD_BYTES = 64 * 1024
LINGER_SECONDS = 2.0  # how long an answered connection drains what the client still sends
_EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*(?=\r\n)", re.I)
_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


class _Pending:
    """What has arrived of one request on one connection."""

    def __init__(self, data):
        self.data = bytearray(data)
        self.started = time.monotonic() if data else None
        self.deadline = None if data else time.monotonic() + REQUEST_TIMEOUT
        self.need = None  # the request's full length in bytes, once its headers are in
        self.reserved = 0
        self.continued = False


def _body_length(head):
    """(declared body length, or None, error status) from the header block of a request."""
    lengths, chunked = set(), False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            lengths.add(value.strip())
        elif name == b"transfer-encoding":
            chunked = True
    if chunked:
        return None, 411
    if not lengths:
        return 0, None
    if len(lengths) > 1 or not next(iter(lengths)).isdigit():
        return None, 400
    length = int(next(iter(lengths)))
    return (None, 413) if length > MAX_REQUEST_BYTES else (length, None)


class BufferingThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.collecting = {}  # connection -> _Pending
        self.lingering = {}  # answered connection -> when to close it
        self.buffered = 0
        self._last_sweep = 0.0
        self._through = None

    def _passthrough(self):
        if self._through is None:  # the settings stay as they are for the worker's life
            cfg = self.cfg
            self._through = bool(
                cfg.is_ssl
                or getattr(cfg, "proxy_protocol", False) not in (False, "off", None)
                or getattr(cfg, "http2_cleartext", "off") in ("prior-knowledge", "both")
                or getattr(cfg, "protocol", "http") != "http"
            )
        return self._through

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection's next request is arriving: read it now, on the registration
        the socket has. (gunicorn unregisters the socket and hands the connection on, and the
        collecting below registered it again to wait for the same bytes: two system calls and
        one more trip through the poller for every request.)"""
        if self._passthrough():
            return super().on_client_socket_readable(conn, client)
        self.keepalived_conns.remove(conn)
        leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        self.collecting[conn] = _Pending(leftover)
        self.poller.modify(client, selectors.EVENT_READ, partial(self._readable, conn))
        self._readable(conn, client)
        return None

    def enqueue_req(self, conn):
        """Every way a request reaches a thread (new, kept-alive, pipelined) passes here, on the
        worker's main thread."""
        if self._passthrough():
            return super().enqueue_req(conn)
        leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        pending = self.collecting[conn] = _Pending(leftover)
        if not self._advance(conn, pending):
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))
        return None

    def _readable(self, conn, _sock):
        pending = self.collecting[conn]
        try:
            data = conn.sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            if pending.data:  # gone, or half-closed, in the middle of a request
                self._answer(conn, 400, "The request ended before its body was complete.")
            else:
                self._drop(conn)
            return
        if pending.started is None:
            pending.started = time.monotonic()
            pending.deadline = pending.started + REQUEST_TIMEOUT
        pending.data += data
        self._advance(conn, pending)

    def _advance(self, conn, pending):
        """Hand the request to a thread when it is whole, or answer it; True when either."""
        data = pending.data
        if pending.need is None:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > MAX_HEAD_BYTES:
                    self._answer(conn, 431, "The request's headers are too large.")
                    return True
                return False
            head = bytes(data[: end + 2])  # each header line with its CRLF
            length, status = _body_length(head)
            if status:
                self._answer(conn, status, _MESSAGES[status])
                return True
            if self.buffered + length > BUFFERED_BYTES:
                self._answer(conn, 503, "Too many uploads at once; try again shortly.")
                return True
            pending.need = end + 4 + length
            pending.reserved = length
            self.buffered += length
            pending.deadline = pending.started + REQUEST_TIMEOUT + length / REQUEST_MIN_RATE
            if length and _EXPECT_CONTINUE.search(head) and len(data) < pending.need:
                # The client waits for this before sending the body; the thread must not
                # send it again, so the header goes.
                self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
                pending.continued = True
        if len(data) < pending.need:
            return False
        if not pending.reserved and len(data) == pending.need and self._answered_here(conn, data):
            return True
        if pending.continued:
            head_end = data.find(b"\r\n\r\n")
            head = _EXPECT_CONTINUE.sub(b"", bytes(data[: head_end + 2]))
            data[: head_end + 2] = head
        self._release(conn)
        if _registered(self.poller, conn.sock):
            self.poller.unregister(conn.sock)
        conn.init()
        conn.parser.unreader.unread(bytes(data))
        conn.sock.setblocking(True)
        super().enqueue_req(conn)
        return True

    def _answered_here(self, conn, data):
        """Answer a whole request without a body in the loop when the application can from
        memory (its `answer_in_loop(environ)`: a revalidation's 304, head only): no thread
        hand-off, no wake-up of the loop when the thread is done. Parsed and answered by
        gunicorn's own request, environ and response, so what goes out is what a thread would
        send; anything the application declines goes to a thread as usual."""
        answer_in_loop = getattr(self.wsgi, "answer_in_loop", None)
        if (
            answer_in_loop is None
            or not data.startswith((b"GET ", b"HEAD "))
            or b"if-none-match:" not in data.lower()
        ):
            return False
        started = time.monotonic()
        try:
            req = next(http.get_parser(self.cfg, [bytes(data)], conn.client))
            resp, environ = wsgi.create(req, conn.sock, conn.client, conn.server, self.cfg)
        except Exception:  # noqa: BLE001 - malformed: the thread's parser answers it
            return False
        environ["wsgi.multithread"] = True
        answer = answer_in_loop(environ)
        if answer is None:
            return False
        try:  # once the loop has taken the request (a thread would run it again)
            self.cfg.pre_request(self, req)
        except Exception:  # noqa: BLE001 - a thread runs it again and answers as gunicorn does
            self.log.exception("Exception in pre_request hook")
            return False
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        if (
            not self.alive
            or not self.cfg.keepalive
            or len(self.keepalived_conns) >= self.max_keepalived
        ):
            resp.force_close()
        resp.start_response(*answer)
        keep = not resp.should_close()
        # The head as gunicorn's `Response.default_headers` and `send_headers` write it (no
        # upgrade, no body), with the date formatted once a second.
        head = [
            f"HTTP/{req.version[0]}.{req.version[1]} {resp.status}\r\n",
            f"Server: {resp.version}\r\nDate: {_http_date()}\r\n",
            f"Connection: {'keep-alive' if keep else 'close'}\r\n",
            *(f"{k}: {v}\r\n" for k, v in resp.headers),
            "\r\n",
        ]
        resp.headers_sent = True
        self._release(conn)
        conn.sock.setblocking(False)
        self.log.access(resp, req, environ, timedelta(seconds=time.monotonic() - started))
        try:
            self.cfg.post_request(self, req, environ, resp)
        except Exception:  # noqa: BLE001 - as gunicorn's own threads do
            self.log.exception("Exception in post_request hook")
        self._write(conn, "".join(head).encode("latin-1"), keep=keep)
        return True

    def _write(self, conn, payload, _sock=None, *, keep):
        """Send `payload` without blocking the loop (the rest when the socket is writable
        again), then keep the connection for its next request or close it."""
        try:
            sent = conn.sock.send(payload)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        if sent < len(payload):
            # A client that reads nothing more is closed by the sweep of `lingering`.
            self.lingering.setdefault(conn, time.monotonic() + REQUEST_TIMEOUT)
            self._watch(
                conn, selectors.EVENT_WRITE, partial(self._write, conn, payload[sent:], keep=keep)
            )
            return
        self.lingering.pop(conn, None)
        if not keep:
            self._close(conn)
            return
        # As gunicorn's `finish_request` keeps a connection after a thread's answer.
        conn.set_timeout()
        self.keepalived_conns.append(conn)
        self._watch(conn, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def _watch(self, conn, events, callback):
        """Have the poller call `callback` on `events` of the connection's socket (changing
        what a registered socket waits for costs no system call when `events` stay the same)."""
        if _registered(self.poller, conn.sock):
            self.poller.modify(conn.sock, events, callback)
        else:
            self.poller.register(conn.sock, events, callback)

    def _release(self, conn):
        pending = self.collecting.pop(conn, None)
        if pending:
            self.buffered -= pending.reserved

    def _send(self, conn, payload):
        try:
            conn.sock.send(payload)
        except OSError:
            pass

    def _answer(self, conn, status, message):
        """Answer from the loop, then let the client read it before the connection closes."""
        body = (message + "\n").encode()
        self._send(
            conn,
            (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nConnection: close\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body,
        )
        self.log.info("%s %s from %s", status, _REASONS[status], conn.client)
        self._release(conn)
        if _registered(self.poller, conn.sock):
            self.poller.unregister(conn.sock)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        self.lingering[conn] = time.monotonic() + LINGER_SECONDS
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))

    def _drain(self, conn, _sock):
        try:
            if conn.sock.recv(64 * 1024):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._close(conn)

    def _drop(self, conn):
        self._release(conn)
        self._close(conn)

    def _close(self, conn):
        self.lingering.pop(conn, None)
        if _registered(self.poller, conn.sock):
            self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        """Also run by the loop at least once a second: requests and lingerers out of time."""
        super().murder_pending()
        now = time.monotonic()
        if now - self._last_sweep < 0.2:
            return
        self._last_sweep = now
        for conn, pending in list(self.collecting.items()):
            if pending.started is None and (not self.alive or now > pending.deadline):
                self._drop(conn)  # connected and never said a word: no answer owed
            elif pending.started is not None and now > pending.deadline:
                self._answer(conn, 408, "The request did not arrive in time.")
        for conn, deadline in list(self.lingering.items()):
            if now > deadline:
                self._close(conn)


_date = [0, ""]


def _http_date():
    """gunicorn's `util.http_date()`, formatted once a second."""
    now = int(time.time())
    if _date[0] != now:
        _date[:] = [now, util.http_date(now)]
    return _date[1]


def _registered(poller, sock):
    try:
        poller.get_key(sock)
    except (KeyError, ValueError):
        return False
    return True


_MESSAGES = {
    400: "The request's Content-Length is not a single number.",
    411: "A request body needs a Content-Length.",
    413: "The request body is too large.",
}
